package powerfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node whose regular files go through the page cache
// of its FS. Directory operations are the loopback's own: they reach the
// backing directory at once (dir.go tracks the new names a cut removes).
type node struct {
	*fs.LoopbackNode
	fs *FS
}

var (
	_ fs.NodeWrapChilder = (*node)(nil)
	_ fs.NodeLookuper    = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeGetattrer   = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
	_ fs.NodeStatxer     = (*node)(nil)
	_ fs.NodeFsyncer     = (*node)(nil)
	_ fs.NodeTmpfiler    = (*node)(nil)
)

// WrapChild makes every node that the loopback creates one of ours.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if lb, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: lb, fs: n.fs}
	}
	return ops
}

func (n *node) regular() bool {
	return n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFREG
}

func (n *node) ino() uint64 { return n.StableAttr().Ino }

// backingPath is the node's file in the backing directory.
func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(nil))
}

// Lookup answers with the size a program sees: the kernel takes the size
// in a lookup's answer as the file's, and a smaller one would hide the
// writes not yet fsynced (and fault bbolt's memory map past it).
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Lookup(ctx, name, out)
	if errno == 0 {
		n.fs.patch(ch.StableAttr().Ino, &out.Attr)
	}
	return ch, errno
}

// Open opens a regular file through the page cache.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if !n.regular() {
		return n.LoopbackNode.Open(ctx, flags)
	}
	h, err := n.fs.open(n.ino(), n.backingPath(), flags)
	if err != nil {
		return nil, 0, fs.ToErrno(err)
	}
	return h, 0, 0
}

// Create creates the file in the backing directory at once, its name not
// durable before its directory is synced, and opens it through the page
// cache.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	path := filepath.Join(n.backingPath(), name)
	_, statErr := os.Lstat(path)
	ch, lf, _, errno := n.LoopbackNode.Create(ctx, name, flags&^syscall.O_TRUNC, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if errors.Is(statErr, os.ErrNotExist) {
		n.fs.created(path)
	}
	if r, ok := lf.(fs.FileReleaser); ok {
		r.Release(ctx)
	}
	h, err := n.fs.open(ch.StableAttr().Ino, path, flags)
	if err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	n.fs.patch(ch.StableAttr().Ino, &out.Attr)
	return ch, h, 0, 0
}

// Getattr answers with the size a program sees.
func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if errno := n.LoopbackNode.Getattr(ctx, nil, out); errno != 0 {
		return errno
	}
	n.fs.patch(n.ino(), &out.Attr)
	return 0
}

// Statx answers with the size a program sees.
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	if errno := n.LoopbackNode.Statx(ctx, nil, flags, mask, out); errno != 0 {
		return errno
	}
	if size, ok := n.fs.known(n.ino()); ok {
		out.Size = uint64(size)
		out.Blocks = (uint64(size) + 511) / 512
	}
	return 0
}

// Setattr changes a regular file's size in the page cache; the other
// attributes (mode, owner, times) reach the backing file at once.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok && n.regular() {
		err := n.fs.with(n.ino(), n.backingPath(), func(f *file) error {
			f.truncate(int64(size))
			return nil
		})
		if err != nil {
			return fs.ToErrno(err)
		}
		in.Valid &^= fuse.FATTR_SIZE
	}
	if errno := n.LoopbackNode.Setattr(ctx, nil, in, out); errno != 0 {
		return errno
	}
	n.fs.patch(n.ino(), &out.Attr)
	return 0
}

// Fsync writes the file's page cache back to the backing file, unless
// fsync lies. A directory is synced by its handle (dirHandle), or here if
// it has none.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return fs.ToErrno(n.fs.syncedDir(n.backingPath()))
	}
	if !n.regular() {
		return 0
	}
	return fs.ToErrno(n.fs.fsync(n.ino(), n.backingPath()))
}

// Tmpfile refuses O_TMPFILE: such a file would bypass the page cache.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

// handle is an open regular file: its reads and writes go to the page
// cache of its FS.
type handle struct {
	fs   *FS
	ino  uint64
	path string
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	var n int
	err := h.fs.with(h.ino, h.path, func(f *file) (err error) {
		n, err = f.readAt(dest, off)
		return err
	})
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	err := h.fs.with(h.ino, h.path, func(f *file) error {
		h.fs.stats.Writes++
		return f.writeAt(data, off)
	})
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	return uint32(len(data)), 0
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.fs.release(h.ino)
	return 0
}
