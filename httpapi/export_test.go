package httpapi

import "time"

// LongPolls is how many requests are waiting now, for tests that must know
// a long-poll has taken its place before they go on.
func (s *Server) LongPolls() int { return len(s.longPolls) }

// SetBackupLimits changes the backup's per-write timeout and minimum rate
// until the returned function restores them.
func SetBackupLimits(perWrite time.Duration, minRate int64) (restore func()) {
	w, r := backupWriteTimeout, backupMinRate
	backupWriteTimeout, backupMinRate = perWrite, minRate
	return func() { backupWriteTimeout, backupMinRate = w, r }
}
