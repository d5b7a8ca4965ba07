//go:build !amd64 || purego

package rs2

const haveCompress4 = false

func compress4(*[8][4]uint64, *[4]*byte, int, uint64, uint64, uint64) {
	panic("rs2: compress4 without AVX2")
}
