package rs2

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// A sliver's tree, at every level, checks against the sliver's primary
// hash, and any span of the sliver verifies against it; one changed byte,
// node or tail leaf is found.
func TestSliverTree(t *testing.T) {
	for _, tc := range []struct{ n, length int }{{4, 3000}, {10, 4 * 7 * 64}, {10, 100 << 10}, {100, 1 << 20}, {1000, 3<<20 + 5}} {
		t.Run(fmt.Sprintf("n=%d", tc.n), func(t *testing.T) {
			skipUnderRace(t, tc.n)
			e, err := NewEncoder(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			md, all := encodeAll(t, e, lcg32(tc.length, uint32(tc.n)+7))
			l, err := e.Layout(md.Length)
			if err != nil {
				t.Fatal(err)
			}
			p, s := e.Params(), l.SymbolSize
			levels := []int{0, SliverTreeLevel(p, s), levelsFor(p.N)}
			for _, level := range levels {
				for _, row := range []int{0, p.Kp - 1} {
					tree, err := e.SliverTree(all[row], level)
					if err != nil {
						t.Fatal(err)
					}
					if err := e.CheckSliverTree(md, row, tree); err != nil {
						t.Fatalf("level %d, row %d: %v", level, row, err)
					}
					if err := e.CheckSliverTree(md, row+1, tree); !errors.Is(err, blobstore.ErrIntegrity) {
						t.Fatalf("level %d: row %d's tree as row %d's: err = %v, want ErrIntegrity", level, row, row+1, err)
					}
					for _, r := range [][2]int{{0, 1}, {p.Ks - 1, p.Ks}, {p.Ks / 3, min(p.Ks, p.Ks/3+5)}, {0, p.Ks}} {
						g0, g1 := tree.Span(p, r[0], r[1])
						if g0 > r[0] || g1 < r[1] {
							t.Fatalf("span of [%d, %d) is [%d, %d)", r[0], r[1], g0, g1)
						}
						span := bytes.Clone(all[row][g0*s : g1*s])
						if err := e.VerifyRange(tree, s, g0, span); err != nil {
							t.Fatalf("level %d, row %d, columns [%d, %d): %v", level, row, g0, g1, err)
						}
						span[(r[1]-g0)*s-1] ^= 2
						if err := e.VerifyRange(tree, s, g0, span); !errors.Is(err, blobstore.ErrIntegrity) {
							t.Fatalf("level %d, row %d, columns [%d, %d) changed: err = %v, want ErrIntegrity", level, row, g0, g1, err)
						}
					}
					if len(tree.Tail) > 0 {
						bad := *tree
						bad.Tail = append([]Hash(nil), tree.Tail...)
						bad.Tail[0][3] ^= 1
						g0, g1 := tree.Span(p, p.Ks-1, p.Ks)
						if err := e.VerifyRange(&bad, s, g0, all[row][g0*s:g1*s]); !errors.Is(err, blobstore.ErrIntegrity) {
							t.Fatalf("level %d: changed tail leaf: err = %v, want ErrIntegrity", level, err)
						}
					}
					bad := *tree
					bad.Nodes = append([]Hash(nil), tree.Nodes...)
					bad.Nodes[len(bad.Nodes)/2][0] ^= 1
					if err := e.CheckSliverTree(md, row, &bad); !errors.Is(err, blobstore.ErrIntegrity) {
						t.Fatalf("level %d: changed node: err = %v, want ErrIntegrity", level, err)
					}
					if got := len(tree.Nodes) + len(tree.Tail); got != SliverTreeSize(p, level) {
						t.Fatalf("level %d: %d hashes, SliverTreeSize says %d", level, got, SliverTreeSize(p, level))
					}
				}
			}
			tree, _ := e.SliverTree(all[0], levels[1])
			g := 1 << tree.Level
			if g > 1 && g < p.Ks {
				if err := e.VerifyRange(tree, s, 1, all[0][s:g*s]); !errors.Is(err, blobstore.ErrInvalidArgument) {
					t.Errorf("unaligned range: err = %v, want ErrInvalidArgument", err)
				}
			}
		})
	}
}

// Spans of many slivers checked together give what each gives checked on
// its own: all pass, and one changed byte anywhere fails its own span,
// named by its index, whatever spans share its batch.
func TestVerifySpans(t *testing.T) {
	for _, tc := range []struct{ n, length int }{{10, 3000}, {10, 100 << 10}, {100, 1 << 20}, {1000, 3<<20 + 5}} {
		t.Run(fmt.Sprintf("n=%d,len=%d", tc.n, tc.length), func(t *testing.T) {
			skipUnderRace(t, tc.n)
			e, err := NewEncoder(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			md, all := encodeAll(t, e, lcg32(tc.length, uint32(tc.n)+11))
			l, err := e.Layout(md.Length)
			if err != nil {
				t.Fatal(err)
			}
			p, s := e.Params(), l.SymbolSize
			for _, level := range []int{0, 1, SliverTreeLevel(p, s)} {
				trees := make([]*SliverTree, p.Kp)
				for row := range trees {
					if trees[row], err = e.SliverTree(all[row], level); err != nil {
						t.Fatal(err)
					}
				}
				// Every row, at columns of varied widths: some a node, some
				// ending at Ks (with tail leaves), one longer than a batch
				// when the sliver allows.
				var spans []TreeSpan
				data := map[int][]byte{}
				for row := range p.Kp {
					a, b := row*3%p.Ks, row*3%p.Ks+1+row%4
					if row == p.Kp-1 {
						a, b = 0, p.Ks
					}
					g0, g1 := trees[row].Span(p, a, min(b, p.Ks))
					data[len(spans)] = bytes.Clone(all[row][g0*s : g1*s])
					spans = append(spans, TreeSpan{Tree: trees[row], C0: g0, Symbols: data[len(spans)]})
				}
				if failed, err := e.VerifySpans(spans, s); err != nil {
					t.Fatalf("level %d: span %d: %v", level, failed, err)
				}
				for _, bad := range []int{0, len(spans) / 2, len(spans) - 1} {
					data[bad][len(data[bad])-1] ^= 4
					failed, err := e.VerifySpans(spans, s)
					if failed != bad || !errors.Is(err, blobstore.ErrIntegrity) {
						t.Fatalf("level %d: span %d changed: failed = %d, err = %v; want %d and ErrIntegrity", level, bad, failed, err, bad)
					}
					one := spans[bad]
					if err := e.VerifyRange(one.Tree, s, one.C0, data[bad]); !errors.Is(err, blobstore.ErrIntegrity) {
						t.Fatalf("level %d: VerifyRange of changed span %d: err = %v", level, bad, err)
					}
					data[bad][len(data[bad])-1] ^= 4
				}
				if g := 1 << level; g > 1 && p.Ks > g {
					odd := append(slices.Clone(spans[:2]), TreeSpan{Tree: trees[0], C0: 1, Symbols: all[0][s : (g+1)*s]})
					if failed, err := e.VerifySpans(odd, s); failed != 2 || !errors.Is(err, blobstore.ErrInvalidArgument) {
						t.Fatalf("level %d: a span off its nodes: failed = %d, err = %v", level, failed, err)
					}
				}
			}
		})
	}
}
