package chainsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/index"
)

// world is a real local store with a clock the test moves (epochs of an
// hour) and a real index whose blob records point at the store's blobs.
type world struct {
	t     *testing.T
	clock atomic.Int64
	start time.Time
	store *localstore.Store
	idx   *index.Index
	files int
	data  map[blobstore.ID][]byte
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, start: time.Unix(1_700_000_000, 0), data: map[blobstore.ID][]byte{}}
	w.clock.Store(w.start.UnixNano())
	cfg := localstore.DefaultConfig()
	cfg.Dirs = []string{filepath.Join(t.TempDir(), "store")}
	cfg.Shards, cfg.QuiltShards = 10, 10
	cfg.EpochDuration = time.Hour
	cfg.Now = func() time.Time { return time.Unix(0, w.clock.Load()) }
	s, err := localstore.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	idx, err := index.Open(t.Context(), t.TempDir(), index.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := idx.Check(); err != nil {
			t.Errorf("index check: %v", err)
		}
		_ = idx.Close()
	})
	w.store, w.idx = s, idx
	return w
}

// at moves the clock to the start of epoch e.
func (w *world) at(e uint32) { w.clock.Store(w.start.Add(time.Duration(e) * time.Hour).UnixNano()) }

// blob stores distinct bytes for epochs epochs and records the blob in
// the index, referenced by a file's chunk when referenced is set.
func (w *world) blob(epochs uint32, referenced bool) blobstore.ID {
	t := w.t
	w.files++
	data := bytes.Repeat([]byte{byte(w.files)}, 1000)
	info, err := w.store.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Epochs: epochs})
	if err != nil {
		t.Fatal(err)
	}
	w.data[info.ID] = data
	var results []index.UploadResult
	if referenced {
		f, err := w.idx.Create(index.RootIno, fmt.Sprintf("f%d", w.files), index.NewNode{Mode: syscall.S_IFREG | 0o644, ChunkSize: 1 << 20, Now: 1})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := w.idx.NewStagedChunk(f.Ino, 0)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := w.idx.Seal([]index.Sealing{{Ino: f.Ino, N: 0, StagingID: ref.StagingID, Size: 1000}}, 1)
		if err != nil || len(sealed) != 1 {
			t.Fatalf("seal: %v, %d chunks", err, len(sealed))
		}
		ups, err := w.idx.Uploads(0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		up := ups[len(ups)-1]
		results = []index.UploadResult{{Upload: up, Stored: index.StoredChunk{Length: 1000, PlainLen: 1000, BlockSize: 1 << 20, BlockHashes: make([][32]byte, 1)}}}
	}
	rec := index.Blob{ID: info.ID, Kind: index.BlobStandalone, State: index.BlobCertified, Size: uint64(info.Size),
		RegisteredEpoch: info.RegisteredEpoch, CertifiedEpoch: info.CertifiedEpoch, EndEpoch: info.EndEpoch}
	if _, err := w.idx.CompleteUploads(rec, results); err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// ends returns blob id's end epoch in the index and in the store.
func (w *world) ends(id blobstore.ID) (inIndex, inStore uint32) {
	rec, ok, err := w.idx.BlobInfo(id)
	if err != nil || !ok {
		w.t.Fatalf("index record of %s: %v, %v", id, ok, err)
	}
	info, err := w.store.Stat(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return rec.EndEpoch, info.EndEpoch
}

func (w *world) renewer(cfg Config) *Renewer {
	r, err := NewRenewer(w.store, w.idx, cfg, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// TestRenewExtendsReferencedBlobs: a referenced blob close to its end is
// extended to the target, in the store and in the index; one far from its
// end and one nothing references are left alone.
func TestRenewExtendsReferencedBlobs(t *testing.T) {
	w := newWorld(t)
	cfg := Config{MinEpochsAhead: 2, TargetEpochsAhead: 10, Interval: time.Hour, GCGrace: 2}
	soon := w.blob(3, true)   // ends at epoch 3
	later := w.blob(20, true) // ends at epoch 20
	orphan := w.blob(3, false)
	r := w.renewer(cfg)

	p, err := r.RenewOnce(t.Context())
	if err != nil || p.Extended != 0 || p.Checked != 2 {
		t.Fatalf("epoch 0: %+v, %v; want 2 referenced blobs, none extended", p, err)
	}
	w.at(1) // soon now ends 2 epochs ahead
	p, err = r.RenewOnce(t.Context())
	if err != nil || p.Extended != 1 || p.Expired != 0 || p.Failed != 0 {
		t.Fatalf("epoch 1: %+v, %v; want one extension", p, err)
	}
	if i, s := w.ends(soon); i != 11 || s != 11 {
		t.Fatalf("extended blob ends at %d in the index, %d in the store; want 1+10", i, s)
	}
	if i, s := w.ends(later); i != 20 || s != 20 {
		t.Fatalf("blob far from its end: %d/%d, want 20", i, s)
	}
	if i, s := w.ends(orphan); i != 3 || s != 3 {
		t.Fatalf("unreferenced blob: %d/%d, want left at 3", i, s)
	}
	// A second pass in the same epoch has nothing to do.
	if p, err := r.RenewOnce(t.Context()); err != nil || p.Extended != 0 {
		t.Fatalf("second pass: %+v, %v", p, err)
	}
}

// TestRenewAfterCrashDoesNotPayTwice: an extension the index did not
// record (a crash between the two) is read back from the chain, not made
// again.
func TestRenewAfterCrashDoesNotPayTwice(t *testing.T) {
	w := newWorld(t)
	id := w.blob(3, true)
	if _, err := w.store.Extend(t.Context(), id, 9); err != nil { // ends at 12; the index still says 3
		t.Fatal(err)
	}
	w.at(2)
	p, err := w.renewer(Config{MinEpochsAhead: 2, TargetEpochsAhead: 10, Interval: time.Hour, GCGrace: 2}).RenewOnce(t.Context())
	if err != nil || p.Extended != 0 || p.Failed != 0 {
		t.Fatalf("%+v, %v; want nothing extended", p, err)
	}
	if i, s := w.ends(id); i != 12 || s != 12 {
		t.Fatalf("ends %d in the index, %d in the store; want both 12", i, s)
	}
}

// TestRenewReportsEndedLeases: a referenced blob whose lease has ended is
// counted and logged, not extended, on every pass.
func TestRenewReportsEndedLeases(t *testing.T) {
	w := newWorld(t)
	id := w.blob(1, true)
	w.at(5)
	r := w.renewer(DefaultConfig())
	for range 2 {
		p, err := r.RenewOnce(t.Context())
		if err != nil || p.Expired != 1 || p.Extended != 0 {
			t.Fatalf("%+v, %v; want the ended lease reported", p, err)
		}
	}
	if i, s := w.ends(id); i != 1 || s != 1 {
		t.Fatalf("ended lease moved: %d/%d", i, s)
	}
}

// TestRunRenewsUntilCancelled: Run makes a pass at once and stops when its
// context ends.
func TestRunRenewsUntilCancelled(t *testing.T) {
	w := newWorld(t)
	id := w.blob(2, true)
	r := w.renewer(Config{MinEpochsAhead: 2, TargetEpochsAhead: 10, Interval: time.Hour, GCGrace: 2})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if i, _ := w.ends(id); i == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not extend the blob")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{
		{MinEpochsAhead: 0, TargetEpochsAhead: 5, Interval: time.Hour, GCGrace: 2},
		{MinEpochsAhead: 5, TargetEpochsAhead: 5, Interval: time.Hour, GCGrace: 2},
		{MinEpochsAhead: 2, TargetEpochsAhead: blobstore.MaxEpochsAhead + 1, Interval: time.Hour, GCGrace: 2},
		{MinEpochsAhead: 2, TargetEpochsAhead: 5, GCGrace: 2},
		{MinEpochsAhead: 2, TargetEpochsAhead: 5, Interval: time.Hour},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestCollectsExpiredGarbage: an unreferenced blob is dropped from the
// store and the index once its lease has ended, not before; a referenced
// one never is; and one whose bytes were stored again meanwhile (which
// extends its lease) is kept.
func TestCollectsExpiredGarbage(t *testing.T) {
	w := newWorld(t)
	garbage := w.blob(3, false)
	revived := w.blob(3, false)
	used := w.blob(3, true)
	r := w.renewer(Config{MinEpochsAhead: 1, TargetEpochsAhead: 2, Interval: time.Hour, GCGrace: 2})

	w.at(2)
	if p, err := r.RenewOnce(t.Context()); err != nil || p.Collected != 0 || p.Extended != 1 {
		t.Fatalf("epoch 2: %+v, %v; want the used blob extended, nothing collected", p, err)
	}
	w.at(3)
	// The same bytes are stored again just as the lease ends.
	if _, err := w.store.Put(t.Context(), bytes.NewReader(w.data[revived]), int64(len(w.data[revived])), blobstore.PutOptions{Epochs: 5}); err != nil {
		t.Fatal(err)
	}
	p, err := r.RenewOnce(t.Context())
	if err != nil || p.Collected != 1 {
		t.Fatalf("epoch 3: %+v, %v; want one blob collected", p, err)
	}
	if _, err := w.store.Stat(t.Context(), garbage); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("collected blob still in the store: %v", err)
	}
	if _, ok, _ := w.idx.BlobInfo(garbage); ok {
		t.Fatal("collected blob still has an index record")
	}
	if _, err := w.store.Stat(t.Context(), revived); err != nil {
		t.Fatalf("blob stored again was dropped: %v", err)
	}
	if _, ok, _ := w.idx.BlobInfo(revived); !ok {
		t.Fatal("blob stored again lost its index record")
	}
	// Extended at epoch 2 to 4, and at epoch 3 to 5.
	if i, s := w.ends(used); i != 5 || s != 5 {
		t.Fatalf("used blob ends %d/%d, want 5", i, s)
	}
}

// TestSnapshotPinsKeepBlobsAlive: a blob no file refers to any more but a
// kept snapshot pins (a data blob of its tree, or one of its own) is
// renewed and never collected; once the snapshot is retired it expires
// and is collected like any garbage.
func TestSnapshotPinsKeepBlobsAlive(t *testing.T) {
	w := newWorld(t)
	data := w.blob(3, true)
	part := w.blob(3, false)
	root := index.Snapshot{Root: [32]byte{0xee}}
	rootRec := index.Blob{ID: root.Root, Kind: index.BlobStandalone, State: index.BlobCertified, EndEpoch: 50}
	partRec, _, err := w.idx.BlobInfo(part)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.idx.AddSnapshot(root, []index.Blob{rootRec, partRec}, [][32]byte{data}); err != nil {
		t.Fatal(err)
	}
	if err := w.idx.Unlink(index.RootIno, "f1", 1); err != nil { // the data blob's only file
		t.Fatal(err)
	}
	r := w.renewer(Config{MinEpochsAhead: 1, TargetEpochsAhead: 4, Interval: time.Hour, GCGrace: 1})
	w.at(2)
	p, err := r.RenewOnce(t.Context())
	if err != nil || p.Extended != 2 || p.Collected != 0 {
		t.Fatalf("epoch 2: %+v, %v; want the two pinned blobs extended", p, err)
	}
	for _, id := range []blobstore.ID{data, part} {
		if i, s := w.ends(id); i != 6 || s != 6 {
			t.Fatalf("pinned blob %s ends %d/%d, want 6", id, i, s)
		}
	}
	if _, err := w.idx.RetireSnapshot(root.Root); err != nil {
		t.Fatal(err)
	}
	w.at(6)
	if p, err := r.RenewOnce(t.Context()); err != nil || p.Extended != 0 || p.Collected != 2 {
		t.Fatalf("epoch 6, retired: %+v, %v; want both blobs collected", p, err)
	}
	for _, id := range []blobstore.ID{data, part} {
		if _, err := w.store.Stat(t.Context(), id); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("blob %s of a retired snapshot still stored: %v", id, err)
		}
	}
}
