package powerfs

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
)

// PageSize is the unit of write-back: a torn cut keeps or loses each dirty
// page of this size whole.
const PageSize = 4096

// file is one file's page cache: what the disk holds is the backing file,
// what a program sees is the backing file overlaid with the dirty pages
// and the size changes that no fsync has written back yet.
//
// Invariants: low <= durable (bytes at or past low that are not in a
// dirty page read as zeros: a truncation cut them off, and a later
// extension must not bring the old bytes back), and a dirty page holds
// zeros past size.
type file struct {
	backing *os.File
	durable int64            // the backing file's size
	size    int64            // the size a program sees
	low     int64            // the smallest size since the last write-back
	dirty   map[int64][]byte // page index -> PageSize bytes
	opens   int              // open handles; with no dirty page and none open, the state can go
}

func newFile(backing *os.File) (*file, error) {
	st, err := backing.Stat()
	if err != nil {
		return nil, err
	}
	return &file{backing: backing, durable: st.Size(), size: st.Size(), low: st.Size(), dirty: map[int64][]byte{}}, nil
}

// clean reports whether the file has nothing that a cut could lose.
func (f *file) clean() bool {
	return len(f.dirty) == 0 && f.low == f.durable && f.size == f.durable
}

// base fills p with what lies under the dirty pages at off: the backing
// file's bytes below low, zeros from there on.
func (f *file) base(p []byte, off int64) error {
	clear(p)
	if off >= f.low {
		return nil
	}
	n := min(int64(len(p)), f.low-off)
	if _, err := f.backing.ReadAt(p[:n], off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// readAt reads the file as a program sees it.
func (f *file) readAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, nil
	}
	p = p[:min(int64(len(p)), f.size-off)]
	if err := f.base(p, off); err != nil {
		return 0, err
	}
	end := off + int64(len(p))
	for idx := off / PageSize; idx*PageSize < end; idx++ {
		pg, ok := f.dirty[idx]
		if !ok {
			continue
		}
		start := idx * PageSize
		lo, hi := max(start, off), min(start+PageSize, end)
		copy(p[lo-off:hi-off], pg[lo-start:hi-start])
	}
	return len(p), nil
}

// writeAt writes into the page cache only: nothing reaches the backing
// file before an fsync.
func (f *file) writeAt(p []byte, off int64) error {
	end := off + int64(len(p))
	for idx := off / PageSize; idx*PageSize < end; idx++ {
		start := idx * PageSize
		pg, ok := f.dirty[idx]
		if !ok {
			// A partly written page is read first, as the page cache does.
			pg = make([]byte, PageSize)
			if err := f.base(pg, start); err != nil {
				return err
			}
			f.dirty[idx] = pg
		}
		lo, hi := max(start, off), min(start+PageSize, end)
		copy(pg[lo-start:hi-start], p[lo-off:hi-off])
	}
	f.size = max(f.size, end)
	return nil
}

// truncate changes the size a program sees; the backing file keeps its
// own until an fsync.
func (f *file) truncate(size int64) {
	if size < f.size {
		for idx, pg := range f.dirty {
			start := idx * PageSize
			switch {
			case start >= size:
				delete(f.dirty, idx)
			case start+PageSize > size:
				clear(pg[size-start:])
			}
		}
		f.low = min(f.low, size)
	}
	f.size = size
}

// writeBack makes the backing file what a program sees: an fsync.
func (f *file) writeBack() error {
	_, _, err := f.tear(nil)
	return err
}

// tear writes back what a power cut in the middle of write-back leaves:
// each dirty page independently, and the size change as one more unit.
// With rng nil it writes everything (the whole write-back). Either way
// the page cache is empty afterwards, as after a reboot or an fsync. It
// returns the dirty pages written and those lost.
func (f *file) tear(rng *rand.Rand) (written, lost int, err error) {
	keep := func() bool { return rng == nil || rng.IntN(2) == 0 }
	sized := keep()
	if sized && f.low < f.durable {
		if err := f.backing.Truncate(f.low); err != nil {
			return 0, 0, fmt.Errorf("truncate %s: %w", f.backing.Name(), err)
		}
	}
	// In page order, so that a seed replays the same tear.
	for _, idx := range slices.Sorted(maps.Keys(f.dirty)) {
		start := idx * PageSize
		n := min(PageSize, f.size-start)
		if !keep() {
			lost++
			continue
		}
		written++
		if _, err := f.backing.WriteAt(f.dirty[idx][:n], start); err != nil {
			return written, lost, fmt.Errorf("write %s: %w", f.backing.Name(), err)
		}
	}
	// Without its size change, the file keeps the size it had on disk:
	// pages written past it are cut off again.
	to := f.durable
	if sized {
		to = f.size
	}
	if err := f.backing.Truncate(to); err != nil {
		return written, lost, fmt.Errorf("truncate %s: %w", f.backing.Name(), err)
	}
	f.durable = to
	f.drop()
	return written, lost, nil
}

// drop forgets the page cache, as a power cut does: the backing file is
// all there is. It returns the dirty pages lost.
func (f *file) drop() int {
	n := len(f.dirty)
	f.size, f.low = f.durable, f.durable
	clear(f.dirty)
	return n
}
