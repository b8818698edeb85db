// Package boltfile reads the pages of a bbolt file itself, without bbolt,
// for the checks and the salvage of a file that bbolt cannot be trusted
// with.
//
// bbolt trusts its file: a branch page that points back at its ancestor
// sends its cursors round for ever (growing a stack until memory runs
// out), a page that is both in the freelist and in the tree is handed out
// again and overwritten by the next commit, and most other damage is a
// panic. This package reads the same pages through ReadAt, one at a time,
// checks every bound before it uses it, and walks the tree with a bitmap of
// the pages it has seen, so that it ends on any file, in time and memory
// bounded by the file's size, and reports what it found instead of
// failing.
//
// The format is bbolt v1's (go.etcd.io/bbolt/internal/common): two header
// (meta) pages, then pages of a fixed size, each starting with a 16-byte
// header; branch and leaf pages hold 16-byte elements whose positions are
// relative to the element; a bucket is a leaf value holding its root page
// and sequence, followed by the bucket's page itself when it is inline.
// Numbers are in the machine's byte order, as bbolt writes them.
package boltfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// The format's constants, as bbolt defines them.
const (
	pageHeaderSize = 16
	elementSize    = 16 // branch and leaf elements alike
	bucketHeader   = 16 // root page id, sequence

	branchFlag   = 0x01
	leafFlag     = 0x02
	metaFlag     = 0x04
	freelistFlag = 0x10

	bucketLeafFlag = 0x01

	magic   = 0xED0CDAED
	version = 2

	// noFreelist is the freelist page id of a file written with bbolt's
	// NoFreelistSync: its freelist is not on disk.
	noFreelist = ^uint64(0)

	// metaChecksummed is the length of the part of a meta that its
	// checksum covers (everything before the checksum).
	metaChecksummed = 56
	metaSize        = metaChecksummed + 8
)

var order = binary.NativeEndian

// ErrNoHeader reports a file in which neither header page is a valid bbolt
// meta page: without one, nothing says where the tree starts.
var ErrNoHeader = errors.New("neither bbolt header page is valid")

// Meta is the content of a header page.
type Meta struct {
	PageSize uint32
	Flags    uint32
	Root     uint64 // the root bucket's page
	Seq      uint64 // the root bucket's sequence
	Freelist uint64 // the freelist's page; ^0 if the freelist is not stored
	HighMark uint64 // pages in use: every page id is below it
	Txid     uint64
}

// File is a bbolt file opened for reading its pages.
type File struct {
	r        io.ReaderAt
	size     int64
	pageSize int
	// Meta is the header bbolt would use: the valid one with the higher
	// transaction id.
	Meta Meta
	// MetaErr says, for header page 0 and 1, why it is not valid (nil if
	// it is). One invalid header is what a crash during a commit leaves,
	// and bbolt uses the other one.
	MetaErr [2]error

	win   []byte // the window readAt last read, at byte winAt
	winAt int64
}

// New reads the header pages of the bbolt file of size bytes behind r, and
// chooses the one bbolt would use. It fails with ErrNoHeader when neither
// is valid.
func New(r io.ReaderAt, size int64) (*File, error) {
	f := &File{r: r, size: size}
	var metas [2]Meta
	// Page 0 says the page size; if it is unreadable, page 1 is looked for
	// at each page size bbolt could have used, as bbolt does.
	m0, err0 := f.readMeta(0)
	f.MetaErr[0] = err0
	var m1 Meta
	err1 := ErrNoHeader
	if err0 == nil {
		m1, err1 = f.readMeta(int64(m0.PageSize))
	} else {
		for shift := 0; shift <= 14; shift++ {
			pos := int64(1024) << shift
			if pos >= size-1024 {
				break
			}
			if m1, err1 = f.readMeta(pos); err1 == nil && int64(m1.PageSize) == pos {
				break
			}
			if err1 == nil {
				err1 = fmt.Errorf("header page 1 found at byte %d says the page size is %d", pos, m1.PageSize)
			}
		}
	}
	f.MetaErr[1] = err1
	metas[0], metas[1] = m0, m1
	switch {
	case err0 == nil && err1 == nil:
		f.Meta = metas[0]
		if metas[1].Txid > metas[0].Txid {
			f.Meta = metas[1]
		}
	case err0 == nil:
		f.Meta = metas[0]
	case err1 == nil:
		f.Meta = metas[1]
	default:
		return nil, fmt.Errorf("%w (page 0: %v; page 1: %v)", ErrNoHeader, err0, err1)
	}
	f.pageSize = int(f.Meta.PageSize)
	return f, nil
}

// readMeta reads and validates the header page at byte offset pos.
func (f *File) readMeta(pos int64) (Meta, error) {
	var b [pageHeaderSize + metaSize]byte
	if pos+int64(len(b)) > f.size {
		return Meta{}, fmt.Errorf("the file ends before header page at byte %d", pos)
	}
	if _, err := f.r.ReadAt(b[:], pos); err != nil {
		return Meta{}, fmt.Errorf("read header page at byte %d: %w", pos, err)
	}
	m := b[pageHeaderSize:]
	if got := order.Uint32(m[0:]); got != magic {
		return Meta{}, fmt.Errorf("header page at byte %d: not a bbolt header (magic %#x)", pos, got)
	}
	if got := order.Uint32(m[4:]); got != version {
		return Meta{}, fmt.Errorf("header page at byte %d: bbolt format version %d, want %d", pos, got, version)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksummed])
	if h.Sum64() != order.Uint64(m[metaChecksummed:]) {
		return Meta{}, fmt.Errorf("header page at byte %d: checksum mismatch", pos)
	}
	meta := Meta{
		PageSize: order.Uint32(m[8:]),
		Flags:    order.Uint32(m[12:]),
		Root:     order.Uint64(m[16:]),
		Seq:      order.Uint64(m[24:]),
		Freelist: order.Uint64(m[32:]),
		HighMark: order.Uint64(m[40:]),
		Txid:     order.Uint64(m[48:]),
	}
	if ps := meta.PageSize; ps < 512 || ps > 1<<24 || ps&(ps-1) != 0 {
		return Meta{}, fmt.Errorf("header page at byte %d: page size %d", pos, ps)
	}
	return meta, nil
}

// windowSize is how much of the file readAt reads at once. bbolt writes a
// commit's pages next to each other, so the pages a walk reads one after
// the other are often neighbours on disk: one read of a window serves
// them all, where a read per page spends the walk's time in system calls.
const windowSize = 32 << 10

// readAt fills b from the file at off, through a window of windowSize
// bytes around it.
func (f *File) readAt(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > f.size {
		return fmt.Errorf("read %d bytes at %d: past the end of the file (%d bytes)", len(b), off, f.size)
	}
	if off >= f.winAt && off+int64(len(b)) <= f.winAt+int64(len(f.win)) {
		copy(b, f.win[off-f.winAt:])
		return nil
	}
	if len(b) > windowSize/2 {
		_, err := f.r.ReadAt(b, off)
		return err
	}
	start := off - off%windowSize
	end := min(start+windowSize, f.size)
	if off+int64(len(b)) > end { // straddles the window's end: start at off
		start, end = off, min(off+windowSize, f.size)
	}
	if f.win == nil {
		f.win = make([]byte, windowSize)
	}
	f.win = f.win[:end-start]
	if _, err := f.r.ReadAt(f.win, start); err != nil {
		f.win = f.win[:0]
		return err
	}
	f.winAt = start
	copy(b, f.win[off-start:])
	return nil
}

// PageSize returns the file's page size.
func (f *File) PageSize() int { return f.pageSize }

// Pages returns the number of pages in use, the header's high-water mark.
func (f *File) Pages() uint64 { return f.Meta.HighMark }

// page is one page (with its overflow) read from the file.
type page struct {
	id       uint64
	flags    uint16
	count    int
	overflow uint64
	data     []byte // the whole page, header included
}

// pageError is a page that cannot be read as what its parent says it is.
type pageError struct {
	kind   Kind
	detail string
}

func (e *pageError) Error() string { return e.detail }

// readPage reads page id and its overflow into buf (grown as needed) and
// checks what every page must satisfy: it lies below the high-water mark
// and inside the file, and its header names it. The page type is the
// caller's to check.
func (f *File) readPage(id uint64, buf []byte) (page, []byte, error) {
	hw := f.Meta.HighMark
	if id < 2 || id >= hw {
		return page{}, buf, &pageError{OutOfRange, fmt.Sprintf("page %d is outside the pages in use (2 to %d)", id, hw-1)}
	}
	ps := uint64(f.pageSize)
	if (id+1)*ps > uint64(f.size) {
		return page{}, buf, &pageError{OutOfRange, fmt.Sprintf("page %d lies past the end of the file (%d bytes)", id, f.size)}
	}
	// One read for the page, a second only for its overflow, if any: the
	// reads are what a walk costs.
	if uint64(cap(buf)) < ps {
		buf = make([]byte, ps, max(ps, 64<<10))
	}
	buf = buf[:ps]
	if err := f.readAt(buf, int64(id*ps)); err != nil {
		return page{}, buf, fmt.Errorf("read page %d: %w", id, err)
	}
	h := buf[:pageHeaderSize]
	p := page{id: order.Uint64(h[0:]), flags: order.Uint16(h[8:]), count: int(order.Uint16(h[10:])), overflow: uint64(order.Uint32(h[12:]))}
	if p.id != id {
		return page{}, buf, &pageError{BadPage, fmt.Sprintf("page %d identifies itself as page %d (flags %#x): it holds something else", id, p.id, p.flags)}
	}
	if id+p.overflow >= hw || (id+p.overflow+1)*ps > uint64(f.size) {
		return page{}, buf, &pageError{BadPage, fmt.Sprintf("page %d claims %d overflow pages, past the pages in use (%d) or the end of the file", id, p.overflow, hw)}
	}
	if p.overflow > 0 {
		n := (p.overflow + 1) * ps
		if uint64(cap(buf)) < n {
			buf = append(buf[:cap(buf)], make([]byte, n-uint64(cap(buf)))...)
		}
		buf = buf[:n]
		if err := f.readAt(buf[ps:], int64((id+1)*ps)); err != nil {
			return page{}, buf, fmt.Errorf("read page %d: %w", id, err)
		}
	}
	p.data = buf
	return p, buf, nil
}

// element is one branch or leaf element, its key and value (nil for a
// branch) slices of the page's data.
type element struct {
	flags uint32
	child uint64 // branch only
	key   []byte
	value []byte // leaf only
}

// elements parses the count elements of a branch or leaf page held in data
// (a page read from the file, or an inline bucket's page inside a value),
// checking that each lies inside data. It reuses dst's array if it is
// large enough.
func elements(dst []element, data []byte, flags uint16, count int) ([]element, error) {
	if pageHeaderSize+count*elementSize > len(data) {
		return nil, fmt.Errorf("%d elements do not fit in its %d bytes", count, len(data))
	}
	out := dst[:0]
	if cap(out) < count {
		out = make([]element, count)
	}
	out = out[:count]
	clear(out)
	for i := range out {
		off := pageHeaderSize + i*elementSize
		e := data[off : off+elementSize]
		var pos, ksize, vsize uint64
		if flags == branchFlag {
			pos, ksize = uint64(order.Uint32(e[0:])), uint64(order.Uint32(e[4:]))
			out[i].child = order.Uint64(e[8:])
		} else {
			out[i].flags = order.Uint32(e[0:])
			pos, ksize, vsize = uint64(order.Uint32(e[4:])), uint64(order.Uint32(e[8:])), uint64(order.Uint32(e[12:]))
		}
		start := uint64(off) + pos
		if end := start + ksize + vsize; end > uint64(len(data)) {
			return nil, fmt.Errorf("element %d (key %d bytes, value %d) runs past the page's %d bytes", i, ksize, vsize, len(data))
		}
		out[i].key = data[start : start+ksize]
		if flags == leafFlag {
			out[i].value = data[start+ksize : start+ksize+vsize]
		}
	}
	return out, nil
}

// freelist reads the page ids that the freelist lists, and how many
// overflow pages the freelist's own page has.
func (f *File) freelist() (ids []uint64, overflow uint64, err error) {
	id := f.Meta.Freelist
	p, _, err := f.readPage(id, nil)
	if err != nil {
		return nil, 0, err
	}
	if p.flags != freelistFlag {
		return nil, 0, &pageError{BadPage, fmt.Sprintf("the freelist's page %d is not a freelist page (flags %#x)", id, p.flags)}
	}
	start, count := pageHeaderSize, uint64(p.count)
	if count == 0xFFFF {
		// The count overflowed the header: the first element holds it.
		count = order.Uint64(p.data[pageHeaderSize:])
		start += 8
	}
	if count > uint64(len(p.data)-start)/8 {
		return nil, 0, &pageError{BadPage, fmt.Sprintf("freelist page %d lists %d pages, more than its %d bytes hold", id, count, len(p.data))}
	}
	ids = make([]uint64, count)
	for i := range ids {
		ids[i] = order.Uint64(p.data[start+8*i:])
	}
	return ids, p.overflow, nil
}

// Layout of a page, for tools that write one (tests that damage a file).
const (
	PageHeaderSize = pageHeaderSize // id, flags, count, overflow
	ElementSize    = elementSize    // a branch or leaf element
)

// ReadPage returns the bytes of page id and its overflow pages, after
// checking that its header names it.
func (f *File) ReadPage(id uint64) ([]byte, error) {
	p, _, err := f.readPage(id, nil)
	return p.data, err
}

// FreePages returns the pages that the freelist lists.
func (f *File) FreePages() ([]uint64, error) {
	if f.Meta.Freelist == noFreelist {
		return nil, errors.New("the file has no stored freelist")
	}
	ids, _, err := f.freelist()
	return ids, err
}

// BucketTree returns the pages of the bucket at path (its names from the
// root bucket), level by level from its root page down to its leaves, each
// level in key order. It is for a sound file: it fails at the first page
// it cannot read, and on an inline bucket (which has no pages).
func (f *File) BucketTree(path ...string) ([][]uint64, error) {
	root, err := f.bucketRoot(path)
	if err != nil {
		return nil, err
	}
	levels := [][]uint64{{root}}
	for {
		var next []uint64
		for _, id := range levels[len(levels)-1] {
			p, _, err := f.readPage(id, nil)
			if err != nil {
				return nil, err
			}
			if p.flags != branchFlag {
				return levels, nil // a leaf level: every leaf is at the same depth
			}
			es, err := elements(nil, p.data, branchFlag, p.count)
			if err != nil {
				return nil, fmt.Errorf("page %d: %w", id, err)
			}
			for _, e := range es {
				next = append(next, e.child)
			}
		}
		levels = append(levels, next)
	}
}

// bucketRoot finds the root page of the bucket at path.
func (f *File) bucketRoot(path []string) (uint64, error) {
	id := f.Meta.Root
	for i, name := range path {
		found := false
		for !found {
			p, _, err := f.readPage(id, nil)
			if err != nil {
				return 0, err
			}
			if p.flags != branchFlag && p.flags != leafFlag {
				return 0, fmt.Errorf("page %d is not a branch or leaf page", id)
			}
			es, err := elements(nil, p.data, p.flags, p.count)
			if err != nil {
				return 0, fmt.Errorf("page %d: %w", id, err)
			}
			if p.flags == branchFlag {
				// The last child whose first key is not above the name.
				next := es[0].child
				for _, e := range es {
					if string(e.key) <= name {
						next = e.child
					}
				}
				id = next
				continue
			}
			for _, e := range es {
				if string(e.key) == name && e.flags&bucketLeafFlag != 0 && len(e.value) >= bucketHeader {
					id, found = order.Uint64(e.value), true
					break
				}
			}
			if !found {
				return 0, fmt.Errorf("no bucket %q in %q", name, path[:i])
			}
		}
		if id == 0 {
			return 0, fmt.Errorf("bucket %q is inline: it has no pages", path[:i+1])
		}
	}
	return id, nil
}
