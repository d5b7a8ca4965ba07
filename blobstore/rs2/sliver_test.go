package rs2

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

func TestReconstructPrimary(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		length int
		drops  int // random drop sets tried
	}{
		{"n=4", 4, 1000, 8},
		{"n=10", 10, 5000, 8},
		{"n=10 S not multiple of 64", 10, 57, 8},
		{"n=100", 100, 300_000, 6},
		{"n=1000 small blob", 1000, 10_000, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			skipUnderRace(t, tc.n)
			e, err := NewEncoder(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			p := e.Params()
			data := lcg32(tc.length, uint32(tc.n))
			md, all := encodeAll(t, e, data)
			rng := rand.New(rand.NewPCG(uint64(tc.n), 7))
			for i := range p.N {
				if !e.UsableForReconstruction(i) {
					t.Fatalf("sliver %d not usable for reconstruction", i)
				}
			}
			check := func(t *testing.T, keep []int) {
				t.Helper()
				slivers := make([][]byte, p.N)
				for _, i := range keep {
					slivers[i] = bytes.Clone(all[i])
				}
				var out bytes.Buffer
				if err := e.ReconstructBlob(slivers, md.Length, &out); err != nil {
					t.Fatalf("keep %v: %v", keep, err)
				}
				if !bytes.Equal(out.Bytes(), data) {
					t.Fatalf("keep %v: reconstructed blob differs", keep)
				}
				for i := range p.Kp {
					if !bytes.Equal(slivers[i], all[i]) {
						t.Fatalf("keep %v: systematic sliver %d differs", keep, i)
					}
				}
			}
			// The last Kp slivers only: every systematic sliver is
			// missing, and at low rate most of them lie past the FFT
			// decoder's window.
			last := make([]int, p.Kp)
			for k := range last {
				last[k] = p.N - p.Kp + k
			}
			check(t, last)
			for d := range tc.drops {
				// Keep exactly Kp slivers chosen from anywhere (the fewest
				// that can work) on the first tries, more on later ones;
				// one systematic sliver is always among the missing.
				victim := rng.IntN(p.Kp)
				var candidates []int
				for i := range p.N {
					if i != victim {
						candidates = append(candidates, i)
					}
				}
				keep := p.Kp
				if d >= tc.drops/2 {
					keep += (d - tc.drops/2) * (len(candidates) - p.Kp) / max(1, tc.drops)
				}
				var kept []int
				for _, k := range rng.Perm(len(candidates))[:keep] {
					kept = append(kept, candidates[k])
				}
				check(t, kept)
			}
			// One sliver short of Kp must fail cleanly.
			slivers := make([][]byte, p.N)
			for _, i := range last[1:] {
				slivers[i] = all[i]
			}
			err = e.ReconstructPrimary(slivers)
			if !errors.Is(err, ErrTooFewSlivers) {
				t.Fatalf("with Kp−1 slivers: err = %v, want ErrTooFewSlivers", err)
			}
		})
	}
}

func TestVerifyPrimarySliver(t *testing.T) {
	for _, n := range []int{4, 10, 100} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			e, err := NewEncoder(n)
			if err != nil {
				t.Fatal(err)
			}
			data := lcg32(3000, 9)
			md, all := encodeAll(t, e, data)
			for _, i := range []int{0, e.Params().Kp - 1, e.Params().Kp, n - 1} {
				if err := e.VerifyPrimarySliver(md, i, all[i]); err != nil {
					t.Errorf("sliver %d: %v", i, err)
				}
				bad := bytes.Clone(all[i])
				bad[len(bad)/2] ^= 0x40
				if err := e.VerifyPrimarySliver(md, i, bad); !errors.Is(err, blobstore.ErrIntegrity) {
					t.Errorf("corrupt sliver %d: err = %v, want ErrIntegrity", i, err)
				}
				if err := e.VerifyPrimarySliver(md, i, all[i][:len(all[i])-2]); !errors.Is(err, blobstore.ErrIntegrity) {
					t.Errorf("short sliver %d: err = %v, want ErrIntegrity", i, err)
				}
			}
			// A good sliver under another index's hash must fail too.
			if err := e.VerifyPrimarySliver(md, 1, all[2]); !errors.Is(err, blobstore.ErrIntegrity) {
				t.Errorf("sliver 2 as 1: err = %v, want ErrIntegrity", err)
			}
			if err := e.VerifyPrimarySliver(md, n, all[0]); !errors.Is(err, blobstore.ErrInvalidArgument) {
				t.Errorf("index n: err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

// An encoder recycles message matrices between calls; a recycled one
// holding another blob's bytes must not leak into the next blob's
// encoding.
func TestEncodeRecyclesMatrix(t *testing.T) {
	e, err := NewEncoder(10)
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range []int{1_000_000, 57, 999_998, 300_001, 1_800_000, 64 * 28, 12} {
		data := lcg32(size, uint32(i+100))
		got, err := e.BlobID(t.Context(), bytes.NewReader(data), int64(size))
		if err != nil {
			t.Fatal(err)
		}
		fresh, _ := NewEncoder(10)
		want, err := fresh.BlobID(t.Context(), bytes.NewReader(data), int64(size))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%d bytes after other blobs: %s, want %s", size, got, want)
		}
	}
}
