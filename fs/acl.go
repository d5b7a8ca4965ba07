package fs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/walrusfs/walrusfs/index"
	"github.com/walrusfs/walrusfs/index/posixacl"
)

// POSIX ACLs. The mount asks the kernel for FUSE_POSIX_ACL: the kernel then
// reads system.posix_acl_access and system.posix_acl_default through
// getxattr, caches them and enforces them (with default_permissions), and
// checks and converts what setfacl and backup tools set. What it leaves to
// the filesystem, the index does in the same operation as the change it
// goes with (see index/acl.go and package posixacl): the mode follows a new
// access ACL, chmod rewrites the ACL, and new inodes inherit their parent's
// default ACL. For that the mount also asks for FUSE_DONT_MASK, so the
// kernel passes the mode of a create unmasked with the caller's umask
// beside it, and the index applies the umask only where no default ACL
// decides; and for FUSE_SETXATTR_EXT, which says when setting an ACL must
// clear the setgid bit.

// aclCapabilities are the FUSE capabilities Mount asks for beyond go-fuse's
// EnableAcl; they need aclRaw to pass the umask and setxattr flags on.
const aclCapabilities = fuse.CAP_DONT_MASK | fuse.CAP_SETXATTR_EXT | killPrivCapabilities

// requestExtra is what go-fuse's node API drops from a request and the
// nodes need: the caller's umask on a create, the setxattr flags.
type requestExtra struct {
	umask    uint32
	killSgid bool
	// killPriv: a write or truncate by a caller without CAP_FSETID, which
	// must clear the setuid and setgid bits (see killpriv.go).
	killPriv bool
}

// requestExtras holds the requestExtra of requests in flight, keyed by the
// request's cancel channel, which go-fuse hands the node as
// fuse.Context.Cancel and which no two requests in flight share.
type requestExtras struct{ m sync.Map }

func (r *requestExtras) put(c <-chan struct{}, e requestExtra) { r.m.Store(c, e) }
func (r *requestExtras) drop(c <-chan struct{})                { r.m.Delete(c) }

// of returns the extras of the request ctx belongs to; ok is false for a
// mount made without aclRaw.
func (r *requestExtras) of(ctx context.Context) (e requestExtra, ok bool) {
	fc, isFuse := ctx.(*fuse.Context)
	if !isFuse || fc.Cancel == nil {
		return e, false
	}
	v, ok := r.m.Load(fc.Cancel)
	if !ok {
		return e, false
	}
	return v.(requestExtra), true
}

// aclRaw sits between the kernel and go-fuse's node bridge and records the
// request fields the nodes need.
type aclRaw struct {
	fuse.RawFileSystem
	extras *requestExtras
}

func (r *aclRaw) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	r.extras.put(c, requestExtra{umask: in.Umask})
	defer r.extras.drop(c)
	return r.RawFileSystem.Mkdir(c, in, name, out)
}

func (r *aclRaw) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	r.extras.put(c, requestExtra{umask: in.Umask})
	defer r.extras.drop(c)
	return r.RawFileSystem.Mknod(c, in, name, out)
}

func (r *aclRaw) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	r.extras.put(c, requestExtra{umask: in.Umask})
	defer r.extras.drop(c)
	return r.RawFileSystem.Create(c, in, name, out)
}

func (r *aclRaw) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	r.extras.put(c, requestExtra{killSgid: in.SetXAttrFlags&fuse.SETXATTR_ACL_KILL_SGID != 0})
	defer r.extras.drop(c)
	return r.RawFileSystem.SetXAttr(c, in, attr, data)
}

// umask returns the umask a create request came with (0 when the kernel
// applied it itself).
func (f *FS) umask(ctx context.Context) uint32 {
	e, _ := f.extras.of(ctx)
	return e.umask
}

func isACLXattr(name string) bool {
	return name == posixacl.XattrAccess || name == posixacl.XattrDefault
}

// mayChangeACL is EPERM unless the caller owns a or is root, as Linux
// requires for setting or removing an ACL.
func (n *node) mayChangeACL(ctx context.Context) syscall.Errno {
	a, err := n.fs.idx.GetAttr(n.ino)
	if err != nil {
		return n.errno("setxattr", err)
	}
	if uid, _ := caller(ctx); uid != 0 && uid != a.Uid {
		return syscall.EPERM
	}
	return 0
}

// setACL sets an ACL attribute through the index, which validates it and
// changes the mode with it.
func (n *node) setACL(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if e := n.mayChangeACL(ctx); e != 0 {
		return e
	}
	flags &= index.XattrCreate | index.XattrReplace
	if e, _ := n.fs.extras.of(ctx); e.killSgid {
		flags |= index.XattrKillSgid
	}
	return n.errno("setxattr", n.fs.idx.SetXattr(n.ino, attr, data, flags, now()))
}

// aclAccess answers access(2) for a caller that is not root from the
// inode's access ACL; ok is false when there is none.
func (n *node) aclAccess(a *index.Attr, uid, gid, mask uint32) (errno syscall.Errno, ok bool) {
	v, err := n.fs.idx.GetXattr(n.ino, posixacl.XattrAccess)
	if err != nil {
		return 0, false
	}
	acl, err := posixacl.Parse(v)
	if err != nil || acl == nil {
		return 0, false
	}
	if !acl.Permits(a.Uid, a.Gid, uid, []uint32{gid}, uint16(mask&0o7)) {
		return syscall.EACCES, true
	}
	return 0, true
}
