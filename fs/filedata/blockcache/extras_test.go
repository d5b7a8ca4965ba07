package blockcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// chunk returns the sources of n blocks of one chunk whose first block's
// fetch brings in all the others, as a sequential read of a chunk does.
func chunk(b *backend, name string, n int) []*source {
	srcs := make([]*source, n)
	for i := range srcs {
		srcs[i] = b.source(fmt.Sprintf("%s/%d", name, i*blockSize), blockSize)
	}
	srcs[0].more = srcs[1:]
	return srcs
}

// gate returns a channel for holding a fetch or decode; release opens it,
// and so does the end of the test (registered after the cache's cleanup, so
// it runs first), so a failing test does not leave Close waiting on it.
func gate(t *testing.T) (ch chan struct{}, release func()) {
	t.Helper()
	ch = make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return ch, release
}

// getAsync runs Get in a goroutine and returns its result on a channel.
func getAsync(ctx context.Context, c *Cache, src *source) <-chan error {
	done := make(chan error, 1)
	go func() {
		got, err := c.Get(ctx, src.key, src)
		if err == nil && !bytes.Equal(got, src.plain()) {
			err = fmt.Errorf("Get %q: wrong bytes", src.key)
		}
		done <- err
	}()
	return done
}

// await waits for the result of getAsync, failing the test after 10 seconds.
func await(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// logBuffer is a log destination safe for the cache's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestFetchExtrasKept(t *testing.T) {
	const blocks = 4
	for _, tc := range []struct {
		name string
		cfg  Config
		want counts // after a Get of every block of the chunk
		// fetched is how many blocks' stored bytes the fetches returned.
		fetched int
	}{
		{"memory and disk", Config{MemoryBytes: 1 << 20, DiskDir: "tmp", DiskBytes: 1 << 20},
			counts{"Fetches": 1, "MemoryHits": blocks - 1, "DiskHits": 0, "DiskFiles": blocks, "Joined": 0, "FetchErrors": 0}, blocks},
		{"memory only", Config{MemoryBytes: 1 << 20},
			counts{"Fetches": 1, "MemoryHits": blocks - 1, "DiskHits": 0, "DiskFiles": 0, "Joined": 0, "FetchErrors": 0}, blocks},
		{"disk only", Config{DiskDir: "tmp", DiskBytes: 1 << 20},
			counts{"Fetches": 1, "MemoryHits": 0, "DiskHits": blocks - 1, "DiskFiles": blocks, "Joined": 0, "FetchErrors": 0}, blocks},
		// Nothing is kept: the first fetch brings every block, and each
		// later Get fetches its own again.
		{"neither", Config{},
			counts{"Fetches": blocks, "MemoryHits": 0, "DiskHits": 0, "DiskFiles": 0, "Joined": 0, "FetchErrors": 0}, 2*blocks - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.DiskDir != "" {
				tc.cfg.DiskDir = t.TempDir()
			}
			b := newBackend()
			c := openCache(t, tc.cfg)
			srcs := chunk(b, "blob", blocks)
			mustGet(t, c, srcs[0])
			idle(t, c)
			for _, s := range srcs[1:] {
				mustGet(t, c, s)
			}
			tc.want["FetchedBytes"] = int64(tc.fetched * len(srcs[0].stored))
			checkStats(t, c, tc.want)
			if got, want := b.fetches.Load(), tc.want["Fetches"]; got != want {
				t.Errorf("backend saw %d fetches, want %d", got, want)
			}
		})
	}
}

func TestFetchExtrasOnDisk(t *testing.T) {
	const blocks = 3
	dir := t.TempDir()
	cfg := Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20}
	b := newBackend()
	srcs := chunk(b, "patch", blocks)
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, srcs[0])
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs[1:] {
		stored, err := os.ReadFile(diskPath(dir, s.key))
		if err != nil {
			t.Fatalf("extra block %q not on disk: %v", s.key, err)
		}
		if !bytes.Equal(stored, s.stored) {
			t.Fatalf("disk layer holds other bytes than the stored ones for %q", s.key)
		}
	}

	// A fresh cache serves the extras from disk, after verifying them.
	c = openCache(t, cfg)
	for _, s := range srcs[1:] {
		mustGet(t, c, s)
	}
	checkStats(t, c, counts{"Fetches": 0, "DiskHits": blocks - 1, "MemoryHits": 0, "IntegrityFailures": 0})
	if n := b.fetches.Load(); n != 1 {
		t.Errorf("backend saw %d fetches, want 1", n)
	}
}

func TestExtraDecodeFails(t *testing.T) {
	dir := t.TempDir()
	logs := &logBuffer{}
	c := openCache(t, Config{
		MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	b := newBackend()
	srcs := chunk(b, "blob", 3)
	// The fetch hands over block 1 with a Source that cannot decode it; a
	// reader's own Source for that key can.
	bad := b.source(srcs[1].key, blockSize)
	bad.decodeErr = errors.New("message authentication failed")
	srcs[0].more = []*source{bad, srcs[2]}

	mustGet(t, c, srcs[0])
	idle(t, c)
	if _, ok := c.memGet(bad.key); ok {
		t.Error("a block that failed to decode is in the memory layer")
	}
	if onDisk(t, dir, bad.key) {
		t.Error("a block that failed to decode is on disk")
	}
	if warns := strings.Count(logs.String(), "level=WARN"); warns != 1 {
		t.Errorf("logged %d warnings, want 1:\n%s", warns, logs)
	}
	if !strings.Contains(logs.String(), bad.key) {
		t.Errorf("warning does not name the block %q:\n%s", bad.key, logs)
	}

	mustGet(t, c, srcs[2])
	checkStats(t, c, counts{"Fetches": 1, "MemoryHits": 1, "FetchErrors": 0})
	mustGet(t, c, srcs[1])
	checkStats(t, c, counts{"Fetches": 2, "MemoryHits": 1, "FetchErrors": 0})
	if n := srcs[1].decodesDone.Load(); n != 1 {
		t.Errorf("the reader's Source decoded %d times, want 1 (its own fetch)", n)
	}
}

func TestExtraAlreadyCachedOrLoading(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup makes block 1 of the chunk cached or loading; it returns
		// what to wait for once the chunk's first block is in.
		setup func(t *testing.T, c *Cache, own *source) (finish func())
	}{
		{"in memory", func(t *testing.T, c *Cache, own *source) func() {
			mustGet(t, c, own)
			return func() {}
		}},
		{"loading", func(t *testing.T, c *Cache, own *source) func() {
			var release func()
			own.fetchGate, release = gate(t)
			done := getAsync(t.Context(), c, own)
			waitFor(t, "the fetch to start", func() bool { return own.b.running.Load() == 1 })
			return func() {
				release()
				await(t, "Get of the loading block", done)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend()
			c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 20})
			srcs := chunk(b, "blob", 2)
			own := b.source(srcs[1].key, blockSize)
			finish := tc.setup(t, c, own)

			mustGet(t, c, srcs[0])
			finish()
			idle(t, c)
			if n := srcs[1].decodesStarted.Load(); n != 0 {
				t.Errorf("the extra block was decoded %d times; the cache should have left it alone", n)
			}
			before, ok := c.memGet(own.key)
			if !ok {
				t.Fatal("block 1 is not in memory")
			}
			mustGet(t, c, own)
			after, _ := c.memGet(own.key)
			if &before[0] != &after[0] {
				t.Error("the block in memory was replaced")
			}
			checkStats(t, c, counts{"Fetches": 2, "FetchErrors": 0})
		})
	}
}

// TestGetJoinsExtraBeingKept checks that the asked-for block does not wait
// for the extras, and that a Get of an extra being kept waits for it instead
// of fetching it, or loads it itself if it cannot be kept.
func TestGetJoinsExtraBeingKept(t *testing.T) {
	for _, tc := range []struct {
		name      string
		decodeErr error
		want      counts
	}{
		{"kept", nil, counts{"Fetches": 1, "Joined": 1, "FetchErrors": 0}},
		{"not decodable", errors.New("bad nonce"), counts{"Fetches": 2, "Joined": 1, "FetchErrors": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend()
			c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 20})
			srcs := chunk(b, "blob", 2)
			extra := b.source(srcs[1].key, blockSize)
			var release func()
			extra.decodeGate, release = gate(t)
			extra.decodeErr = tc.decodeErr
			srcs[0].more = []*source{extra}

			await(t, "Get of the asked-for block while an extra is held", getAsync(t.Context(), c, srcs[0]))
			waitFor(t, "the extra's decode to start", func() bool { return extra.decodesStarted.Load() == 1 })
			done := getAsync(t.Context(), c, srcs[1])
			waitFor(t, "the Get to join the extra", func() bool { return c.Stats().Joined == 1 })
			release()
			await(t, "Get of the extra block", done)
			idle(t, c)
			checkStats(t, c, tc.want)
		})
	}
}

func TestCloseWaitsForExtras(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20}
	b := newBackend()
	srcs := chunk(b, "blob", 3)
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var release func()
	srcs[1].decodeGate, release = gate(t)
	await(t, "Get of the asked-for block while an extra is held", getAsync(t.Context(), c, srcs[0]))
	waitFor(t, "the extra's decode to start", func() bool { return srcs[1].decodesStarted.Load() == 1 })

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an extra block was being kept", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return once the extras could be kept")
	}
	for _, s := range srcs[1:] {
		if n := s.decodesDone.Load(); n != 1 {
			t.Errorf("extra %q decoded %d times before Close returned, want 1", s.key, n)
		}
		if !onDisk(t, dir, s.key) {
			t.Errorf("extra %q not on disk after Close", s.key)
		}
	}

	c = openCache(t, cfg)
	for _, s := range srcs {
		mustGet(t, c, s)
	}
	checkStats(t, c, counts{"DiskHits": 3, "Fetches": 0})
}

func TestPrefetchExtras(t *testing.T) {
	const blocks = 4
	b := newBackend()
	c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: t.TempDir(), DiskBytes: 1 << 20, PrefetchConcurrency: 1})
	srcs := chunk(b, "blob", blocks)
	c.Prefetch(srcs[0].key, srcs[0])
	idle(t, c)
	waitFor(t, "the prefetch slot to be released", func() bool { return len(c.prefetchSlots) == 0 })
	checkStats(t, c, counts{"Fetches": 1, "DiskFiles": blocks, "PrefetchesDropped": 0})
	for _, s := range srcs {
		mustGet(t, c, s)
	}
	checkStats(t, c, counts{"Fetches": 1, "MemoryHits": blocks, "DiskHits": 0, "Joined": 0})

	// A prefetch of a block brought in by another fetch starts nothing.
	c.Prefetch(srcs[2].key, srcs[2])
	idle(t, c)
	checkStats(t, c, counts{"Fetches": 1, "PrefetchesDropped": 0})
}

// spanningSource is a source that announces the blocks its fetch brings in
// (Spanner), and may announce more than it brings.
type spanningSource struct {
	*source
	announce []string
}

func (s *spanningSource) Span() []string { return s.announce }

// TestSpannedGetsWaitForTheFetch: while a fetch that announced its extra
// blocks runs, Gets of those blocks wait for it instead of fetching them
// again; a block announced but not brought in is fetched by its Get.
func TestSpannedGetsWaitForTheFetch(t *testing.T) {
	be := newBackend()
	c := openCache(t, Config{MemoryBytes: 1 << 20})
	first, second, missing := be.source("b0", 4096), be.source("b1", 4096), be.source("b2", 4096)
	first.more = []*source{second}
	first.fetchGate = make(chan struct{})
	src := &spanningSource{source: first, announce: []string{"b1", "b2"}}
	c.Prefetch("b0", src)

	got := make(chan error, 2)
	for _, s := range []*source{second, missing} {
		go func() {
			data, err := c.Get(t.Context(), s.key, s)
			if err == nil && !bytes.Equal(data, s.plain()) {
				err = fmt.Errorf("%s: wrong bytes", s.key)
			}
			got <- err
		}()
	}
	// Both Gets join the announced flights rather than fetch.
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Joined < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the Gets did not wait for the spanning fetch: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if n := be.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches while the spanning fetch runs, want 1", n)
	}
	close(first.fetchGate)
	for range 2 {
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	}
	// b1 came with the fetch; b2 was announced but not brought, so its Get
	// fetched it.
	if n := be.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the spanning one and b2's own)", n)
	}
}
