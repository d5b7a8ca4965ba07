package fs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/walrusfs/walrusfs/index"
)

// node is every kind of inode. It carries only its number; attributes come
// from the index on each request.
type node struct {
	fusefs.Inode
	fs  *FS
	ino index.Ino
}

var (
	_ = (fusefs.NodeLookuper)((*node)(nil))
	_ = (fusefs.NodeGetattrer)((*node)(nil))
	_ = (fusefs.NodeSetattrer)((*node)(nil))
	_ = (fusefs.NodeAccesser)((*node)(nil))
	_ = (fusefs.NodeStatfser)((*node)(nil))
	_ = (fusefs.NodeReaddirer)((*node)(nil))
	_ = (fusefs.NodeMkdirer)((*node)(nil))
	_ = (fusefs.NodeMknoder)((*node)(nil))
	_ = (fusefs.NodeCreater)((*node)(nil))
	_ = (fusefs.NodeOpener)((*node)(nil))
	_ = (fusefs.NodeSymlinker)((*node)(nil))
	_ = (fusefs.NodeReadlinker)((*node)(nil))
	_ = (fusefs.NodeLinker)((*node)(nil))
	_ = (fusefs.NodeUnlinker)((*node)(nil))
	_ = (fusefs.NodeRmdirer)((*node)(nil))
	_ = (fusefs.NodeRenamer)((*node)(nil))
	_ = (fusefs.NodeGetxattrer)((*node)(nil))
	_ = (fusefs.NodeSetxattrer)((*node)(nil))
	_ = (fusefs.NodeListxattrer)((*node)(nil))
	_ = (fusefs.NodeRemovexattrer)((*node)(nil))
	_ = (fusefs.NodeFsyncer)((*node)(nil))
	_ = (fusefs.NodeAllocater)((*node)(nil))
)

func (n *node) errno(op string, err error) syscall.Errno { return n.fs.errno(op, uint64(n.ino), err) }

// writable fails a change on a read-only mount; otherwise it notes the
// change for the uploader (see FS.noteChange).
func (n *node) writable() syscall.Errno {
	if n.fs.cfg.ReadOnly {
		return syscall.EROFS
	}
	n.fs.data.NoteChange()
	return 0
}

// newChild wraps an inode the index returned into a go-fuse inode and fills
// the entry the kernel caches.
func (n *node) newChild(ctx context.Context, a *index.Attr, out *fuse.EntryOut) *fusefs.Inode {
	fillAttr(a, &out.Attr)
	out.NodeId = 0 // set by go-fuse
	out.SetEntryTimeout(n.fs.cfg.EntryTimeout)
	out.SetAttrTimeout(n.fs.cfg.AttrTimeout)
	child := &node{fs: n.fs, ino: a.Ino}
	return n.NewInode(ctx, child, fusefs.StableAttr{Mode: a.Type(), Ino: uint64(a.Ino)})
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	a, err := n.fs.idx.Lookup(n.ino, name)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			out.SetEntryTimeout(n.fs.cfg.NegativeTimeout)
		}
		return nil, n.errno("lookup", err)
	}
	return n.newChild(ctx, &a, out), 0
}

func (n *node) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a, err := n.fs.idx.GetAttr(n.ino)
	if err != nil {
		return n.errno("getattr", err)
	}
	fillAttr(&a, &out.Attr)
	out.SetTimeout(n.fs.cfg.AttrTimeout)
	return 0
}

func (n *node) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := n.writable(); e != 0 {
		return e
	}
	var ch index.SetAttrIn
	if m, ok := in.GetMode(); ok {
		ch.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		ch.Uid = &u
	}
	if g, ok := in.GetGID(); ok {
		ch.Gid = &g
	}
	if t, ok := in.GetATime(); ok {
		ns := t.UnixNano()
		ch.Atime = &ns
	}
	if t, ok := in.GetMTime(); ok {
		ns := t.UnixNano()
		ch.Mtime = &ns
	}
	ch.Now = now()
	ch.KillPrivileges = n.fs.killPriv(ctx)
	var a index.Attr
	var err error
	if size, ok := in.GetSize(); ok {
		ch.Size = &size
		a, err = n.fs.data.Truncate(n.ino, ch)
	} else {
		a, err = n.fs.idx.SetAttr(n.ino, ch)
	}
	if err != nil {
		return n.errno("setattr", err)
	}
	fillAttr(&a, &out.Attr)
	out.SetTimeout(n.fs.cfg.AttrTimeout)
	return 0
}

// Access answers access(2) when the kernel asks (it does its own checks
// under default_permissions, so this is rarely called).
func (n *node) Access(ctx context.Context, mask uint32) syscall.Errno {
	a, err := n.fs.idx.GetAttr(n.ino)
	if err != nil {
		return n.errno("access", err)
	}
	if mask&2 != 0 && n.fs.cfg.ReadOnly {
		return syscall.EROFS
	}
	uid, gid := caller(ctx)
	if uid == 0 {
		if mask&1 != 0 && a.Mode&0o111 == 0 && !a.IsDir() {
			return syscall.EACCES
		}
		return 0
	}
	if e, ok := n.aclAccess(&a, uid, gid, mask); ok {
		return e
	}
	perm := a.Mode & 0o7
	if uid == a.Uid {
		perm = a.Mode >> 6 & 0o7
	} else if gid == a.Gid {
		perm = a.Mode >> 3 & 0o7
	}
	if mask&perm != mask&0o7 {
		return syscall.EACCES
	}
	return 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	st, err := n.fs.data.Statfs()
	if err != nil {
		return n.errno("statfs", err)
	}
	s, err := n.fs.idx.Stats()
	if err != nil {
		return n.errno("statfs", err)
	}
	out.Bsize = uint32(st.Bsize)
	out.Frsize = uint32(st.Frsize)
	out.Blocks = st.Blocks
	out.Bfree = st.Bfree
	out.Bavail = st.Bavail
	// Inodes cost only index space: report as many free as there are free
	// blocks, which is a fair bound.
	out.Ffree = st.Bavail
	out.Files = s.Inodes + out.Ffree
	out.NameLen = index.MaxNameLen
	return 0
}

func (n *node) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	entries, err := n.fs.idx.ReadDir(n.ino)
	if err != nil {
		return nil, n.errno("readdir", err)
	}
	a, err := n.fs.idx.GetAttr(n.ino)
	if err != nil {
		return nil, n.errno("readdir", err)
	}
	list := make([]fuse.DirEntry, 0, len(entries)+2)
	list = append(list,
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: uint64(n.ino)},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: uint64(a.Parent)})
	for _, e := range entries {
		list = append(list, fuse.DirEntry{Name: e.Name, Mode: e.Type, Ino: uint64(e.Ino)})
	}
	return fusefs.NewListDirStream(list), 0
}

func (n *node) create(ctx context.Context, name string, nn index.NewNode, out *fuse.EntryOut) (*fusefs.Inode, index.Attr, syscall.Errno) {
	if e := n.writable(); e != 0 {
		return nil, index.Attr{}, e
	}
	nn.Uid, nn.Gid = caller(ctx)
	nn.Umask = n.fs.umask(ctx)
	nn.Now = now()
	a, err := n.fs.idx.Create(n.ino, name, nn)
	if err != nil {
		return nil, a, n.errno("create", err)
	}
	return n.newChild(ctx, &a, out), a, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	ch, _, e := n.create(ctx, name, index.NewNode{Mode: syscall.S_IFDIR | mode&0o7777}, out)
	return ch, e
}

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	nn := index.NewNode{Mode: mode, Rdev: dev}
	if mode&syscall.S_IFMT == syscall.S_IFREG || mode&syscall.S_IFMT == 0 {
		nn.Mode = syscall.S_IFREG | mode&0o7777
		nn.ChunkSize = n.fs.data.ChunkSize()
	}
	ch, _, e := n.create(ctx, name, nn, out)
	return ch, e
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	ch, a, e := n.create(ctx, name, index.NewNode{Mode: syscall.S_IFREG | mode&0o7777, ChunkSize: n.fs.data.ChunkSize()}, out)
	if e != 0 {
		return nil, nil, 0, e
	}
	h, err := n.fs.open(a.Ino)
	if err != nil {
		return nil, nil, 0, n.errno("create", err)
	}
	return ch, h, keepCache, 0
}

// keepCache tells the kernel to keep its page cache of a file across opens.
// That is safe because every change to file data passes through the kernel
// (writes, truncates, fallocate); nothing changes the bytes behind its back,
// and inode numbers are never reused. Moving a chunk from staging to a blob
// changes where the bytes are, not what they are.
const keepCache = fuse.FOPEN_KEEP_CACHE

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	ch, _, e := n.create(ctx, name, index.NewNode{Mode: syscall.S_IFLNK | 0o777, Target: target}, out)
	return ch, e
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.fs.idx.Readlink(n.ino)
	if err != nil {
		return nil, n.errno("readlink", err)
	}
	return []byte(t), 0
}

func (n *node) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.writable(); e != 0 {
		return nil, e
	}
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	a, err := n.fs.idx.Link(t.ino, n.ino, name, now())
	if err != nil {
		return nil, n.errno("link", err)
	}
	return n.newChild(ctx, &a, out), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if e := n.writable(); e != 0 {
		return e
	}
	victim, _ := n.fs.idx.Lookup(n.ino, name)
	if err := n.fs.idx.Unlink(n.ino, name, now()); err != nil {
		return n.errno("unlink", err)
	}
	n.fs.data.Deleted(victim)
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if e := n.writable(); e != 0 {
		return e
	}
	return n.errno("rmdir", n.fs.idx.Rmdir(n.ino, name, now()))
}

func (n *node) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if e := n.writable(); e != 0 {
		return e
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	victim, _ := n.fs.idx.Lookup(np.ino, newName)
	if err := n.fs.idx.Rename(n.ino, name, np.ino, newName, flags, now()); err != nil {
		return n.errno("rename", err)
	}
	if flags&index.RenameExchange == 0 {
		n.fs.data.Deleted(victim)
	}
	return 0
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	var v []byte
	var err error
	if isWalrusXattr(attr) {
		v, err = n.fs.walrusXattr(n.ino, attr)
	} else {
		v, err = n.fs.idx.GetXattr(n.ino, attr)
	}
	if err != nil {
		return 0, n.errno("getxattr", err)
	}
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.fs.idx.ListXattr(n.ino)
	if err != nil {
		return 0, n.errno("listxattr", err)
	}
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(0)
	}
	if len(dest) == 0 {
		return uint32(b.Len()), 0
	}
	if len(dest) < b.Len() {
		return uint32(b.Len()), syscall.ERANGE
	}
	return uint32(copy(dest, b.String())), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if e := n.writable(); e != 0 {
		return e
	}
	if isWalrusXattr(attr) {
		return syscall.EPERM
	}
	if isACLXattr(attr) {
		return n.setACL(ctx, attr, data, flags)
	}
	return n.errno("setxattr", n.fs.idx.SetXattr(n.ino, attr, data, flags, now()))
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if e := n.writable(); e != 0 {
		return e
	}
	if isWalrusXattr(attr) {
		return syscall.EPERM
	}
	if isACLXattr(attr) {
		if e := n.mayChangeACL(ctx); e != 0 {
			return e
		}
	}
	return n.errno("removexattr", n.fs.idx.RemoveXattr(n.ino, attr, now()))
}

// Fsync on a file makes its data and all metadata durable; on a directory
// (fsyncdir) it makes everything durable.
func (n *node) Fsync(ctx context.Context, fh fusefs.FileHandle, flags uint32) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		return h.Fsync(ctx, flags)
	}
	return n.errno("fsync", n.fs.data.Sync(ctx))
}

func (n *node) Allocate(ctx context.Context, fh fusefs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	if e := n.writable(); e != 0 {
		return e
	}
	return n.errno("fallocate", n.fs.data.Allocate(ctx, n.ino, off, size, mode))
}

func (n *node) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0 {
		if e := n.writable(); e != 0 {
			return nil, 0, e
		}
	}
	h, err := n.fs.open(n.ino)
	if err != nil {
		return nil, 0, n.errno("open", err)
	}
	if ra := n.fs.ra.Load(); ra != nil {
		ra.forOpen(h.file.Stored())
	}
	if flags&syscall.O_TRUNC != 0 {
		zero := uint64(0)
		if _, err := h.file.Truncate(index.SetAttrIn{Size: &zero, Now: now()}); err != nil {
			_ = h.Release(ctx)
			return nil, 0, n.errno("open", err)
		}
	}
	return h, keepCache, 0
}
