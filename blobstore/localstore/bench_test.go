package localstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// benchDirEnv names a directory for benchmark stores. Throughput includes
// the fsyncs, so it should be on the disk the store will really use; the
// default, b.TempDir(), may be a tmpfs.
const benchDirEnv = "WALRUSFS_BENCH_DIR"

// benchConfig is testConfig with the directories under $WALRUSFS_BENCH_DIR
// when it is set.
func benchConfig(b *testing.B, ndirs, shards int) Config {
	b.Helper()
	root := os.Getenv(benchDirEnv)
	if root == "" {
		return testConfig(b, ndirs, shards)
	}
	root, err := os.MkdirTemp(root, "localstore-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(root) })
	cfg := DefaultConfig()
	cfg.Shards = shards
	for i := range ndirs {
		cfg.Dirs = append(cfg.Dirs, filepath.Join(root, "d"+strconv.Itoa(i)))
	}
	return cfg
}

// benchPuts runs b.N calls of put with up to inflight of them running at
// once (as an uploader with that concurrency would), each with its own
// buffer from bufs.
func benchPuts(b *testing.B, inflight int, bufs [][]byte, put func(i int, buf []byte) error) {
	b.Helper()
	free := make(chan []byte, inflight)
	for _, buf := range bufs[:inflight] {
		free <- buf
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	cpu := cpuTime()
	i := 0
	for b.Loop() {
		buf := <-free
		wg.Go(func() {
			defer func() { free <- buf }()
			if err := put(i, buf); err != nil {
				mu.Lock()
				ferr = err
				mu.Unlock()
			}
		})
		i++
	}
	wg.Wait()
	if ferr != nil {
		b.Fatal(ferr)
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// stamp makes buf distinct for put number i, so nothing is deduplicated.
func stamp(buf []byte, i int) {
	buf[0], buf[1], buf[2], buf[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
}

// BenchmarkPut8MiB measures what the uploader sees for a full-size file
// chunk: Put of 8 MiB + 320 bytes (an encrypted 8 MiB chunk) from call to
// durable, one and two at a time. b.SetBytes counts blob bytes.
func BenchmarkPut8MiB(b *testing.B) {
	const size = 8<<20 + 320
	for _, n := range []int{DefaultShards, 31, 100} {
		if size > maxBlob(n) {
			continue
		}
		for _, inflight := range []int{1, 2} {
			b.Run(fmt.Sprintf("n=%d/inflight=%d", n, inflight), func(b *testing.B) {
				s, _ := openStore(b, benchConfig(b, 1, n))
				bufs := [][]byte{lcg(1, size), lcg(2, size)}
				b.SetBytes(size)
				ctx := context.Background()
				benchPuts(b, inflight, bufs, func(i int, buf []byte) error {
					stamp(buf, i)
					_, err := s.Put(ctx, bytes.NewReader(buf), int64(len(buf)), blobstore.PutOptions{})
					return err
				})
			})
		}
	}
}

// BenchmarkPutQuilt measures PutQuilt of as many 4 KiB patches as a quilt
// holds at the shard count (Ks−1: 666 at n = 1000). b.SetBytes counts
// patch bytes.
func BenchmarkPutQuilt(b *testing.B) {
	for _, n := range []int{DefaultShards, 1000} {
		p, _ := rs2.NewParams(n)
		count := p.Ks - 1
		b.Run(fmt.Sprintf("n=%d/%dx4KiB", n, count), func(b *testing.B) {
			s, _ := openStore(b, benchConfig(b, 1, n))
			parts := make([]blobstore.QuiltPart, count)
			for j := range parts {
				parts[j] = blobstore.QuiltPart{Identifier: fmt.Sprintf("chunk-%04d", j), Data: lcg(uint32(j), 4096)}
			}
			b.SetBytes(int64(count) * 4096)
			ctx := context.Background()
			cpu := cpuTime()
			i := 0
			for b.Loop() {
				stamp(parts[0].Data, i)
				i++
				if _, err := s.PutQuilt(ctx, parts, blobstore.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkPut measures Put throughput (b.SetBytes: MB/s of blob data) of
// smaller blobs and of several directories, each iteration storing
// distinct bytes so nothing is deduplicated.
func BenchmarkPut(b *testing.B) {
	for _, tc := range []struct {
		shards, dirs, size int
	}{
		{DefaultShards, 1, 1 << 20},
		{DefaultShards, 4, 1 << 20},
		{DefaultShards, 4, 10 << 20},
		{100, 4, 10 << 20},
	} {
		b.Run(fmt.Sprintf("n=%d/dirs=%d/%dKiB", tc.shards, tc.dirs, tc.size>>10), func(b *testing.B) {
			s, _ := openStore(b, benchConfig(b, tc.dirs, tc.shards))
			data := lcg(1, tc.size)
			b.SetBytes(int64(tc.size))
			ctx := context.Background()
			i := 0
			for b.Loop() {
				stamp(data, i)
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

// BenchmarkReadRange measures sequential reads of a whole 8 MiB blob
// (every sliver verified, no damage), warm in the page cache.
func BenchmarkReadRange(b *testing.B) {
	for _, n := range []int{DefaultShards, 100} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s, _ := openStore(b, benchConfig(b, 1, n))
			data := lcg(1, 8<<20)
			info := put(b, s, data)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				mustRead(b, s, info.ID, 0, int64(len(data)))
			}
		})
	}
}

// cpuTime returns the process's user plus system CPU time so far. The
// machines benchmarks run on are shared, so wall time alone says little.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
