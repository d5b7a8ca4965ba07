package rs2

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// TestMetadataAtMatchesEncode checks the strip-wise encoder against the
// in-memory one on random sizes, with budgets that force whole-symbol
// batches of various widths (strips not dividing N) and block-sliced
// columns.
func TestMetadataAtMatchesEncode(t *testing.T) {
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
					want, err := e.Encode(t.Context(), bytes.NewReader(data), int64(size), nil)
					if err != nil {
						t.Fatal(err)
					}
					got, err := e.MetadataAt(t.Context(), bytes.NewReader(data), int64(size), StreamConfig{MemoryBudget: budget, TempDir: t.TempDir()})
					if err != nil {
						t.Fatal(err)
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
