//go:build !noasm && !appengine && !gccgo && !nopshufb

package rs2

import (
	"runtime/debug"
	_ "unsafe" // for go:linkname

	"github.com/klauspost/cpuid/v2"
)

// mul16LUTs is klauspost/reedsolomon's table for multiplying in GF(2^16)
// in pure Go: 65536 entries of 1 KiB, 64 MiB, built (every page written)
// when the first Leopard GF(2^16) code is made. Only the pure-Go
// fallbacks read it (refMul, refMulAdd, refMulAdd8x in leopard.go); with
// AVX2 every multiplication goes through multiply256LUT (8 MiB) or the
// GFNI matrices (2 MiB) instead, so the table is 64 MiB of resident
// memory that is never read. See dropUnusedTables.
//
//go:linkname mul16LUTs github.com/klauspost/reedsolomon.mul16LUTs
var mul16LUTs *[1 << 16]struct{ lo, hi [256]uint16 }

// dropUnusedTables frees klauspost/reedsolomon's pure-Go GF(2^16) table on
// CPUs where the library never uses it: amd64 with AVX2, built with the
// library's assembly (the build constraint above is the one of its
// galois_amd64.go), where each of
// its multiplication routines (fftDIT2, ifftDIT2, mulgf16, mulgf16Xor,
// mulgf16Xor8) takes a SIMD path for every shard length this package
// uses (multiples of 64 bytes). It must run after the library's one-time
// initialisation (any reedsolomon.New with Leopard GF(2^16)), which never
// runs again. Without AVX2 the table stays. Should a later version of the
// library read the table on an AVX2 path, that read dereferences nil and
// panics rather than compute wrong symbols; the vector tests run on
// AVX2 machines and would show it.
func dropUnusedTables() {
	if cpuid.CPU.Supports(cpuid.AVX2) {
		mul16LUTs = nil
		// Give the pages back now: left to the background scavenger they
		// stay resident for minutes.
		debug.FreeOSMemory()
	}
}
