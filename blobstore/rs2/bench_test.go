package rs2

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// discardSlivers accepts sliver writes and drops them, so encode benchmarks
// measure the codec rather than a sink.
type discardSlivers struct{}

func (discardSlivers) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// benchSizes are the measured cases. There is no n=10/64MiB case: RS2 at
// n=10 holds at most 1,834,952 bytes per blob (kp·ks·65534), so a 64 MiB
// blob is ErrTooLarge there, as TestSymbolSizeLimit and the "too large" encode case check.
func benchSizes() []struct {
	name string
	n    int
	size int
} {
	return []struct {
		name string
		n    int
		size int
	}{
		{"n=10/1MiB", 10, 1 << 20},
		{"n=1000/1MiB", 1000, 1 << 20},
		{"n=1000/64MiB", 1000, 64 << 20},
	}
}

func BenchmarkBlobID(b *testing.B) {
	for _, bc := range benchSizes() {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEncoder(bc.n)
			if err != nil {
				b.Fatal(err)
			}
			data := lcg32(bc.size, 1)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if _, err := e.BlobID(b.Context(), bytes.NewReader(data), int64(len(data))); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, bc := range append(benchSizes()[:1], struct {
		name string
		n    int
		size int
	}{"n=10/64MiB", 10, 64 << 20}) {
		if bc.size > int(mustParams(b, bc.n).MaxBlobSize()) {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEncoder(bc.n)
			if err != nil {
				b.Fatal(err)
			}
			data := lcg32(bc.size, 1)
			out := make([]io.WriterAt, bc.n)
			for i := range out {
				out[i] = discardSlivers{}
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Encode(b.Context(), bytes.NewReader(data), int64(len(data)), out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustParams(b *testing.B, n int) Params {
	p, err := NewParams(n)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// synthBlob is an io.ReaderAt of deterministic pseudo-random bytes that
// takes no memory, for benchmarks of blobs larger than is reasonable to
// hold.
type synthBlob struct{ size int64 }

func (s synthBlob) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	for i := range n {
		x := uint64(off+int64(i)) * 0x9E3779B97F4A7C15
		p[i] = byte(x >> 56)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// peakHeap samples the heap while f runs and returns the largest growth
// of HeapInuse over its value before f, in bytes. The baseline includes
// the Reed-Solomon engine's process-wide multiplication tables (about
// 72 MiB), which every encoder shares.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return peak.Load() - min(peak.Load(), base.HeapInuse)
}

// BenchmarkBlobIDAt measures the strip-wise encoder on blobs that do not
// fit its memory budget, reporting its peak heap growth in MiB (garbage
// not yet collected included).
func BenchmarkBlobIDAt(b *testing.B) {
	for _, bc := range []struct {
		name   string
		size   int64
		budget int64
	}{
		{"n=1000/64MiB/budget=64MiB", 64 << 20, 64 << 20},
		{"n=1000/512MiB/budget=128MiB", 512 << 20, 128 << 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEncoder(1000)
			if err != nil {
				b.Fatal(err)
			}
			cfg := StreamConfig{MemoryBudget: bc.budget, TempDir: b.TempDir()}
			b.SetBytes(bc.size)
			var peak uint64
			cpu := cpuTime()
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					if _, err := e.BlobIDAt(b.Context(), synthBlob{bc.size}, bc.size, cfg); err != nil {
						b.Fatal(err)
					}
				}))
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// cpuTime returns the process's user plus system CPU time so far. The
// machines benchmarks run on are shared, so wall time alone says little.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
