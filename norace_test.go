//go:build !race

package ticketq_test

const raceEnabled = false
