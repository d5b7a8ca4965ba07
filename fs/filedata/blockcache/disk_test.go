package blockcache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

func TestDiskLRU(t *testing.T) {
	const blocks = 4
	dir := t.TempDir()
	budget := int64(blocks * blockSize)
	b := newBackend()
	srcs := make([]*source, 6)
	for i := range srcs {
		srcs[i] = b.source(fmt.Sprintf("blob/%d", i), blockSize)
	}
	// No memory layer, so every repeated Get reaches the disk layer.
	c := openCache(t, Config{DiskDir: dir, DiskBytes: budget})
	checkBudget := func() {
		t.Helper()
		if total, _ := diskUsage(t, dir); total > budget {
			t.Fatalf("%d bytes on disk, over the %d budget", total, budget)
		}
		if st := c.Stats(); st.DiskBytes > budget {
			t.Fatalf("Stats.DiskBytes = %d, over the %d budget", st.DiskBytes, budget)
		}
	}
	for _, s := range srcs[:blocks] {
		mustGet(t, c, s)
		checkBudget()
	}
	checkStats(t, c, counts{"Fetches": blocks, "DiskFiles": blocks, "DiskEvictions": 0, "DiskHits": 0, "MemoryHits": 0})

	// Reading block 0 makes block 1 the least recently used.
	mustGet(t, c, srcs[0])
	mustGet(t, c, srcs[4])
	checkBudget()
	checkStats(t, c, counts{"Fetches": blocks + 1, "DiskHits": 1, "DiskFiles": blocks, "DiskEvictions": 1})
	for i, want := range []bool{true, false, true, true, true} {
		if got := onDisk(t, dir, srcs[i].key); got != want {
			t.Errorf("block %d on disk: %v, want %v", i, got, want)
		}
	}
	mustGet(t, c, srcs[5]) // evicts block 2 now
	checkBudget()
	if onDisk(t, dir, srcs[2].key) || !onDisk(t, dir, srcs[0].key) {
		t.Error("second eviction did not take the least recently used block")
	}
	if got := c.Stats().DiskBytes; got != budget {
		t.Errorf("Stats.DiskBytes = %d, want %d", got, budget)
	}
}

func TestDiskReopenSmallerBudget(t *testing.T) {
	dir := t.TempDir()
	b := newBackend()
	srcs := make([]*source, 4)
	c, err := Open(Config{DiskDir: dir, DiskBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range srcs {
		srcs[i] = b.source(fmt.Sprintf("r%d", i), blockSize)
		mustGet(t, c, srcs[i])
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Recency across restarts is the file mtime: make 2 and 0 the most
	// recent, an order unlike both key and write order.
	base := time.Now().Add(-time.Hour)
	for i, age := range []time.Duration{1, 3, 0, 2} {
		mt := base.Add(-age * time.Minute)
		if err := os.Chtimes(diskPath(dir, srcs[i].key), mt, mt); err != nil {
			t.Fatal(err)
		}
	}

	c = openCache(t, Config{DiskDir: dir, DiskBytes: 2 * blockSize})
	checkStats(t, c, counts{"DiskFiles": 2, "DiskEvictions": 2, "Fetches": 0})
	for i, want := range []bool{true, false, true, false} {
		if got := onDisk(t, dir, srcs[i].key); got != want {
			t.Errorf("block %d on disk after reopen: %v, want %v", i, got, want)
		}
	}
	if total, _ := diskUsage(t, dir); total > 2*blockSize {
		t.Errorf("%d bytes on disk after reopen, over the %d budget", total, 2*blockSize)
	}
	mustGet(t, c, srcs[0])
	mustGet(t, c, srcs[2])
	checkStats(t, c, counts{"DiskHits": 2, "Fetches": 0})
}

func TestDiskHitTouchesMtime(t *testing.T) {
	dir := t.TempDir()
	b := newBackend()
	src := b.source("t", blockSize)
	c, err := Open(Config{DiskDir: dir, DiskBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, src)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	path := diskPath(dir, src.key)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}

	c = openCache(t, Config{DiskDir: dir, DiskBytes: 1 << 20})
	mustGet(t, c, src)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !info.ModTime().After(old.Add(30 * time.Minute)) {
		t.Errorf("disk hit left mtime at %v; want it refreshed", info.ModTime())
	}
}

func TestOpenCleansTempFiles(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "ab")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(sub, tempPrefix+"123")
	other := filepath.Join(dir, "README")
	stray := filepath.Join(sub, "not-a-block")
	for _, p := range []string{tmp, other, stray} {
		if err := os.WriteFile(p, []byte("leftover"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := openCache(t, Config{DiskDir: dir, DiskBytes: 1 << 20})
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file survived Open: %v", err)
	}
	for _, p := range []string{other, stray} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Open touched a file that is not its own: %v", err)
		}
	}
	checkStats(t, c, counts{"DiskFiles": 0})
}

func TestDiskDirLocked(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Config{DiskDir: dir, DiskBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := Open(Config{DiskDir: dir, DiskBytes: 1 << 20}); !errors.Is(err, blobstore.ErrUnavailable) {
		if err == nil {
			_ = c2.Close()
		}
		t.Fatalf("second Open of one directory: %v, want ErrUnavailable", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Config{DiskDir: dir, DiskBytes: 1 << 20})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = c2.Close()
}

func TestDiskBlockLargerThanBudget(t *testing.T) {
	dir := t.TempDir()
	b := newBackend()
	c := openCache(t, Config{DiskDir: dir, DiskBytes: blockSize})
	small := b.source("small", blockSize)
	mustGet(t, c, small)
	big := b.source("big", blockSize+1)
	mustGet(t, c, big)
	if onDisk(t, dir, big.key) {
		t.Error("a block larger than the disk budget was stored")
	}
	if !onDisk(t, dir, small.key) {
		t.Error("a block that could never fit evicted another")
	}
}

func TestDiskPutReplaces(t *testing.T) {
	dir := t.TempDir()
	b := newBackend()
	c := openCache(t, Config{MemoryBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20})
	src := b.source("uploaded", blockSize)
	if err := c.disk.put(src.key, src.stored); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, src)
	checkStats(t, c, counts{"DiskHits": 1, "Fetches": 0, "DiskFiles": 1})
	if got := c.Stats().DiskBytes; got != blockSize {
		t.Errorf("DiskBytes = %d, want %d", got, blockSize)
	}

	// Replacing a block accounts for the new size only.
	if err := c.disk.put(src.key, src.stored[:100]); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats(); got.DiskBytes != 100 || got.DiskFiles != 1 {
		t.Errorf("after replacing: DiskBytes = %d, DiskFiles = %d; want 100, 1", got.DiskBytes, got.DiskFiles)
	}
	if total, files := diskUsage(t, dir); total != 100 || files != 1 {
		t.Errorf("on disk after replacing: %d bytes in %d files; want 100 in 1", total, files)
	}
}
