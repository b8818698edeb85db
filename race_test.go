//go:build race

package ticketq_test

// raceEnabled builds the binary under test with -race too, so that races in
// the server under chaos fail the test (the race detector exits with 66).
const raceEnabled = true
