package localstore

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// lcg returns n bytes of the LCG32 sequence used by the Walrus reference
// vectors (testdata/README): x ← 1664525·x + 1013904223, byte = x >> 24.
func lcg(seed uint32, n int) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x = 1664525*x + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// logBuffer collects log output for assertions.
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

// Reset forgets what was logged so far.
func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

// testConfig returns a configuration with ndirs fresh directories that
// encodes blobs and quilts alike at shards.
func testConfig(t testing.TB, ndirs, shards int) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Shards = shards
	cfg.QuiltShards = shards
	root := t.TempDir()
	for i := range ndirs {
		cfg.Dirs = append(cfg.Dirs, filepath.Join(root, "d"+strconv.Itoa(i)))
	}
	return cfg
}

// openStore opens cfg and closes the store at the end of the test. Logs go
// to the returned buffer.
func openStore(t testing.TB, cfg Config) (*Store, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func put(t testing.TB, s *Store, data []byte) blobstore.Info {
	t.Helper()
	info, err := s.Put(context.Background(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
	if err != nil {
		t.Fatalf("Put %d bytes: %v", len(data), err)
	}
	return info
}

// epoch returns the store's current epoch.
func epoch(t testing.TB, s *Store) uint32 {
	t.Helper()
	e, err := s.CurrentEpoch(context.Background())
	if err != nil {
		t.Fatalf("CurrentEpoch: %v", err)
	}
	return e
}

func readRange(t testing.TB, s *Store, id blobstore.ID, off, n int64) ([]byte, error) {
	t.Helper()
	rc, err := s.ReadRange(context.Background(), id, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func mustRead(t testing.TB, s *Store, id blobstore.ID, off, n int64) []byte {
	t.Helper()
	b, err := readRange(t, s, id, off, n)
	if err != nil {
		t.Fatalf("ReadRange(%s, %d, %d): %v", id, off, n, err)
	}
	return b
}

func checkBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at %d", what, len(got), len(want), i)
	}
}

// sliverAt returns the file holding primary sliver i of blob id and the
// sliver's offset and size in it.
func sliverAt(t testing.TB, s *Store, id blobstore.ID, i int) (path string, off, size int64) {
	t.Helper()
	size, err := sliverSize(mustLoad(t, s, id))
	if err != nil {
		t.Fatal(err)
	}
	path, off = s.sliverPath(id, i, size)
	return path, off, size
}

// flipSliverByte corrupts byte off of primary sliver i of blob id.
func flipSliverByte(t testing.TB, s *Store, id blobstore.ID, i int, off int64) {
	t.Helper()
	path, base, _ := sliverAt(t, s, id, i)
	flipByte(t, path, base+off)
}

// sliverBytes returns primary sliver i of blob id as stored, unverified.
func sliverBytes(t testing.TB, s *Store, id blobstore.ID, i int) []byte {
	t.Helper()
	path, off, size := sliverAt(t, s, id, i)
	b, err := readAt(path, off, size)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
