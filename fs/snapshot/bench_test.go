package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/index"
)

// peakHeap samples the live heap until stop is called and returns the
// highest value seen, in MiB.
func peakHeap() (stop func() float64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		return float64(peak.Load()) / (1 << 20)
	}
}

// BenchmarkTakeRestore takes and restores a snapshot of a tree of
// WALRUSFS_BENCH_FILES files (default 100,000) on a real local store and
// reports the live heap's peak during each: go test -run '^$' -bench
// TakeRestore ./fs/snapshot/.
func BenchmarkTakeRestore(b *testing.B) {
	files := 100_000
	if v, err := strconv.Atoi(os.Getenv("WALRUSFS_BENCH_FILES")); err == nil && v > 0 {
		files = v
	}
	dir := b.TempDir()
	x, err := index.Open(b.Context(), dir, index.DefaultConfig(), discard)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = x.Close() }()
	var ups []index.UploadResult
	flush := func(blob int) {
		bl := index.Blob{ID: [32]byte{byte(blob), byte(blob >> 8), byte(blob >> 16), 0xbb}, Kind: index.BlobQuilt, State: index.BlobCertified, EndEpoch: 12}
		if _, err := x.CompleteUploads(bl, ups); err != nil {
			b.Fatal(err)
		}
		ups = ups[:0]
	}
	var d index.Attr
	var seq uint64
	for i := range files {
		if i%1000 == 0 {
			if d, err = x.Create(index.RootIno, fmt.Sprintf("d%05d", i/1000), index.NewNode{Mode: syscall.S_IFDIR | 0o755, Now: 1}); err != nil {
				b.Fatal(err)
			}
		}
		f, err := x.Create(d.Ino, fmt.Sprintf("f%04d", i%1000), index.NewNode{Mode: syscall.S_IFREG | 0o644, ChunkSize: 1 << 20, Now: int64(i)})
		if err != nil {
			b.Fatal(err)
		}
		ref, err := x.NewStagedChunk(f.Ino, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.Seal([]index.Sealing{{Ino: f.Ino, N: 0, StagingID: ref.StagingID, Size: 1024}}, 1); err != nil {
			b.Fatal(err)
		}
		q, err := x.Uploads(seq, 1)
		if err != nil {
			b.Fatal(err)
		}
		seq = q[0].Seq
		ups = append(ups, index.UploadResult{Upload: q[0], Stored: index.StoredChunk{Length: 1024, PlainLen: 1024, BlockSize: 1 << 20, BlockHashes: make([][32]byte, 1)}})
		if len(ups) == 666 {
			flush(i)
		}
	}
	if len(ups) > 0 {
		flush(files)
	}
	store := openStoreB(b)
	runtime.GC()
	for b.Loop() {
		tk := &Taker{Index: x, Store: store, Cfg: DefaultConfig(), Log: discard}
		tk.Cfg.TempDir = dir
		stop := peakHeap()
		start := time.Now()
		res, err := tk.Take(b.Context(), nil)
		took, peak := time.Since(start), stop()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "take-s")
		b.ReportMetric(peak, "take-peak-heap-MiB")
		b.ReportMetric(float64(res.Manifest.Bytes)/(1<<20), "dump-MiB")
		runtime.GC()
		s, err := Open(b.Context(), store, res.ID, nil)
		if err != nil {
			b.Fatal(err)
		}
		stop = peakHeap()
		start = time.Now()
		if _, err := s.RestoreTo(b.Context(), filepath.Join(b.TempDir(), "restored"), index.DefaultConfig(), nil); err != nil {
			b.Fatal(err)
		}
		took, peak = time.Since(start), stop()
		b.ReportMetric(took.Seconds(), "restore-s")
		b.ReportMetric(peak, "restore-peak-heap-MiB")
	}
}
