package blobstore

import (
	"context"
	"sync"
	"sync/atomic"
)

// Parallel runs f(worker, i) for every i in [0, count) on up to workers
// goroutines, each taking the next i until none is left, and returns the
// first error (after which no new i starts). worker, in [0, workers),
// names the goroutine, for per-goroutine buffers. The goroutines enter
// the background (EnterBackground) when ctx marks background work;
// otherwise worker 0 is the calling goroutine. A canceled ctx stops them
// with its error. The RS2 encoder's workers and
// the local store's per-sliver work (sliver trees, patch reads) all run on
// it.
func Parallel(ctx context.Context, workers, count int, f func(worker, i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
	)
	work := func(wk int) {
		for !failed.Load() {
			i := int(next.Add(1) - 1)
			if i >= count {
				return
			}
			err := ctx.Err()
			if err == nil {
				err = f(wk, i)
			}
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				failed.Store(true)
			}
		}
	}
	// Foreground work runs worker 0 on the calling goroutine, which waits
	// anyway: a patch read calls Parallel for every group of columns, and
	// a goroutine started and waited for costs a wake-up each time.
	n := min(workers, count)
	inline := n > 0 && !IsBackground(ctx)
	for wk := range n {
		if wk == 0 && inline {
			continue
		}
		wg.Go(func() {
			EnterBackground(ctx)
			work(wk)
		})
	}
	if inline {
		work(0)
	}
	wg.Wait()
	return firstErr
}
