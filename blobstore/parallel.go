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
// the background (EnterBackground) when ctx marks background work; a
// canceled ctx stops them with its error. The RS2 encoder's workers and
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
	for wk := range min(workers, count) {
		wg.Go(func() {
			EnterBackground(ctx)
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
		})
	}
	wg.Wait()
	return firstErr
}
