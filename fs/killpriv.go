package fs

import (
	"context"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Clearing setuid and setgid on write. Linux clears a file's setuid bit
// (and setgid, when group execute is on) and its security.capability
// attribute when someone without CAP_FSETID writes or truncates it, and
// on chown. To know whether there is anything to clear, the kernel asks a
// FUSE filesystem for security.capability before every write: a round
// trip per write(2), a third of all requests for a database appending
// pages. With FUSE_HANDLE_KILLPRIV_V2 the kernel stops asking (it marks
// inodes S_NOSEC) and instead flags the writes and truncates that must
// clear the bits, and leaves chown's clearing to the filesystem: the
// index does both inside the operation (index.SetAttrIn.KillPrivileges).

// killPrivCapabilities is the FUSE capability Mount asks for.
const killPrivCapabilities = fuse.CAP_HANDLE_KILLPRIV_V2

func (r *aclRaw) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if in.WriteFlags&fuse.WRITE_KILL_SUIDGID == 0 {
		return r.RawFileSystem.Write(c, in, data)
	}
	r.extras.put(c, requestExtra{killPriv: true})
	defer r.extras.drop(c)
	return r.RawFileSystem.Write(c, in, data)
}

func (r *aclRaw) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if in.WriteFlags&fuse.WRITE_KILL_SUIDGID == 0 {
		return r.RawFileSystem.Writev(c, in, data)
	}
	r.extras.put(c, requestExtra{killPriv: true})
	defer r.extras.drop(c)
	return r.RawFileSystem.Writev(c, in, data)
}

func (r *aclRaw) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if in.Valid&fuse.FATTR_KILL_SUIDGID == 0 {
		return r.RawFileSystem.SetAttr(c, in, out)
	}
	r.extras.put(c, requestExtra{killPriv: true})
	defer r.extras.drop(c)
	return r.RawFileSystem.SetAttr(c, in, out)
}

// killPriv reports whether the request ctx belongs to must clear the
// setuid and setgid bits.
func (f *FS) killPriv(ctx context.Context) bool {
	e, _ := f.extras.of(ctx)
	return e.killPriv
}
