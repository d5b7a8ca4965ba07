package filedata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// The engine's tests run it without a mount, over a real index and the
// real local store in temporary directories.

const (
	testChunk = 64 << 10
	testBlock = 16 << 10
)

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// testEngine is an engine over an index and a local store in dir.
type testEngine struct {
	*Engine
	idx   *index.Index
	store *localstore.Store
	dir   string
}

// openEngine opens (or reopens) the engine of dir; tune changes its
// configuration, and may wrap its store. close closes it all.
func openEngine(t *testing.T, dir string, tune ...func(*Config)) *testEngine {
	t.Helper()
	return openEngineIndex(t, dir, nil, tune...)
}

// openEngineIndex is openEngine with the index's configuration changed by
// tuneIndex too.
func openEngineIndex(t *testing.T, dir string, tuneIndex func(*index.Config), tune ...func(*Config)) *testEngine {
	t.Helper()
	scfg := localstore.DefaultConfig()
	scfg.Dirs = []string{filepath.Join(dir, "store")}
	scfg.Shards, scfg.QuiltShards = 10, 10
	store, err := localstore.Open(t.Context(), scfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	codec, err := blockcrypt.NewCodec(blockcrypt.Layout{BlockSize: testBlock, Encrypted: true}, testKey())
	if err != nil {
		t.Fatal(err)
	}
	ccfg := blockcache.DefaultConfig()
	ccfg.MemoryBytes = 16 << 20
	cache, err := blockcache.Open(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ChunkSize = testChunk
	cfg.Store, cfg.Codec, cfg.Key, cfg.Cache = store, codec, testKey(), cache
	cfg.KeepLocalCopies = 1 << 30
	cfg.Upload.QuiltThreshold = 32 << 10
	cfg.Upload.QuiltMaxBytes = 1 << 20
	cfg.Upload.QuiltMaxAge = time.Minute // WaitUploaded sends partial quilts
	cfg.Upload.RetryMin, cfg.Upload.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	for _, f := range tune {
		f(&cfg)
	}
	icfg := index.DefaultConfig()
	icfg.CommitInterval = 20 * time.Millisecond
	icfg.CheckpointInterval = 20 * time.Millisecond
	if tuneIndex != nil {
		tuneIndex(&icfg)
	}
	idx, err := index.Open(t.Context(), dir, icfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(idx, filepath.Join(dir, "staging"), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	te := &testEngine{Engine: e, idx: idx, store: store, dir: dir}
	t.Cleanup(func() {
		if te.idx != nil {
			te.close(t)
		}
		_ = cache.Close()
	})
	return te
}

func (te *testEngine) close(t *testing.T) {
	t.Helper()
	te.Close()
	if err := te.idx.Close(); err != nil {
		t.Errorf("index close: %v", err)
	}
	if err := te.store.Close(); err != nil {
		t.Errorf("store close: %v", err)
	}
	te.idx = nil
}

func testKey() *blockcrypt.Key {
	var k blockcrypt.Key
	for i := range k {
		k[i] = byte(i*3 + 1)
	}
	return &k
}

func (te *testEngine) create(t *testing.T, name string) index.Ino {
	t.Helper()
	a, err := te.idx.Create(index.RootIno, name, index.NewNode{Mode: syscall.S_IFREG | 0o644, ChunkSize: te.ChunkSize(), Now: 1})
	if err != nil {
		t.Fatal(err)
	}
	return a.Ino
}

func (te *testEngine) open(t *testing.T, ino index.Ino) *File {
	t.Helper()
	f, err := te.Open(ino)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readAll(t *testing.T, f *File, size int) []byte {
	t.Helper()
	buf := make([]byte, size+100)
	n, err := f.Read(t.Context(), buf, 0)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

func waitUploaded(t *testing.T, te *testEngine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := te.WaitUploaded(ctx); err != nil {
		t.Fatalf("waiting for uploads: %v", err)
	}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestWriteUploadReadBack follows a file's bytes through every state: staged
// (read from the staging file), sealed and uploaded (a quilt patch and a
// standalone blob), certified, then read from the store alone once the local
// copies are gone, and copied on write.
func TestWriteUploadReadBack(t *testing.T) {
	te := openEngine(t, t.TempDir())
	ino := te.create(t, "f")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	data := randBytes(1, 2*testChunk+5000) // two full chunks (blobs) and a small one (a quilt patch)
	if err := f.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := te.Status(ino); err != nil || st.State != Staged {
		t.Fatalf("status after a write: %+v, %v", st, err)
	}
	if got := readAll(t, f, len(data)); !bytes.Equal(got, data) {
		t.Fatal("staged read differs")
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, te)
	st, err := te.Status(ino)
	if err != nil || st.State != Certified || len(st.Chunks) != 3 || st.EndEpoch == 0 {
		t.Fatalf("status after upload: %+v, %v", st, err)
	}
	if _, err := blobstore.ParsePatchID(st.Chunks[2]); err != nil {
		t.Errorf("the small chunk is not a quilt patch: %q: %v", st.Chunks[2], err)
	}
	if err := te.DropLocalCopies(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(te.dir, "staging")); n != 0 {
		t.Fatalf("%d staging files left after dropping local copies", n)
	}
	if got := readAll(t, f, len(data)); !bytes.Equal(got, data) {
		t.Fatal("read from the store differs")
	}
	// A write into a stored chunk copies it first.
	if err := f.Write(t.Context(), []byte("XY"), testChunk+10); err != nil {
		t.Fatal(err)
	}
	copy(data[testChunk+10:], "XY")
	if got := readAll(t, f, len(data)); !bytes.Equal(got, data) {
		t.Fatal("read after copy-on-write differs")
	}
	if st, _ := te.Status(ino); st.State != Staged {
		t.Fatalf("state after rewriting a chunk: %v", st.State)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFsyncCoversEarlierHandles: fsync flushes the chunk files a file
// wrote through handles that are already closed.
func TestFsyncCoversEarlierHandles(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) { c.SealDelay = time.Hour })
	ino := te.create(t, "f")
	w := te.open(t, ino)
	if err := w.Write(t.Context(), bytes.Repeat([]byte("d"), 3*testChunk+1), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Release(); err != nil {
		t.Fatal(err)
	}
	dirty := func() int {
		te.dirty.mu.Lock()
		defer te.dirty.mu.Unlock()
		return len(te.dirty.m[ino])
	}
	if n := dirty(); n != 4 {
		t.Fatalf("%d dirty chunk files after writing, want 4", n)
	}
	r := te.open(t, ino)
	defer func() { _ = r.Release() }()
	if err := r.Fsync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := dirty(); n != 0 {
		t.Fatalf("%d dirty chunk files after fsync through a new handle, want 0", n)
	}
}

// TestRecoverSealsWhatACrashLeftOpen: chunks written but never sealed, and
// queue entries from before the queue recorded sizes, are sealed and sized
// at the next start, and uploaded with the right bytes.
func TestRecoverSealsWhatACrashLeftOpen(t *testing.T) {
	dir := t.TempDir()
	te := openEngine(t, dir, func(c *Config) { c.SealDelay = time.Hour })
	open := te.create(t, "open")
	legacy := te.create(t, "legacy")
	f := te.open(t, open)
	data := randBytes(2, testChunk+300)
	if err := f.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	g := te.open(t, legacy)
	old := randBytes(3, 20000)
	if err := g.Write(t.Context(), old, 0); err != nil {
		t.Fatal(err)
	}
	// An entry as an older version queued it: no size.
	ref, ok, err := te.idx.Chunk(legacy, 0)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := te.idx.Seal([]index.Sealing{{Ino: legacy, N: 0, StagingID: ref.StagingID, Size: index.SizeUnknown}}, now()); err != nil {
		t.Fatal(err)
	}
	if err := te.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Stop without closing the handles, as a crash would: nothing sealed
	// the file that was still open.
	te.up.Stop()
	te.close(t)

	te = openEngine(t, dir)
	if left, err := te.idx.Unsealed(0); err != nil || len(left) != 0 {
		t.Fatalf("unsealed chunks after recovery: %+v, %v", left, err)
	}
	ups, err := te.idx.Uploads(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if u.Size == index.SizeUnknown {
			t.Fatalf("queue entry %+v has no size after recovery", u)
		}
	}
	waitUploaded(t, te)
	if err := te.DropLocalCopies(t.Context()); err != nil {
		t.Fatal(err)
	}
	for ino, want := range map[index.Ino][]byte{open: data, legacy: old} {
		h := te.open(t, ino)
		if got := readAll(t, h, len(want)); !bytes.Equal(got, want) {
			t.Errorf("inode %d: read back %d bytes, differs from the %d written", ino, len(got), len(want))
		}
		_ = h.Release()
	}
}

// slowStore is a store whose reads of data wait for release (or the
// caller's context), and fail with failWith when it is set.
type slowStore struct {
	*localstore.Store
	release  chan struct{}
	failWith error
}

func (s *slowStore) wait(ctx context.Context) error {
	if s.failWith != nil {
		return s.failWith
	}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slowStore) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.ReadRange(ctx, id, off, length)
}

func (s *slowStore) ReadRangeVerified(ctx context.Context, id blobstore.ID, off, length int64, consume func(io.Reader) error) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.ReadRangeVerified(ctx, id, off, length, consume)
}

// TestStoredReadErrors: the engine reports what went wrong as errors, not
// errnos: an interrupted read is its context's error, a store failure
// wraps the store's sentinel, and the fetch goes on for the next reader.
func TestStoredReadErrors(t *testing.T) {
	dir := t.TempDir()
	te := openEngine(t, dir)
	ino := te.create(t, "f")
	f := te.open(t, ino)
	data := randBytes(4, testChunk)
	if err := f.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	_ = f.Release()
	waitUploaded(t, te)
	if err := te.DropLocalCopies(t.Context()); err != nil {
		t.Fatal(err)
	}
	te.close(t)

	slow := &slowStore{release: make(chan struct{})}
	te = openEngine(t, dir, func(c *Config) {
		c.FetchAhead = false
		slow.Store = c.Store.(*localstore.Store)
		c.Store = slow
	})
	f = te.open(t, ino)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := f.Read(ctx, make([]byte, 100), 0)
	var errno syscall.Errno
	if !errors.Is(err, context.Canceled) || errors.As(err, &errno) {
		t.Fatalf("interrupted read: %v, want context.Canceled and no errno", err)
	}
	close(slow.release) // the shared fetch goes on and serves the next read
	if got := readAll(t, f, len(data)); !bytes.Equal(got, data) {
		t.Fatal("read after an interrupted one differs")
	}

	_ = f.Release()
	te.close(t)

	// A new start has nothing cached: the store being down shows.
	te = openEngine(t, dir, func(c *Config) {
		c.Store = &slowStore{Store: c.Store.(*localstore.Store), failWith: blobstore.ErrUnavailable}
	})
	f = te.open(t, ino)
	_, err = f.Read(t.Context(), make([]byte, 100), 0)
	if !errors.Is(err, blobstore.ErrUnavailable) || errors.As(err, &errno) {
		t.Fatalf("read with the store down: %v, want blobstore.ErrUnavailable and no errno", err)
	}
	_ = f.Release()
}

// TestBackPressure: past the staging budget, with nothing uploading, a
// writer waits StagingWait and then fails with ENOSPC.
func TestBackPressure(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) {
		c.StagingBudget = 2 * testChunk
		c.StagingWait = 200 * time.Millisecond
	})
	te.up.Stop() // nothing uploads: staging cannot drain
	ino := te.create(t, "f")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	var err error
	for i := range 8 {
		if err = f.Write(t.Context(), make([]byte, testChunk), int64(i*testChunk)); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing past the staging budget with uploads stopped: %v, want ENOSPC", err)
	}
}

// TestRandomOpsMatchModel runs random writes, truncates, hole punches and
// zeroed ranges against one file, with uploads and dropped local copies in
// between, and compares the whole file with a byte slice after every step.
func TestRandomOpsMatchModel(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) { c.SealDelay = time.Hour })
	ino := te.create(t, "f")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	rng := rand.New(rand.NewPCG(7, 11))
	var model []byte
	const maxSize = 5*testChunk + 777
	steps := 300
	if testing.Short() {
		steps = 60
	}
	for step := range steps {
		off := rng.Uint64N(maxSize)
		n := 1 + rng.Uint64N(2*testChunk)
		var what string
		var err error
		switch op := rng.IntN(10); {
		case op < 4:
			what = "write"
			p := randBytes(uint64(step), int(n))
			err = f.Write(t.Context(), p, int64(off))
			if end := off + n; end > uint64(len(model)) {
				model = append(model, make([]byte, end-uint64(len(model)))...)
			}
			copy(model[off:], p)
		case op < 5:
			what = "truncate"
			size := rng.Uint64N(maxSize)
			_, err = f.Truncate(index.SetAttrIn{Size: &size, Now: now()})
			if size < uint64(len(model)) {
				model = model[:size]
			} else {
				model = append(model, make([]byte, size-uint64(len(model)))...)
			}
		case op < 7:
			what = "punch hole"
			err = te.Allocate(t.Context(), ino, off, n, punchHole|keepSize)
			if off < uint64(len(model)) {
				clear(model[off:min(off+n, uint64(len(model)))])
			}
		case op < 9:
			keep := rng.IntN(2) == 0
			what = fmt.Sprintf("zero range (keep size %v)", keep)
			mode := uint32(zeroRange)
			if keep {
				mode |= keepSize
			}
			err = te.Allocate(t.Context(), ino, off, n, mode)
			if off < uint64(len(model)) {
				clear(model[off:min(off+n, uint64(len(model)))])
			}
			if end := off + n; !keep && end > uint64(len(model)) {
				model = append(model, make([]byte, end-uint64(len(model)))...)
			}
		default:
			what = "upload and drop local copies"
			if err = f.Flush(); err == nil {
				waitUploaded(t, te)
				err = te.DropLocalCopies(t.Context())
			}
		}
		if err != nil {
			t.Fatalf("step %d: %s at %d+%d: %v", step, what, off, n, err)
		}
		a, err := te.idx.GetAttr(ino)
		if err != nil || a.Size != uint64(len(model)) {
			t.Fatalf("step %d: after %s at %d+%d: size %d, model %d (%v)", step, what, off, n, a.Size, len(model), err)
		}
		if got := readAll(t, f, len(model)); !bytes.Equal(got, model) {
			at := 0
			for at < min(len(got), len(model)) && got[at] == model[at] {
				at++
			}
			t.Fatalf("step %d: after %s at %d+%d: the file differs from the model at byte %d", step, what, off, n, at)
		}
	}
}

// countingStore counts the reads of data a store serves: requests and
// bytes.
type countingStore struct {
	*localstore.Store
	requests, bytes atomic.Int64

	mu      sync.Mutex
	lengths []int64 // of each request, in the order they came
}

func (s *countingStore) count(length int64) {
	s.requests.Add(1)
	s.bytes.Add(length)
	s.mu.Lock()
	s.lengths = append(s.lengths, length)
	s.mu.Unlock()
}

// sizes returns the length of each request so far, in order.
func (s *countingStore) sizes() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lengths)
}

func (s *countingStore) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	s.count(length)
	return s.Store.ReadRange(ctx, id, off, length)
}

func (s *countingStore) ReadRangeVerified(ctx context.Context, id blobstore.ID, off, length int64, consume func(io.Reader) error) error {
	s.count(length)
	return s.Store.ReadRangeVerified(ctx, id, off, length, consume)
}

// TestFetchAheadFollowsTheReader: a reader that seeks and reads has
// fetched for it exactly the blocks it touches, even when its reads run
// on for a while or arrive as the kernel's readahead sends them; a reader
// going through the whole file is served in a few fetches that grow to
// whole chunks, not one per block.
func TestFetchAheadFollowsTheReader(t *testing.T) {
	dir := t.TempDir()
	const chunk = 1 << 20
	big := func(c *Config) { c.ChunkSize = chunk; c.Upload.QuiltThreshold = 32 << 10 }
	te := openEngine(t, dir, big)
	ino := te.create(t, "f")
	f := te.open(t, ino)
	data := randBytes(9, 16*chunk)
	if err := f.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	_ = f.Release()
	waitUploaded(t, te)
	if err := te.DropLocalCopies(t.Context()); err != nil {
		t.Fatal(err)
	}
	te.close(t)

	const storedBlock = testBlock + blockcrypt.EncryptedOverhead
	// blocks is how many blocks the reads of size bytes from each offset
	// touch, all told.
	blocks := func(size int, offs ...int) int64 {
		var n int64
		for _, off := range offs {
			n += int64((off+size-1)/testBlock - off/testBlock + 1)
		}
		return n
	}
	// No two seeks read the same block, and none lands within a MiB past
	// where the reads before it ended (that would be reading on).
	seeks := []int{4*chunk + 12345, 12*chunk + 777, 8*chunk + 4096, 100000}
	far := []int{10*chunk + 100000, 5*chunk + 12345, 0}
	for _, tc := range []struct {
		name string
		lead int64 // Config.ReadaheadLead
		// offs are where the reader seeks to; at each it reads size
		// bytes in reads of req bytes.
		offs      []int
		size, req int
		check     func(t *testing.T, requests, bytes int64, sizes []int64)
		// other, when set, has a second handle on the file read 4 KiB
		// somewhere else before each of the reader's reads.
		other bool
	}{
		{"seek and read 512KiB", 0, seeks[:1], 512 << 10, 64 << 10, func(t *testing.T, requests, bytes int64, _ []int64) {
			if want := blocks(512<<10, seeks[0]) * storedBlock; bytes != want {
				t.Errorf("%d bytes fetched for a read of 512KiB after a seek, want %d (the blocks it touches)", bytes, want)
			}
		}, false},
		// A player: after each seek it reads on for a while, in small
		// pieces, then seeks elsewhere.
		{"seeks, each reading on in small pieces", 0, seeks, 3 << 20, 32 << 10, func(t *testing.T, requests, bytes int64, _ []int64) {
			if want := blocks(3<<20, seeks...) * storedBlock; bytes != want {
				t.Errorf("%d bytes fetched for %d seeks reading 3MiB each, want %d (the blocks they touch)", bytes, len(seeks), want)
			}
		}, false},
		// The same reads as the kernel sends them with its readahead:
		// larger requests running ahead of the application, which the
		// lead accounts for.
		{"seeks read through the kernel's readahead", 2 << 20, far, 5 << 20, 256 << 10, func(t *testing.T, requests, bytes int64, _ []int64) {
			if want := blocks(5<<20, far...) * storedBlock; bytes != want {
				t.Errorf("%d bytes fetched for %d seeks reading 5MiB each, want %d (the blocks they touch)", bytes, len(far), want)
			}
		}, false},
		{"read the whole file", 0, []int{0}, len(data), 128 << 10, func(t *testing.T, requests, bytes int64, sizes []int64) {
			if n := int64(len(data) / testBlock); requests > n/8 {
				t.Errorf("%d fetches for %d blocks read in order, want at most %d", requests, n, n/8)
			}
			if bytes > int64(len(data)/testBlock+2)*storedBlock {
				t.Errorf("%d bytes fetched for a file of %d", bytes, len(data))
			}
			// The first fetches are the reads' own; fetching ahead starts
			// once the reader has gone on for a while, and grows to
			// whole chunks.
			if sizes[0] > blocks(128<<10, 0)*storedBlock {
				t.Errorf("the first fetch read %d bytes for a read of 128KiB", sizes[0])
			}
			if largest := slices.Max(sizes); largest < chunk/2 {
				t.Errorf("the largest fetch read %d bytes, want fetches ahead of at least half a chunk (%d)", largest, chunk/2)
			}
		}, false},
		// Two readers of one file (two players of one video): each
		// handle has a run of its own, so the other's reads, far from
		// this one's, do not cut it short.
		{"read the whole file while another handle reads elsewhere", 0, []int{0}, len(data), 128 << 10, func(t *testing.T, _, _ int64, sizes []int64) {
			if largest := slices.Max(sizes); largest < chunk/2 {
				t.Errorf("the largest fetch read %d bytes, want fetches ahead of the sequential reader of at least half a chunk (%d)", largest, chunk/2)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := &countingStore{}
			te := openEngine(t, dir, big, func(c *Config) {
				counter.Store = c.Store.(*localstore.Store)
				c.Store = counter
				c.ReadaheadLead = tc.lead
			})
			f := te.open(t, ino)
			var other *File
			if tc.other {
				other = te.open(t, ino)
				defer func() { _ = other.Release() }()
			}
			buf := make([]byte, tc.req)
			for k, off := range tc.offs {
				for done := 0; done < tc.size; done, k = done+tc.req, k+1 {
					if other != nil {
						at := int64(15*chunk + k*8192%chunk)
						if _, err := other.Read(t.Context(), make([]byte, 4096), at); err != nil {
							t.Fatal(err)
						}
					}
					n, err := f.Read(t.Context(), buf[:min(len(buf), tc.size-done)], int64(off+done))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf[:n], data[off+done:off+done+n]) {
						t.Fatalf("read at %d differs", off+done)
					}
					if n != min(len(buf), tc.size-done) {
						t.Fatalf("read at %d returned %d bytes", off+done, n)
					}
				}
			}
			_ = f.Release()
			t.Logf("cache %+v", te.cfg.Cache.Stats())
			_ = te.cfg.Cache.Close() // waits for the fetches ahead to end
			tc.check(t, counter.requests.Load(), counter.bytes.Load(), counter.sizes())
			t.Logf("%d requests, %d bytes", counter.requests.Load(), counter.bytes.Load())
			te.close(t)
		})
	}
}

// TestWaitForRoomInterrupted: a writer waiting for staging room whose
// request is interrupted returns at once with its context's error (package
// fs turns it into EINTR).
func TestWaitForRoomInterrupted(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) {
		c.StagingBudget = testChunk
		c.StagingWait = time.Hour
	})
	te.up.Stop() // nothing uploads: staging cannot drain
	f := te.open(t, te.create(t, "f"))
	defer func() { _ = f.Release() }()
	if err := f.Write(t.Context(), make([]byte, testChunk), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := f.Write(ctx, make([]byte, testChunk), testChunk)
	var errno syscall.Errno
	if !errors.Is(err, context.Canceled) || errors.As(err, &errno) {
		t.Fatalf("interrupted wait for room: %v, want context.Canceled and no errno", err)
	}
}

// TestCertifiedByChain: with certification left to the chain, an upload
// the store calls certified stays "stored": its local copies stay and
// fsync with FsyncCertified waits, until the index records the chain's
// word (index.Index.RecordChain, as chain sync does).
func TestCertifiedByChain(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) { c.Upload.CertifiedByChain = true; c.FsyncCertified = true })
	ino := te.create(t, "f")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	data := randBytes(2, testChunk+100)
	if err := f.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, te)
	st, err := te.Status(ino)
	if err != nil || st.State != Stored {
		t.Fatalf("status after upload: %+v, %v; want stored until the chain confirms", st, err)
	}
	if err := te.DropLocalCopies(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(te.dir, "staging")); n == 0 {
		t.Fatal("local copies dropped before the chain confirmed the blobs")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := f.Fsync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fsync before the chain confirmed: %v, want it to wait", err)
	}

	blobs, err := te.idx.Blobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		if _, err := te.idx.RecordChain(b.ID, index.ChainRecord{ObjectID: "0x1", Certified: true, CertifiedEpoch: 1, EndEpoch: b.EndEpoch}); err != nil {
			t.Fatal(err)
		}
	}
	te.NoteCertified()
	if err := f.Fsync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := te.Status(ino); st.State != Certified {
		t.Fatalf("state after the chain confirmed: %v", st.State)
	}
	if err := te.DropLocalCopies(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(te.dir, "staging")); n != 0 {
		t.Fatalf("%d staging files left once certified", n)
	}
	if got := readAll(t, f, len(data)); !bytes.Equal(got, data) {
		t.Fatal("read from the store differs")
	}
}

// TestCloseAndFsyncDoNotSeal: a file closed and fsynced stays staged (a
// database's next transaction, an editor's next save, writes the same
// chunk again without a copy or a second upload) until it has been quiet
// for SealDelay; then it is sealed and uploaded once.
func TestCloseAndFsyncDoNotSeal(t *testing.T) {
	const delay = 400 * time.Millisecond
	te := openEngine(t, t.TempDir(), func(c *Config) { c.SealDelay = delay })
	ino := te.create(t, "db")
	for i := range 5 {
		f := te.open(t, ino)
		if err := f.Write(t.Context(), randBytes(uint64(i), 4096), int64(i)*4096); err != nil {
			t.Fatal(err)
		}
		if err := f.Fsync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Release(); err != nil {
			t.Fatal(err)
		}
		if st, err := te.Status(ino); err != nil || st.State != Staged {
			t.Fatalf("after write %d, fsync and close: %v, %v; want staged", i, st.State, err)
		}
		if n, err := te.idx.PendingUploads(0); err != nil || n != 0 {
			t.Fatalf("after write %d, fsync and close: %d queued", i, n)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := te.Status(ino)
		if err != nil {
			t.Fatal(err)
		}
		if st.State >= Uploading {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not sealed after the delay: %v", st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitUploaded(t, te) // the partial quilt goes now
	if r := te.UploadCounters(); r.Chunks != 1 {
		t.Fatalf("%d chunks uploaded for one chunk written five times", r.Chunks)
	}
}

// TestStagedNextChunkOnlyForReaders: the next staged chunk is asked into
// the page cache for a reader that has read on for a while, never for
// random reads that happen to land near each other (each such request
// takes a chunk's worth of disk reads from the random reads).
func TestStagedNextChunkOnlyForReaders(t *testing.T) {
	const chunk = 8 << 20
	te := openEngine(t, t.TempDir(), func(c *Config) { c.ChunkSize = chunk; c.SealDelay = time.Hour })
	ino := te.create(t, "f")
	f := te.open(t, ino)
	defer func() { _ = f.Release() }()
	data := randBytes(3, 3*chunk)
	if err := f.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	read := func(h *File, off, n int) {
		t.Helper()
		buf := make([]byte, n)
		if got, err := h.Read(t.Context(), buf, int64(off)); err != nil || got != n || !bytes.Equal(buf, data[off:off+n]) {
			t.Fatalf("read of %d at %d: %d, %v", n, off, got, err)
		}
	}

	// Random 4 KiB reads, each within the slack of the one before.
	random := te.open(t, ino)
	defer func() { _ = random.Release() }()
	for _, off := range []int{100 << 10, 900 << 10, 300 << 10, 1200 << 10, 2 << 20, 2<<20 + 700<<10} {
		read(random, off, 4096)
	}
	if random.run.prefetched != 0 {
		t.Errorf("random reads asked chunk %d into the page cache", random.run.prefetched)
	}

	// A reader going through the first chunk has the second asked for
	// once it has read stageNextAfter.
	seq := te.open(t, ino)
	defer func() { _ = seq.Release() }()
	for off := 0; off < stageNextAfter; off += 128 << 10 {
		read(seq, off, 128<<10)
	}
	if seq.run.prefetched != 1 {
		t.Errorf("after reading %d bytes in order the next chunk asked for is %d, want 1", stageNextAfter, seq.run.prefetched)
	}
}
