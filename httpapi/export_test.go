package httpapi

// LongPolls is how many requests are waiting now, for tests that must know
// a long-poll has taken its place before they go on.
func (s *Server) LongPolls() int { return len(s.longPolls) }
