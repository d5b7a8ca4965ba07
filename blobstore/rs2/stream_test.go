package rs2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// TestEncodeAtMatchesEncode checks the strip-wise encoder, metadata and
// slivers, against the in-memory one on random sizes, with budgets that force whole-symbol
// batches of various widths (strips not dividing N) and block-sliced
// columns.
func TestEncodeAtMatchesEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := 6
	if raceEnabled {
		sizes = 2
	}
	for _, n := range []int{4, 7, 10, 33, 100, 129} {
		e, err := NewEncoder(n)
		if err != nil {
			t.Fatal(err)
		}
		p := e.Params()
		for k := range sizes {
			// Symbol sizes from 2 up to a few blocks, with odd tails.
			size := rng.IntN(p.Kp * p.Ks * 2 * (1 + 100*k))
			l, err := e.Layout(uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			sp := int64(paddedSize(l.SymbolSize))
			for _, budget := range []int64{
				1,                                    // block-sliced, one block at a time
				int64(e.workers) * int64(n) * sp / 2, // block-sliced, ranges of blocks
				int64(e.workers) * (int64(n)*sp + int64(n+1)*HashSize + int64(p.Kp)*int64(l.SymbolSize)) * 3, // batches of 2
				int64(e.workers) * int64(n) * sp * 20,                                                        // wider batches
			} {
				t.Run(fmt.Sprintf("n=%d/len=%d/budget=%d", n, size, budget), func(t *testing.T) {
					data := lcg32(size, uint32(size))
					want, wantSlivers := encodeAll(t, e, data)
					// Every third sliver is skipped, as a store that
					// already holds some would.
					ws := make([]*memSlivers, n)
					out := make([]io.WriterAt, n)
					for i := range ws {
						if i%3 != 1 {
							ws[i] = &memSlivers{}
							out[i] = ws[i]
						}
					}
					cfg := StreamConfig{MemoryBudget: budget, TempDir: t.TempDir()}
					got, err := e.EncodeAt(t.Context(), bytes.NewReader(data), int64(size), out, cfg)
					if err != nil {
						t.Fatal(err)
					}
					for i, w := range ws {
						if w != nil && !bytes.Equal(w.b, wantSlivers[i]) {
							t.Fatalf("primary sliver %d (of Kp=%d, in memory: %v): strip-wise bytes differ from Encode's", i, p.Kp, e.InMemory(int64(size), cfg))
						}
					}
					for i := range want.Pairs {
						if got.Pairs[i] != want.Pairs[i] {
							t.Fatalf("pair %d: strip-wise %x/%x, in memory %x/%x", i,
								got.Pairs[i].Primary[:4], got.Pairs[i].Secondary[:4], want.Pairs[i].Primary[:4], want.Pairs[i].Secondary[:4])
						}
					}
				})
			}
		}
	}
}

func TestMetadataAtShortReader(t *testing.T) {
	e, err := NewEncoder(10)
	if err != nil {
		t.Fatal(err)
	}
	data := lcg32(5000, 1)
	cfg := StreamConfig{MemoryBudget: 1, TempDir: t.TempDir()}
	_, err = e.MetadataAt(t.Context(), bytes.NewReader(data[:4000]), int64(len(data)), cfg)
	if !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("short reader: err = %v, want ErrInvalidArgument", err)
	}
	if _, err := e.MetadataAt(t.Context(), bytes.NewReader(data), -1, cfg); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("negative size: err = %v, want ErrInvalidArgument", err)
	}
}
