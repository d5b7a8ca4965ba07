package rs2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestGFField(t *testing.T) {
	gf := gfTables()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a, b, c := uint16(rng.Uint32()), uint16(rng.Uint32()), uint16(rng.Uint32())
		if gf.mul(a, b) != gf.mul(b, a) {
			t.Fatalf("mul(%#x, %#x) not commutative", a, b)
		}
		if gf.mul(a, b^c) != gf.mul(a, b)^gf.mul(a, c) {
			t.Fatalf("mul not distributive at %#x %#x %#x", a, b, c)
		}
		if gf.mul(gf.mul(a, b), c) != gf.mul(a, gf.mul(b, c)) {
			t.Fatalf("mul not associative at %#x %#x %#x", a, b, c)
		}
		if a != 0 && gf.mul(a, gf.inv(a)) != 1 {
			t.Fatalf("%#x · inv = %#x", a, gf.mul(a, gf.inv(a)))
		}
		var mt mulTable
		mt.set(gf, a)
		if got := mt.lo[byte(b)] ^ mt.hi[b>>8]; got != gf.mul(a, b) {
			t.Fatalf("table %#x·%#x = %#x, mul %#x", a, b, got, gf.mul(a, b))
		}
	}
}

// TestGeneratorMatchesEngine checks the field tables against the engine:
// the generator matrix (obtained from unit vectors) applied to random data
// with this package's multiplication must reproduce the engine's parity.
// The unit-vector generator alone is linear algebra on the engine's output;
// it is this product that tests the tables.
func TestGeneratorMatchesEngine(t *testing.T) {
	for _, tc := range []struct{ k, r int }{
		{2, 2}, {4, 6}, {7, 3}, {34, 66}, {67, 33}, {334, 666}, {667, 333},
	} {
		t.Run(fmt.Sprintf("k=%d,r=%d", tc.k, tc.r), func(t *testing.T) {
			skipUnderRace(t, tc.k+tc.r)
			c, err := newCode(tc.k, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			g, err := c.generator()
			if err != nil {
				t.Fatal(err)
			}
			gf := gfTables()
			rng := rand.New(rand.NewPCG(uint64(tc.k), uint64(tc.r)))
			const size = 2 * blockSize
			src := make([][]byte, tc.k)
			dst := make([][]byte, tc.r)
			for j := range src {
				src[j] = make([]byte, size)
				for b := range src[j] {
					src[j][b] = byte(rng.Uint32())
				}
			}
			for i := range dst {
				dst[i] = make([]byte, size)
			}
			if err := c.encode(src, dst, &codeScratch{}); err != nil {
				t.Fatal(err)
			}
			var mt mulTable
			for i := range tc.r {
				want := make([]byte, size)
				for j := range tc.k {
					mt.set(gf, g[i*tc.k+j])
					mt.mulAdd(want, src[j])
				}
				if !bytes.Equal(want, dst[i]) {
					t.Fatalf("recovery symbol %d: matrix product differs from the engine", i)
				}
			}
		})
	}
}

// TestReconstructGeneral drives the general decoder directly, at both
// rates, for random sets of exactly k present shards.
func TestReconstructGeneral(t *testing.T) {
	for _, tc := range []struct{ k, r int }{
		{2, 2}, {4, 6}, {7, 3}, {34, 66}, {67, 33},
	} {
		t.Run(fmt.Sprintf("k=%d,r=%d", tc.k, tc.r), func(t *testing.T) {
			c, err := newCode(tc.k, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(tc.k), 3))
			const size = 3 * blockSize
			all := make([][]byte, tc.k+tc.r)
			for i := range all {
				all[i] = make([]byte, size)
				if i < tc.k {
					for b := range all[i] {
						all[i][b] = byte(rng.Uint32())
					}
				}
			}
			if err := c.encode(all[:tc.k], all[tc.k:], &codeScratch{}); err != nil {
				t.Fatal(err)
			}
			for range 10 {
				shards := make([][]byte, len(all))
				for _, i := range rng.Perm(len(all))[:tc.k] {
					shards[i] = all[i]
				}
				if err := c.reconstructGeneral(shards, 2, -1); err != nil {
					t.Fatal(err)
				}
				for i := range tc.k {
					if !bytes.Equal(shards[i], all[i]) {
						t.Fatalf("original %d differs", i)
					}
				}
			}
		})
	}
}
