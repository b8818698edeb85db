package job

import "fmt"

// State is where a job is in its lifecycle:
//
//	queued ──► running ──► succeeded
//	  ▲  │        │ └────► failed attempt ──► queued (after backoff) … ──► dead
//	  │  │        └──────► canceled
//	  │  └─────────────────► canceled
//	  └─ recovery: a job found running at start goes back to queued
//
// The numeric values are stored on disk and must never be renumbered.
type State uint8

// The states. Succeeded, Dead and Canceled are final.
const (
	Queued    State = 1
	Running   State = 2
	Succeeded State = 3
	Dead      State = 4
	Canceled  State = 5
)

// States lists every valid state in lifecycle order.
var States = []State{Queued, Running, Succeeded, Dead, Canceled}

// FinalStates lists the states a job never leaves on its own.
var FinalStates = []State{Succeeded, Dead, Canceled}

var stateNames = [...]string{Queued: "queued", Running: "running", Succeeded: "succeeded", Dead: "dead", Canceled: "canceled"}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return s >= Queued && s <= Canceled }

// Final reports whether s is a state the job never leaves without a manual retry.
func (s State) Final() bool { return s == Succeeded || s == Dead || s == Canceled }

// String returns the lower-case name used in the API and logs.
func (s State) String() string {
	if s.Valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText encodes the state by name.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: unknown state %d", ErrInvalid, uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText parses a state name; see ParseState.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseState parses a state name such as "queued".
func ParseState(name string) (State, error) {
	for _, s := range States {
		if stateNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown state %q (want queued, running, succeeded, dead or canceled)", ErrInvalid, clip(name))
}
