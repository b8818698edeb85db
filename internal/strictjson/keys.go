package strictjson

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// The duplicate-key rule needs every key of every open object, and a body
// may be little else: 3.5 MB of payload holds 400,000 short keys, and a
// string and a map entry for each cost ten times the body
// (BenchmarkReader). So the keys of the open objects live in one byte
// arena, a stack like the objects themselves (an object's keys sit above
// those of the object around it and are dropped when it closes); a small
// object is searched linearly, and a larger one gets an index: an open
// addressing table of 8-byte slots, each a key's arena offset tagged with
// high bits of its hash, so that key bytes are compared only when the tags
// meet. The index of each depth is kept for the next object at that depth:
// a batch of 10,000 payloads needs one table, not 10,000.
const (
	// smallObject is the most keys an object has before it gets an index:
	// comparing a few short keys is cheaper than hashing them.
	smallObject = 16
	// keepIndex is the largest index kept for reuse, in slots (2 KiB):
	// clearing a table costs its size, which a large object left behind
	// would charge to every small object after it (a 4 MiB body holds
	// 60,000 objects of 17 keys).
	keepIndex = 256
	// offsetBits of a slot hold a key's arena offset plus one (0 is an
	// empty slot); the arena is in memory, far below 1 TiB. The other bits
	// are the tag.
	offsetBits = 40
	offsetMask = 1<<offsetBits - 1
)

// keyStore holds the keys of the open objects of one Reader.
type keyStore struct {
	// arena holds each key decoded, behind its length as a uvarint.
	arena []byte
	// spare keeps an emptied index per depth.
	spare [][]uint64
	seed  maphash.Seed
	// sum hashes a key; nil means maphash with seed. Tests set it to make
	// keys collide.
	sum func([]byte) uint64
}

// objectKeys are the keys of one open object.
type objectKeys struct {
	start int // where its keys start in the arena
	n     int
	// index holds the keys by hash; nil while the object is small. Its
	// length is a power of two, and it is at most 4/5 full.
	index []uint64
}

// keyRef locates a key's bytes in the arena.
type keyRef struct{ off, n int }

func (ks *keyStore) open() objectKeys {
	return objectKeys{start: len(ks.arena)}
}

// close forgets the keys of o, the innermost open object, at depth.
func (ks *keyStore) close(o *objectKeys, depth int) {
	ks.arena = ks.arena[:o.start]
	if o.index != nil && len(o.index) <= keepIndex {
		clear(o.index)
		ks.spare[depth] = o.index
	}
	*o = objectKeys{}
}

// bytes returns the key at r.
func (ks *keyStore) bytes(r keyRef) []byte {
	return ks.arena[r.off : r.off+r.n]
}

// add records key as a key of o, the innermost open object, at depth, and
// returns where it is kept; false when o has it already.
func (ks *keyStore) add(o *objectKeys, depth int, key []byte) (keyRef, bool) {
	if o.index == nil {
		for p := o.start; p < len(ks.arena); {
			r := ks.at(p)
			if bytes.Equal(ks.bytes(r), key) {
				return keyRef{}, false
			}
			p = r.off + r.n
		}
		_, r := ks.put(key)
		if o.n++; o.n > smallObject {
			ks.buildIndex(o, depth)
		}
		return r, true
	}
	h := ks.hash(key)
	i, found := ks.find(o.index, h, key)
	if found {
		return keyRef{}, false
	}
	p, r := ks.put(key)
	o.index[i] = slot(h, p)
	if o.n++; o.n*5 > len(o.index)*4 {
		ks.grow(o)
	}
	return r, true
}

// find returns the slot of key in index, or the empty slot where it goes.
func (ks *keyStore) find(index []uint64, h uint64, key []byte) (int, bool) {
	mask := uint64(len(index) - 1)
	tag := h &^ offsetMask
	for i := h & mask; ; i = (i + 1) & mask {
		s := index[i]
		switch {
		case s == 0:
			return int(i), false
		case s&^offsetMask == tag && bytes.Equal(ks.bytes(ks.at(int(s&offsetMask)-1)), key):
			return int(i), true
		}
	}
}

// buildIndex indexes the keys o has so far, in the spare table of depth
// if there is one.
func (ks *keyStore) buildIndex(o *objectKeys, depth int) {
	for len(ks.spare) <= depth {
		ks.spare = append(ks.spare, nil)
	}
	o.index, ks.spare[depth] = ks.spare[depth], nil
	if o.index == nil {
		o.index = make([]uint64, 4*smallObject)
	}
	ks.reindex(o)
}

// grow doubles o's index.
func (ks *keyStore) grow(o *objectKeys) {
	o.index = make([]uint64, 2*len(o.index))
	ks.reindex(o)
}

// reindex puts every key of o into its empty index.
func (ks *keyStore) reindex(o *objectKeys) {
	for p := o.start; p < len(ks.arena); {
		r := ks.at(p)
		h := ks.hash(ks.bytes(r))
		// The keys are distinct: each goes to the first empty slot.
		mask := uint64(len(o.index) - 1)
		i := h & mask
		for o.index[i] != 0 {
			i = (i + 1) & mask
		}
		o.index[i] = slot(h, p)
		p = r.off + r.n
	}
}

// slot is the index entry of the key whose length prefix is at p.
func slot(h uint64, p int) uint64 {
	return h&^offsetMask | uint64(p+1)
}

// put appends key to the arena and returns the offset of its length
// prefix and where its bytes are. The arena doubles when it is full:
// append's smaller steps for large slices would allocate five times its
// final size over a body of many keys.
func (ks *keyStore) put(key []byte) (int, keyRef) {
	if need := len(ks.arena) + binary.MaxVarintLen64 + len(key); need > cap(ks.arena) {
		grown := make([]byte, len(ks.arena), max(2*cap(ks.arena), need, 64))
		copy(grown, ks.arena)
		ks.arena = grown
	}
	p := len(ks.arena)
	ks.arena = binary.AppendUvarint(ks.arena, uint64(len(key)))
	r := keyRef{off: len(ks.arena), n: len(key)}
	ks.arena = append(ks.arena, key...)
	return p, r
}

// at reads the key whose length prefix is at p.
func (ks *keyStore) at(p int) keyRef {
	n, w := binary.Uvarint(ks.arena[p:])
	return keyRef{off: p + w, n: int(n)}
}

func (ks *keyStore) hash(key []byte) uint64 {
	if ks.sum != nil {
		return ks.sum(key)
	}
	if ks.seed == (maphash.Seed{}) {
		ks.seed = maphash.MakeSeed()
	}
	return maphash.Bytes(ks.seed, key)
}
