package powerfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// model is the page cache stated plainly: the bytes a program sees and
// the bytes on disk.
type model struct{ view, disk []byte }

func (m *model) write(p []byte, off int) {
	if end := off + len(p); end > len(m.view) {
		m.view = append(m.view, make([]byte, end-len(m.view))...)
	}
	copy(m.view[off:], p)
}

func (m *model) truncate(size int) {
	if size < len(m.view) {
		m.view = m.view[:size]
		return
	}
	m.view = append(m.view, make([]byte, size-len(m.view))...)
}

func newTestFile(t *testing.T, content []byte) *file {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f, err := newFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func disk(t *testing.T, f *file) []byte {
	t.Helper()
	b, err := os.ReadFile(f.backing.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func view(t *testing.T, f *file) []byte {
	t.Helper()
	p := make([]byte, f.size+100)
	n, err := f.readAt(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p[:n]
}

// Ensure that random writes, truncations and fsyncs leave the view and
// the disk exactly as the plain model says, and that a drop brings back
// the disk as the last fsync left it.
func TestFile_Model(t *testing.T) {
	for seed := range uint64(25) {
		rng := rand.New(rand.NewPCG(seed, 0))
		initial := bytes.Repeat([]byte{'i'}, rng.IntN(3*PageSize))
		f := newTestFile(t, initial)
		m := &model{view: bytes.Clone(initial), disk: bytes.Clone(initial)}
		for step := range 60 {
			switch op := rng.IntN(10); {
			case op < 6:
				off := rng.IntN(5 * PageSize)
				p := bytes.Repeat([]byte{byte('a' + step%26)}, 1+rng.IntN(2*PageSize))
				if err := f.writeAt(p, int64(off)); err != nil {
					t.Fatal(err)
				}
				m.write(p, off)
			case op < 8:
				size := rng.IntN(5 * PageSize)
				f.truncate(int64(size))
				m.truncate(size)
			case op < 9:
				if err := f.writeBack(); err != nil {
					t.Fatal(err)
				}
				m.disk = bytes.Clone(m.view)
			default:
				off := rng.IntN(5 * PageSize)
				p := make([]byte, rng.IntN(2*PageSize))
				n, err := f.readAt(p, int64(off))
				if err != nil {
					t.Fatal(err)
				}
				want := []byte{}
				if off < len(m.view) {
					want = m.view[off:min(off+len(p), len(m.view))]
				}
				if !bytes.Equal(p[:n], want) {
					t.Fatalf("seed %d step %d: read %d at %d: %d bytes differ from the model's %d", seed, step, len(p), off, n, len(want))
				}
			}
			if got := view(t, f); !bytes.Equal(got, m.view) {
				t.Fatalf("seed %d step %d: view of %d bytes, model %d", seed, step, len(got), len(m.view))
			}
			if got := disk(t, f); !bytes.Equal(got, m.disk) {
				t.Fatalf("seed %d step %d: disk of %d bytes, model %d (written before an fsync?)", seed, step, len(got), len(m.disk))
			}
		}
		f.drop()
		if got := view(t, f); !bytes.Equal(got, m.disk) || !f.clean() {
			t.Fatalf("seed %d: after a drop the view has %d bytes, the disk %d", seed, len(got), len(m.disk))
		}
	}
}

// Ensure that a torn write-back writes each dirty page whole or not at
// all, keeps some and loses some, and either applies the size change or
// keeps the size on disk.
func TestFile_Tear(t *testing.T) {
	const pages = 64
	old := bytes.Repeat([]byte{'o'}, pages*PageSize)
	sizes := map[int]bool{}
	for seed := range uint64(8) {
		f := newTestFile(t, old)
		if err := f.writeAt(bytes.Repeat([]byte{'n'}, (pages+2)*PageSize-10), 5); err != nil {
			t.Fatal(err)
		}
		written, lost, err := f.tear(rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		got := disk(t, f)
		sizes[len(got)] = true
		if written+lost != pages+2 || written == 0 || lost == 0 {
			t.Fatalf("seed %d: %d pages written, %d lost, of %d", seed, written, lost, pages+2)
		}
		kept := 0
		for i := 0; i*PageSize < len(got); i++ {
			pg := got[i*PageSize : min((i+1)*PageSize, len(got))]
			wantNew := bytes.Repeat([]byte{'n'}, len(pg))
			// Past the old end, a page not written back reads as zeros.
			wantOld := make([]byte, len(pg))
			if i*PageSize < len(old) {
				wantOld = old[i*PageSize : i*PageSize+len(pg)]
			}
			if i == 0 {
				copy(wantNew, "ooooo")
			}
			switch {
			case bytes.Equal(pg, wantNew):
				kept++
			case bytes.Equal(pg, wantOld):
			default:
				t.Fatalf("seed %d: page %d is neither the old one nor the new one (torn inside a page)", seed, i)
			}
		}
		if kept == 0 || !f.clean() {
			t.Fatalf("seed %d: %d new pages on disk; clean %v", seed, kept, f.clean())
		}
	}
	if !sizes[pages*PageSize] || !sizes[(pages+2)*PageSize-5] {
		t.Fatalf("sizes after 8 torn cuts: %v; want both the old size and the new one", sizes)
	}
}
