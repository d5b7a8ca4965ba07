package fs

import (
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Observer receives what the mount does, request by request: the metrics
// (cmd/walrusfs implements it with Prometheus). Its methods are called on
// every request, so they must be cheap and safe for concurrent use.
type Observer interface {
	// Op reports one FUSE request: its operation (lookup, read, ...),
	// how long it took, and whether it failed (a non-OK status; ENOENT of
	// a lookup counts as a success, the answer to a question).
	Op(op string, d time.Duration, failed bool)
	// Read and Written report file bytes read and written.
	Read(n int)
	Written(n int)
}

// Mount mounts the filesystem on dir with opts (from Options), reporting
// every request to obs when obs is not nil, and returns once the kernel
// has the mount. Mount it this way, not with go-fuse's fs.Mount: only here
// do new inodes get the caller's umask or their parent's default ACL
// exactly as Linux gives them (see acl.go).
func (f *FS) Mount(dir string, opts *fusefs.Options, obs Observer) (*fuse.Server, error) {
	var raw fuse.RawFileSystem = &aclRaw{RawFileSystem: fusefs.NewNodeFS(f.Root(), opts), extras: &f.extras}
	if obs != nil {
		raw = &observedFS{RawFileSystem: raw, obs: obs}
	}
	mo := opts.MountOptions
	mo.ExtraCapabilities |= aclCapabilities
	server, err := fuse.NewServer(raw, dir, &mo)
	if err != nil {
		return nil, err
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		return nil, err
	}
	if f.cfg.Readahead > 0 || f.cfg.StoredReadahead > 0 {
		ra, err := newReadahead(dir, f.cfg.Readahead, f.cfg.StoredReadahead)
		if err != nil {
			// Only a speed-up: unprivileged mounts keep the kernel's.
			f.log.Debug("cannot set the mount's readahead; keeping the kernel's 128 KiB", "err", err)
		} else {
			f.ra.Store(ra)
		}
	}
	return server, nil
}

// observedFS times the requests of the raw filesystem go-fuse serves.
// Requests it does not list pass through untimed (forget, init, ioctl,
// locks, ...).
type observedFS struct {
	fuse.RawFileSystem
	obs Observer
}

func (o *observedFS) done(op string, start time.Time, st fuse.Status) {
	o.obs.Op(op, time.Since(start), !st.Ok())
}

func (o *observedFS) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Lookup(c, h, name, out)
	failed := st
	if st == fuse.ENOENT {
		failed = fuse.OK
	}
	o.done("lookup", start, failed)
	return st
}

func (o *observedFS) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.GetAttr(c, in, out)
	o.done("getattr", start, st)
	return st
}

func (o *observedFS) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.SetAttr(c, in, out)
	o.done("setattr", start, st)
	return st
}

func (o *observedFS) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Mknod(c, in, name, out)
	o.done("mknod", start, st)
	return st
}

func (o *observedFS) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Mkdir(c, in, name, out)
	o.done("mkdir", start, st)
	return st
}

func (o *observedFS) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Unlink(c, h, name)
	o.done("unlink", start, st)
	return st
}

func (o *observedFS) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Rmdir(c, h, name)
	o.done("rmdir", start, st)
	return st
}

func (o *observedFS) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Rename(c, in, oldName, newName)
	o.done("rename", start, st)
	return st
}

func (o *observedFS) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Link(c, in, name, out)
	o.done("link", start, st)
	return st
}

func (o *observedFS) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Symlink(c, h, target, name, out)
	o.done("symlink", start, st)
	return st
}

func (o *observedFS) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	start := time.Now()
	b, st := o.RawFileSystem.Readlink(c, h)
	o.done("readlink", start, st)
	return b, st
}

func (o *observedFS) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Access(c, in)
	o.done("access", start, st)
	return st
}

func (o *observedFS) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.GetXAttr(c, h, attr, dest)
	o.done("getxattr", start, st)
	return n, st
}

func (o *observedFS) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.ListXAttr(c, h, dest)
	o.done("listxattr", start, st)
	return n, st
}

func (o *observedFS) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.SetXAttr(c, in, attr, data)
	o.done("setxattr", start, st)
	return st
}

func (o *observedFS) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.RemoveXAttr(c, h, attr)
	o.done("removexattr", start, st)
	return st
}

func (o *observedFS) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Create(c, in, name, out)
	o.done("create", start, st)
	return st
}

func (o *observedFS) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Open(c, in, out)
	o.done("open", start, st)
	return st
}

func (o *observedFS) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	start := time.Now()
	res, st := o.RawFileSystem.Read(c, in, buf)
	o.done("read", start, st)
	if st.Ok() && res != nil {
		o.obs.Read(res.Size())
	}
	return res, st
}

func (o *observedFS) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.Write(c, in, data)
	o.done("write", start, st)
	if st.Ok() {
		o.obs.Written(int(n))
	}
	return n, st
}

// Writev is how go-fuse asks first for a write (the payload may come in
// pieces); a filesystem without it gets Write.
func (o *observedFS) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.Writev(c, in, data)
	if st == fuse.ENOSYS {
		return n, st // go-fuse falls back to Write, which counts it
	}
	o.done("write", start, st)
	if st.Ok() {
		o.obs.Written(int(n))
	}
	return n, st
}

func (o *observedFS) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Lseek(c, in, out)
	o.done("lseek", start, st)
	return st
}

func (o *observedFS) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	start := time.Now()
	o.RawFileSystem.Release(c, in)
	o.done("release", start, fuse.OK)
}

func (o *observedFS) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.CopyFileRange(c, in)
	o.done("copy_file_range", start, st)
	return n, st
}

func (o *observedFS) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Flush(c, in)
	o.done("flush", start, st)
	return st
}

func (o *observedFS) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Fsync(c, in)
	o.done("fsync", start, st)
	return st
}

func (o *observedFS) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Fallocate(c, in)
	o.done("fallocate", start, st)
	return st
}

func (o *observedFS) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.OpenDir(c, in, out)
	o.done("opendir", start, st)
	return st
}

func (o *observedFS) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.ReadDir(c, in, out)
	o.done("readdir", start, st)
	return st
}

func (o *observedFS) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.ReadDirPlus(c, in, out)
	o.done("readdirplus", start, st)
	return st
}

func (o *observedFS) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.FsyncDir(c, in)
	o.done("fsyncdir", start, st)
	return st
}

func (o *observedFS) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.StatFs(c, h, out)
	o.done("statfs", start, st)
	return st
}
