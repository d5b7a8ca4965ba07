package blockcrypt

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkSealBlock1MiB(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			c := newTestCodec(b, 1<<20, m.enc)
			plain := randomBytes(1<<20, 1)
			dst := make([]byte, 0, len(plain)+EncryptedOverhead)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				dst = c.SealBlock(dst[:0], plain)
			}
		})
	}
}

// BenchmarkOpenBlock1MiB includes the SHA-256 check of the stored bytes.
func BenchmarkOpenBlock1MiB(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			c := newTestCodec(b, 1<<20, m.enc)
			stored := c.SealBlock(nil, randomBytes(1<<20, 1))
			want := BlockHash(stored)
			dst := make([]byte, 0, 1<<20)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = c.OpenBlock(dst[:0], stored, want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeChunk8MiB encodes a whole 8 MiB chunk in 1 MiB blocks,
// hashes included, to a sink.
func BenchmarkEncodeChunk8MiB(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			c := newTestCodec(b, 1<<20, m.enc)
			plain := randomBytes(8<<20, 1)
			r := bytes.NewReader(plain)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(plain)
				if _, _, err := c.EncodeChunk(r, int64(len(plain)), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
