package fs

import (
	"context"
	"errors"
	"io"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/index"
)

// handle is an open file: the FUSE face of a filedata.File.
type handle struct {
	fs   *FS
	file *filedata.File
	ino  uint64
}

var (
	_ = (fusefs.FileReader)((*handle)(nil))
	_ = (fusefs.FileWriter)((*handle)(nil))
	_ = (fusefs.FileFsyncer)((*handle)(nil))
	_ = (fusefs.FileFlusher)((*handle)(nil))
	_ = (fusefs.FileReleaser)((*handle)(nil))
)

func (h *handle) errno(op string, err error) syscall.Errno { return h.fs.errno(op, h.ino, err) }

func (h *handle) Release(ctx context.Context) syscall.Errno {
	return h.errno("release", h.file.Release())
}

// Flush is called on every close(2).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	return h.errno("close", h.file.Flush())
}

// fsyncDataOnly is FUSE_FSYNC_FDATASYNC: the request is an fdatasync.
const fsyncDataOnly = 1

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if flags&fsyncDataOnly != 0 {
		return h.errno("fsync", h.file.Fdatasync(ctx))
	}
	return h.errno("fsync", h.file.Fsync(ctx))
}

// copyReadMax is the largest read answered with a copy (File.Read: for
// staged data, one pread into the request's buffer, then one writev of
// the reply) even where it could be spliced from a staged chunk file. A
// splice saves copying the bytes through this process, but costs go-fuse
// two more system calls (the reply's header written into a pipe, the pipe
// emptied afterwards) and a pipe from its pool: for a 4 KiB read, about
// 20 µs of the 50 µs the daemon spends on it besides the disk, against a
// copy of well under a microsecond. At 32 KiB the copy in and out still
// takes only a few microseconds; a sequential reader's requests (the
// kernel's readahead, 128 KiB and more) are spliced.
const copyReadMax = 32 << 10

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	small := len(dest) <= copyReadMax
	if !small {
		if r := h.file.ReadStaged(off, len(dest)); r != nil {
			h.fs.stagedReads.Add(1)
			return stagedRead{r: r, h: h}, 0
		}
	}
	n, err := h.file.Read(ctx, dest, off)
	if err != nil {
		return nil, h.errno("read", err)
	}
	if small {
		h.fs.smallCopies.Add(1)
	}
	// A vector result goes out with one writev; go-fuse would otherwise
	// first try (and fail) to splice a plain byte slice.
	return fuse.ReadResultVector([][]byte{dest[:n]}), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if h.fs.cfg.ReadOnly {
		return 0, syscall.EROFS
	}
	// The kernel leaves this to the filesystem (see killpriv.go).
	if err := h.fs.idx.KillPrivileges(index.Ino(h.ino), h.fs.killPriv(ctx), now()); err != nil {
		return 0, h.errno("write", err)
	}
	if err := h.file.Write(ctx, data, off); err != nil {
		return 0, h.errno("write", err)
	}
	return uint32(len(data)), 0
}

// stagedRead is a read answered from a byte range of a staged chunk file:
// go-fuse splices it to the kernel (Seekable) or, failing that, calls
// Bytes.
type stagedRead struct {
	r *filedata.StagedRange
	h *handle
}

func (s stagedRead) Seekable() (uintptr, int64, int) { return s.r.File.Fd(), s.r.Off, s.r.Size }

func (s stagedRead) Size() int { return s.r.Size }

func (s stagedRead) Bytes(buf []byte) ([]byte, fuse.Status) {
	s.h.fs.spliceFallbacks.Add(1)
	if len(buf) < s.r.Size {
		buf = make([]byte, s.r.Size)
	}
	buf = buf[:s.r.Size]
	got, err := s.r.File.ReadAt(buf, s.r.Off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fuse.Status(s.h.errno("read", err))
	}
	clear(buf[got:])
	return buf, fuse.OK
}

// Done releases the hold on the file once the reply is out.
func (s stagedRead) Done() { s.r.Done() }
