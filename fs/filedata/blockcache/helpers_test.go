package blockcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

// backend is a fake block store shared by the sources of one test. Fetches
// block on gate, when set, until it is closed or their context ends.
type backend struct {
	gate chan struct{}

	fetches    atomic.Int64 // Fetch calls
	running    atomic.Int64 // Fetch calls in progress
	maxRunning atomic.Int64
	cancelled  atomic.Int64 // Fetch calls that saw their context end

	mu   sync.Mutex
	fail map[string]error
}

func newBackend() *backend { return &backend{fail: make(map[string]error)} }

// setFail makes fetches of key fail with err (nil clears it).
func (b *backend) setFail(key string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.fail, key)
	} else {
		b.fail[key] = err
	}
}

func (b *backend) failure(key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fail[key]
}

// source is one block of the fake backend. Its stored form is the plaintext
// XORed with 0x5a, so tests can tell stored from decoded bytes. Tests set
// the optional fields before the source is first used.
type source struct {
	b      *backend
	key    string
	stored []byte
	sum    [sha256.Size]byte

	// more are the blocks a fetch of this one brings in too.
	more []*source
	// fetchGate, when set, holds this source's fetches like backend.gate.
	fetchGate chan struct{}
	// decodeGate, when set, holds Decode until it is closed.
	decodeGate chan struct{}
	// decodeErr, when set, makes Decode fail.
	decodeErr error

	decodesStarted atomic.Int64
	decodesDone    atomic.Int64
}

var _ Source = (*source)(nil)

func (b *backend) source(key string, size int) *source {
	plain := blockData(key, size)
	s := &source{b: b, key: key, stored: xor(plain)}
	s.sum = sha256.Sum256(s.stored)
	return s
}

// blockData returns size deterministic bytes that depend on key.
func blockData(key string, size int) []byte {
	seed := sha256.Sum256([]byte(key))
	out := make([]byte, size)
	x := uint32(seed[0]) | uint32(seed[1])<<8 | uint32(seed[2])<<16 | 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

func xor(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5a
	}
	return out
}

func (s *source) plain() []byte { return xor(s.stored) }

func (s *source) Fetch(ctx context.Context) ([]byte, []Block, error) {
	b := s.b
	b.fetches.Add(1)
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		m := b.maxRunning.Load()
		if n <= m || b.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	for _, gate := range []chan struct{}{b.gate, s.fetchGate} {
		if gate == nil {
			continue
		}
		select {
		case <-gate:
		case <-ctx.Done():
			b.cancelled.Add(1)
			return nil, nil, ctx.Err()
		}
	}
	if err := b.failure(s.key); err != nil {
		return nil, nil, err
	}
	var more []Block
	for _, m := range s.more {
		more = append(more, Block{Key: m.key, Stored: bytes.Clone(m.stored), Source: m})
	}
	return bytes.Clone(s.stored), more, nil
}

func (s *source) Verify(stored []byte) error {
	if sha256.Sum256(stored) != s.sum {
		return fmt.Errorf("block %q: hash mismatch: %w", s.key, blobstore.ErrIntegrity)
	}
	return nil
}

func (s *source) Decode(stored []byte) ([]byte, error) {
	s.decodesStarted.Add(1)
	defer s.decodesDone.Add(1)
	if s.decodeGate != nil {
		<-s.decodeGate
	}
	if s.decodeErr != nil {
		return nil, fmt.Errorf("block %q: %w", s.key, s.decodeErr)
	}
	return xor(stored), nil
}

func openCache(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// mustGet gets src's block and checks it is the right plaintext.
func mustGet(t *testing.T, c *Cache, src *source) {
	t.Helper()
	got, err := c.Get(t.Context(), src.key, src)
	if err != nil {
		t.Fatalf("Get %q: %v", src.key, err)
	}
	if !bytes.Equal(got, src.plain()) {
		t.Fatalf("Get %q: wrong bytes (len %d, want %d)", src.key, len(got), len(src.stored))
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// idle waits until c has no loads in flight.
func idle(t *testing.T, c *Cache) {
	t.Helper()
	waitFor(t, "loads to finish", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.flights) == 0
	})
}

// counts names Stats fields and their expected values.
type counts map[string]int64

// checkStats checks the Stats fields named in want; others are not checked.
func checkStats(t *testing.T, c *Cache, want counts) {
	t.Helper()
	got := c.Stats()
	v := reflect.ValueOf(got)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		f := v.FieldByName(name)
		if !f.IsValid() {
			t.Fatalf("Stats has no field %s", name)
		}
		if f.Int() != want[name] {
			t.Errorf("Stats.%s = %d, want %d (all: %+v)", name, f.Int(), want[name], got)
		}
	}
}

// diskUsage sums the sizes of every file under dir except the lock file,
// counting temporary files too.
func diskUsage(t *testing.T, dir string) (total int64, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() == lockFile {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		if !strings.HasPrefix(d.Name(), tempPrefix) {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return total, files
}

func diskPath(dir, key string) string {
	name := fileName(key)
	return filepath.Join(dir, name[:2], name)
}

func onDisk(t *testing.T, dir, key string) bool {
	t.Helper()
	_, err := os.Stat(diskPath(dir, key))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}
