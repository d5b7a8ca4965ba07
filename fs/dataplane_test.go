package fs

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/blobstore/httpserver"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp"
	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/fs/filedata/upload"
	"github.com/walrusfs/walrusfs/index"
)

// testShards is the shard count of the test stores: large enough for 1 MiB
// chunks and quilts of a few MiB.
const testShards = 40

// testBackend is a blob store for data-plane tests: the embedded local
// store, or the Walrus HTTP client talking to a Walrus-compatible server
// (walrusfs serve's handler) on loopback, optionally through a fault proxy.
type testBackend struct {
	name  string
	store blobstore.Store
	local *localstore.Store
	dir   string // the local store's directory
	proxy *faultproxy.Proxy
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openLocalStore(t *testing.T, dir string, shards int) *localstore.Store {
	t.Helper()
	cfg := localstore.DefaultConfig()
	cfg.Dirs = []string{dir}
	cfg.Shards = shards
	// Quilts at the same shard count: at 1000 (the store's default) every
	// quilt costs seconds under the race detector.
	cfg.QuiltShards = shards
	s, err := localstore.Open(t.Context(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newBackend opens backend kind ("local" or "http") over a fresh local
// store; rules, if any, put a fault proxy in front of the HTTP server.
func newBackend(t *testing.T, kind string, rules ...faultproxy.Rule) *testBackend {
	return newBackendShards(t, kind, testShards, rules...)
}

func newBackendShards(t *testing.T, kind string, shards int, rules ...faultproxy.Rule) *testBackend {
	t.Helper()
	dir := t.TempDir()
	local := openLocalStore(t, dir, shards)
	b := &testBackend{name: kind, store: local, local: local, dir: dir}
	if kind == "local" {
		return b
	}
	srv := httptest.NewServer(httpserver.New(local, httpserver.Config{}, quietLog()))
	t.Cleanup(srv.Close)
	url := srv.URL
	if len(rules) > 0 {
		b.proxy = faultproxy.New(srv.URL, 1, rules...)
		psrv := httptest.NewServer(b.proxy)
		t.Cleanup(func() { b.proxy.Close(); psrv.Close() })
		url = psrv.URL
	}
	cfg := walrushttp.DefaultConfig()
	cfg.PublisherURL = url
	cfg.AggregatorURLs = []string{url}
	cfg.RetryBaseDelay = 5 * time.Millisecond
	cfg.RetryMaxDelay = 50 * time.Millisecond
	cfg.ResponseTimeout = 20 * time.Second
	cfg.StoreTimeout = time.Minute
	cfg.IdleTimeout = 5 * time.Second
	cfg.QuiltShards = shards
	c, err := walrushttp.New(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	b.store = c
	return b
}

var backends = []string{"local", "http"}

// withStore mounts over backend b with encryption on (key in the state
// dir) and a block cache in the state dir.
func withStore(t *testing.T, b *testBackend, encrypt bool, tune ...func(*filedata.Config)) mountOpt {
	return func(c *filedata.Config, _ *index.Config) {
		c.Store = b.store
		c.ChunkSize = 1 << 20
		c.Upload.QuiltThreshold = 256 << 10
		c.Upload.QuiltMaxBytes = 8 << 20
		c.Upload.QuiltMaxAge = time.Minute // WaitUploaded flushes partial quilts
		c.SealDelay = 200 * time.Millisecond
		c.Upload.RetryMin = 10 * time.Millisecond
		c.Upload.RetryMax = 200 * time.Millisecond
		layout := blockcrypt.Layout{BlockSize: 256 << 10, Encrypted: encrypt}
		var key *blockcrypt.Key
		if encrypt {
			k := blockcrypt.Key{}
			for i := range k {
				k[i] = byte(i * 7)
			}
			key = &k
		}
		codec, err := blockcrypt.NewCodec(layout, key)
		if err != nil {
			t.Fatal(err)
		}
		c.Codec, c.Key = codec, key
		for _, f := range tune {
			f(c)
		}
	}
}

// withCache adds a block cache under dir.
func withCache(t *testing.T, dir string) mountOpt {
	return func(c *filedata.Config, _ *index.Config) {
		cfg := blockcache.DefaultConfig()
		cfg.DiskDir = dir
		cfg.MemoryBytes = 8 << 20
		cfg.DiskBytes = 64 << 20
		cache, err := blockcache.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cache.Close() })
		c.Cache = cache
	}
}

func waitUploaded(t *testing.T, m *testMount) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if err := m.data.WaitUploaded(ctx); err != nil {
		t.Fatalf("waiting for uploads: %v", err)
	}
}

// storeOnly waits until m's files are uploaded, unmounts it and deletes its
// staging area, so a remount reads everything from the store.
func storeOnly(t *testing.T, m *testMount) {
	t.Helper()
	waitUploaded(t, m)
	m.unmount(t)
	if err := os.RemoveAll(filepath.Join(m.stateDir, "staging")); err != nil {
		t.Fatal(err)
	}
}

// dropLocalCopies commits the index and removes the staging files it
// released, so reads and copies of stored chunks must use the store.
func dropLocalCopies(t *testing.T, m *testMount) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := m.data.DropLocalCopies(t.Context()); err != nil {
			t.Fatal(err)
		}
		n := m.stagingFiles(t)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			copies, _ := m.idx.LocalCopies()
			t.Fatalf("%d staging files left after upload; local copies %+v", n, copies)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getxattr(t *testing.T, path, name string) (string, error) {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// model keeps the expected content of files written through a mount, in
// files of a reference directory (nothing is held whole in memory).
type model struct {
	dir string
}

func (md *model) path(name string) string { return filepath.Join(md.dir, name) }

func writeBoth(t *testing.T, m *testMount, md *model, name string, data []byte, off int64) {
	t.Helper()
	for _, p := range []string{m.path(name), md.path(name)} {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateBoth(t *testing.T, m *testMount, md *model, name string, size int64) {
	t.Helper()
	for _, p := range []string{m.path(name), md.path(name)} {
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}
}

// sameFile compares a file through the mount with its reference, 1 MiB at
// a time.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Close() }()
	w, err := os.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	gb, wb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; off += int64(len(gb)) {
		gn, gerr := io.ReadFull(g, gb)
		wn, _ := io.ReadFull(w, wb)
		if !bytes.Equal(gb[:gn], wb[:wn]) {
			t.Fatalf("%s differs from its reference in the MiB at %d (%d vs %d bytes)", got, off, gn, wn)
		}
		if gerr != nil {
			if gerr != io.EOF && gerr != io.ErrUnexpectedEOF {
				t.Fatalf("read %s: %v", got, gerr)
			}
			return
		}
	}
}

// e2eSizes are the sizes of the round trip: full size without the race
// detector, smaller under it (it slows the encoders tenfold).
func e2eSizes() (smallFiles, bigFiles int, bigSize int64) {
	if raceEnabled || testing.Short() {
		return 1500, 2, 12 << 20
	}
	return 10_000, 3, 100<<20 + 12345
}

// TestE2ERoundTrip writes a mixed tree through the mount, waits until all of
// it is uploaded, deletes the staging area and the cache, remounts, and
// checks every byte, on each backend.
func TestE2ERoundTrip(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			b := newBackend(t, kind)
			state, cacheDir := t.TempDir(), t.TempDir()
			opts := []mountOpt{withStore(t, b, true), withCache(t, cacheDir)}
			m := mountAt(t, state, opts...)
			md := &model{dir: t.TempDir()}
			smallN, bigN, bigSize := e2eSizes()
			rng := rand.New(rand.NewPCG(1, uint64(len(kind))))

			if err := os.Mkdir(m.path("small"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(md.path("small"), 0o755); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(w), 9))
					for i := w; i < smallN; i += 4 {
						data := randBytes(r, 4096)
						name := fmt.Sprintf("small/f%05d", i)
						for _, p := range []string{m.path(name), md.path(name)} {
							if err := os.WriteFile(p, data, 0o644); err != nil {
								errs <- err
								return
							}
						}
					}
				}()
			}
			for i := range bigN {
				name := fmt.Sprintf("big%d", i)
				// Sequential fill, then random overwrites and truncates.
				for off := int64(0); off < bigSize; off += 1 << 20 {
					writeBoth(t, m, md, name, randBytes(rng, int(min(1<<20, bigSize-off))), off)
				}
				for range 20 {
					off := rng.Int64N(bigSize)
					writeBoth(t, m, md, name, randBytes(rng, 1+rng.IntN(300<<10)), off)
				}
				truncateBoth(t, m, md, name, bigSize-int64(rng.IntN(3<<20)))
				writeBoth(t, m, md, name, randBytes(rng, 5000), bigSize+(1<<20)) // a hole, then data
				truncateBoth(t, m, md, name, bigSize/2+777)
				writeBoth(t, m, md, name, randBytes(rng, 70000), bigSize/3)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			waitUploaded(t, m)

			for _, name := range []string{"small/f00000", "big0"} {
				if st, err := getxattr(t, m.path(name), "user.walrus.state"); err != nil || st != "certified" {
					t.Fatalf("%s: state %q, %v", name, st, err)
				}
			}
			blobs, err := m.idx.Blobs()
			if err != nil {
				t.Fatal(err)
			}
			quilts, standalone := 0, 0
			for _, bl := range blobs {
				if bl.Kind == index.BlobQuilt {
					quilts++
				} else {
					standalone++
				}
			}
			// Small files go to quilts only, as many per quilt as the shard
			// count allows; big files' chunks are 1 MiB, above the 256 KiB
			// threshold, except for a few short tails.
			// Through HTTP the uploader learns the limit by halving refused
			// quilts, which costs a few extra quilts.
			per := b.local.MaxQuiltPatches()
			want := (smallN+per-1)/per + bigN*4
			if kind == "http" {
				want += 10
			}
			if quilts > want {
				t.Errorf("%d quilts for %d small files and %d big ones, want at most %d", quilts, smallN, bigN, want)
			}
			t.Logf("%s: %d quilts, %d standalone blobs", kind, quilts, standalone)

			m.unmount(t)
			for _, dir := range []string{filepath.Join(state, "staging"), cacheDir} {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
			m2 := mountAt(t, state, withStore(t, b, true), withCache(t, t.TempDir()))
			for i := range smallN {
				name := fmt.Sprintf("small/f%05d", i)
				got, err := os.ReadFile(m2.path(name))
				if err != nil {
					t.Fatal(err)
				}
				want, _ := os.ReadFile(md.path(name))
				if !bytes.Equal(got, want) {
					t.Fatalf("%s differs after the round trip", name)
				}
			}
			for i := range bigN {
				name := fmt.Sprintf("big%d", i)
				sameFile(t, m2.path(name), md.path(name))
			}
			if n := m2.stagingFiles(t); n != 0 {
				t.Errorf("%d staging files after reading back", n)
			}
		})
	}
}

// TestSmallFilesPackIntoFewQuilts: 10,000 files of 4 KiB end up in at
// most 16 quilts and no standalone blobs, at Walrus's shard count (1000,
// where a quilt holds 666 patches).
func TestSmallFilesPackIntoFewQuilts(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("10,000 files; runs without the race detector")
	}
	b := newBackendShards(t, "local", 1000)
	m := mountTest(t, withStore(t, b, true, func(c *filedata.Config) {
		c.ChunkSize = filedata.DefaultChunkSize
		c.Upload.QuiltThreshold = upload.DefaultQuiltThreshold
		c.Upload.QuiltMaxBytes = upload.DefaultQuiltMaxBytes
		c.Upload.QuiltMaxAge = time.Minute
	}))
	data := make([]byte, 4096)
	for i := range 10_000 {
		data[0], data[1] = byte(i), byte(i>>8)
		if err := os.WriteFile(m.path(fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitUploaded(t, m)
	blobs, err := m.idx.Blobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, bl := range blobs {
		if bl.Kind != index.BlobQuilt {
			t.Errorf("standalone blob %x for small files", bl.ID)
		}
	}
	if len(blobs) > 16 {
		t.Errorf("%d quilts for 10,000 small files, want at most 16", len(blobs))
	}
}

// TestMixedSizesKeepQuiltsSmall: small files written together with larger
// ones (still below the quilt threshold) never make a quilt larger than
// QuiltMaxBytes. QuiltV1 gives every patch whole columns, so packing by the
// sum of the chunks' sizes would make quilts many times larger than their
// data (and, at 1000 shards, build them in memory).
func TestMixedSizesKeepQuiltsSmall(t *testing.T) {
	const maxQuilt = 4 << 20
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			b := newBackendShards(t, kind, 100)
			m := mountTest(t, withStore(t, b, kind == "http", func(c *filedata.Config) {
				c.Upload.QuiltThreshold = 2 << 20
				c.Upload.QuiltMaxBytes = maxQuilt
				c.Upload.QuiltMaxAge = time.Minute
			}))
			md := &model{dir: t.TempDir()}
			rng := rand.New(rand.NewPCG(5, 6))
			for i := range 60 {
				size := 1000 + rng.IntN(3000)
				if i%10 == 9 {
					size = 1<<20 + rng.IntN(1<<20) // below the threshold
				}
				writeBoth(t, m, md, fmt.Sprintf("f%02d", i), randBytes(rng, size), 0)
			}
			waitUploaded(t, m)
			blobs, err := m.idx.Blobs()
			if err != nil {
				t.Fatal(err)
			}
			quilts := 0
			for _, bl := range blobs {
				if bl.Kind != index.BlobQuilt {
					t.Errorf("standalone blob %x for chunks below the quilt threshold", bl.ID)
					continue
				}
				quilts++
				if bl.Size > maxQuilt {
					t.Errorf("quilt %x is %d bytes, over the %d limit", bl.ID, bl.Size, maxQuilt)
				}
			}
			if quilts < 2 {
				t.Errorf("%d quilts for 6 MiB and more of chunks under a 4 MiB limit", quilts)
			}
			dropLocalCopies(t, m)
			for i := range 60 {
				name := fmt.Sprintf("f%02d", i)
				sameFile(t, m.path(name), md.path(name))
			}
		})
	}
}

// TestQuiltsGroupLikeSizes: chunks queued together are packed in order of
// size, so each quilt holds a run of like-sized chunks: sorted by their
// smallest chunk, no quilt holds a chunk larger than the next quilt's
// smallest. Mixed in queue order, one large patch would widen every
// column of its quilt.
func TestQuiltsGroupLikeSizes(t *testing.T) {
	b := newBackendShards(t, "local", 40)
	m := mountTest(t, withStore(t, b, false, func(c *filedata.Config) {
		c.Upload.QuiltThreshold = 1 << 20
		c.Upload.QuiltMaxBytes = 2 << 20
		c.Upload.QuiltMaxAge = time.Hour
		// Nothing uploads until waitUploaded asks: every chunk is
		// queued when the quilts are packed.
		c.Upload.ForegroundFirst = time.Hour
		c.Upload.QuietPeriod = time.Hour
	}))
	rng := rand.New(rand.NewPCG(7, 8))
	const files = 120
	for i := range files {
		size := 100 + rng.IntN(2000)
		if i%4 == 0 {
			size = 50_000 + rng.IntN(200_000)
		}
		if err := os.WriteFile(m.path(fmt.Sprintf("f%03d", i)), randBytes(rng, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitUploaded(t, m)
	type span struct{ lo, hi uint64 }
	quilts := map[[32]byte]*span{}
	for i := range files {
		var st unix.Stat_t
		if err := unix.Stat(m.path(fmt.Sprintf("f%03d", i)), &st); err != nil {
			t.Fatal(err)
		}
		chunks, err := m.idx.Chunks(index.Ino(st.Ino))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			if c.Ref.Kind != index.ChunkStored || c.Ref.Stored.PatchID == nil {
				t.Fatalf("f%03d: chunk %d not in a quilt: %+v", i, c.N, c.Ref)
			}
			size := c.Ref.Stored.PlainLen
			sp := quilts[c.Ref.Stored.BlobID]
			if sp == nil {
				quilts[c.Ref.Stored.BlobID] = &span{size, size}
				continue
			}
			sp.lo, sp.hi = min(sp.lo, size), max(sp.hi, size)
		}
	}
	spans := slices.SortedFunc(maps.Values(quilts), func(a, b *span) int { return cmp.Compare(a.lo, b.lo) })
	if len(spans) < 3 {
		t.Fatalf("%d quilts; want several at a 2 MiB limit", len(spans))
	}
	for i := 1; i < len(spans); i++ {
		if spans[i-1].hi > spans[i].lo {
			t.Errorf("quilt of chunks %d–%d bytes overlaps the next, %d–%d", spans[i-1].lo, spans[i-1].hi, spans[i].lo, spans[i].hi)
		}
	}
}

// TestWriteAfterUploadCopiesOnWrite: rewriting parts of sealed and stored
// chunks (and truncating them) keeps every other byte.
func TestWriteAfterUploadCopiesOnWrite(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			b := newBackend(t, kind)
			m := mountTest(t, withStore(t, b, kind == "http"), withCache(t, t.TempDir()))
			md := &model{dir: t.TempDir()}
			rng := rand.New(rand.NewPCG(3, 4))
			writeBoth(t, m, md, "f", randBytes(rng, 3<<20+100), 0)
			writeBoth(t, m, md, "g", randBytes(rng, 10_000), 0)
			waitUploaded(t, m)
			dropLocalCopies(t, m)
			// Overwrite inside stored chunks: the chunk comes back from the
			// store (no local copy once certified).
			writeBoth(t, m, md, "f", []byte("hello"), 1<<20+5)
			writeBoth(t, m, md, "g", []byte("packed"), 9000)
			truncateBoth(t, m, md, "f", 2<<20+77)
			// Sealed but maybe not yet uploaded: write again at once.
			writeBoth(t, m, md, "f", []byte("again"), 10)
			writeBoth(t, m, md, "f", []byte("and again"), 12)
			sameFile(t, m.path("f"), md.path("f"))
			sameFile(t, m.path("g"), md.path("g"))
			waitUploaded(t, m)
			dropLocalCopies(t, m)
			truncateBoth(t, m, md, "g", 5000) // by path: no handle, no close
			waitUploaded(t, m)
			sameFile(t, m.path("f"), md.path("f"))
			sameFile(t, m.path("g"), md.path("g"))
			// The chunk cut by the truncate (copied, never written) was
			// uploaded too.
			for _, name := range []string{"f", "g"} {
				if st, err := getxattr(t, m.path(name), "user.walrus.state"); st != "certified" {
					t.Errorf("%s: state %q (%v) after everything was uploaded", name, st, err)
				}
			}
			if err := m.idx.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWalrusXattrs(t *testing.T) {
	b := newBackend(t, "local")
	m := mountTest(t, withStore(t, b, false, func(c *filedata.Config) { c.SealDelay = time.Hour }))
	f, err := os.Create(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("x"), 2<<20+1)); err != nil {
		t.Fatal(err)
	}
	if st, _ := getxattr(t, m.path("f"), "user.walrus.state"); st != "staged" {
		t.Errorf("state while open %q, want staged", st)
	}
	if _, err := getxattr(t, m.path("f"), "user.walrus.blob_id"); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("blob_id of a staged file: %v, want ENODATA", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, m)
	if st, _ := getxattr(t, m.path("f"), "user.walrus.state"); st != "certified" {
		t.Errorf("state after upload %q", st)
	}
	ids, err := getxattr(t, m.path("f"), "user.walrus.blob_id")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Fields(ids)
	if len(parts) != 3 {
		t.Fatalf("blob_id %q: want 3 IDs for 3 chunks", ids)
	}
	if _, err := blobstore.ParseID(parts[0]); err != nil {
		t.Errorf("first chunk: %v", err)
	}
	if _, err := blobstore.ParsePatchID(parts[2]); err != nil {
		t.Errorf("last (1-byte) chunk should be a quilt patch: %v", err)
	}
	info, err := b.local.Stat(t.Context(), mustID(t, parts[0]))
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := getxattr(t, m.path("f"), "user.walrus.end_epoch"); end != fmt.Sprint(info.EndEpoch) {
		t.Errorf("end_epoch %q, store says %d", end, info.EndEpoch)
	}
	for _, name := range []string{"user.walrus.state", "user.walrus.blob_id", "user.walrus.other"} {
		if err := unix.Setxattr(m.path("f"), name, []byte("x"), 0); !errors.Is(err, syscall.EPERM) {
			t.Errorf("setxattr %s: %v, want EPERM", name, err)
		}
		if err := unix.Removexattr(m.path("f"), name); !errors.Is(err, syscall.EPERM) {
			t.Errorf("removexattr %s: %v, want EPERM", name, err)
		}
	}
	if err := unix.Setxattr(m.path("f"), "user.mine", []byte("v"), 0); err != nil {
		t.Errorf("ordinary user xattr: %v", err)
	}
	buf := make([]byte, 4096)
	n, err := unix.Listxattr(m.path("f"), buf)
	if err != nil || string(buf[:n]) != "user.mine\x00" {
		t.Errorf("listxattr %q, %v", buf[:n], err)
	}
}

func mustID(t *testing.T, s string) blobstore.ID {
	t.Helper()
	id, err := blobstore.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestFsyncCertified: with --fsync=certified, fsync returns once the data
// is certified.
func TestFsyncCertified(t *testing.T) {
	b := newBackend(t, "http")
	m := mountTest(t, withStore(t, b, true, func(c *filedata.Config) {
		c.FsyncCertified = true
		c.SealDelay = time.Hour
		c.Upload.QuiltMaxAge = time.Hour // fsync must flush the partial quilt itself
	}))
	for _, size := range []int{100, 3 << 20} {
		f, err := os.Create(m.path(fmt.Sprint("f", size)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(bytes.Repeat([]byte{7}, size)); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if st, _ := getxattr(t, f.Name(), "user.walrus.state"); st != "certified" {
			t.Errorf("%d bytes: state after fsync %q, want certified", size, st)
		}
		_ = f.Close()
	}
}

// TestFaultyNetwork: with the proxy failing, truncating and corrupting
// replies, uploads still complete and reads never return wrong bytes.
func TestFaultyNetwork(t *testing.T) {
	b := newBackend(t, "http",
		faultproxy.Rule{Name: "503", Fault: faultproxy.Status, Status: 503, Probability: 0.2},
		faultproxy.Rule{Name: "truncate", Method: "GET", Fault: faultproxy.Truncate, After: 100, Probability: 0.2},
		faultproxy.Rule{Name: "corrupt", Method: "GET", Fault: faultproxy.Corrupt, Probability: 0.3},
	)
	m := mountTest(t, withStore(t, b, true))
	md := &model{dir: t.TempDir()}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 8 {
		writeBoth(t, m, md, fmt.Sprint("f", i), randBytes(rng, 100<<10+rng.IntN(2<<20)), 0)
	}
	storeOnly(t, m) // reads go through the proxy
	m2 := mountAt(t, m.stateDir, withStore(t, b, true))
	for i := range 8 {
		name := fmt.Sprint("f", i)
		got, err := os.ReadFile(m2.path(name))
		if err != nil {
			// EIO is allowed when every attempt was corrupted; wrong bytes never.
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		want, _ := os.ReadFile(md.path(name))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: wrong bytes through a faulty network", name)
		}
	}
	fired := b.proxy.Fired()
	if fired["corrupt"] == 0 || fired["503"] == 0 {
		t.Fatalf("faults did not fire: %v", fired)
	}
}

// TestCorruptBlockNeverReturned: a block corrupted in every aggregator's
// reply reads as EIO; corrupted on the local store's disk it is repaired.
func TestCorruptBlockNeverReturned(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		b := newBackend(t, "http", faultproxy.Rule{Name: "corrupt", Method: "GET", Fault: faultproxy.Corrupt})
		m := mountTest(t, withStore(t, b, false))
		data := bytes.Repeat([]byte("walrus"), 200_000)
		if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		storeOnly(t, m)
		m2 := mountAt(t, m.stateDir, withStore(t, b, false))
		_, err := os.ReadFile(m2.path("f"))
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("read of corrupted blocks: %v, want EIO", err)
		}
	})
	t.Run("local", func(t *testing.T) {
		b := newBackend(t, "local")
		m := mountTest(t, withStore(t, b, false))
		data := bytes.Repeat([]byte("walrus"), 200_000)
		if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		storeOnly(t, m)
		flipped := corruptSlivers(t, b.dir)
		m2 := mountAt(t, m.stateDir, withStore(t, b, false))
		got, err := os.ReadFile(m2.path("f"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read after corrupting %d sliver files: %v (equal %v)", flipped, err, bytes.Equal(got, data))
		}
	})
}

// corruptSlivers flips one byte in the middle of the sliver data of every
// blob in the local store's directory (one sliver per blob is damaged).
func corruptSlivers(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if base := filepath.Base(p); err != nil || d.IsDir() || base != "slivers" && base != "s0000" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			return err
		}
		b[len(b)/2] ^= 0xff
		n++
		return os.WriteFile(p, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no sliver files found to corrupt")
	}
	return n
}

// TestBackPressureENOSPC: with the store down and the staging budget full,
// writes wait, then fail with ENOSPC; once the store is back they succeed.
func TestBackPressureENOSPC(t *testing.T) {
	b := newBackend(t, "http", faultproxy.Rule{Name: "down", Method: "PUT", Fault: faultproxy.Status, Status: 503, Times: 1 << 30})
	m := mountTest(t, withStore(t, b, false, func(c *filedata.Config) {
		c.StagingBudget = 4 << 20
		c.StagingWait = 500 * time.Millisecond
	}))
	f, err := os.Create(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 1<<20)
	var werr error
	written := 0
	for range 16 {
		if _, werr = f.Write(buf); werr != nil {
			break
		}
		written++
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("after %d MiB with the store down: %v, want ENOSPC", written, werr)
	}
	if written < 3 {
		t.Fatalf("only %d MiB written under a 4 MiB budget", written)
	}
}

// TestSequentialReadFetchesChunksWhole: a sequential reader of stored
// chunks costs a few fetches per chunk, not one per block.
func TestSequentialReadFetchesChunksWhole(t *testing.T) {
	b := newBackend(t, "local")
	cacheOpt := withCache(t, t.TempDir())
	m := mountTest(t, withStore(t, b, true), cacheOpt)
	data := randBytes(rand.New(rand.NewPCG(8, 9)), 8<<20)
	if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, m)
	dropLocalCopies(t, m)
	before := m.cache.Stats().Fetches
	got, err := os.ReadFile(m.path("f"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	// 8 chunks of 1 MiB, 4 blocks each: one fetch per block would be 32.
	fetches := m.cache.Stats().Fetches - before
	// Reads racing the fetch ahead may fetch a few blocks themselves.
	if fetches >= 8*4 {
		t.Errorf("%d fetches for 8 chunks of 4 blocks read in order", fetches)
	}
	t.Logf("%d fetches", fetches)
}

// quiltCounter passes everything to a store and records how many PutQuilt
// calls ran at once.
type quiltCounter struct {
	blobstore.Store
	now, most atomic.Int32
	calls     atomic.Int32
}

// QuiltShards passes on the store's quilt width, which the uploader plans
// quilts for.
func (c *quiltCounter) QuiltShards() int { return c.Store.(blobstore.QuiltLimiter).QuiltShards() }

func (c *quiltCounter) PutQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (blobstore.QuiltInfo, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	c.calls.Add(1)
	time.Sleep(50 * time.Millisecond) // widens the window for a second one
	return c.Store.PutQuilt(ctx, parts, opts)
}

// TestOneQuiltAtATime: with several upload slots and many quilts' worth of
// small files queued at once, quilts are still stored one at a time (a
// quilt's chunks are held in memory, and its encoding uses every core).
func TestOneQuiltAtATime(t *testing.T) {
	b := newBackendShards(t, "local", 40)
	counter := &quiltCounter{Store: b.store}
	b.store = counter
	m := mountTest(t, withStore(t, b, false, func(c *filedata.Config) {
		c.Upload.Concurrency = 4
		c.Upload.QuiltMaxBytes = 256 << 10
		c.Upload.QuiltMaxAge = time.Hour
		c.Upload.ForegroundFirst = time.Hour
		c.Upload.QuietPeriod = time.Hour
	}))
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 60 {
		if err := os.WriteFile(m.path(fmt.Sprintf("f%02d", i)), randBytes(rng, 20_000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitUploaded(t, m)
	if calls := counter.calls.Load(); calls < 4 {
		t.Fatalf("%d quilts; want several to contend", calls)
	}
	if most := counter.most.Load(); most != 1 {
		t.Fatalf("%d quilts were stored at once; want one at a time", most)
	}
}
