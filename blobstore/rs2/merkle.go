package rs2

import "golang.org/x/crypto/blake2b"

// Hash is a BLAKE2b-256 digest: a Merkle node, a sliver hash or a root.
type Hash [HashSize]byte

// Merkle trees here are Walrus's: leaf = H(0x00 ‖ data),
// inner = H(0x01 ‖ left ‖ right); a level with an odd number of nodes gets
// one empty node (32 zero bytes, not hashed) appended; one leaf is its own
// root and zero leaves give the empty node.
const (
	leafPrefix  = 0x00
	innerPrefix = 0x01
)

// hasher computes leaf and inner hashes without allocating. It is not safe
// for concurrent use; each goroutine owns one.
type hasher struct {
	buf  [1 + 2*HashSize]byte
	lbuf []byte // 0x00 ‖ symbol, grown to the largest symbol seen
	x4   leafHasher4
}

func newHasher() *hasher { return &hasher{} }

// leafBuf returns a buffer of 1+n bytes whose first byte is the leaf
// prefix; fill buf[1:] with the leaf data and pass it to sumLeaf.
func (x *hasher) leafBuf(n int) []byte {
	if cap(x.lbuf) < 1+n {
		x.lbuf = make([]byte, 1+n)
	}
	b := x.lbuf[:1+n]
	b[0] = leafPrefix
	return b
}

// sumLeaf sets dst to the hash of buf, as prepared by leafBuf.
func (x *hasher) sumLeaf(dst *Hash, buf []byte) { *dst = blake2b.Sum256(buf) }

// leaf sets dst to H(0x00 ‖ data).
func (x *hasher) leaf(dst *Hash, data []byte) {
	b := x.leafBuf(len(data))
	copy(b[1:], data)
	x.sumLeaf(dst, b)
}

// leaf2 sets dst to H(0x00 ‖ a ‖ b), the leaf of a sliver pair.
func (x *hasher) leaf2(dst *Hash, a, b *Hash) {
	x.buf[0] = leafPrefix
	copy(x.buf[1:], a[:])
	copy(x.buf[1+HashSize:], b[:])
	*dst = blake2b.Sum256(x.buf[:])
}

// inner sets dst to H(0x01 ‖ l ‖ r). dst may alias l or r.
func (x *hasher) inner(dst *Hash, l, r *Hash) {
	x.buf[0] = innerPrefix
	copy(x.buf[1:], l[:])
	copy(x.buf[1+HashSize:], r[:])
	*dst = blake2b.Sum256(x.buf[:])
}

// reduce replaces nodes by their parents, levels times, padding odd levels
// with the empty node, and returns the remaining nodes (a prefix of nodes,
// reused in place). nodes must have capacity for one extra node.
func (x *hasher) reduce(nodes []Hash, levels int) []Hash {
	for range levels {
		if len(nodes)%2 == 1 {
			nodes = append(nodes, Hash{})
		}
		i := 0
		if haveCompress4 {
			// Four parents at a time. Parents i…i+3 overwrite nodes that
			// no later parent reads.
			for ; i+4 <= len(nodes)/2; i += 4 {
				dst := [4]*Hash{&nodes[i], &nodes[i+1], &nodes[i+2], &nodes[i+3]}
				l := [4]*Hash{&nodes[2*i], &nodes[2*i+2], &nodes[2*i+4], &nodes[2*i+6]}
				r := [4]*Hash{&nodes[2*i+1], &nodes[2*i+3], &nodes[2*i+5], &nodes[2*i+7]}
				x.x4.inner4(&dst, &l, &r)
			}
		}
		for ; i < len(nodes)/2; i++ {
			x.inner(&nodes[i], &nodes[2*i], &nodes[2*i+1])
		}
		nodes = nodes[:len(nodes)/2]
	}
	return nodes
}

// nodePair is one parent to compute: *dst = H(0x01 ‖ *l ‖ *r).
type nodePair struct{ dst, l, r *Hash }

// reduceAll is reduce over several segments at once, segment j reduced
// levels(j) times; the parents of all segments at a level are hashed
// together, four at a time. Each segment must have capacity for one extra
// node; segs[j] is left holding segment j's remaining nodes. pairs is
// scratch, returned for reuse.
func (x *hasher) reduceAll(segs [][]Hash, levels func(j int) int, pairs []nodePair) []nodePair {
	for level := 0; ; level++ {
		pairs = pairs[:0]
		for j, seg := range segs {
			if levels(j) <= level {
				continue
			}
			if len(seg)%2 == 1 {
				seg = append(seg, Hash{})
			}
			for i := range len(seg) / 2 {
				pairs = append(pairs, nodePair{&seg[i], &seg[2*i], &seg[2*i+1]})
			}
			segs[j] = seg[:len(seg)/2]
		}
		if len(pairs) == 0 {
			return pairs
		}
		// Parent i of a segment overwrites node i, which only parents
		// before it read: hashed in order, four at a time (each group
		// reading all its children before writing), no child is lost.
		i := 0
		if haveCompress4 {
			for ; i+4 <= len(pairs); i += 4 {
				q := pairs[i : i+4]
				dst := [4]*Hash{q[0].dst, q[1].dst, q[2].dst, q[3].dst}
				l := [4]*Hash{q[0].l, q[1].l, q[2].l, q[3].l}
				r := [4]*Hash{q[0].r, q[1].r, q[2].r, q[3].r}
				x.x4.inner4(&dst, &l, &r)
			}
		}
		for ; i < len(pairs); i++ {
			x.inner(pairs[i].dst, pairs[i].l, pairs[i].r)
		}
	}
}

// root returns the Merkle root over the given leaf hashes, reusing nodes
// as scratch. nodes must have capacity for one extra node.
func (x *hasher) root(nodes []Hash) Hash {
	if len(nodes) == 0 {
		return Hash{}
	}
	return x.reduce(nodes, levelsFor(len(nodes)))[0]
}

// levelsFor is the number of reductions that bring n ≥ 1 nodes to one:
// ceil(log2 n).
func levelsFor(n int) int {
	l := 0
	for c := n; c > 1; c = (c + 1) / 2 {
		l++
	}
	return l
}
