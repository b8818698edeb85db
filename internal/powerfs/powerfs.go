// Package powerfs is a FUSE filesystem that forgets, at a power cut,
// everything that was not fsynced: a test can run a real program on it,
// pull the plug, and see what a machine would find on its disk after the
// reboot.
//
// It is a loopback over a backing directory. The backing files are the
// disk: they change only when a program fsyncs (or fdatasyncs) a file.
// Writes and size changes wait in memory until then, per 4 KiB page, and
// reads see them, as they see the kernel's page cache. Cut is the power
// cut: every operation fails from then on, and the waiting writes are
// thrown away, all of them (Drop) or a random subset of their pages
// (Torn: write-back was under way); Unmount, and mount the backing
// directory again to see what the disk holds. With Options.LyingFsync the filesystem acknowledges fsync without
// writing anything back, like a drive that lies about its cache: a cut
// then loses what the program was told was safe, which is how a test shows
// that it can see a loss.
//
// A file or directory created is in the backing directory at once, but a
// cut removes it again (a torn cut: each with even odds) unless its
// directory was fsynced since: a file's own fsync does not make its name
// durable.
//
// What it does not model: renames, unlinks, hard and symbolic links and
// device nodes reach the backing directory at once and survive every cut;
// a 4 KiB page is written whole or not at all (no torn sectors); writes
// to different files are not ordered against each other beyond their
// fsyncs; metadata other than the size (mode, owner, times, extended
// attributes) is written through at once. O_TMPFILE is refused.
//
// Run the programs that use it in other processes than the one that
// mounts it, as a FUSE filesystem's users should: a process that faults
// in pages of a memory map of a file it serves itself can stop forever
// (the faulting thread holds up a garbage collection that the serving
// goroutines wait for).
package powerfs

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Loss says what a power cut does to the writes not yet fsynced.
type Loss int

const (
	// Drop loses every write not fsynced: the disk holds exactly what the
	// last fsync of each file left.
	Drop Loss = iota
	// Torn writes back each dirty 4 KiB page of each file, and its size
	// change, with even odds, as a cut in the middle of write-back would
	// leave them; the rest is lost.
	Torn
)

// String names the loss as the tests' logs show it.
func (l Loss) String() string {
	switch l {
	case Drop:
		return "drop"
	case Torn:
		return "torn"
	}
	return fmt.Sprintf("Loss(%d)", int(l))
}

// Options configure a mount.
type Options struct {
	// LyingFsync makes fsync and fdatasync succeed without writing
	// anything back, as a drive that acknowledges a cache flush it did
	// not do. A program on it is told its data is safe when it is not.
	LyingFsync bool
}

// ErrUnavailable is wrapped by Mount's error when this machine cannot
// mount a FUSE filesystem (no /dev/fuse, or no permission to mount).
var ErrUnavailable = errors.New("FUSE is not available")

// devFuse is the kernel's FUSE device (a variable for the test of a
// machine without it).
var devFuse = "/dev/fuse"

// errPowerOff is what every operation gets once the power is cut.
var errPowerOff = syscall.EIO

// FS is a mounted powerfs.
type FS struct {
	mountpoint, backing string
	opts                Options
	server              *fuse.Server

	mu      sync.Mutex
	off     bool             // the power is cut (or the FS unmounted): every operation fails
	dark    chan struct{}    // closed at the cut, to answer a held fsync
	files   map[uint64]*file // by inode number; the page cache of each file opened since the mount
	fresh   map[string]bool  // backing paths of entries created since their directory was synced (dir.go)
	stats   Stats
	holdAt  int           // the fsync (by Stats.Fsyncs) that Hold holds; 0 for none
	arrived chan struct{} // closed when it arrives
	mounted bool
}

// Stats count what the filesystem did since it was mounted.
type Stats struct {
	Writes  int // write calls
	Fsyncs  int // fsync and fdatasync calls on files
	Written int // dirty pages written back by fsyncs (none when fsync lies)
}

// CutReport says what a power cut kept and lost.
type CutReport struct {
	Files   int // files with writes not fsynced at the cut
	Written int // dirty pages a torn cut wrote back
	Lost    int // dirty pages lost
	Entries int // names lost: files and directories created since their directory was last synced
	Stats       // what the mount did before the cut
}

// Mount mounts a powerfs at mountpoint over the backing directory. Both
// must exist. It mounts with the mount(2) system call when the process
// may (it runs as root), with fusermount otherwise.
func Mount(mountpoint, backing string, opts Options) (*FS, error) {
	if _, err := os.Stat(devFuse); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Checked first, so that a missing directory is not mistaken below for
	// a missing fusermount.
	for _, dir := range []string{mountpoint, backing} {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("powerfs: %s is not a directory (%v)", dir, err)
		}
	}
	root, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, fmt.Errorf("powerfs over %s: %w", backing, err)
	}
	p := &FS{mountpoint: mountpoint, backing: backing, opts: opts, files: map[uint64]*file{}, fresh: map[string]bool{}, dark: make(chan struct{})}
	top := &node{LoopbackNode: root.(*fs.LoopbackNode), fs: p}
	top.RootData.RootNode = top
	server, err := fs.Mount(mountpoint, top, &fs.Options{
		MountOptions: fuse.MountOptions{
			DirectMount: true,
			FsName:      backing,
			Name:        "powerfs",
			// The kernel answers flock itself, per mount, as bbolt needs.
			EnableLocks: false,
		},
	})
	if err != nil {
		// EPERM from mount(2) without root, then no fusermount to fall back on.
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: mount on %s: %w (run as root, or install fusermount)", ErrUnavailable, mountpoint, err)
		}
		return nil, fmt.Errorf("mount powerfs on %s: %w", mountpoint, err)
	}
	p.server = server
	p.mounted = true
	return p, nil
}

// Mountpoint returns where the filesystem is mounted.
func (p *FS) Mountpoint() string { return p.mountpoint }

// Stats returns what the filesystem did since it was mounted.
func (p *FS) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Hold makes the n-th fsync from now never complete: it waits, with its
// file's pages dirty, until the power is cut, and then fails. The
// returned channel is closed when it arrives, so that a test can cut the
// power in the middle of a write-back. A second Hold replaces the first;
// n counts from 1 (n < 1 holds nothing, and the channel never closes).
func (p *FS) Hold(n int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdAt = p.stats.Fsyncs + n
	p.arrived = make(chan struct{})
	return p.arrived
}

// Cut cuts the power: from now on every operation on the mount fails
// with EIO (a held fsync too), and the writes not fsynced are lost as
// loss says (rng picks the pages a torn cut keeps). SIGKILL the programs
// that use the filesystem first, as a power cut leaves no process
// behind; then Cut, wait for them to exit, and Unmount. Mount the backing
// directory again to see what the disk holds.
func (p *FS) Cut(loss Loss, rng *rand.Rand) (CutReport, error) {
	if loss != Drop && loss != Torn {
		return CutReport{}, fmt.Errorf("powerfs: unknown loss %d", int(loss))
	}
	if loss == Torn && rng == nil {
		return CutReport{}, errors.New("powerfs: a torn cut needs a random source")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return CutReport{}, errors.New("powerfs: the power is already off")
	}
	p.off = true
	close(p.dark)
	rep := CutReport{Stats: p.stats}
	var errs []error
	// In inode order, so that a seed replays the same tear.
	for _, ino := range slices.Sorted(maps.Keys(p.files)) {
		f := p.files[ino]
		if f.clean() {
			continue
		}
		rep.Files++
		switch loss {
		case Drop:
			rep.Lost += f.drop()
		case Torn:
			w, l, err := f.tear(rng)
			rep.Written += w
			rep.Lost += l
			errs = append(errs, err)
		}
	}
	var keep func() bool
	if loss == Torn {
		keep = func() bool { return rng.IntN(2) == 0 }
	}
	n, err := p.loseEntries(keep)
	rep.Entries = n
	errs = append(errs, err)
	return rep, errors.Join(errs...)
}

// Unmount unmounts the filesystem. Without a cut before, it writes every
// file back first, as a clean shutdown does (even with LyingFsync: a
// drive that lies about flushes still writes its cache when it is powered
// down properly). A second Unmount does nothing.
func (p *FS) Unmount() error {
	p.mu.Lock()
	if !p.mounted {
		p.mu.Unlock()
		return nil
	}
	p.mounted = false
	var errs []error
	if !p.off {
		p.off = true
		close(p.dark)
		for _, f := range p.files {
			errs = append(errs, f.writeBack())
		}
		clear(p.fresh)
	}
	p.mu.Unlock()
	if err := p.server.Unmount(); err != nil {
		// A process that still holds a file keeps the mount busy; a lazy
		// unmount takes the name away now and the rest when it lets go.
		if derr := syscall.Unmount(p.mountpoint, syscall.MNT_DETACH); derr != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w (lazily: %w)", p.mountpoint, err, derr))
		}
		return errors.Join(errs...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for ino, f := range p.files {
		_ = f.backing.Close()
		delete(p.files, ino)
	}
	return errors.Join(errs...)
}

// with runs fn on the page cache of the file with inode ino, opening its
// backing file at path if it has none yet.
func (p *FS) with(ino uint64, path string, fn func(f *file) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return errPowerOff
	}
	f := p.files[ino]
	if f == nil {
		b, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EROFS) {
			// Readable only: a write-back would fail, as it should.
			b, err = os.Open(path)
		}
		if err != nil {
			return err
		}
		if f, err = newFile(b); err != nil {
			_ = b.Close()
			return err
		}
		p.files[ino] = f
	}
	err := fn(f)
	p.forget(ino, f)
	return err
}

// forget drops the page cache of a file that no handle holds open and
// that has nothing waiting; one that still has writes waiting stays, as
// dirty pages outlive close(2).
func (p *FS) forget(ino uint64, f *file) {
	if f.opens <= 0 && f.clean() {
		_ = f.backing.Close()
		delete(p.files, ino)
	}
}

// open opens a handle on a regular file; O_TRUNC empties it in the page
// cache only.
func (p *FS) open(ino uint64, path string, flags uint32) (*handle, error) {
	err := p.with(ino, path, func(f *file) error {
		if flags&syscall.O_TRUNC != 0 {
			f.truncate(0)
		}
		f.opens++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &handle{fs: p, ino: ino, path: path}, nil
}

// release closes one handle of the file with inode ino.
func (p *FS) release(ino uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.files[ino]; f != nil && !p.off {
		f.opens--
		p.forget(ino, f)
	}
}

// fsync writes back the file with inode ino, or pretends to, or waits
// for the power cut if Hold chose it.
func (p *FS) fsync(ino uint64, path string) error {
	held := false
	err := p.with(ino, path, func(f *file) error {
		p.stats.Fsyncs++
		switch {
		case p.stats.Fsyncs == p.holdAt:
			close(p.arrived)
			held = true
			return nil
		case p.opts.LyingFsync:
			return nil
		}
		p.stats.Written += len(f.dirty)
		return f.writeBack()
	})
	if held {
		<-p.dark
		return errPowerOff
	}
	return err
}

// known returns the size a program sees of the file with inode ino, if
// it has a page cache.
func (p *FS) known(ino uint64) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.files[ino]
	if f == nil {
		return 0, false
	}
	return f.size, true
}

// patch puts the size a program sees into attributes read from the
// backing file.
func (p *FS) patch(ino uint64, a *fuse.Attr) {
	if size, ok := p.known(ino); ok {
		a.Size = uint64(size)
		a.Blocks = (uint64(size) + 511) / 512
	}
}
