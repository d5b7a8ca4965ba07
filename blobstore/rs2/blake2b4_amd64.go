//go:build amd64 && !purego

package rs2

import "golang.org/x/sys/cpu"

//go:generate go run blake2b4_gen.go

// haveCompress4 reports whether compress4 is available.
var haveCompress4 = cpu.X86.HasAVX2

// compress4AVX2 runs the BLAKE2b compression function on nblocks
// consecutive 128-byte blocks of four messages, one per lane of h (word w
// of message k's state is h[w][k]), reading lane k's blocks from p[k].
// Block j is compressed with the byte counter c0 + 128·(j+1) (mod 2^64;
// the high counter word is zero), and the last one with the finalization
// flag final (0 or all ones). With init nonzero, h is first set to
// BLAKE2b-256's initial state.
//
//go:noescape
func compress4AVX2(h *[8][4]uint64, p *[4]*byte, nblocks int, c0, final, init uint64)

func compress4(h *[8][4]uint64, p *[4]*byte, nblocks int, c0, final, init uint64) {
	compress4AVX2(h, p, nblocks, c0, final, init)
}
