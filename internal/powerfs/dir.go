package powerfs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// New directory entries are durable once their directory is fsynced, as
// POSIX promises no more: a file's own fsync does not cover its name.
// FS.fresh holds the backing paths of the files and directories created
// since their directory was last synced; a cut removes them (a torn cut
// each with even odds). Renames, unlinks and links reach the disk at once
// and survive every cut: they are not modelled.

var (
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ loopbackDir           = (*dirHandle)(nil)
)

// Mkdir creates the directory in the backing directory, not yet durable.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno == 0 {
		n.fs.created(filepath.Join(n.backingPath(), name))
	}
	return ch, errno
}

// Unlink removes the file at once; a name never synced is forgotten.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	errno := n.LoopbackNode.Unlink(ctx, name)
	if errno == 0 {
		n.fs.removed(filepath.Join(n.backingPath(), name))
	}
	return errno
}

// Rmdir removes the directory at once; a name never synced is forgotten.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	errno := n.LoopbackNode.Rmdir(ctx, name)
	if errno == 0 {
		n.fs.removed(filepath.Join(n.backingPath(), name))
	}
	return errno
}

// Rename renames at once; an entry not yet synced stays so under its new
// name (and so do those under a renamed directory).
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to := ""
	if np, ok := newParent.(*node); ok {
		to = filepath.Join(np.backingPath(), newName)
	}
	errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
	if errno == 0 && to != "" {
		n.fs.renamed(filepath.Join(n.backingPath(), name), to, flags&unixRenameExchange != 0)
	}
	return errno
}

// unixRenameExchange is RENAME_EXCHANGE: both names stay, swapped.
const unixRenameExchange = 1 << 1

// OpendirHandle opens a directory with a handle whose fsync makes the
// entries in it durable.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	ld, ok := fh.(loopbackDir)
	if !ok {
		// Not the loopback's own directory stream: a sync of it could not
		// be seen, and would leave its entries forever fresh.
		return nil, 0, syscall.ENOTSUP
	}
	return &dirHandle{loopbackDir: ld, fs: n.fs, path: n.backingPath()}, fuseFlags, 0
}

// loopbackDir is what the loopback's directory handle does.
type loopbackDir interface {
	fs.FileReaddirenter
	fs.FileReleasedirer
	fs.FileSeekdirer
	fs.FileFsyncdirer
}

// dirHandle is an open directory.
type dirHandle struct {
	loopbackDir
	fs   *FS
	path string
}

// Fsyncdir makes the entries created in the directory durable.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	if errno := d.loopbackDir.Fsyncdir(ctx, flags); errno != 0 {
		return errno
	}
	return fs.ToErrno(d.fs.syncedDir(d.path))
}

// created records a new entry, durable only once its directory is synced.
func (p *FS) created(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fresh[path] = true
}

// removed forgets the entries at and under path.
func (p *FS) removed(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for e := range p.fresh {
		if e == path || strings.HasPrefix(e, path+"/") {
			delete(p.fresh, e)
		}
	}
}

// renamed moves the fresh entries at and under from to to; with exchange
// those at and under to move to from as well.
func (p *FS) renamed(from, to string, exchange bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	move := func(e, a, b string) (string, bool) {
		if e == a {
			return b, true
		}
		if rest, ok := strings.CutPrefix(e, a+"/"); ok {
			return b + "/" + rest, true
		}
		return e, false
	}
	next := map[string]bool{}
	for e := range p.fresh {
		if m, ok := move(e, from, to); ok {
			next[m] = true
			continue
		}
		if m, ok := move(e, to, from); ok {
			if exchange {
				next[m] = true
			}
			continue // replaced by the rename
		}
		next[e] = true
	}
	p.fresh = next
}

// syncedDir makes the entries created in dir durable.
func (p *FS) syncedDir(dir string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return errPowerOff
	}
	for e := range p.fresh {
		if filepath.Dir(e) == dir {
			delete(p.fresh, e)
		}
	}
	return nil
}

// loseEntries removes the fresh entries from the backing directory, all
// of them or, with keep, those it does not keep: the names a cut loses.
// The deepest go first. It returns how many went.
func (p *FS) loseEntries(keep func() bool) (int, error) {
	paths := slices.Sorted(func(yield func(string) bool) {
		for e := range p.fresh {
			if !yield(e) {
				return
			}
		}
	})
	slices.Reverse(paths) // a directory sorts before what is under it
	lost := 0
	for _, e := range paths {
		if keep != nil && keep() {
			continue
		}
		// A lost directory takes with it what was made in it.
		if err := os.RemoveAll(e); err != nil {
			return lost, err
		}
		lost++
	}
	clear(p.fresh)
	return lost, nil
}
