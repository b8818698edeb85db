// Package waltest damages ticketq data files the ways a drive that lies
// about its flushes does, for the tests of check, serve and salvage. It
// writes pages in place, below bbolt, and works on the file of a running
// server too: bbolt maps the file shared, so it sees the damage at its
// next read of the page.
//
// Each function damages the bucket at the given path (names from the root
// bucket, such as "jobs"), which must have a branch root page: a few
// hundred jobs are enough.
package waltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/ticketq/ticketq/wal/internal/boltfile"
)

var order = binary.NativeEndian

// freelistFlag is bbolt's page type of the freelist.
const freelistFlag = 0x10

// file is a data file open for damage.
type file struct {
	f  *os.File
	bf *boltfile.File
}

func open(path string) (*file, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	bf, err := boltfile.New(f, fi.Size())
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &file{f: f, bf: bf}, nil
}

// close syncs the damage to disk, as a commit would have.
func (d *file) close() error {
	return errors.Join(d.f.Sync(), d.f.Close())
}

func (d *file) write(id uint64, b []byte) error {
	_, err := d.f.WriteAt(b, int64(id)*int64(d.bf.PageSize()))
	return err
}

// lastLeaf returns the bucket's last leaf (where new tickets go) and its
// parent branch page, with the index of the leaf's element in it.
func (d *file) lastLeaf(bucket []string) (leaf, parent uint64, at int, err error) {
	levels, err := d.bf.BucketTree(bucket...)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(levels) < 2 {
		return 0, 0, 0, fmt.Errorf("bucket %q has a single page; it needs a branch root", bucket)
	}
	up := levels[len(levels)-2]
	parent = up[len(up)-1]
	pb, err := d.bf.ReadPage(parent)
	if err != nil {
		return 0, 0, 0, err
	}
	at = int(order.Uint16(pb[10:])) - 1
	return d.child(pb, at), parent, at, nil
}

// child returns the page id in element i of branch page pb.
func (d *file) child(pb []byte, i int) uint64 {
	return order.Uint64(pb[boltfile.PageHeaderSize+i*boltfile.ElementSize+8:])
}

// setChild points element i of branch page id (bytes pb) at page to.
func (d *file) setChild(id uint64, pb []byte, i int, to uint64) error {
	order.PutUint64(pb[boltfile.PageHeaderSize+i*boltfile.ElementSize+8:], to)
	return d.write(id, pb)
}

// PointAtFreePage copies the bucket's last leaf to a page that the
// freelist lists as free and points the leaf's parent at the copy. Every
// key is still in the tree, but a page is both free and in use: the next
// commit that changes that leaf frees a page bbolt holds free already
// ("page N already freed"), and a later one may hand it out for other data.
// It returns the page.
func PointAtFreePage(path string, bucket ...string) (uint64, error) {
	d, err := open(path)
	if err != nil {
		return 0, err
	}
	free, err := d.bf.FreePages()
	if err == nil && len(free) == 0 {
		err = errors.New("the freelist is empty")
	}
	if err != nil {
		return 0, errors.Join(err, d.f.Close())
	}
	return free[0], d.moveLastLeaf(free[0], bucket)
}

// MoveLastLeaf copies the bucket's last leaf to page to and points the
// leaf's parent at the copy, as PointAtFreePage does with a page of the
// caller's choice (such as one that a running server holds pending).
func MoveLastLeaf(path string, to uint64, bucket ...string) error {
	d, err := open(path)
	if err != nil {
		return err
	}
	return d.moveLastLeaf(to, bucket)
}

func (d *file) moveLastLeaf(to uint64, bucket []string) error {
	leaf, parent, at, err := d.lastLeaf(bucket)
	var lb, pb []byte
	if err == nil {
		lb, err = d.bf.ReadPage(leaf)
	}
	if err == nil && len(lb) > d.bf.PageSize() {
		err = fmt.Errorf("leaf %d has overflow pages", leaf)
	}
	if err == nil {
		pb, err = d.bf.ReadPage(parent)
	}
	if err == nil {
		order.PutUint64(lb[0:], to) // a page's header names it
		err = d.write(to, lb)
	}
	if err == nil {
		err = d.setChild(parent, pb, at, to)
	}
	return errors.Join(err, d.close())
}

// FreePages returns the pages that the file's freelist lists (free, or
// pending: freed by a commit while a read was open).
func FreePages(path string) ([]uint64, error) {
	d, err := open(path)
	if err != nil {
		return nil, err
	}
	free, err := d.bf.FreePages()
	return free, errors.Join(err, d.f.Close())
}

// ListAsFree adds the bucket's last leaf to the freelist: the tree is
// intact, the freelist says one of its pages is free. It returns the page.
func ListAsFree(path string, bucket ...string) (uint64, error) {
	d, err := open(path)
	if err != nil {
		return 0, err
	}
	leaf, _, _, err := d.lastLeaf(bucket)
	var fb []byte
	if err == nil {
		fb, err = d.bf.ReadPage(d.bf.Meta.Freelist)
	}
	if err == nil {
		count := int(order.Uint16(fb[10:]))
		switch {
		case count >= 0xFFFF-1:
			err = errors.New("the freelist is too long to grow in place")
		case boltfile.PageHeaderSize+(count+1)*8 > len(fb):
			err = errors.New("the freelist page is full")
		default:
			ids := make([]uint64, count, count+1)
			for i := range ids {
				ids[i] = order.Uint64(fb[boltfile.PageHeaderSize+8*i:])
			}
			ids = append(ids, leaf)
			slices.Sort(ids) // bbolt writes it sorted
			for i, id := range ids {
				order.PutUint64(fb[boltfile.PageHeaderSize+8*i:], id)
			}
			order.PutUint16(fb[10:], uint16(len(ids)))
			err = d.write(d.bf.Meta.Freelist, fb)
		}
	}
	return leaf, errors.Join(err, d.close())
}

// LeakPage drops the last page from the freelist: it is then neither free
// nor in the tree, leaked, as a commit interrupted between writing its
// pages and its freelist leaves one. Harmless to the data. It returns the
// page.
func LeakPage(path string) (uint64, error) {
	d, err := open(path)
	if err != nil {
		return 0, err
	}
	fb, err := d.bf.ReadPage(d.bf.Meta.Freelist)
	var leaked uint64
	if err == nil {
		switch count := int(order.Uint16(fb[10:])); count {
		case 0, 0xFFFF:
			err = fmt.Errorf("the freelist lists %d pages: want a few, counted in its header", count)
		default:
			leaked = order.Uint64(fb[boltfile.PageHeaderSize+8*(count-1):])
			order.PutUint16(fb[10:], uint16(count-1))
			err = d.write(d.bf.Meta.Freelist, fb)
		}
	}
	return leaked, errors.Join(err, d.close())
}

// MakeCycle points the last element of the bucket's root branch page at the
// root itself: a cursor that reaches it goes round for ever. It returns the
// root page.
func MakeCycle(path string, bucket ...string) (uint64, error) {
	d, err := open(path)
	if err != nil {
		return 0, err
	}
	levels, err := d.bf.BucketTree(bucket...)
	if err == nil && len(levels) < 2 {
		err = fmt.Errorf("bucket %q has a single page; it needs a branch root", bucket)
	}
	var root uint64
	var rb []byte
	if err == nil {
		root = levels[0][0]
		rb, err = d.bf.ReadPage(root)
	}
	if err == nil {
		err = d.setChild(root, rb, int(order.Uint16(rb[10:]))-1, root)
	}
	return root, errors.Join(err, d.close())
}

// GarbleLeaf overwrites the bucket's first leaf, all but its page header,
// with random bytes from seed: its element headers point anywhere, so the
// page is unreadable. It returns the page.
func GarbleLeaf(path string, seed uint64, bucket ...string) (uint64, error) {
	d, err := open(path)
	if err != nil {
		return 0, err
	}
	levels, err := d.bf.BucketTree(bucket...)
	var leaf uint64
	var lb []byte
	if err == nil {
		leaf = levels[len(levels)-1][0]
		lb, err = d.bf.ReadPage(leaf)
	}
	if err == nil {
		r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
		_, _ = r.Read(lb[boltfile.PageHeaderSize:])
		// At least the first element must point past the page, so that
		// the damage does not depend on the seed.
		order.PutUint32(lb[boltfile.PageHeaderSize+4:], 1<<30)
		err = d.write(leaf, lb)
	}
	return leaf, errors.Join(err, d.close())
}

// BreakValues sets the first byte of the first n values of the bucket's
// first leaf to 0xFF, which no ticketq record starts with: the page reads,
// its records do not decode. It returns the page and the keys it broke.
func BreakValues(path string, n int, bucket ...string) (uint64, [][]byte, error) {
	d, err := open(path)
	if err != nil {
		return 0, nil, err
	}
	levels, err := d.bf.BucketTree(bucket...)
	var leaf uint64
	var lb []byte
	var keys [][]byte
	if err == nil {
		leaf = levels[len(levels)-1][0]
		lb, err = d.bf.ReadPage(leaf)
	}
	if err == nil {
		count := int(order.Uint16(lb[10:]))
		for i := range min(n, count) {
			off := boltfile.PageHeaderSize + i*boltfile.ElementSize
			pos, ksize := int(order.Uint32(lb[off+4:])), int(order.Uint32(lb[off+8:]))
			keys = append(keys, slices.Clone(lb[off+pos:off+pos+ksize]))
			lb[off+pos+ksize] = 0xFF
		}
		err = d.write(leaf, lb)
	}
	return leaf, keys, errors.Join(err, d.close())
}

// BreakPageType gives the bucket's last leaf the freelist's page type:
// bbolt panics at its next read of the page ("invalid page type"). It
// returns the page.
func BreakPageType(path string, bucket ...string) (uint64, error) {
	d, err := open(path)
	if err != nil {
		return 0, err
	}
	leaf, _, _, err := d.lastLeaf(bucket)
	var lb []byte
	if err == nil {
		lb, err = d.bf.ReadPage(leaf)
	}
	if err == nil {
		order.PutUint16(lb[8:], freelistFlag)
		err = d.write(leaf, lb)
	}
	return leaf, errors.Join(err, d.close())
}
