package upload

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/blobstore"
)

// stagedPiece is the most an upload reads from a staged chunk at once
// while the foreground is busy (see pacedReader).
const stagedPiece = 256 << 10

// pacedReader reads a staged chunk file for an upload. While the
// foreground is busy (blobstore.ForegroundBusy), every read waits for it
// to pause (blobstore.Yield), reads at most stagedPiece bytes and goes
// without the kernel's readahead, which would send disk reads of up to
// the disk's read_ahead_kb (megabytes on many disks) at once for a
// request's read to wait behind. Otherwise the file is read as usual.
type pacedReader struct {
	ctx    context.Context
	f      *os.File
	r      io.Reader
	random bool // readahead is off for f
}

// newPacedReader reads size bytes of staged chunk file c for an upload.
func newPacedReader(ctx context.Context, c *os.File, size int64) io.Reader {
	return &pacedReader{ctx: ctx, f: c, r: io.NewSectionReader(c, 0, size)}
}

func (p *pacedReader) Read(b []byte) (int, error) {
	busy := blobstore.ForegroundBusy(p.ctx)
	if busy != p.random {
		advice := unix.FADV_NORMAL
		if busy {
			advice = unix.FADV_RANDOM
		}
		_ = unix.Fadvise(int(p.f.Fd()), 0, 0, advice) // advice
		p.random = busy
	}
	if !busy {
		return p.r.Read(b)
	}
	if err := blobstore.Yield(p.ctx); err != nil {
		return 0, err
	}
	return p.r.Read(b[:min(len(b), stagedPiece)])
}
