//go:build !linux

package wal

// trimMapped does nothing where the map cannot be trimmed this way.
func (l *Log) trimMapped() error { return nil }

func mappedFileBytes() (int64, error) { return 0, nil }
