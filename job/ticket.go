package job

import (
	"fmt"
	"strconv"
)

// Ticket identifies one job. Tickets come from a monotonic sequence in the
// store, so their order is arrival order. Zero is never a valid ticket.
//
// On the wire (HTTP, JSON) a ticket is a decimal string, because JSON numbers
// lose precision above 2^53 in many clients.
type Ticket uint64

// String returns the decimal form used by the HTTP API.
func (t Ticket) String() string { return strconv.FormatUint(uint64(t), 10) }

// MarshalText encodes the ticket as a decimal string.
func (t Ticket) MarshalText() ([]byte, error) {
	return strconv.AppendUint(nil, uint64(t), 10), nil
}

// UnmarshalText parses a decimal ticket; see ParseTicket.
func (t *Ticket) UnmarshalText(b []byte) error {
	v, err := ParseTicket(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTicket parses the decimal form of a ticket. It rejects signs, spaces,
// leading zeros, zero and values that overflow uint64, so that every ticket
// has exactly one spelling.
func ParseTicket(s string) (Ticket, error) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: ticket %q is not a positive decimal number", ErrInvalid, clip(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: ticket %q is not a positive decimal number", ErrInvalid, clip(s))
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: ticket %q does not fit in 64 bits", ErrInvalid, clip(s))
	}
	if v == 0 {
		return 0, fmt.Errorf("%w: ticket 0 does not exist; tickets start at 1", ErrInvalid)
	}
	return Ticket(v), nil
}

// clip keeps hostile input from flooding error messages and logs.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
