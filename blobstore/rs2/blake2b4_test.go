package rs2

import (
	"fmt"
	"testing"

	"golang.org/x/crypto/blake2b"
)

// The four-lane leaf hash against x/crypto's BLAKE2b, at every symbol
// size around the block and tail boundaries, with different symbols in
// the four lanes, from the engine's layout and from the plain one.
func TestLeafHasher4(t *testing.T) {
	checkLeafHasher4(t)
	if !haveCompress4 {
		t.Log("no AVX2: checked the fallback only")
	}
}

func checkLeafHasher4(t *testing.T) {
	var sizes []int
	for s := 0; s <= 1200; s += 2 {
		sizes = append(sizes, s)
	}
	for s := 1202; s <= MaxSymbolSize; s += 254 {
		sizes = append(sizes, s)
	}
	sizes = append(sizes, 22194, 65534, 65532, 4096, 8190)
	var x leafHasher4
	for _, s := range sizes {
		var plain, padded [4][]byte
		for k := range plain {
			plain[k] = lcg32(s, uint32(s*4+k+1))
			padded[k] = make([]byte, paddedSize(s))
			if s > 0 {
				relayout(padded[k], plain[k])
			}
		}
		var got, gotPlain [4]Hash
		dst := [4]*Hash{&got[0], &got[1], &got[2], &got[3]}
		x.sum(&dst, &padded, s)
		dst = [4]*Hash{&gotPlain[0], &gotPlain[1], &gotPlain[2], &gotPlain[3]}
		x.sumPlain(&dst, &plain, s)
		for k := range plain {
			want := Hash(blake2b.Sum256(append([]byte{leafPrefix}, plain[k]...)))
			if got[k] != want {
				t.Fatalf("symbol size %d, lane %d: %x, want %x", s, k, got[k][:8], want[:8])
			}
			if gotPlain[k] != want {
				t.Fatalf("symbol size %d, lane %d, plain layout: %x, want %x", s, k, gotPlain[k][:8], want[:8])
			}
		}
	}
}

func BenchmarkLeafHash(b *testing.B) {
	for _, s := range []int{38, 3684, 22194} {
		var padded [4][]byte
		for k := range padded {
			padded[k] = make([]byte, paddedSize(s))
			relayout(padded[k], lcg32(s, uint32(k+1)))
		}
		b.Run(fmt.Sprintf("S=%d/one", s), func(b *testing.B) {
			x := newHasher()
			var h Hash
			b.SetBytes(int64(4 * s))
			for b.Loop() {
				for k := range padded {
					lb := x.leafBuf(s)
					unrelayout(lb[1:], padded[k])
					x.sumLeaf(&h, lb)
				}
			}
		})
		b.Run(fmt.Sprintf("S=%d/four", s), func(b *testing.B) {
			var x leafHasher4
			var out [4]Hash
			dst := [4]*Hash{&out[0], &out[1], &out[2], &out[3]}
			b.SetBytes(int64(4 * s))
			for b.Loop() {
				x.sum(&dst, &padded, s)
			}
		})
	}
}

// BenchmarkCompress4 measures the four-lane compression function alone
// (MB/s over all four messages).
func BenchmarkCompress4(b *testing.B) {
	if !haveCompress4 {
		b.Skip("no AVX2")
	}
	const size = 64 << 10
	var p [4]*byte
	for k := range p {
		p[k] = &make([]byte, size)[0]
	}
	var h [8][4]uint64
	b.SetBytes(4 * size)
	for b.Loop() {
		compress4(&h, &p, size/128, 0, 0, 0)
	}
}

// Merkle roots, whose inner nodes are hashed four at a time, against a
// plain implementation of Walrus's tree, for every leaf count up to 70.
func TestRootFourWay(t *testing.T) {
	x := newHasher()
	for n := 1; n <= 70; n++ {
		leaves := make([]Hash, n, n+1)
		for i := range leaves {
			leaves[i] = Hash(blake2b.Sum256([]byte{byte(i), byte(n)}))
		}
		want := plainRoot(leaves)
		if got := x.root(append([]Hash(nil), leaves...)); got != want {
			t.Fatalf("%d leaves: root %x, want %x", n, got[:8], want[:8])
		}
	}
}

func plainRoot(level []Hash) Hash {
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, Hash{})
		}
		next := make([]Hash, len(level)/2)
		for i := range next {
			next[i] = Hash(blake2b.Sum256(append(append([]byte{innerPrefix}, level[2*i][:]...), level[2*i+1][:]...)))
		}
		level = next
	}
	return level[0]
}

// FuzzLeafHasher4 checks the four-lane leaf hash against x/crypto on four
// symbols cut from the input (the shortest even length of the four).
func FuzzLeafHasher4(f *testing.F) {
	f.Add([]byte("hello walrus"))
	f.Add(lcg32(4*300+3, 7))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := len(data) / 4 &^ 1
		var plain, padded [4][]byte
		for k := range plain {
			plain[k] = data[k*s : (k+1)*s]
			padded[k] = make([]byte, paddedSize(s))
			if s > 0 {
				relayout(padded[k], plain[k])
			}
		}
		var x leafHasher4
		var got, gotPlain [4]Hash
		dst := [4]*Hash{&got[0], &got[1], &got[2], &got[3]}
		x.sum(&dst, &padded, s)
		dst = [4]*Hash{&gotPlain[0], &gotPlain[1], &gotPlain[2], &gotPlain[3]}
		x.sumPlain(&dst, &plain, s)
		for k := range plain {
			want := Hash(blake2b.Sum256(append([]byte{leafPrefix}, plain[k]...)))
			if got[k] != want {
				t.Fatalf("symbol size %d, lane %d: %x, want %x", s, k, got[k][:8], want[:8])
			}
			if gotPlain[k] != want {
				t.Fatalf("symbol size %d, lane %d, plain layout: %x, want %x", s, k, gotPlain[k][:8], want[:8])
			}
		}
	})
}
