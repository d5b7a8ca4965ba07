package filedata

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// While a file's chunks are being sealed, a report never shows them as
// neither unsealed nor queued: status --wait stops when it sees nothing of
// either, and must not stop while a seal is under way (a large file copied
// in, then sealed, with nothing else queued).
func TestReportCountsChunksWhileTheyAreSealed(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) { c.SealDelay = time.Hour })
	ctx := t.Context()
	ino := te.create(t, "big")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	data := bytes.Repeat([]byte("x"), 8*testChunk)
	for round := range 12 {
		data[0] = byte(round)
		if err := f.Write(ctx, data, 0); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var gaps atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			for !stop.Load() {
				r, err := te.Report()
				if err != nil {
					t.Error(err)
					return
				}
				if r.Unsealed == 0 && r.Pending.Chunks == 0 {
					gaps.Add(1)
				}
			}
		})
		time.Sleep(time.Millisecond) // let the watcher start
		te.sealIdle(time.Now().Add(time.Hour), false)
		stop.Store(true)
		wg.Wait()
		if n := gaps.Load(); n > 0 {
			t.Fatalf("round %d: %d reports showed nothing unsealed and nothing queued while the file was being sealed", round, n)
		}
		if err := te.WaitUploaded(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
