package localstore

import (
	"context"
	"os"
	"sync"

	"github.com/walrusfs/walrusfs/blobstore"
)

// pacedPiece is about how much of a background Put is written back to the
// disk between two yields to the foreground.
const pacedPiece = 1 << 20

// pacedFile is a slivers file being staged by a Put. A Put is usually
// written to the page cache and made durable by the staged blob's round of
// fsyncs, which lets the disk take all of it at once. While the foreground
// of an upload is busy (blobstore.ForegroundBusy), that would put
// megabytes of writes in the device ahead of the next request's read. The
// dirty bytes are then written back in pieces of about pacedPiece as they
// accumulate, each after a yield to the foreground (blobstore.Yield), and
// each waited for before the next: the device holds at most one piece of
// the Put when a request's read arrives. Safe for concurrent use (the
// encoder's workers write slivers in parallel).
type pacedFile struct {
	f *os.File

	mu sync.Mutex
	// lo and hi bound the bytes written since the last write-back, dirty
	// of them (dirty == 0: none).
	lo, hi, dirty int64
}

// writeAt writes p at off, and writes back what is dirty once that is a
// piece and the foreground is busy.
func (pf *pacedFile) writeAt(ctx context.Context, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		k := min(len(p)-n, pacedPiece)
		w, err := pf.f.WriteAt(p[n:n+k], off+int64(n))
		pf.dirtied(off+int64(n), off+int64(n+w))
		n += w
		if err != nil {
			return n, err
		}
		if err := pf.writeBack(ctx, pacedPiece); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (pf *pacedFile) dirtied(lo, hi int64) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if pf.dirty == 0 {
		pf.lo, pf.hi = lo, hi
	} else {
		pf.lo, pf.hi = min(pf.lo, lo), max(pf.hi, hi)
	}
	pf.dirty += hi - lo
}

// writeBack writes back the dirty bytes, once there are at least least of
// them, while the foreground is busy: in pieces of about pacedPiece dirty
// bytes (ranges of the bounding range in proportion), each after a yield
// and waited for. Once the foreground is quiet it leaves the rest to the
// page cache and the fsync of the staged blob.
func (pf *pacedFile) writeBack(ctx context.Context, least int64) error {
	pf.mu.Lock()
	lo, hi, dirty := pf.lo, pf.hi, pf.dirty
	if dirty == 0 || dirty < least || !blobstore.ForegroundBusy(ctx) {
		pf.mu.Unlock()
		return nil
	}
	pf.dirty = 0
	pf.mu.Unlock()
	step := max(pacedPiece, (hi-lo)/max(1, dirty/pacedPiece))
	for off := lo; off < hi; off += step {
		if !blobstore.ForegroundBusy(ctx) {
			pf.dirtied(off, hi) // left for later, or for the fsync
			return nil
		}
		if err := blobstore.Yield(ctx); err != nil {
			return err
		}
		if err := writeBack(pf.f, off, min(step, hi-off)); err != nil {
			return err
		}
	}
	return nil
}
