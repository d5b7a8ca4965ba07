package filedata

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/index"
)

// fdatasync flushes the index journal only when the file's size or chunk
// map changed since the last flush: after writes that overwrite staged
// data in place it flushes the chunk files alone, as a database's second
// journal sync and its page overwrites need. fsync always flushes the
// index (the times are metadata too).
func TestFdatasyncFlushesTheIndexOnlyForSizeAndChunkMap(t *testing.T) {
	te := openEngineIndex(t, t.TempDir(), func(c *index.Config) {
		// No background flushes: every flush counted is a sync's.
		c.CommitInterval, c.CheckpointInterval = time.Hour, time.Hour
	}, func(c *Config) { c.SealDelay = time.Hour })
	ctx := t.Context()
	ino := te.create(t, "db")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	dirty := func() int {
		te.dirty.mu.Lock()
		defer te.dirty.mu.Unlock()
		return len(te.dirty.m[ino])
	}
	step := func(what string, write func() error, sync func() error, wantFlush bool) {
		t.Helper()
		if write != nil {
			if err := write(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		before := te.idx.JournalFlushes()
		if err := sync(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := te.idx.JournalFlushes() - before; got != map[bool]uint64{false: 0, true: 1}[wantFlush] {
			t.Errorf("%s: %d index journal flushes, want flush=%v", what, got, wantFlush)
		}
		if n := dirty(); n != 0 {
			t.Errorf("%s: %d chunk files left unflushed", what, n)
		}
	}
	at := func(b byte, n int, off int64) func() error {
		return func() error { return f.Write(ctx, bytes.Repeat([]byte{b}, n), off) }
	}
	fdatasync := func() error { return f.Fdatasync(ctx) }
	fsync := func() error { return f.Fsync(ctx) }

	step("first fdatasync of a written file", at('a', 2*testChunk-1000, 0), fdatasync, true)
	step("overwrite in place", at('b', 4096, 100), fdatasync, false)
	step("overwrite across chunks", at('c', 8192, testChunk-4096), fdatasync, false)
	step("nothing written", nil, fdatasync, false)
	step("fsync after an overwrite", at('d', 10, 7), fsync, true)
	step("append within the last chunk", at('e', 100, 2*testChunk-1000), fdatasync, true)
	step("overwrite after the append", at('f', 10, 2*testChunk-1000), fdatasync, false)
	step("truncate", func() error {
		size := uint64(testChunk + 5)
		_, err := f.Truncate(index.SetAttrIn{Size: &size, Now: 2})
		return err
	}, fdatasync, true)
	step("write into a hole chunk", func() error {
		size := uint64(4 * testChunk)
		if _, err := f.Truncate(index.SetAttrIn{Size: &size, Now: 3}); err != nil {
			return err
		}
		if err := te.idx.Sync(ctx); err != nil {
			return err
		}
		return at('g', 10, 3*testChunk)()
	}, fdatasync, true)

	// What the syncs kept reads back.
	want := bytes.Repeat([]byte{0}, 4*testChunk)
	for i := range 2*testChunk - 1000 {
		want[i] = 'a'
	}
	copy(want[100:], bytes.Repeat([]byte{'b'}, 4096))
	copy(want[testChunk-4096:], bytes.Repeat([]byte{'c'}, 8192))
	copy(want[7:], bytes.Repeat([]byte{'d'}, 10))
	clear(want[testChunk+5:])
	copy(want[3*testChunk:], bytes.Repeat([]byte{'g'}, 10))
	got := make([]byte, len(want))
	if n, err := f.Read(ctx, got, 0); err != nil || n != len(want) || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), equal %v", n, err, bytes.Equal(got, want))
	}
}

// fsync flushes the chunk files and the index journal at the same time,
// not one after the other: the data flush here waits until the journal
// flush is done, which never happens if the journal flush waits for it.
// Both fsync and Engine.Sync (a directory fsync, `walrusfs sync`) do.
func TestSyncFlushesDataAndIndexTogether(t *testing.T) {
	te := openEngineIndex(t, t.TempDir(), func(c *index.Config) {
		c.CommitInterval, c.CheckpointInterval = time.Hour, time.Hour
	}, func(c *Config) { c.SealDelay = time.Hour })
	ctx := t.Context()
	var dataFlushes int
	te.flushFiles = func(files []*os.File) error {
		dataFlushes++
		before := te.idx.JournalFlushes()
		deadline := time.Now().Add(5 * time.Second)
		for te.idx.JournalFlushes() == before {
			if time.Now().After(deadline) {
				return errors.New("the index journal was not flushed while chunk files were")
			}
			time.Sleep(time.Millisecond)
		}
		return syncFiles(files)
	}
	ino := te.create(t, "f")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	for i, sync := range []struct {
		what string
		run  func() error
	}{
		{"fsync", func() error { return f.Fsync(ctx) }},
		{"fdatasync after an append", func() error { return f.Fdatasync(ctx) }},
		{"engine sync", func() error { return te.Sync(ctx) }},
	} {
		if err := f.Write(ctx, bytes.Repeat([]byte{'x'}, 5000), int64(i)*5000); err != nil {
			t.Fatal(err)
		}
		before := dataFlushes
		if err := sync.run(); err != nil {
			t.Fatalf("%s: %v", sync.what, err)
		}
		if dataFlushes != before+1 {
			t.Errorf("%s: %d chunk file flushes, want 1", sync.what, dataFlushes-before)
		}
	}
}

// A chunk file that exists is opened without O_CREAT, which would take
// its directory's lock exclusively (writers of all files share the
// staging directories); only a new chunk file, or one recorded but
// missing on disk, is created.
func TestWritesOpenExistingChunkFilesWithoutCreating(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) { c.SealDelay = time.Hour })
	ctx := t.Context()
	ino := te.create(t, "f")
	creates := func() uint64 { return te.stage.creatingOpens.Load() }
	writeOnce := func(off int64) {
		t.Helper()
		f := te.open(t, ino)
		if err := f.Write(ctx, []byte("abc"), off); err != nil {
			t.Fatal(err)
		}
		if err := f.Release(); err != nil {
			t.Fatal(err)
		}
	}
	writeOnce(0)
	if got := creates(); got != 1 {
		t.Fatalf("first write: %d creating opens, want 1", got)
	}
	writeOnce(10) // the same chunk, through a new handle
	if got := creates(); got != 1 {
		t.Errorf("rewrite of an existing chunk file: %d creating opens, want still 1", got)
	}
	writeOnce(testChunk) // a new chunk
	if got := creates(); got != 2 {
		t.Errorf("write to a new chunk: %d creating opens, want 2", got)
	}
	ref, ok, err := te.idx.Chunk(ino, 0)
	if err != nil || !ok {
		t.Fatalf("chunk 0: %v %v", ok, err)
	}
	if err := os.Remove(te.stage.path(ref.StagingID)); err != nil {
		t.Fatal(err)
	}
	writeOnce(20) // recorded, but its file is gone: created again
	if got := creates(); got != 3 {
		t.Errorf("write to a chunk whose file is missing: %d creating opens, want 3", got)
	}
	if _, err := os.Stat(te.stage.path(ref.StagingID)); err != nil {
		t.Errorf("chunk file not recreated: %v", err)
	}
}
