package rs2

import (
	"encoding/binary"

	"golang.org/x/crypto/blake2b"
)

// leafHasher4 computes Merkle leaf hashes H(0x00 ‖ symbol) of four
// symbols of the same size at once. Every symbol of the expanded matrix is
// a leaf, so leaf hashing is most of the work of encoding a blob (about
// 4.5 times its size at large n); BLAKE2b on one message at a time uses
// the vector units poorly, four messages in the four 64-bit lanes of
// AVX2 registers use them fully. Where that is not available, the leaves
// are hashed one by one. Symbols are read where they are, in the engine's
// padded layout while encoding (see relayout) or as stored when checking
// what was read from disk; only the first block (with the prefix) and the
// last blocks (with the symbol's tail) are copied.
//
// A leafHasher4 is not safe for concurrent use.
type leafHasher4 struct {
	// h is the BLAKE2b state of the four messages, word-major: h[w][lane].
	h [8][4]uint64
	// edge holds, per lane, the blocks that are not read in place: block
	// 0, then up to two final blocks.
	edge [4][3 * blake2b.BlockSize]byte
	// one is the fallback's buffer: 0x00 ‖ symbol.
	one []byte
}

// leaves sets out[i] to the leaf hash of the s-byte symbol whose padded
// form is sym(i), for every i < len(out).
func (x *leafHasher4) leaves(out []Hash, s int, sym func(i int) []byte) {
	for i := 0; i < len(out); i += 4 {
		var (
			dst    [4]*Hash
			padded [4][]byte
		)
		for k := range dst {
			j := min(i+k, len(out)-1) // a short last group repeats a symbol
			dst[k], padded[k] = &out[j], sym(j)
		}
		x.sum(&dst, &padded, s)
	}
}

// sum sets dst[k] to the leaf hash of the s-byte symbol whose padded form
// (paddedSize(s) bytes) is padded[k].
func (x *leafHasher4) sum(dst *[4]*Hash, padded *[4][]byte, s int) {
	x.sumLaidOut(dst, padded, s, false)
}

// sumPlain sets dst[k] to the leaf hash of the s-byte symbol syms[k], laid
// out as it is stored: a symbol read from disk is hashed where it was read,
// with no copy into the engine's layout.
func (x *leafHasher4) sumPlain(dst *[4]*Hash, syms *[4][]byte, s int) {
	x.sumLaidOut(dst, syms, s, true)
}

// sumLaidOut is sum for symbols in the engine's padded layout, and
// sumPlain for plain ones.
func (x *leafHasher4) sumLaidOut(dst *[4]*Hash, syms *[4][]byte, s int, plain bool) {
	if !haveCompress4 {
		if cap(x.one) < 1+s {
			x.one = make([]byte, 1+s)
		}
		b := x.one[:1+s]
		b[0] = leafPrefix
		for k := range syms {
			if plain {
				copy(b[1:], syms[k][:s])
			} else {
				unrelayout(b[1:], syms[k][:paddedSize(s)])
			}
			*dst[k] = blake2b.Sum256(b)
		}
		return
	}
	const bs = blake2b.BlockSize
	length := s + 1 // the prefix, then the symbol
	nb := (length + bs - 1) / bs
	// Symbol bytes [0, full) are the same in both layouts.
	full := s
	if !plain {
		full = s &^ (blockSize - 1)
	}
	// Blocks 1 … kd−1 lie in [0, full) and are not the last block: they
	// are read in place. Block k is symbol bytes [k·128−1, k·128+127).
	kd := 1
	if nb >= 3 && full >= 2*bs-1 {
		kd = min(nb-1, (full-(bs-1))/bs+1)
	}
	edge := plainAt
	if plain {
		edge = tailAt
	}
	var p [4]*byte
	for k := range syms {
		e := &x.edge[k]
		e[0] = leafPrefix
		edge(e[1:bs], syms[k], s, 0)
		if nb > 1 {
			edge(e[bs:bs+(nb-kd)*bs], syms[k], s, kd*bs-1)
		}
	}
	if nb == 1 {
		x.compress(&p, 0, 1, uint64(length)-bs, ^uint64(0), 1)
	} else {
		x.compress(&p, 0, 1, 0, 0, 1)
		if kd > 1 {
			for k := range p {
				p[k] = &syms[k][bs-1]
			}
			compress4(&x.h, &p, kd-1, bs, 0, 0)
		}
		if m := nb - kd - 1; m > 0 {
			x.compress(&p, bs, m, uint64(kd*bs), 0, 0)
		}
		x.compress(&p, bs+(nb-kd-1)*bs, 1, uint64(length)-bs, ^uint64(0), 0)
	}
	x.digests(dst)
}

// compress runs n blocks of each lane's edge buffer, from byte off (see
// compress4).
func (x *leafHasher4) compress(p *[4]*byte, off, n int, c0, final, init uint64) {
	for k := range p {
		p[k] = &x.edge[k][off]
	}
	compress4(&x.h, p, n, c0, final, init)
}

// plainAt fills dst with the symbol's bytes [from, from+len(dst)), taken
// from its padded form, and zeros past the symbol's end s.
func plainAt(dst, padded []byte, s, from int) {
	full := s &^ (blockSize - 1)
	h := (s - full) / 2
	// The symbol is padded[:full], then the tail, whose first half
	// relayout put at full and second half at full+32.
	parts := [3][]byte{padded[:full]}
	if h > 0 {
		parts[1], parts[2] = padded[full:full+h], padded[full+blockSize/2:full+blockSize/2+h]
	}
	i := 0
	for _, p := range parts {
		if from >= len(p) {
			from -= len(p)
			continue
		}
		i += copy(dst[i:], p[from:])
		from = 0
	}
	clear(dst[i:])
}

// tailAt fills dst with the plain s-byte symbol's bytes [from,
// from+len(dst)), and zeros past its end.
func tailAt(dst, sym []byte, s, from int) {
	clear(dst[copy(dst, sym[from:s]):])
}

// inner4 sets *dst[k] to the inner node hash H(0x01 ‖ *l[k] ‖ *r[k]) for
// four pairs of nodes. dst may alias l or r.
func (x *leafHasher4) inner4(dst, l, r *[4]*Hash) {
	const bs = blake2b.BlockSize
	var p [4]*byte
	for k := range p {
		e := &x.edge[k]
		e[0] = innerPrefix
		copy(e[1:], l[k][:])
		copy(e[1+HashSize:], r[k][:])
		clear(e[1+2*HashSize : bs])
	}
	length := uint64(1 + 2*HashSize)
	x.compress(&p, 0, 1, length-bs, ^uint64(0), 1) // c0 + 128 = length, mod 2^64
	x.digests(dst)
}

// digests writes the four digests.
func (x *leafHasher4) digests(dst *[4]*Hash) {
	for k := range dst {
		for w := range 4 {
			binary.LittleEndian.PutUint64(dst[k][8*w:], x.h[w][k])
		}
	}
}
