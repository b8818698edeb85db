//go:build linux

package wal

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// trimMapped drops this process's page-table entries for the database
// file's memory map. bbolt reads through the map, so every record a claim
// or a check-off reads stays counted in the process's RSS until then,
// although it is only page cache: RSS would grow with the history. The
// pages stay in the page cache and are mapped again on their next read.
// bbolt never writes through the map (it is read-only), so nothing is lost.
func (l *Log) trimMapped() error {
	// A read transaction holds bbolt's mmap lock: the map cannot move
	// while it is trimmed.
	return l.view(func(tx *bolt.Tx) error {
		start, end, err := findMapping(l.path)
		if err != nil || start == 0 {
			return err
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise %s: %w", l.path, errno)
		}
		return nil
	})
}

// findMapping returns the address range of the map of path, from
// /proc/self/maps; zero when it is not mapped.
func findMapping(path string) (start, end uintptr, err error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 4096), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasSuffix(line, " "+path) {
			continue
		}
		lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		return uintptr(a), uintptr(b), nil
	}
	return 0, 0, s.Err()
}

// mappedFileBytes is the file-backed part of this process's RSS (RssFile).
func mappedFileBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, nil
}
