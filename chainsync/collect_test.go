package chainsync

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/index"
)

// TestCollectOnTheLocalStore: gc deletes the unreferenced blobs from the
// store and drops their records, keeps every referenced one, and with a
// grace keeps blobs unreferenced for less; a dry plan changes nothing.
func TestCollectOnTheLocalStore(t *testing.T) {
	w := newWorld(t)
	used := w.blob(10, true)
	old := w.blob(10, false)
	young := w.blob(10, false)
	w.at(3)
	if _, _, err := w.idx.MarkUnreferenced(old, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.idx.MarkUnreferenced(young, 3); err != nil {
		t.Fatal(err)
	}
	plan, err := PlanCollect(t.Context(), w.store, w.idx, CollectConfig{Grace: 2, InFlightGrace: 2})
	if err != nil {
		t.Fatal(err)
	}
	keep := map[blobstore.ID]string{}
	for _, u := range plan.Blobs {
		keep[u.Blob.ID] = u.Keep
	}
	if len(keep) != 2 || keep[old] != "" || keep[young] == "" {
		t.Fatalf("plan with a grace of 2 in epoch 3: %+v", plan.Blobs)
	}
	for _, id := range []blobstore.ID{used, old, young} {
		if _, err := w.store.Stat(t.Context(), id); err != nil {
			t.Fatalf("planning deleted %s: %v", id, err)
		}
	}
	done, err := Collect(t.Context(), w.store, w.idx, plan)
	if err != nil || done.Blobs != 1 || len(done.Failed) != 0 {
		t.Fatalf("collect: %+v, %v", done, err)
	}
	if _, err := w.store.Stat(t.Context(), old); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("collected blob still in the store: %v", err)
	}
	if _, ok, _ := w.idx.BlobInfo(old); ok {
		t.Fatal("collected blob keeps its record")
	}
	plan, err = PlanCollect(t.Context(), w.store, w.idx, CollectConfig{InFlightGrace: 2})
	if err != nil {
		t.Fatal(err)
	}
	if done, err := Collect(t.Context(), w.store, w.idx, plan); err != nil || done.Blobs != 1 {
		t.Fatalf("collect without a grace: %+v, %v", done, err)
	}
	for id, want := range map[blobstore.ID]error{used: nil, young: blobstore.ErrNotFound} {
		if _, err := w.store.Stat(t.Context(), id); (want == nil) != (err == nil) || !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", id, err, want)
		}
	}
}

// discarding is the local store seen as a Discarder: it owns the objects
// the test lists and records what it is told to discard.
type discarding struct {
	*world
	owned     []blobstore.Info
	discarded []string
}

func (d *discarding) CurrentEpoch(ctx context.Context) (uint32, error) {
	return d.store.CurrentEpoch(ctx)
}
func (d *discarding) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	return d.store.Stat(ctx, id)
}
func (d *discarding) Extend(ctx context.Context, id blobstore.ID, n uint32) (blobstore.Info, error) {
	return d.store.Extend(ctx, id, n)
}
func (d *discarding) Owned() []blobstore.Info { return d.owned }
func (d *discarding) Discard(_ context.Context, objects []blobstore.Info) []error {
	for _, o := range objects {
		d.discarded = append(d.discarded, o.ObjectID)
		d.owned = slices.DeleteFunc(d.owned, func(x blobstore.Info) bool { return x.ObjectID == o.ObjectID })
	}
	return make([]error, len(objects))
}

// TestCollectOnSui: the object of an unreferenced record is discarded at
// once and the record dropped; an object no record names is discarded only
// once InFlightGrace old (an upload in flight owns a new one), and a
// referenced blob's object never.
func TestCollectOnSui(t *testing.T) {
	w := newWorld(t)
	used := w.blob(10, true)
	gone := w.blob(10, false)
	for id, obj := range map[blobstore.ID]string{used: "0xused", gone: "0xgone"} {
		if _, err := w.idx.RecordChain(id, recordOf(obj)); err != nil {
			t.Fatal(err)
		}
	}
	w.at(5)
	d := &discarding{world: w, owned: []blobstore.Info{
		{ID: used, ObjectID: "0xused", RegisteredEpoch: 0},
		{ID: gone, ObjectID: "0xgone", RegisteredEpoch: 5},
		{ID: blobstore.ID{1}, ObjectID: "0xinflight", RegisteredEpoch: 4},
		{ID: blobstore.ID{2}, ObjectID: "0xcrashed", RegisteredEpoch: 1},
		{ID: used, ObjectID: "0xused-again", RegisteredEpoch: 5},
	}}
	plan, err := PlanCollect(t.Context(), d, w.idx, CollectConfig{InFlightGrace: 2})
	if err != nil {
		t.Fatal(err)
	}
	done, err := Collect(t.Context(), d, w.idx, plan)
	if err != nil || done.Blobs != 1 || done.Objects != 2 {
		t.Fatalf("collect: %+v, %v", done, err)
	}
	slices.Sort(d.discarded)
	if !slices.Equal(d.discarded, []string{"0xcrashed", "0xgone"}) {
		t.Fatalf("discarded %v, want the unreferenced blob's object and the old unknown one", d.discarded)
	}
	if _, ok, _ := w.idx.BlobInfo(gone); ok {
		t.Fatal("the discarded blob keeps its record")
	}
	if _, ok, _ := w.idx.BlobInfo(used); !ok {
		t.Fatal("the referenced blob lost its record")
	}
}

func recordOf(object string) index.ChainRecord {
	return index.ChainRecord{ObjectID: object, Certified: true, EndEpoch: 10, Deletable: true}
}

// TestCollectKeepsPinnedBlobs: a blob no file refers to but a kept
// snapshot pins is not garbage; once the snapshot is retired it is.
func TestCollectKeepsPinnedBlobs(t *testing.T) {
	w := newWorld(t)
	pinned := w.blob(10, false)
	if err := w.idx.AddSnapshot(index.Snapshot{Root: [32]byte{0xee}}, nil, [][32]byte{pinned}); err != nil {
		t.Fatal(err)
	}
	w.at(3)
	collect := func() Collected {
		t.Helper()
		plan, err := PlanCollect(t.Context(), w.store, w.idx, CollectConfig{InFlightGrace: 2})
		if err != nil {
			t.Fatal(err)
		}
		done, err := Collect(t.Context(), w.store, w.idx, plan)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	if done := collect(); done.Blobs != 0 {
		t.Fatalf("collected %d blobs, want the pinned one kept", done.Blobs)
	}
	if _, err := w.store.Stat(t.Context(), pinned); err != nil {
		t.Fatalf("pinned blob: %v", err)
	}
	if _, err := w.idx.RetireSnapshot([32]byte{0xee}); err != nil {
		t.Fatal(err)
	}
	if done := collect(); done.Blobs != 1 {
		t.Fatalf("collected %d blobs after the snapshot was retired, want 1", done.Blobs)
	}
}
