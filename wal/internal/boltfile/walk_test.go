package boltfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// soundFile writes a bbolt file with what a walk must handle: nested
// buckets, an inline bucket, a branch root, a value with overflow pages,
// and free pages; it returns its bytes and the number of plain values.
func soundFile(t testing.TB) ([]byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "b.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	values := 0
	err = db.Update(func(tx *bolt.Tx) error {
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		for i := range 500 {
			if err := big.Put(fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte{byte(i)}, 40)); err != nil {
				return err
			}
			values++
		}
		nested, err := big.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		if err := nested.Put([]byte("huge"), bytes.Repeat([]byte("x"), 3*os.Getpagesize())); err != nil {
			return err
		}
		small, err := tx.CreateBucket([]byte("small")) // inline: one tiny key
		if err != nil {
			return err
		}
		values += 2
		return small.Put([]byte("a"), []byte("b"))
	})
	if err == nil {
		// Free pages: rewrite some values in a second transaction.
		err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("big")).Put([]byte("k00001"), []byte("y")) })
	}
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, values
}

// Ensure that a sound file walks clean: every page is in the tree or free,
// every value is visited once, each bucket found.
func TestWalk_Sound(t *testing.T) {
	b, values := soundFile(t)
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	seen, buckets := 0, map[string]bool{}
	s, err := f.Walk(Visitor{
		Value:  func(*Bucket, []byte, []byte, uint64) { seen++ },
		Bucket: func(b *Bucket) { buckets[b.Path()] = true },
		Lost: func(b *Bucket, p uint64, _, _ []byte, why error) {
			t.Errorf("lost page %d of %s: %v", p, b.Path(), why)
		},
	})
	if err != nil || s.Total() != 0 {
		t.Fatalf("Walk = %+v, %v", s, err)
	}
	if seen != values {
		t.Fatalf("visited %d values, want %d", seen, values)
	}
	for _, want := range []string{"(root)", `"big"`, `"big"/"nested"`, `"small"`} {
		if !buckets[want] {
			t.Fatalf("bucket %s not found: %v", want, buckets)
		}
	}
	// Every page is accounted for: the two headers, the tree, the freelist
	// (its own pages are in Reached's complement) and the free pages.
	if s.Free == 0 || uint64(s.Reached+s.Free+2) > s.Pages {
		t.Fatalf("reached %d + free %d + 2 headers of %d pages", s.Reached, s.Free, s.Pages)
	}
}

// Ensure that the newer header is used, and the older one when the newer
// is torn, as bbolt does; and that a file without a valid header is
// ErrNoHeader.
func TestNew_Headers(t *testing.T) {
	b, _ := soundFile(t)
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil || f.MetaErr != [2]error{} {
		t.Fatalf("New = %v, header errors %v", err, f.MetaErr)
	}
	newer, ps := f.Meta.Txid, f.PageSize()
	torn := bytes.Clone(b)
	at := int(newer%2) * ps // the header page a transaction writes is txid % 2
	torn[at+pageHeaderSize+20] ^= 0xFF
	f, err = New(bytes.NewReader(torn), int64(len(torn)))
	if err != nil || f.Meta.Txid != newer-1 || f.MetaErr[newer%2] == nil {
		t.Fatalf("torn newer header: %v, using txid %d (newer %d), errors %v", err, f.Meta.Txid, newer, f.MetaErr)
	}
	both := bytes.Clone(torn)
	both[(1-at/ps)*ps+pageHeaderSize+20] ^= 0xFF
	if _, err := New(bytes.NewReader(both), int64(len(both))); !errors.Is(err, ErrNoHeader) {
		t.Fatalf("both headers torn: %v", err)
	}
}

// Ensure that a walk ends, without a panic, whatever a sound file's pages
// are made to say: each input overwrites two 8-byte words of it (page ids,
// counts, positions, flags, keys) at offsets taken modulo its size. The
// file itself is not part of the input: the fuzzer mutates small inputs
// far faster than a 100 KB one.
func FuzzWalk(f *testing.F) {
	b, _ := soundFile(f)
	f.Add(uint32(0), uint64(0), uint32(0), uint64(0))
	f.Add(uint32(3*4096+8), uint64(0x10), uint32(2*4096+16+8), uint64(2))
	f.Add(uint32(4*4096+16), uint64(1<<40), uint32(5*4096+24), uint64(3))
	f.Fuzz(func(t *testing.T, at1 uint32, v1 uint64, at2 uint32, v2 uint64) {
		c := bytes.Clone(b)
		for _, p := range []struct {
			at uint32
			v  uint64
		}{{at1, v1}, {at2, v2}} {
			at := int(p.at) % (len(c) - 8)
			order.PutUint64(c[at:], p.v)
		}
		file, err := New(bytes.NewReader(c), int64(len(c)))
		if err != nil {
			return
		}
		s, err := file.Walk(Visitor{
			Value:    func(*Bucket, []byte, []byte, uint64) {},
			Bucket:   func(*Bucket) {},
			Lost:     func(*Bucket, uint64, []byte, []byte, error) {},
			Progress: func(int) {},
		})
		if err != nil {
			t.Fatalf("Walk of bytes in memory: %v", err)
		}
		if uint64(s.Reached) > uint64(len(c))/uint64(file.PageSize()) {
			t.Fatalf("reached %d pages of a %d-byte file", s.Reached, len(c))
		}
	})
}

// Ensure that reads through the window return the file's bytes wherever
// they fall: inside a window, across its end, larger than it, at the end
// of the file; and that a read past the end is an error.
func TestFile_ReadAt(t *testing.T) {
	b, _ := soundFile(t)
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(b))
	for _, r := range []struct{ off, n int64 }{
		{0, 16}, {100, 4096}, {windowSize - 10, 20}, {windowSize - 4096, 8192}, {5, windowSize}, {size - 4096, 4096}, {size - 1, 1}, {4096, 100},
	} {
		got := make([]byte, r.n)
		if err := f.readAt(got, r.off); err != nil || !bytes.Equal(got, b[r.off:r.off+r.n]) {
			t.Fatalf("readAt(%d bytes at %d): %v, bytes equal %v", r.n, r.off, err, bytes.Equal(got, b[r.off:r.off+r.n]))
		}
	}
	if err := f.readAt(make([]byte, 2), size-1); err == nil {
		t.Fatal("a read past the end succeeded")
	}
}

// Ensure that a freelist of 0xFFFF pages or more, whose count overflows
// the page header into the first element (as bbolt writes it), is read
// as such, and that such a count larger than the page holds is a damaged
// freelist, not a read past the page.
func TestWalk_LargeFreelistCount(t *testing.T) {
	b, _ := soundFile(t)
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := f.FreePages()
	if err != nil || len(ids) == 0 {
		t.Fatalf("free pages %v, %v; want some", ids, err)
	}
	at := int(f.Meta.Freelist) * f.PageSize()
	// withCount rewrites the freelist page with its count in the first
	// element: count, then the ids.
	withCount := func(count uint64) []byte {
		c := bytes.Clone(b)
		order.PutUint16(c[at+10:], 0xFFFF)
		order.PutUint64(c[at+pageHeaderSize:], count)
		for i, id := range ids {
			order.PutUint64(c[at+pageHeaderSize+8+8*i:], id)
		}
		return c
	}
	c := withCount(uint64(len(ids)))
	f, err = New(bytes.NewReader(c), int64(len(c)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Walk(Visitor{})
	if err != nil || s.Total() != 0 || s.Free != len(ids) {
		t.Fatalf("walk of a freelist with its count in the first element: free %d (want %d), problems %v, %v", s.Free, len(ids), s.Problems, err)
	}

	c = withCount(1 << 40)
	f, err = New(bytes.NewReader(c), int64(len(c)))
	if err != nil {
		t.Fatal(err)
	}
	s, err = f.Walk(Visitor{})
	if err != nil || s.Counts[BadFreelist] != 1 || !strings.Contains(s.Problems[0].Detail, "lists 1099511627776 pages, more than its") {
		t.Fatalf("walk of a freelist counting more than it holds: %+v, %v", s.Problems, err)
	}
}
