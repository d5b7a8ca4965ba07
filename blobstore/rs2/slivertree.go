package rs2

import (
	"fmt"
	"sync"

	"github.com/walrusfs/walrusfs/blobstore"
)

// SliverTree lets a reader check any range of a primary sliver's symbols
// against the sliver's primary hash without reading, or re-encoding, the
// rest of the sliver. It holds one level of the sliver's Merkle tree (the
// tree over all N symbols of row i of the expanded matrix): node k covers
// leaves [k·2^Level, (k+1)·2^Level). A range is checked by hashing its
// symbols, rounded out to whole nodes, up to that level and comparing with
// the nodes; the nodes themselves are checked once, by reducing them to
// the root ([Encoder.CheckSliverTree]).
//
// The symbols of a primary sliver are columns 0…Ks−1; columns Ks…N−1 are
// the row's repair symbols, which a store of primary slivers does not
// keep. When Ks is not a multiple of 2^Level, the node holding column
// Ks−1 also covers some repair columns: Tail holds their leaves, so that
// node can be rebuilt from the sliver's last symbols. Tail needs no check
// of its own: a wrong tail leaf makes that node mismatch.
//
// A tree is computed from a verified sliver ([Encoder.SliverTree]) and
// can be kept next to it: whatever happens to it on disk, a reader that
// checks it against the metadata before use never trusts a wrong byte.
type SliverTree struct {
	Level int
	Nodes []Hash // ⌈N / 2^Level⌉ nodes
	Tail  []Hash // leaves of columns Ks … min(N, end of Ks−1's node)−1
}

// SliverTreeLevel is the level at which a tree for slivers of symbolSize
// bytes is kept: the lowest at which a node covers at least 768 bytes of
// symbols. Lower levels make the tree larger (32 bytes per node per
// sliver: at most 1/24 of the symbols it covers, 1/16 of the sliver's own
// bytes counting the nodes over repair symbols); higher ones make a
// reader hash more symbols around the ones it reads (a node of columns on
// average, per row read). At 2 KiB, reading the files of three 90 MB
// quilts hashed 424 MB for 273 MB of files; at 768 bytes, 294 MB.
func SliverTreeLevel(p Params, symbolSize int) int {
	l := 0
	for (symbolSize<<l) < 768 && l < levelsFor(p.N) {
		l++
	}
	return l
}

// SliverTreeSize is the number of hashes (nodes and tail leaves) of a
// tree at level for parameters p.
func SliverTreeSize(p Params, level int) int {
	g := 1 << level
	return (p.N+g-1)/g + tailLen(p, level)
}

// SliverTreeTailLen is the number of tail leaves of a tree at level for
// parameters p (see [SliverTree]).
func SliverTreeTailLen(p Params, level int) int { return tailLen(p, level) }

func tailLen(p Params, level int) int {
	g := 1 << level
	end := min(p.N, (p.Ks+g-1)/g*g)
	return end - p.Ks
}

// SliverTree computes the tree of a primary sliver at level; see
// [Encoder.PrimarySliverHash] for the errors. The sliver is not checked:
// compute trees from verified slivers only.
func (e *Encoder) SliverTree(sliver []byte, level int) (*SliverTree, error) {
	s, err := e.sliverSymbolSize(len(sliver))
	if err != nil {
		return nil, err
	}
	if level < 0 || level > levelsFor(e.p.N) {
		return nil, fmt.Errorf("rs2: sliver tree level %d outside [0, %d]: %w", level, levelsFor(e.p.N), blobstore.ErrInvalidArgument)
	}
	leaves, err := e.primaryLeaves(sliver, s)
	if err != nil {
		return nil, err
	}
	t := &SliverTree{Level: level}
	t.Tail = append([]Hash(nil), leaves[e.p.Ks:e.p.Ks+tailLen(e.p, level)]...)
	t.Nodes = append([]Hash(nil), newHasher().reduce(leaves, level)...)
	return t, nil
}

// primaryLeaves returns the N leaves of a primary sliver's tree (with
// room for one more), re-encoding its repair symbols.
func (e *Encoder) primaryLeaves(sliver []byte, s int) ([]Hash, error) {
	p := e.p
	sp := paddedSize(s)
	row := make([]byte, p.N*sp)
	shards := make([][]byte, p.N)
	for c := range shards {
		shards[c] = row[c*sp : (c+1)*sp]
		if c < p.Ks {
			relayout(shards[c], sliver[c*s:(c+1)*s])
		}
	}
	if err := e.secondary.encode(shards[:p.Ks], shards[p.Ks:], &codeScratch{}); err != nil {
		return nil, err
	}
	leaves := make([]Hash, p.N, p.N+1)
	var x4 leafHasher4
	x4.leaves(leaves, s, func(c int) []byte { return shards[c] })
	return leaves, nil
}

// CheckSliverTree checks a tree against primary sliver index's hash in md:
// its nodes must reduce to the hash and its shape must be the one
// SliverTree makes. A mismatch wraps [blobstore.ErrIntegrity].
func (e *Encoder) CheckSliverTree(md *Metadata, index int, t *SliverTree) error {
	if len(md.Pairs) != e.p.N || index < 0 || index >= e.p.N {
		return fmt.Errorf("rs2: sliver %d of metadata with %d pairs at %d shards: %w", index, len(md.Pairs), e.p.N, blobstore.ErrInvalidArgument)
	}
	if t.Level < 0 || t.Level > levelsFor(e.p.N) || len(t.Nodes)+len(t.Tail) != SliverTreeSize(e.p, t.Level) || len(t.Tail) != tailLen(e.p, t.Level) {
		return fmt.Errorf("rs2: sliver %d: tree of %d nodes and %d tail leaves at level %d is not one of %d shards: %w",
			index, len(t.Nodes), len(t.Tail), t.Level, e.p.N, blobstore.ErrIntegrity)
	}
	nodes := make([]Hash, len(t.Nodes), len(t.Nodes)+1)
	copy(nodes, t.Nodes)
	if got := newHasher().root(nodes); got != md.Pairs[index].Primary {
		return fmt.Errorf("rs2: sliver %d: tree root %x, metadata says %x: %w", index, got[:8], md.Pairs[index].Primary[:8], blobstore.ErrIntegrity)
	}
	return nil
}

// Span returns the columns [g0, g1) a reader of columns [c0, c1) reads to
// check them with t: the range rounded out to whole nodes, clipped to the
// sliver's Ks columns.
func (t *SliverTree) Span(p Params, c0, c1 int) (g0, g1 int) {
	g := 1 << t.Level
	return c0 / g * g, min(p.Ks, (c1+g-1)/g*g)
}

// VerifyRange checks symbols, columns [c0, c0+len(symbols)/symbolSize) of
// the sliver, against a tree that passed [Encoder.CheckSliverTree]. The
// range must be a Span: c0 at a node's start, and its end at a node's end
// or at Ks. A mismatch wraps [blobstore.ErrIntegrity] and names the first
// column of the node that failed.
func (e *Encoder) VerifyRange(t *SliverTree, symbolSize, c0 int, symbols []byte) error {
	_, err := e.VerifySpans([]TreeSpan{{Tree: t, C0: c0, Symbols: symbols}}, symbolSize)
	return err
}

// TreeSpan is a run of one primary sliver's symbols, columns C0 onwards,
// to check against the sliver's tree (see [Encoder.VerifySpans]).
type TreeSpan struct {
	Tree    *SliverTree
	C0      int
	Symbols []byte // whole symbols, one after the other
}

// VerifySpans checks several spans at once, each as [Encoder.VerifyRange]
// checks one: each span's symbols are symbolSize bytes, and each span
// must start at a node's start and end at a node's end or at Ks. Reading
// a few columns of many slivers (every row of a quilt patch) gives each
// sliver a few symbols only; hashed together, their leaves and nodes fill
// the four lanes of the vector hasher, as one sliver's few symbols cannot.
//
// On a mismatch, failed is the span whose node differs and the error
// wraps [blobstore.ErrIntegrity], naming the node's columns; for spans
// that are not whole nodes, failed is the first such span and the error
// wraps [blobstore.ErrInvalidArgument].
func (e *Encoder) VerifySpans(spans []TreeSpan, symbolSize int) (failed int, err error) {
	p, s := e.p, symbolSize
	for k, sp := range spans {
		if s <= 0 || len(sp.Symbols)%s != 0 {
			return k, fmt.Errorf("rs2: %d bytes are not whole symbols of %d bytes: %w", len(sp.Symbols), s, blobstore.ErrInvalidArgument)
		}
		g := 1 << sp.Tree.Level
		c1 := sp.C0 + len(sp.Symbols)/s
		if sp.C0 < 0 || sp.C0%g != 0 || c1 > p.Ks || (c1%g != 0 && c1 != p.Ks) {
			return k, fmt.Errorf("rs2: columns [%d, %d) are not whole nodes of %d columns within %d: %w", sp.C0, c1, g, p.Ks, blobstore.ErrInvalidArgument)
		}
	}
	sc, _ := rangeScratchPool.Get().(*rangeScratch)
	if sc == nil {
		sc = &rangeScratch{x: newHasher()}
	}
	defer rangeScratchPool.Put(sc)
	// The spans are hashed in batches of about rangeBatchLeaves symbols:
	// whole spans, or a long span cut at node boundaries.
	sc.pieces = sc.pieces[:0]
	leaves := 0
	for k, sp := range spans {
		g := 1 << sp.Tree.Level
		cut := max(g, rangeBatchLeaves/g*g)
		total := len(sp.Symbols) / s
		for a := 0; a < total; a += cut {
			n := min(cut, total-a)
			if leaves+n > rangeBatchLeaves && len(sc.pieces) > 0 {
				if j, err := e.verifyPieces(sc, spans, s); err != nil {
					return j, err
				}
				sc.pieces, leaves = sc.pieces[:0], 0
			}
			sc.pieces = append(sc.pieces, spanPiece{span: k, from: a, n: n})
			leaves += n
		}
	}
	if len(sc.pieces) > 0 {
		if j, err := e.verifyPieces(sc, spans, s); err != nil {
			return j, err
		}
	}
	return -1, nil
}

// spanPiece is symbols [from, from+n) of a span, hashed in one batch.
type spanPiece struct{ span, from, n int }

// verifyPieces hashes the symbols of sc.pieces four at a time, reduces
// each piece's leaves to its nodes, four parents at a time across pieces,
// and compares them with the trees.
func (e *Encoder) verifyPieces(sc *rangeScratch, spans []TreeSpan, s int) (int, error) {
	p := e.p
	// Each piece's leaves, then its tail leaves when it ends at Ks, then
	// room for the empty node an odd level appends.
	tail := func(pc spanPiece) []Hash {
		if spans[pc.span].C0+pc.from+pc.n == p.Ks {
			return spans[pc.span].Tree.Tail
		}
		return nil
	}
	total := 0
	for _, pc := range sc.pieces {
		total += pc.n + len(tail(pc)) + 1
	}
	if cap(sc.leaves) < total {
		sc.leaves = make([]Hash, total)
	}
	sc.segs = sc.segs[:0]
	sc.dst, sc.src = sc.dst[:0], sc.src[:0]
	at := 0
	for _, pc := range sc.pieces {
		n := pc.n + len(tail(pc))
		seg := sc.leaves[at : at+n : at+n+1]
		copy(seg[pc.n:], tail(pc))
		sc.segs = append(sc.segs, seg)
		at += n + 1
		syms := spans[pc.span].Symbols[pc.from*s : (pc.from+pc.n)*s]
		for i := range pc.n {
			sc.dst = append(sc.dst, &seg[i])
			sc.src = append(sc.src, syms[i*s:(i+1)*s:(i+1)*s])
		}
	}
	x := sc.x
	for i := 0; i < len(sc.dst); i += 4 {
		var (
			dst  [4]*Hash
			syms [4][]byte
		)
		for k := range dst {
			j := min(i+k, len(sc.dst)-1) // a short last group repeats a symbol
			dst[k], syms[k] = sc.dst[j], sc.src[j]
		}
		x.x4.sumPlain(&dst, &syms, s)
	}
	sc.pairs = x.reduceAll(sc.segs, func(j int) int { return spans[sc.pieces[j].span].Tree.Level }, sc.pairs)
	for j, pc := range sc.pieces {
		t := spans[pc.span].Tree
		g := 1 << t.Level
		first := (spans[pc.span].C0 + pc.from) / g
		for k, got := range sc.segs[j] {
			if want := t.Nodes[first+k]; got != want {
				a := (first + k) * g
				return pc.span, fmt.Errorf("rs2: columns [%d, %d): hash %x, tree says %x: %w", a, min(a+g, p.N), got[:8], want[:8], blobstore.ErrIntegrity)
			}
		}
	}
	return -1, nil
}

// rangeBatchLeaves is about how many symbols VerifySpans hashes at a time.
const rangeBatchLeaves = 256

// rangeScratch is VerifySpans's working memory, recycled between calls.
type rangeScratch struct {
	x      *hasher
	leaves []Hash
	pieces []spanPiece
	segs   [][]Hash
	dst    []*Hash
	src    [][]byte
	pairs  []nodePair
}

var rangeScratchPool sync.Pool
