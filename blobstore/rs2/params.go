package rs2

import (
	"fmt"

	"github.com/walrusfs/walrusfs/blobstore"
)

// Limits of the encoding.
const (
	// MinShards is the smallest shard count RS2 supports: below it there
	// are no repair symbols.
	MinShards = 4
	// MaxShards is the largest shard count this package supports. Walrus
	// Mainnet and Testnet use 1000; GF(2^16) positions run out near 2^15.
	MaxShards = 32768
	// MaxSymbolSize is the largest RS2 symbol size in bytes (u16::MAX − 1).
	MaxSymbolSize = 65534
	// HashSize is the size of every hash in the encoding (BLAKE2b-256).
	HashSize = 32
)

// Params are the shard-count-derived parameters of RS2. The zero value is
// not valid; use [NewParams].
type Params struct {
	// N is the number of shards, which is also the number of sliver pairs
	// and the side of the expanded matrix.
	N int
	// F is the number of faulty shards tolerated: (N−1)/3.
	F int
	// Kp is the number of primary source symbols: N−2F. It is the number of
	// rows of the message matrix, the number of symbols in a secondary
	// sliver and the number of primary slivers needed to decode.
	Kp int
	// Ks is the number of secondary source symbols: N−F. It is the number
	// of columns of the message matrix and the number of symbols in a
	// primary sliver.
	Ks int
}

// NewParams returns the parameters for n shards. It fails with
// [blobstore.ErrInvalidArgument] unless MinShards ≤ n ≤ MaxShards.
func NewParams(n int) (Params, error) {
	if n < MinShards || n > MaxShards {
		return Params{}, fmt.Errorf("rs2: %d shards: want %d to %d: %w", n, MinShards, MaxShards, blobstore.ErrInvalidArgument)
	}
	f := (n - 1) / 3
	return Params{N: n, F: f, Kp: n - 2*f, Ks: n - f}, nil
}

// MaxBlobSize is the largest blob these parameters can encode:
// Kp·Ks·MaxSymbolSize bytes (14 599 533 452 at n=1000).
func (p Params) MaxBlobSize() uint64 {
	return uint64(p.Kp) * uint64(p.Ks) * MaxSymbolSize
}

// SymbolSize returns the symbol size for a blob of length bytes: the
// smallest even S with Kp·Ks·S ≥ max(length, 1). A blob over
// [Params.MaxBlobSize] fails with an error wrapping [blobstore.ErrTooLarge].
func (p Params) SymbolSize(length uint64) (int, error) {
	if length > p.MaxBlobSize() {
		return 0, fmt.Errorf("rs2: blob of %d bytes exceeds the limit of %d bytes at %d shards: %w",
			length, p.MaxBlobSize(), p.N, blobstore.ErrTooLarge)
	}
	cells := uint64(p.Kp) * uint64(p.Ks)
	s := (max(length, 1) + cells - 1) / cells
	s += s & 1
	return int(s), nil
}

// Layout describes how one blob of a given length is laid out in the RS2
// matrices: its symbol size and sliver sizes. Build it with [NewLayout].
type Layout struct {
	Params
	// Length is the unencoded blob length in bytes.
	Length uint64
	// SymbolSize is the size S of one symbol in bytes (even, ≤ 65534).
	SymbolSize int
}

// NewLayout returns the layout of a blob of length bytes. It fails with an
// error wrapping [blobstore.ErrTooLarge] when the blob is too large for p.
func NewLayout(p Params, length uint64) (Layout, error) {
	s, err := p.SymbolSize(length)
	if err != nil {
		return Layout{}, err
	}
	return Layout{Params: p, Length: length, SymbolSize: s}, nil
}

// PrimarySliverSize is the length of a primary sliver: Ks·S bytes.
func (l Layout) PrimarySliverSize() int { return l.Ks * l.SymbolSize }

// SecondarySliverSize is the length of a secondary sliver: Kp·S bytes.
func (l Layout) SecondarySliverSize() int { return l.Kp * l.SymbolSize }

// EncodedLength is the storage a blob pays for on Walrus:
// N·(Kp+Ks)·S + N·(64·N+32) bytes (all slivers plus N copies of the
// metadata).
func (l Layout) EncodedLength() uint64 {
	n := uint64(l.N)
	return n*uint64(l.Kp+l.Ks)*uint64(l.SymbolSize) + n*(64*n+32)
}

// Extent is a contiguous piece of a blob inside one systematic primary
// sliver.
type Extent struct {
	// Sliver is the primary sliver index (always < Kp).
	Sliver int
	// Offset is the byte offset inside the sliver.
	Offset int64
	// Length is the number of bytes.
	Length int64
}

// Locate returns the systematic primary slivers holding blob bytes
// [off, off+length), in blob order. Systematic primary sliver i holds blob
// bytes [i·Ks·S, (i+1)·Ks·S). The range must lie within the blob;
// otherwise Locate fails with [blobstore.ErrInvalidArgument]. A zero
// length gives no extents.
func (l Layout) Locate(off, length int64) ([]Extent, error) {
	if off < 0 || length < 0 || uint64(off) > l.Length || uint64(length) > l.Length-uint64(off) {
		return nil, fmt.Errorf("rs2: byte range [%d, +%d) outside blob of %d bytes: %w",
			off, length, l.Length, blobstore.ErrInvalidArgument)
	}
	row := int64(l.PrimarySliverSize())
	var out []Extent
	for length > 0 {
		i := off / row
		o := off % row
		k := min(length, row-o)
		out = append(out, Extent{Sliver: int(i), Offset: o, Length: k})
		off += k
		length -= k
	}
	return out, nil
}

// nextPow2 returns the smallest power of two ≥ x (x ≥ 1).
func nextPow2(x int) int {
	p := 1
	for p < x {
		p <<= 1
	}
	return p
}

// highRate reports whether reed-solomon-simd encodes k originals into r
// recovery symbols with its high-rate algorithm.
func highRate(k, r int) bool {
	pk, pr := nextPow2(k), nextPow2(r)
	if pk != pr {
		return pk > pr
	}
	return k <= r
}
