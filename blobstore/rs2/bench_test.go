package rs2

import (
	"bytes"
	"io"
	"testing"
)

// discardSlivers accepts sliver writes and drops them, so encode benchmarks
// measure the codec rather than a sink.
type discardSlivers struct{}

func (discardSlivers) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

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
			for b.Loop() {
				if _, err := e.BlobID(b.Context(), bytes.NewReader(data), int64(len(data))); err != nil {
					b.Fatal(err)
				}
			}
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
