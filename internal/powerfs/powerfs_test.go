package powerfs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// mounted mounts a powerfs over a fresh backing directory and returns it
// with the backing directory; remount mounts it again, as after a reboot.
func mounted(t *testing.T, opts Options) (p *FS, backing string, remount func(Options) *FS) {
	t.Helper()
	backing = t.TempDir()
	mnt := t.TempDir()
	remount = func(o Options) *FS { return MountForTest(t, mnt, backing, o) }
	return remount(opts), backing, remount
}

func writeFile(t *testing.T, path string, content []byte, sync bool) {
	t.Helper()
	writeAt(t, path, 0, content, sync)
}

func writeAt(t *testing.T, path string, off int64, content []byte, sync bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(content, off); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		syncDir(t, filepath.Dir(path))
	}
}

// syncDir fsyncs a directory, making the names created in it durable.
func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("sync directory %s: %v", dir, err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cut(t *testing.T, p *FS, loss Loss, rng *rand.Rand) CutReport {
	t.Helper()
	rep, err := p.Cut(loss, rng)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Unmount(); err != nil {
		t.Fatal(err)
	}
	return rep
}

// Ensure that writes are seen at once (read, stat, a fresh lookup, after
// close and reopen) but reach the disk only at fsync, and that a cut
// that drops loses exactly what was not fsynced.
func TestFS_DropLosesUnsynced(t *testing.T) {
	p, backing, remount := mounted(t, Options{})
	synced := bytes.Repeat([]byte("s"), 3*PageSize+10)
	path := filepath.Join(p.Mountpoint(), "f")
	writeFile(t, path, synced, true)
	more := append(bytes.Clone(synced), bytes.Repeat([]byte("u"), 2*PageSize)...)
	writeAt(t, path, int64(len(synced)), more[len(synced):], false)

	if got := readFile(t, path); !bytes.Equal(got, more) {
		t.Fatalf("read back %d bytes, wrote %d", len(got), len(more))
	}
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(more)) {
		t.Fatalf("stat: %v, %v; want size %d", st, err, len(more))
	}
	if got := readFile(t, filepath.Join(backing, "f")); !bytes.Equal(got, synced) {
		t.Fatalf("the disk has %d bytes before the fsync, want the %d synced", len(got), len(synced))
	}
	rep := cut(t, p, Drop, nil)
	// The write from 3 pages + 10 bytes on dirtied 3 pages: the last synced
	// page and two more.
	if rep.Files != 1 || rep.Lost != 3 || rep.Written != 0 || rep.Fsyncs != 1 {
		t.Fatalf("cut report %+v; want 1 file, 3 pages lost, 1 fsync", rep)
	}
	p = remount(Options{})
	if got := readFile(t, filepath.Join(p.Mountpoint(), "f")); !bytes.Equal(got, synced) {
		t.Fatalf("after the cut %d bytes, want the %d synced", len(got), len(synced))
	}
}

// Ensure that a torn cut leaves every page either as the last fsync left
// it or as it was written, never a mix, with some of each.
func TestFS_TornKeepsWholePages(t *testing.T) {
	p, _, remount := mounted(t, Options{})
	const pages = 32
	path := filepath.Join(p.Mountpoint(), "f")
	writeFile(t, path, bytes.Repeat([]byte("o"), pages*PageSize), true)
	writeFile(t, path, bytes.Repeat([]byte("n"), pages*PageSize), false)
	rep := cut(t, p, Torn, rand.New(rand.NewPCG(7, 7)))
	p = remount(Options{})
	got := readFile(t, filepath.Join(p.Mountpoint(), "f"))
	if len(got) != pages*PageSize {
		t.Fatalf("%d bytes after the cut, want %d", len(got), pages*PageSize)
	}
	kept := 0
	for i := range pages {
		switch pg := got[i*PageSize : (i+1)*PageSize]; {
		case bytes.Equal(pg, bytes.Repeat([]byte("n"), PageSize)):
			kept++
		case !bytes.Equal(pg, bytes.Repeat([]byte("o"), PageSize)):
			t.Fatalf("page %d is torn inside", i)
		}
	}
	if kept != rep.Written || kept == 0 || kept == pages {
		t.Fatalf("%d new pages on disk, report %+v; want some kept and some lost", kept, rep)
	}
}

// mmapEnv makes the test binary a helper process that maps the file it
// names and prints it (see TestMain). The test process cannot fault pages
// of a FUSE file it serves itself: a page fault holds its thread without
// releasing it to the scheduler, a garbage collection then waits for that
// thread forever, and the FUSE server goroutines that would answer the
// fault never run again.
const mmapEnv = "POWERFS_TEST_MMAP"

func TestMain(m *testing.M) {
	if path := os.Getenv(mmapEnv); path != "" {
		os.Exit(mmapCat(path))
	}
	os.Exit(m.Run())
}

// mmapCat writes the file at path to stdout as read through a shared
// memory map, as bbolt reads its file.
func mmapCat(path string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mmap:", err)
		return 1
	}
	defer syscall.Munmap(m)
	_, _ = os.Stdout.Write(m)
	return 0
}

// Ensure that a program reading through a shared memory map (as bbolt
// does) sees writes not yet fsynced, and the size they give the file.
func TestFS_MmapSeesUnsynced(t *testing.T) {
	p, _, _ := mounted(t, Options{})
	path := filepath.Join(p.Mountpoint(), "f")
	want := bytes.Repeat([]byte("m"), 2*PageSize+5)
	writeFile(t, path, want, false)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), mmapEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("mmap helper: %v\n%s", err, stderr.String())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the memory map shows %d bytes, %d written", len(got), len(want))
	}
}

// Ensure that a truncation and a re-extension show zeros where the old
// bytes were, leave the disk alone until the fsync, and are undone by a
// cut; O_TRUNC likewise.
func TestFS_Truncate(t *testing.T) {
	p, backing, remount := mounted(t, Options{})
	path := filepath.Join(p.Mountpoint(), "f")
	old := bytes.Repeat([]byte("o"), 3*PageSize)
	writeFile(t, path, old, true)
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(len(old))); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(old[:100]), make([]byte, len(old)-100)...)
	if got := readFile(t, path); !bytes.Equal(got, want) {
		t.Fatal("after truncating and extending, the old bytes are back instead of zeros")
	}
	if got := readFile(t, filepath.Join(backing, "f")); !bytes.Equal(got, old) {
		t.Fatal("a truncation reached the disk without an fsync")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != 0 {
		t.Fatalf("after O_TRUNC: %v, %v", st, err)
	}
	f.Close()
	cut(t, p, Drop, nil)
	p = remount(Options{})
	if got := readFile(t, filepath.Join(p.Mountpoint(), "f")); !bytes.Equal(got, old) {
		t.Fatal("the cut did not bring back the file as last fsynced")
	}
	// Fsynced, the truncation reaches the disk.
	path = filepath.Join(p.Mountpoint(), "f")
	if err := os.Truncate(path, 10); err != nil {
		t.Fatal(err)
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(backing, "f")); !bytes.Equal(got, old[:10]) {
		t.Fatalf("the disk has %d bytes after an fsynced truncation to 10", len(got))
	}
}

// Ensure that a lying fsync succeeds and writes nothing, so that a cut
// loses what it claimed was safe, while a clean unmount still writes it.
func TestFS_LyingFsync(t *testing.T) {
	p, backing, remount := mounted(t, Options{LyingFsync: true})
	writeFile(t, filepath.Join(p.Mountpoint(), "f"), []byte("promised"), true)
	if got := readFile(t, filepath.Join(backing, "f")); len(got) != 0 {
		t.Fatalf("a lying fsync wrote %q", got)
	}
	rep := cut(t, p, Drop, nil)
	if rep.Fsyncs != 1 || rep.Written != 0 || rep.Lost != 1 {
		t.Fatalf("cut report %+v; want 1 fsync, nothing written, 1 page lost", rep)
	}
	p = remount(Options{LyingFsync: true})
	if got := readFile(t, filepath.Join(p.Mountpoint(), "f")); len(got) != 0 {
		t.Fatalf("after the cut the file holds %q", got)
	}
	writeFile(t, filepath.Join(p.Mountpoint(), "f"), []byte("clean"), false)
	if err := p.Unmount(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(backing, "f")); string(got) != "clean" {
		t.Fatalf("a clean unmount left %q", got)
	}
}

// Ensure that a held fsync does not return before the cut, then fails,
// and that its pages are lost; and that after the cut every operation
// on an open file fails.
func TestFS_HoldAndPowerOff(t *testing.T) {
	p, backing, _ := mounted(t, Options{})
	f, err := os.Create(filepath.Join(p.Mountpoint(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syncDir(t, p.Mountpoint())
	if _, err := f.Write([]byte("in flight")); err != nil {
		t.Fatal(err)
	}
	arrived := p.Hold(1)
	synced := make(chan error, 1)
	go func() { synced <- f.Sync() }()
	<-arrived
	select {
	case err := <-synced:
		t.Fatalf("the held fsync returned before the cut: %v", err)
	default:
	}
	rep, err := p.Cut(Drop, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-synced; !errors.Is(err, syscall.EIO) {
		t.Fatalf("held fsync after the cut: %v, want EIO", err)
	}
	// (Reads may still be answered from the kernel's cache: the mount is
	// about to go.)
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write after the cut: %v, want EIO", err)
	}
	d, err := os.Open(p.Mountpoint())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("directory sync after the cut: %v, want EIO", err)
	}
	d.Close()
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync after the cut: %v, want EIO", err)
	}
	f.Close()
	if err := p.Unmount(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(backing, "f")); len(got) != 0 || rep.Lost != 1 {
		t.Fatalf("after a cut during the fsync the disk has %q, report %+v", got, rep)
	}

}

// Ensure that misuse gets a clear error and changes nothing.
func TestFS_Errors(t *testing.T) {
	p, _, _ := mounted(t, Options{})
	writeFile(t, filepath.Join(p.Mountpoint(), "f"), []byte("x"), true)
	if _, err := p.Cut(Loss(9), nil); err == nil {
		t.Error("a cut with an unknown loss succeeded")
	}
	if _, err := p.Cut(Torn, nil); err == nil {
		t.Error("a torn cut without a random source succeeded")
	}
	if got := readFile(t, filepath.Join(p.Mountpoint(), "f")); string(got) != "x" {
		t.Fatalf("a refused cut changed the file: %q", got)
	}
	if _, err := p.Cut(Drop, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Cut(Drop, nil); err == nil {
		t.Error("a second cut succeeded")
	}
	for range 2 {
		if err := p.Unmount(); err != nil {
			t.Fatalf("unmount: %v", err)
		}
	}

	if _, err := Mount(filepath.Join(t.TempDir(), "missing"), t.TempDir(), Options{}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("mount on a missing directory: %v", err)
	}
	if _, err := Mount(t.TempDir(), filepath.Join(t.TempDir(), "missing"), Options{}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("mount over a missing backing directory: %v", err)
	}
	defer func(d string) { devFuse = d }(devFuse)
	devFuse = filepath.Join(t.TempDir(), "fuse")
	if _, err := Mount(t.TempDir(), t.TempDir(), Options{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("mount without a FUSE device: %v, want ErrUnavailable", err)
	}
}

// fakeTB records how MountForTest ends a test that cannot mount.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.fatal = fmt.Sprintf(format, a...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, a ...any) { f.skip = fmt.Sprintf(format, a...); runtime.Goexit() }

// Ensure that a machine without FUSE skips the tests with the reason,
// unless TICKETQ_REQUIRE_FUSE=1 (CI) makes it a failure.
func TestMountForTest_Unavailable(t *testing.T) {
	defer func(d string) { devFuse = d }(devFuse)
	devFuse = filepath.Join(t.TempDir(), "fuse")
	for _, require := range []string{"", "1"} {
		t.Setenv(RequireEnv, require)
		f := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			MountForTest(f, t.TempDir(), t.TempDir(), Options{})
		}()
		<-done
		switch {
		case require == "1" && !strings.Contains(f.fatal, RequireEnv):
			t.Errorf("with %s=1: fatal %q, skip %q; want a failure naming it", RequireEnv, f.fatal, f.skip)
		case require == "" && (!strings.Contains(f.skip, "FUSE is not available") || f.fatal != ""):
			t.Errorf("without %s: fatal %q, skip %q; want a skip with the reason", RequireEnv, f.fatal, f.skip)
		}
	}
}

// Ensure that a new file or directory survives a cut only if its
// directory was synced after it was made (a file's own fsync is not
// enough), that a renamed one is judged under its new name, and that a
// torn cut keeps some new names and loses others.
func TestFS_NewNamesNeedDirectorySync(t *testing.T) {
	p, backing, remount := mounted(t, Options{})
	mnt := p.Mountpoint()
	writeFile(t, filepath.Join(mnt, "synced"), []byte("file and directory synced"), true)
	if err := os.MkdirAll(filepath.Join(mnt, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mnt, "a", "b", "deep"), []byte("synced in b, a not synced in the root"), true)
	syncDir(t, filepath.Join(mnt, "a"))
	if err := os.Mkdir(filepath.Join(mnt, "kept"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mnt, "kept", "tmp"), []byte("renamed"), true)
	if err := os.Rename(filepath.Join(mnt, "kept", "tmp"), filepath.Join(mnt, "kept", "final")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, filepath.Join(mnt, "kept"))
	syncDir(t, mnt) // makes "a" and "kept" durable
	if err := os.WriteFile(filepath.Join(mnt, "kept", "late"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Its content fsynced, its directory not.
	f, err := os.Create(filepath.Join(mnt, "unnamed"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rep := cut(t, p, Drop, nil)

	p = remount(Options{})
	for name, want := range map[string]bool{
		"synced": true, "a/b/deep": true, "kept/final": true,
		"kept/tmp": false, "kept/late": false, "unnamed": false,
	} {
		_, err := os.Stat(filepath.Join(p.Mountpoint(), name))
		if got := err == nil; got != want {
			t.Errorf("%s after the cut: exists %v, want %v (report %+v)", name, got, want, rep)
		}
	}
	if rep.Entries != 2 {
		t.Errorf("cut report %+v; want 2 names lost (kept/late, unnamed)", rep)
	}

	// Only the last sync of the root counts: names made after it go.
	if err := os.Mkdir(filepath.Join(p.Mountpoint(), "gone"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p.Mountpoint(), "gone", "f"), []byte("x"), true)
	rep = cut(t, p, Drop, nil)
	if _, err := os.Stat(filepath.Join(backing, "gone")); !errors.Is(err, os.ErrNotExist) || rep.Entries != 1 {
		t.Errorf("a directory made after the root's last sync: %v, report %+v", err, rep)
	}

	// A torn cut keeps a random half.
	p = remount(Options{})
	for i := range 32 {
		if err := os.WriteFile(filepath.Join(p.Mountpoint(), fmt.Sprintf("t%02d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep = cut(t, p, Torn, rand.New(rand.NewPCG(3, 3)))
	left, err := filepath.Glob(filepath.Join(backing, "t*"))
	if err != nil || len(left) != 32-rep.Entries || rep.Entries == 0 || rep.Entries == 32 {
		t.Errorf("after a torn cut of 32 new names, %d left, report %+v; want some kept and some lost", len(left), rep)
	}
}
