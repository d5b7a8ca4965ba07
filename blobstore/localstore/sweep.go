package localstore

import (
	"os"
	"sync"
	"sync/atomic"
)

// Sweeping a quilt into the page cache
//
// A patch read touches every systematic sliver of its quilt (one span per
// row, a sliver apart), so on a cold cache each patch costs Kp small disk
// reads. When a quilt's systematic slivers are not too large (sweepBytes),
// the first patch read of the quilt has them read whole, once, in the
// background: sweepStreams goroutines per directory each read one of as
// many consecutive parts of that directory's share of the slivers file,
// front to back, a piece at a time, and throw the bytes away. The quilt's
// later patches then come from the page cache, and the first one's own row
// reads proceed meanwhile.
// Three streams rather than one: in twelve alternating runs of the quilt
// read-back workload on a 2-core VM's virtio disk, 166–202 MB/s (median
// 193) against 154–193 (median 186); two streams did worse, six no
// better.
//
// Reading the region ourselves rather than advising the kernel
// (POSIX_FADV_WILLNEED over the whole region) is a measured choice: a cold
// pass over three 90 MB quilts took 1.4–1.6 s, and more CPU, with the
// advice, against 0.8–1.0 s with the sequential read.
//
// At most maxSweeps sweeps run at once; beyond that the kernel is only
// advised, as before. A sweep enters the store for each piece, so Close
// waits for at most one piece, and a closed store ends its sweeps.

const (
	sweepPiece   = 1 << 20
	sweepStreams = 3
	maxSweeps    = 4
)

// sweepState is what the store knows of one quilt's sweep.
type sweepState struct {
	started atomic.Bool
	running atomic.Int32 // directory sweeps not yet ended
}

// start reports whether the caller is the one to start the sweep.
func (st *sweepState) start() bool { return st.started.CompareAndSwap(false, true) }

// done reports whether the sweep has started and ended.
func (st *sweepState) done() bool { return st.started.Load() && st.running.Load() == 0 }

// sweep reads [off, off+n) of the file at path once, in the background,
// as part of st. It returns false, doing nothing, when maxSweeps sweeps
// already run.
func (s *Store) sweep(path string, off, n int64, st *sweepState) bool {
	select {
	case s.sweeps <- struct{}{}:
	default:
		return false
	}
	// The region is read as sweepStreams consecutive parts at once: a
	// virtual disk delivers more to a few sequential streams than to one.
	part := (n/sweepStreams + sweepPiece - 1) / sweepPiece * sweepPiece
	var parts sync.WaitGroup
	st.running.Add(1)
	for p0 := off; p0 < off+n; p0 += part {
		p1 := min(off+n, p0+part)
		parts.Go(func() {
			f, err := os.Open(path)
			if err != nil {
				return
			}
			defer func() { _ = f.Close() }() // read-only
			buf := make([]byte, sweepPiece)
			for at := p0; at < p1; at += sweepPiece {
				done, err := s.enter()
				if err != nil {
					return
				}
				_, err = f.ReadAt(buf[:min(sweepPiece, p1-at)], at)
				done()
				if err != nil {
					return // the reads themselves will meet the problem
				}
			}
		})
	}
	go func() {
		parts.Wait()
		st.running.Add(-1)
		<-s.sweeps
	}()
	return true
}
