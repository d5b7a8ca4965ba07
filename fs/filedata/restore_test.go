package filedata

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/index"
)

// gatedStore holds every Put until its gate opens, and says when one has
// started.
type gatedStore struct {
	blobstore.Store
	started chan struct{}
	gate    chan struct{}
	puts    atomic.Int32
}

func (s *gatedStore) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	if s.puts.Add(1) == 1 {
		close(s.started)
	}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return blobstore.Info{}, ctx.Err()
	}
	return s.Store.Put(ctx, r, size, opts)
}

// TestHoldUploadsWaitsForUploadsInFlight: HoldUploads returns only once
// the upload in flight is recorded in the index (garbage collection then
// sees its references), and uploads go on after the release.
func TestHoldUploadsWaitsForUploadsInFlight(t *testing.T) {
	gs := &gatedStore{started: make(chan struct{}), gate: make(chan struct{})}
	te := openEngine(t, t.TempDir(), func(c *Config) {
		gs.Store = c.Store
		c.Store = gs
		c.SealDelay = 10 * time.Millisecond
	})
	ino := te.create(t, "f")
	f := te.open(t, ino)
	defer f.Release()
	if err := f.Write(t.Context(), randBytes(1, testChunk), 0); err != nil {
		t.Fatal(err)
	}
	<-gs.started

	stored := make(chan bool, 1)
	go func() {
		release, err := te.HoldUploads(t.Context())
		if err != nil {
			stored <- false
			return
		}
		defer release()
		ref, ok, err := te.idx.Chunk(ino, 0)
		stored <- err == nil && ok && ref.Kind == index.ChunkStored
	}()
	time.Sleep(50 * time.Millisecond) // let the hold begin: it must wait for the gate
	close(gs.gate)
	if !<-stored {
		t.Fatal("HoldUploads returned before the upload in flight was recorded")
	}
	g := te.create(t, "g")
	f2 := te.open(t, g)
	defer f2.Release()
	if err := f2.Write(t.Context(), randBytes(2, testChunk), 0); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, te)
}

// TestRestoreFromCache: a stored chunk whose blob is gone and that has no
// local copy is rebuilt from the block cache into a staged, queued chunk
// that reads back the same and is uploaded again; a chunk the cache does
// not hold is left alone.
func TestRestoreFromCache(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) { c.KeepLocalCopies = 0 })
	ino := te.create(t, "f")
	w := te.open(t, ino)
	data := randBytes(3, 2*testChunk)
	if err := w.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	waitUploaded(t, te)
	if err := w.Release(); err != nil {
		t.Fatal(err)
	}
	// Drop the local copies, then read chunk 0 only, through the cache.
	copies, err := te.idx.LocalCopies()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range copies {
		if _, err := te.idx.DropLocalCopy(c); err != nil {
			t.Fatal(err)
		}
	}
	f := te.open(t, ino)
	defer f.Release()
	buf := make([]byte, testChunk)
	if _, err := f.Read(t.Context(), buf, 0); err != nil {
		t.Fatal(err)
	}
	refs, err := te.idx.Chunks(ino)
	if err != nil || len(refs) != 2 || refs[0].Ref.Kind != index.ChunkStored || refs[0].Ref.StagingID != 0 {
		t.Fatalf("chunks %+v, %v", refs, err)
	}
	for _, r := range refs {
		if err := te.store.Delete(t.Context(), blobstore.ID(r.Ref.Stored.BlobID)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := te.RestoreFromCache(t.Context(), ino, 1, refs[1].Ref); ok || err != nil {
		t.Fatalf("restored a chunk the cache does not hold: %v, %v", ok, err)
	}
	ref, ok, err := te.RestoreFromCache(t.Context(), ino, 0, refs[0].Ref)
	if !ok || err != nil || ref.Kind != index.ChunkStaged || !ref.Sealed {
		t.Fatalf("restore: %+v, %v, %v", ref, ok, err)
	}
	clear(buf)
	if _, err := f.Read(t.Context(), buf, 0); err != nil || string(buf) != string(data[:testChunk]) {
		t.Fatalf("restored chunk reads back differently: %v", err)
	}
	waitUploaded(t, te)
	r, _, _ := te.idx.Chunk(ino, 0)
	if r.Kind != index.ChunkStored {
		t.Fatalf("restored chunk not uploaded again: %+v", r)
	}
	// Encrypted blocks get fresh nonces: the chunk is in a new blob.
	if _, err := te.store.Stat(t.Context(), blobstore.ID(r.Stored.BlobID)); err != nil {
		t.Fatalf("the chunk's new blob is not in the store: %v", err)
	}
}
