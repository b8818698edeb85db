package boltfile

import (
	"bytes"
	"errors"
	"fmt"
)

// Kind is a kind of damage that Walk finds.
type Kind int

// The kinds of damage, most telling first.
const (
	// FreeInUse is a page that the freelist lists and the tree uses: the
	// next commit may hand it out and overwrite live data with new.
	FreeInUse Kind = iota
	// MultipleRefs is a page that the tree reaches a second time: two
	// parents, or a branch that points back at an ancestor (a cycle).
	MultipleRefs
	// BadPage is a page that is not what its parent says: another page's
	// content, the wrong type, elements past its end.
	BadPage
	// OutOfRange is a reference to a page past the pages in use or the
	// end of the file.
	OutOfRange
	// KeyOrder is a key out of order within its page, or outside the
	// range its parent gives it: a search for it would miss it.
	KeyOrder
	// BadFreelist is a freelist that cannot be read, or lists a page twice
	// or past the pages in use.
	BadFreelist
	// Unreachable is a page that neither the tree nor the freelist
	// accounts for: leaked space, harmless to the data.
	Unreachable
	numKinds
)

var kindNames = [numKinds]string{"free and in use", "multiple references", "bad page", "page out of range", "key order", "bad freelist", "unreachable"}

// String names the kind, for messages.
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Harmless reports whether damage of kind k leaves the tree safe to read and
// write through bbolt: only leaked pages do.
func (k Kind) Harmless() bool { return k == Unreachable }

// Problem is one piece of damage.
type Problem struct {
	Kind   Kind
	Page   uint64
	Detail string
}

// maxProblemsPerKind bounds the problems a Summary keeps of each kind: a
// badly damaged file has as many as it has pages, and the first few of each
// kind tell the story. The counts go on.
const maxProblemsPerKind = 20

// Summary is what Walk found.
type Summary struct {
	Pages    uint64             // the pages in use (the header's high-water mark)
	Reached  int                // pages the tree reaches, overflow included
	Free     int                // pages the freelist lists (0 if unreadable)
	Counts   [numKinds]int      // problems found, of each kind
	Problems []Problem          // the first problems of each kind, in the order found
	First    [numKinds][]uint64 // the first pages of each kind
}

// Damaged reports whether the file has damage that makes bbolt unsafe on
// it (anything but leaked pages).
func (s *Summary) Damaged() bool {
	for k, n := range s.Counts {
		if n > 0 && !Kind(k).Harmless() {
			return true
		}
	}
	return false
}

// Readable reports whether bbolt can read the tree without looping or
// panicking: no page is reached twice and every page is one of the tree.
// A freelist that disagrees with the tree does not stop reads, only
// commits.
func (s *Summary) Readable() bool {
	return s.Counts[MultipleRefs] == 0 && s.Counts[BadPage] == 0 && s.Counts[OutOfRange] == 0
}

// Total returns the number of problems of every kind.
func (s *Summary) Total() int {
	n := 0
	for _, c := range s.Counts {
		n += c
	}
	return n
}

func (s *Summary) add(k Kind, page uint64, format string, args ...any) {
	s.Counts[k]++
	if len(s.First[k]) < maxProblemsPerKind {
		s.First[k] = append(s.First[k], page)
		s.Problems = append(s.Problems, Problem{Kind: k, Page: page, Detail: fmt.Sprintf(format, args...)})
	}
}

// Bucket is a bucket met during a walk.
type Bucket struct {
	Name   []byte  // nil for the root bucket
	Parent *Bucket // nil for the root bucket
	Seq    uint64  // its sequence (the ticket counter, for ticketq's jobs)
	Root   uint64  // its root page; 0 if inline
}

// Is reports whether b is the bucket at path from the root, such as
// Is("queues", "emails").
func (b *Bucket) Is(path ...string) bool {
	for i := len(path) - 1; i >= 0; i-- {
		if b == nil || b.Parent == nil || string(b.Name) != path[i] {
			return false
		}
		b = b.Parent
	}
	return b != nil && b.Parent == nil
}

// Path returns the bucket's names from the root, joined with "/".
func (b *Bucket) Path() string {
	if b == nil || b.Parent == nil {
		return "(root)"
	}
	if b.Parent.Parent == nil {
		return fmt.Sprintf("%q", b.Name)
	}
	return b.Parent.Path() + "/" + fmt.Sprintf("%q", b.Name)
}

// Visitor receives what a walk reads. Every field may be nil. The slices it
// is given are valid only during the call.
type Visitor struct {
	// Value is called for each key of a bucket that is not itself a
	// bucket, in key order within each page; page is the leaf holding it.
	Value func(b *Bucket, key, value []byte, page uint64)
	// Bucket is called for each bucket found, before its keys.
	Bucket func(b *Bucket)
	// Lost is called for a subtree that could not be read (a damaged or
	// out-of-range page, or a page already read under another parent):
	// lo and hi bound its keys as its parent says (lo included, hi not;
	// nil is unbounded). A salvage reports these as what it could not
	// copy.
	Lost func(b *Bucket, page uint64, lo, hi []byte, why error)
	// Progress is called now and then with the pages read so far.
	Progress func(reached int)
}

// frame is a page waiting to be read: its bucket, the key range its parent
// gives it, and the parent, for messages.
type frame struct {
	id     uint64
	b      *Bucket
	lo, hi []byte
	parent uint64 // 0 for a bucket's root
}

// Walk reads the freelist, then every page the tree reaches from the root
// bucket, each at most once, and reports what it finds (see Kind). Its
// memory is two bits per page (reached, free) and the keys of the branch
// pages waiting to be read; its time is one read of every reachable page.
// It returns an error only if the file cannot be read (an I/O error), not
// for damage.
func (f *File) Walk(v Visitor) (*Summary, error) {
	w := &walker{f: f, v: v, s: &Summary{Pages: f.Meta.HighMark}, flFirst: 1}
	hw, inFile := f.Meta.HighMark, uint64(f.size)/uint64(f.pageSize)
	if hw < 2 || hw > inFile {
		w.s.add(OutOfRange, hw, "the header says %d pages are in use; the file holds %d", hw, inFile)
		if hw < 2 || inFile < 2 {
			return w.s, nil
		}
	}
	// Sized by the pages that exist, not by what the header claims:
	// readPage refuses every page past the end of the file.
	w.n = min(hw, inFile)
	w.used = newBitmap(w.n)
	w.used.set(0)
	w.used.set(1)
	if err := w.readFreelist(); err != nil {
		return w.s, err
	}
	root := &Bucket{Seq: f.Meta.Seq, Root: f.Meta.Root}
	if v.Bucket != nil {
		v.Bucket(root)
	}
	w.stack = append(w.stack, frame{id: f.Meta.Root, b: root})
	if err := w.run(); err != nil {
		return w.s, err
	}
	if w.free != nil {
		for id := uint64(2); id < w.n; id++ {
			if !w.used.has(id) && !w.free.has(id) {
				w.s.add(Unreachable, id, "page %d is neither in the tree nor in the freelist", id)
			}
		}
	}
	return w.s, nil
}

type walker struct {
	f    *File
	n    uint64 // the pages that exist and are in use: every id read is below it
	v    Visitor
	s    *Summary
	used bitmap
	free bitmap // nil if the freelist is unreadable or not stored
	// flFirst and flLast are the freelist's own pages (flLast < flFirst
	// if it has none), for messages.
	flFirst, flLast uint64
	stack           []frame
	buf             []byte
	elems           []element // the elements of the page in buf
	told            int       // Reached when Progress was last called
}

// readFreelist marks the freelist's own pages as in use and the pages it
// lists as free.
func (w *walker) readFreelist() error {
	f := w.f
	if f.Meta.Freelist == noFreelist {
		return nil
	}
	ids, overflow, err := f.freelist()
	var pe *pageError
	if errors.As(err, &pe) {
		w.s.add(BadFreelist, f.Meta.Freelist, "the freelist cannot be read: %v", err)
		return nil
	}
	if err != nil {
		return err
	}
	w.flFirst, w.flLast = f.Meta.Freelist, f.Meta.Freelist+overflow
	for id := w.flFirst; id <= w.flLast; id++ {
		w.used.set(id)
	}
	w.free = newBitmap(w.n)
	w.s.Free = len(ids)
	for _, id := range ids {
		switch {
		case id < 2 || id >= w.n:
			w.s.add(BadFreelist, id, "the freelist lists page %d, outside the pages in use (2 to %d)", id, w.n-1)
		case w.free.has(id):
			w.s.add(BadFreelist, id, "the freelist lists page %d twice", id)
		case w.used.has(id):
			w.s.add(BadFreelist, id, "the freelist lists page %d, which holds the freelist itself", id)
		default:
			w.free.set(id)
		}
	}
	return nil
}

// run reads the pages on the stack until it is empty. Children are pushed
// in reverse, so that pages are read in key order.
func (w *walker) run() error {
	for len(w.stack) > 0 {
		fr := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		p, err := w.claim(fr)
		if err != nil {
			var pe *pageError
			if !errors.As(err, &pe) {
				return err
			}
			w.lost(fr, pe)
			continue
		}
		if w.v.Progress != nil && w.s.Reached-w.told >= 1024 {
			w.told = w.s.Reached
			w.v.Progress(w.s.Reached)
		}
		switch p.flags {
		case branchFlag:
			w.branch(fr, p)
		case leafFlag:
			w.leaf(fr, p.id, p.data, p.count, true)
		default:
			w.s.add(BadPage, p.id, "page %d (reached from page %d, bucket %s) has flags %#x, not a branch or leaf page", p.id, fr.parent, fr.b.Path(), p.flags)
			w.lost(fr, &pageError{BadPage, fmt.Sprintf("page %d is not a branch or leaf page", p.id)})
		}
	}
	return nil
}

// claim reads the page of fr and marks it and its overflow as reached. A
// page reached before, or one that is not a page of the tree, is a
// problem and a *pageError.
func (w *walker) claim(fr frame) (page, error) {
	id := fr.id
	if id < w.n && w.used.has(id) {
		// Which page reached it first is not kept (it would cost a
		// word per page, for a message): what it is, is.
		first := "from another page"
		switch {
		case id < 2:
			first = "as a header page"
		case id >= w.flFirst && id <= w.flLast:
			first = "as the freelist"
		}
		w.s.add(MultipleRefs, id, "page %d is reached again from page %d (bucket %s), after being reached %s: a cycle or two parents", id, fr.parent, fr.b.Path(), first)
		return page{}, &pageError{MultipleRefs, fmt.Sprintf("page %d is reached a second time", id)}
	}
	p, buf, err := w.f.readPage(id, w.buf)
	w.buf = buf
	if err != nil {
		var pe *pageError
		if errors.As(err, &pe) {
			w.s.add(pe.kind, id, "%s (reached from page %d, bucket %s)", pe.detail, fr.parent, fr.b.Path())
			if pe.kind != OutOfRange {
				// Reached, if unreadable: not leaked as well.
				w.used.set(id)
			}
		}
		return page{}, err
	}
	for i := uint64(0); i <= p.overflow; i++ {
		if w.used.has(id + i) {
			w.s.add(MultipleRefs, id+i, "page %d, an overflow page of page %d, is also used elsewhere", id+i, id)
		} else {
			w.s.Reached++
		}
		w.used.set(id + i)
		if w.free != nil && w.free.has(id+i) {
			w.s.add(FreeInUse, id+i, "page %d (bucket %s) is in use and also in the freelist: a commit would overwrite it", id+i, fr.b.Path())
		}
	}
	return p, nil
}

// lost reports the subtree of fr as unreadable.
func (w *walker) lost(fr frame, why error) {
	if w.v.Lost != nil {
		w.v.Lost(fr.b, fr.id, fr.lo, fr.hi, why)
	}
}

// branch checks a branch page's keys and queues its children.
func (w *walker) branch(fr frame, p page) {
	es, err := elements(w.elems, p.data, branchFlag, p.count)
	w.elems = es
	if err == nil && len(es) == 0 {
		err = errors.New("a branch page without elements")
	}
	if err != nil {
		w.s.add(BadPage, p.id, "branch page %d (bucket %s): %v", p.id, fr.b.Path(), err)
		w.lost(fr, &pageError{BadPage, err.Error()})
		return
	}
	w.checkOrder(fr, p.id, es)
	// The children's ranges come from keys in w.buf, which the next read
	// overwrites: copy them, once per branch.
	keys := make([][]byte, len(es))
	for i, e := range es {
		keys[i] = bytes.Clone(e.key)
	}
	for i := len(es) - 1; i >= 0; i-- {
		hi := fr.hi
		if i+1 < len(es) {
			hi = keys[i+1]
		}
		lo := keys[i]
		if i == 0 && fr.lo != nil && bytes.Compare(lo, fr.lo) < 0 {
			lo = fr.lo
		}
		w.stack = append(w.stack, frame{id: es[i].child, b: fr.b, lo: lo, hi: hi, parent: p.id})
	}
}

// leaf reads a leaf page (or an inline bucket's page) held in data: its
// values go to the visitor, its buckets are walked.
//
// A page's elements reuse w.elems; an inline bucket's, read while its
// parent's are in use, get their own.
func (w *walker) leaf(fr frame, id uint64, data []byte, count int, page bool) {
	var dst []element
	if page {
		dst = w.elems
	}
	es, err := elements(dst, data, leafFlag, count)
	if page && err == nil {
		w.elems = es
	}
	if err != nil {
		w.s.add(BadPage, id, "leaf page %d (bucket %s): %v", id, fr.b.Path(), err)
		w.lost(fr, &pageError{BadPage, err.Error()})
		return
	}
	w.checkOrder(fr, id, es)
	var children []frame
	for _, e := range es {
		if e.flags&bucketLeafFlag == 0 {
			if w.v.Value != nil {
				w.v.Value(fr.b, e.key, e.value, id)
			}
			continue
		}
		if len(e.value) < bucketHeader {
			w.s.add(BadPage, id, "leaf page %d (bucket %s): bucket %q has a %d-byte header", id, fr.b.Path(), e.key, len(e.value))
			continue
		}
		b := &Bucket{Name: bytes.Clone(e.key), Parent: fr.b, Root: order.Uint64(e.value), Seq: order.Uint64(e.value[8:])}
		if w.v.Bucket != nil {
			w.v.Bucket(b)
		}
		if b.Root != 0 {
			children = append(children, frame{id: b.Root, b: b, parent: id})
			continue
		}
		w.inline(b, id, e.value[bucketHeader:])
	}
	for i := len(children) - 1; i >= 0; i-- {
		w.stack = append(w.stack, children[i])
	}
}

// inline reads the page of an inline bucket, stored in its parent's leaf
// (page id) after the bucket's header. Its data is a slice of w.buf, used
// before anything else is read. An inline page holds no sub-buckets in a
// sound file; one that claims some is walked the same way, each level
// inside a shorter value, so this ends.
func (w *walker) inline(b *Bucket, id uint64, data []byte) {
	fr := frame{id: id, b: b, parent: id}
	if len(data) < pageHeaderSize {
		w.s.add(BadPage, id, "leaf page %d: inline bucket %s has no page", id, b.Path())
		w.lost(fr, &pageError{BadPage, "inline bucket without a page"})
		return
	}
	if flags := order.Uint16(data[8:]); flags != leafFlag {
		w.s.add(BadPage, id, "leaf page %d: inline bucket %s has a page of flags %#x, not a leaf", id, b.Path(), flags)
		w.lost(fr, &pageError{BadPage, "inline bucket page is not a leaf"})
		return
	}
	w.leaf(fr, id, data, int(order.Uint16(data[10:])), false)
}

// checkOrder reports keys out of order within a page, or outside the
// range the parent gives the page.
func (w *walker) checkOrder(fr frame, id uint64, es []element) {
	for i, e := range es {
		switch {
		case i > 0 && bytes.Compare(es[i-1].key, e.key) >= 0:
			w.s.add(KeyOrder, id, "page %d (bucket %s): key %x follows key %x", id, fr.b.Path(), e.key, es[i-1].key)
			return
		case fr.lo != nil && bytes.Compare(e.key, fr.lo) < 0, fr.hi != nil && bytes.Compare(e.key, fr.hi) >= 0:
			w.s.add(KeyOrder, id, "page %d (bucket %s): key %x is outside the range %x to %x that page %d gives it", id, fr.b.Path(), e.key, fr.lo, fr.hi, fr.parent)
			return
		}
	}
}

// bitmap is a set of page ids below a bound.
type bitmap []uint64

func newBitmap(n uint64) bitmap    { return make(bitmap, (n+63)/64) }
func (b bitmap) set(i uint64)      { b[i/64] |= 1 << (i % 64) }
func (b bitmap) has(i uint64) bool { return i/64 < uint64(len(b)) && b[i/64]&(1<<(i%64)) != 0 }
