package main

import (
	"encoding/binary"
	"math/rand/v2"
)

const pageSize = 4096

// pattern is the content of the large test file: a random 1 MiB block
// repeated, with the first 8 bytes of every 4 KiB page replaced by the
// page's index. Every page differs from every other, so neither
// deduplication nor compression can shortcut the work, and the expected
// bytes at any offset can be regenerated to check a read.
type pattern struct {
	block []byte
}

func newPattern(seed uint64) *pattern {
	r := rand.New(rand.NewChaCha8(seedBytes(seed)))
	b := make([]byte, 1<<20)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return &pattern{block: b}
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return s
}

// fill sets dst to the content of the file at offset off.
func (p *pattern) fill(dst []byte, off int64) {
	n := int64(len(p.block))
	for i := 0; i < len(dst); {
		i += copy(dst[i:], p.block[(off+int64(i))%n:])
	}
	end := off + int64(len(dst))
	var stamp [8]byte
	for pg := off / pageSize; pg*pageSize < end; pg++ {
		binary.LittleEndian.PutUint64(stamp[:], uint64(pg)^0x77616c7275736673) // "walrusfs"
		start := pg * pageSize
		lo, hi := max(start, off), min(start+8, end)
		if lo < hi {
			copy(dst[lo-off:hi-off], stamp[lo-start:hi-start])
		}
	}
}
