package blockcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

const blockSize = 4 << 10

func TestGetLayers(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20}
	b := newBackend()
	src := b.source("blob/0", blockSize)

	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, src)
	checkStats(t, c, counts{"Fetches": 1, "MemoryHits": 0, "DiskHits": 0, "DiskFiles": 1, "FetchErrors": 0, "IntegrityFailures": 0})
	stored, err := os.ReadFile(diskPath(dir, src.key))
	if err != nil {
		t.Fatalf("block not on disk after fetch: %v", err)
	}
	if !bytes.Equal(stored, src.stored) {
		t.Fatal("disk layer holds decoded bytes; want the stored bytes")
	}
	mustGet(t, c, src)
	checkStats(t, c, counts{"Fetches": 1, "MemoryHits": 1, "DiskHits": 0, "DiskFiles": 1})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// A fresh cache on the same directory starts with empty memory.
	c = openCache(t, cfg)
	mustGet(t, c, src)
	checkStats(t, c, counts{"Fetches": 0, "MemoryHits": 0, "DiskHits": 1, "DiskFiles": 1})
	mustGet(t, c, src)
	checkStats(t, c, counts{"Fetches": 0, "MemoryHits": 1, "DiskHits": 1, "DiskFiles": 1})
	if n := b.fetches.Load(); n != 1 {
		t.Errorf("backend saw %d fetches, want 1", n)
	}
}

func TestLayersDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want counts // after two Gets of one key
	}{
		{"memory only", Config{MemoryBytes: 1 << 20}, counts{"Fetches": 1, "MemoryHits": 1, "DiskHits": 0, "DiskFiles": 0, "FetchErrors": 0}},
		{"disk only", Config{DiskDir: "tmp", DiskBytes: 1 << 20}, counts{"Fetches": 1, "MemoryHits": 0, "DiskHits": 1, "DiskFiles": 1, "FetchErrors": 0}},
		{"neither", Config{}, counts{"Fetches": 2, "MemoryHits": 0, "DiskHits": 0, "DiskFiles": 0, "FetchErrors": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.DiskDir != "" {
				tc.cfg.DiskDir = t.TempDir()
			}
			c := openCache(t, tc.cfg)
			src := newBackend().source("k", blockSize)
			mustGet(t, c, src)
			mustGet(t, c, src)
			checkStats(t, c, tc.want)
		})
	}
}

func TestCorruptDiskFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"empty", func([]byte) []byte { return nil }},
		{"extended", func(b []byte) []byte { return append(b, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20}
			b := newBackend()
			src := b.source("blob/1048576", blockSize)
			c, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, c, src)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}

			path := diskPath(dir, src.key)
			stored, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(stored), 0o644); err != nil {
				t.Fatal(err)
			}

			// With the backend failing, the damaged file is still removed
			// and never returned.
			c = openCache(t, cfg)
			b.setFail(src.key, fmt.Errorf("aggregator down: %w", blobstore.ErrUnavailable))
			if got, err := c.Get(t.Context(), src.key, src); !errors.Is(err, blobstore.ErrUnavailable) {
				t.Fatalf("Get with a damaged file and a failing backend: %d bytes, %v; want ErrUnavailable", len(got), err)
			}
			checkStats(t, c, counts{"IntegrityFailures": 1, "Fetches": 1, "FetchErrors": 1, "DiskHits": 0, "DiskFiles": 0})
			if onDisk(t, dir, src.key) {
				t.Fatal("damaged disk file not removed")
			}

			b.setFail(src.key, nil)
			mustGet(t, c, src) // checks the bytes are the good ones
			checkStats(t, c, counts{"IntegrityFailures": 1, "Fetches": 2, "DiskHits": 0, "MemoryHits": 0, "DiskFiles": 1, "FetchErrors": 1})
			if b.fetches.Load() != 3 {
				t.Errorf("backend saw %d fetches, want 3", b.fetches.Load())
			}
			again, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("refetched block not rewritten to disk: %v", err)
			}
			if !bytes.Equal(again, src.stored) {
				t.Error("disk file still damaged after refetch")
			}
		})
	}
}

func TestSingleflight(t *testing.T) {
	const callers = 50
	b := newBackend()
	b.gate = make(chan struct{})
	c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 20})
	src := b.source("shared", blockSize)

	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			got, err := c.Get(context.Background(), src.key, src)
			if err == nil && !bytes.Equal(got, src.plain()) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		})
	}
	// Every caller but the first must join the first one's load before the
	// fetch is allowed to finish.
	waitFor(t, "callers to join the load", func() bool { return c.Stats().Joined == callers-1 })
	close(b.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Get: %v", err)
		}
	}
	if n := b.fetches.Load(); n != 1 {
		t.Errorf("backend saw %d fetches, want 1", n)
	}
	checkStats(t, c, counts{"Fetches": 1, "MemoryHits": 0, "DiskHits": 0, "FetchErrors": 0, "IntegrityFailures": 0, "DiskFiles": 1})
}

func TestCancelledCallerDetachesFetch(t *testing.T) {
	b := newBackend()
	b.gate = make(chan struct{})
	dir := t.TempDir()
	c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20})
	src := b.source("slow", blockSize)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, src.key, src)
		done <- err
	}()
	waitFor(t, "the fetch to start", func() bool { return b.running.Load() == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Get returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled Get did not return while the fetch was blocked")
	}

	close(b.gate)
	idle(t, c)
	if n := b.cancelled.Load(); n != 0 {
		t.Fatalf("the fetch saw its context end %d times; a reader's cancel must not reach it", n)
	}
	if !onDisk(t, dir, src.key) {
		t.Error("the detached fetch did not fill the disk layer")
	}
	mustGet(t, c, src)
	checkStats(t, c, counts{"Fetches": 1, "FetchErrors": 0, "MemoryHits": 1, "DiskHits": 0})
	if n := b.fetches.Load(); n != 1 {
		t.Errorf("backend saw %d fetches, want 1", n)
	}
}

func TestFailedFetchNotCached(t *testing.T) {
	const callers = 5
	b := newBackend()
	b.gate = make(chan struct{})
	dir := t.TempDir()
	c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20})
	src := b.source("flaky", blockSize)
	b.setFail(src.key, fmt.Errorf("aggregator: 503: %w", blobstore.ErrUnavailable))

	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			_, err := c.Get(t.Context(), src.key, src)
			errs <- err
		})
	}
	waitFor(t, "callers to join the load", func() bool { return c.Stats().Joined == callers-1 })
	close(b.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, blobstore.ErrUnavailable) {
			t.Errorf("Get returned %v, want ErrUnavailable", err)
		}
	}
	checkStats(t, c, counts{"Fetches": 1, "FetchErrors": 1, "DiskFiles": 0})
	if onDisk(t, dir, src.key) {
		t.Error("failed fetch left a disk file")
	}

	b.setFail(src.key, nil)
	mustGet(t, c, src)
	checkStats(t, c, counts{"Fetches": 2, "FetchErrors": 1, "DiskFiles": 1})
}

func TestFetchTimeout(t *testing.T) {
	b := newBackend()
	b.gate = make(chan struct{}) // never opened
	c := openCache(t, Config{MemoryBytes: 1 << 20, FetchTimeout: 20 * time.Millisecond})
	src := b.source("stuck", blockSize)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.Get(ctx, src.key, src)
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("Get returned %v, want the fetch's context.DeadlineExceeded", err)
	}
	checkStats(t, c, counts{"Fetches": 1, "FetchErrors": 1})
}

func TestMemoryBudget(t *testing.T) {
	const (
		budget = 256 << 10
		block  = 16 << 10
		keys   = 100
	)
	b := newBackend()
	c := openCache(t, Config{MemoryBytes: budget})
	srcs := make([]*source, keys)
	for i := range srcs {
		srcs[i] = b.source(fmt.Sprintf("k%d", i), block)
		mustGet(t, c, srcs[i])
		if got := c.Stats().MemoryBytes; got > budget {
			t.Fatalf("after %d blocks the memory layer holds %d bytes, over the %d budget", i+1, got, budget)
		}
	}
	st := c.Stats()
	if st.MemoryBytes <= 0 {
		t.Fatalf("memory layer reports %d bytes after %d blocks", st.MemoryBytes, keys)
	}
	// Count what is really there, independently of ristretto's metrics.
	var held int64
	for _, s := range srcs {
		if data, ok := c.memGet(s.key); ok {
			held += int64(len(data))
		}
	}
	if held > budget {
		t.Errorf("memory layer holds %d bytes of blocks, over the %d budget", held, budget)
	}
	if held != st.MemoryBytes {
		t.Errorf("memory layer holds %d bytes of blocks but reports %d", held, st.MemoryBytes)
	}

	// A block bigger than the whole budget is never kept.
	big := b.source("big", budget+1)
	mustGet(t, c, big)
	mustGet(t, c, big)
	if _, ok := c.memGet(big.key); ok {
		t.Error("memory layer kept a block larger than its budget")
	}
	if got := c.Stats().MemoryBytes; got > budget {
		t.Errorf("memory layer reports %d bytes, over the %d budget", got, budget)
	}
}

func TestPrefetch(t *testing.T) {
	const slots, keys = 2, 10
	b := newBackend()
	b.gate = make(chan struct{})
	c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 20, PrefetchConcurrency: slots})
	srcs := make([]*source, keys)
	for i := range srcs {
		srcs[i] = b.source(fmt.Sprintf("p%d", i), blockSize)
		c.Prefetch(srcs[i].key, srcs[i])
	}
	// Prefetch decides synchronously: two started, the rest dropped.
	checkStats(t, c, counts{"PrefetchesDropped": keys - slots})
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, "prefetches to reach the backend", func() bool { return b.running.Load() == slots })
	// A prefetch of a key already loading starts nothing.
	c.Prefetch(srcs[0].key, srcs[0])
	checkStats(t, c, counts{"PrefetchesDropped": keys - slots, "Fetches": slots})

	close(b.gate)
	idle(t, c)
	if m := b.maxRunning.Load(); m > slots {
		t.Errorf("%d prefetches ran at once, want at most %d", m, slots)
	}
	// The prefetched blocks are in memory; nothing is fetched again.
	mustGet(t, c, srcs[0])
	mustGet(t, c, srcs[1])
	checkStats(t, c, counts{"MemoryHits": 2, "Fetches": slots, "DiskFiles": slots})
	// A prefetch of a cached key starts nothing.
	c.Prefetch(srcs[0].key, srcs[0])
	idle(t, c)
	checkStats(t, c, counts{"Fetches": slots, "PrefetchesDropped": keys - slots})

	// With slots free again, prefetches run, still at most two at a time.
	b.maxRunning.Store(0)
	for _, s := range srcs[slots:] {
		waitFor(t, "a free prefetch slot", func() bool { return len(c.prefetchSlots) < slots })
		c.Prefetch(s.key, s)
	}
	idle(t, c)
	if m := b.maxRunning.Load(); m > slots {
		t.Errorf("%d prefetches ran at once, want at most %d", m, slots)
	}
	for _, s := range srcs {
		mustGet(t, c, s)
	}
	checkStats(t, c, counts{"Fetches": keys, "MemoryHits": 2 + keys, "PrefetchesDropped": keys - slots})
}

// TestStreamStaysInMemory reads many more blocks than the memory layer
// holds the way a sequential reader does through the kernel: each block
// is prefetched a few blocks ahead, then asked for in several requests
// smaller than the block. Once ristretto is full it declines new blocks;
// the recent blocks must still serve every request from memory, never
// from the disk layer, and each block must be fetched once.
func TestStreamStaysInMemory(t *testing.T) {
	const (
		budget   = 256 << 10
		block    = 16 << 10
		keys     = 128 // 8 times the budget
		ahead    = 4   // blocks prefetched ahead of the reader
		requests = 4   // requests per block
	)
	b := newBackend()
	c := openCache(t, Config{MemoryBytes: budget, DiskDir: t.TempDir(), DiskBytes: 64 << 20, PrefetchConcurrency: ahead})
	srcs := make([]*source, keys)
	for i := range srcs {
		srcs[i] = b.source(fmt.Sprintf("s%d", i), block)
	}
	for i, s := range srcs {
		for _, next := range srcs[i:min(i+ahead, keys)] {
			c.Prefetch(next.key, next)
		}
		idle(t, c)
		for range requests {
			mustGet(t, c, s)
		}
	}
	checkStats(t, c, counts{"Fetches": keys, "DiskHits": 0, "MemoryHits": keys * requests, "PrefetchesDropped": 0})
	if got := c.Stats().MemoryBytes; got > budget {
		t.Errorf("the memory layer reports %d bytes, over its %d budget", got, budget)
	}
}

func TestPrefetchPromotesFromDisk(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20}
	b := newBackend()
	src := b.source("k", blockSize)
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, src)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = openCache(t, cfg)
	c.Prefetch(src.key, src)
	idle(t, c)
	mustGet(t, c, src)
	checkStats(t, c, counts{"DiskHits": 1, "MemoryHits": 1, "Fetches": 0})
}

func TestClose(t *testing.T) {
	b := newBackend()
	b.gate = make(chan struct{}) // never opened: only Close ends the fetch
	c, err := Open(Config{MemoryBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	src := b.source("k", blockSize)
	got := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), src.key, src)
		got <- err
	}()
	waitFor(t, "the fetch to start", func() bool { return b.running.Load() == 1 })

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a fetch in flight")
	}
	if n := b.cancelled.Load(); n != 1 {
		t.Errorf("%d fetches saw their context end, want 1", n)
	}
	if b.running.Load() != 0 {
		t.Error("Close returned before the fetch did")
	}
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("Get waiting through Close returned %v, want context.Canceled", err)
	}

	if _, err := c.Get(t.Context(), src.key, src); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close returned %v, want ErrClosed", err)
	}
	c.Prefetch(src.key, src)
	_ = c.Stats()
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"negative memory", Config{MemoryBytes: -1}},
		{"disk without budget", Config{DiskDir: "x"}},
		{"negative disk budget", Config{DiskDir: "x", DiskBytes: -5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.DiskDir != "" {
				tc.cfg.DiskDir = filepath.Join(t.TempDir(), tc.cfg.DiskDir)
			}
			c, err := Open(tc.cfg)
			if err == nil {
				_ = c.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, blobstore.ErrInvalidArgument) {
				t.Errorf("Open: %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DiskDir = t.TempDir()
	c := openCache(t, cfg)
	if c.cfg.FetchTimeout != DefaultFetchTimeout || cap(c.prefetchSlots) != DefaultPrefetchConcurrency {
		t.Errorf("defaults not applied: timeout %v, prefetch slots %d", c.cfg.FetchTimeout, cap(c.prefetchSlots))
	}
	mustGet(t, c, newBackend().source("k", blockSize))
}

// TestConcurrentUse mixes Gets, Prefetches, interrupted Gets, fetches that
// bring in further blocks and failing fetches over more keys than either
// layer holds; run with -race.
func TestConcurrentUse(t *testing.T) {
	const (
		keys     = 40
		workers  = 8
		ops      = 300
		diskSize = 12 * blockSize
	)
	dir := t.TempDir()
	b := newBackend()
	c := openCache(t, Config{MemoryBytes: 8 * blockSize, DiskDir: dir, DiskBytes: diskSize, PrefetchConcurrency: 3})
	srcs := make([]*source, keys)
	for i := range srcs {
		srcs[i] = b.source(fmt.Sprintf("c%d", i), blockSize+i)
	}
	// Every fetch but the failing one's brings in the next few blocks.
	for i := 1; i < keys; i++ {
		srcs[i].more = srcs[i+1 : min(i+4, keys)]
	}
	failing := srcs[0]
	b.setFail(failing.key, fmt.Errorf("gone: %w", blobstore.ErrNotFound))

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				s := srcs[rng.IntN(keys)]
				switch op := rng.IntN(10); {
				case op < 6:
					got, err := c.Get(t.Context(), s.key, s)
					if s == failing {
						if !errors.Is(err, blobstore.ErrNotFound) {
							t.Errorf("Get of failing key: %v", err)
						}
						continue
					}
					if err != nil || !bytes.Equal(got, s.plain()) {
						t.Errorf("Get %q: err %v, right bytes %v", s.key, err, bytes.Equal(got, s.plain()))
					}
				case op < 8:
					c.Prefetch(s.key, s)
				default:
					ctx, cancel := context.WithCancel(t.Context())
					cancel()
					got, err := c.Get(ctx, s.key, s)
					if err == nil && !bytes.Equal(got, s.plain()) {
						t.Errorf("interrupted Get %q: wrong bytes", s.key)
					}
					if err != nil && !errors.Is(err, context.Canceled) && (s != failing || !errors.Is(err, blobstore.ErrNotFound)) {
						t.Errorf("interrupted Get %q: %v", s.key, err)
					}
				}
				if st := c.Stats(); st.DiskBytes > diskSize || st.MemoryBytes > 8*blockSize {
					t.Errorf("over budget: %+v", st)
				}
			}
		})
	}
	wg.Wait()
	idle(t, c)
	if total, _ := diskUsage(t, dir); total > diskSize {
		t.Errorf("%d bytes on disk, over the %d budget", total, diskSize)
	}
	st := c.Stats()
	if total, files := diskUsage(t, dir); total != st.DiskBytes || int64(files) != st.DiskFiles {
		t.Errorf("on disk: %d bytes in %d files; Stats: %d bytes in %d files", total, files, st.DiskBytes, st.DiskFiles)
	}
}
