package localstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// BenchmarkPut measures Put throughput (b.SetBytes: MB/s of blob data),
// each iteration storing distinct bytes so nothing is deduplicated. At the
// default n = 10 the largest blob is 1 834 952 bytes, so 10 MiB blobs are
// measured at the smallest shard counts that hold them.
func BenchmarkPut(b *testing.B) {
	for _, tc := range []struct {
		shards, dirs, size int
	}{
		{DefaultShards, 1, 1 << 20},
		{DefaultShards, 10, 1 << 20},
		{DefaultShards, 1, maxBlob(DefaultShards)},
		{40, 1, 10 << 20},
		{100, 1, 10 << 20},
		{100, 4, 10 << 20},
	} {
		b.Run(fmt.Sprintf("n=%d/dirs=%d/%dKiB", tc.shards, tc.dirs, tc.size>>10), func(b *testing.B) {
			s, _ := openStore(b, testConfig(b, tc.dirs, tc.shards))
			data := lcg(1, tc.size)
			b.SetBytes(int64(tc.size))
			ctx := context.Background()
			i := 0
			for b.Loop() {
				data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
				i++
				if _, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func maxBlob(n int) int {
	p, _ := rs2.NewParams(n)
	return int(p.MaxBlobSize())
}

// BenchmarkReadRange measures sequential reads of a whole blob (verified
// slivers, no damage).
func BenchmarkReadRange(b *testing.B) {
	s, _ := openStore(b, testConfig(b, 1, DefaultShards))
	data := lcg(1, maxBlob(DefaultShards))
	info := put(b, s, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		mustRead(b, s, info.ID, 0, int64(len(data)))
	}
}
