package chainsync

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/index"
)

// Garbage collection on request (`walrusfs gc`)
//
// The renewer's passes let unreferenced blobs go slowly: on the local
// store they run out their lease, on Sui their objects wait GCGrace epochs
// from when a pass first saw them unreferenced. Collect does it now:
//
//   - A blob is collectable when its record has no references, checked
//     against the chunk map itself (index.Index.Referenced), not only the
//     record's counts, and it has been unreferenced for at least Grace
//     epochs (0: whatever its age; a record not yet marked counts as
//     unreferenced from now).
//   - On a ledger that deletes at once (the local store, a [Deleter]) the
//     blob is deleted from the store, then its record dropped. A blob
//     stored as permanent cannot be deleted and is left to expire.
//   - On a [Discarder] (Sui) the record's Blob object is deleted or burned,
//     then the record dropped; Blob objects the index has no record of, or
//     that are another object of a recorded blob, are discarded only once
//     they are InFlightGrace epochs old, as in a pass: an upload in flight
//     owns an object the index does not know yet.
//   - A ledger that can do neither (Walrus without chain sync) collects
//     nothing: the plan says so and the records stay.
//
// The caller keeps uploads from completing meanwhile (a running mount
// holds its uploader, filedata.Engine.HoldUploads): an upload that stores
// the same bytes again would otherwise point chunks at a blob Collect has
// just deleted. The store's blob goes before the record, so a crash in
// between leaves a record of a blob the store no longer has, which the
// next Collect (or fsck) finds, never a blob nothing knows of.

// Deleter is a Ledger that deletes a blob from the store at once (the
// local store). A blob it does not have is blobstore.ErrNotFound; one it
// may not delete (permanent) blobstore.ErrForbidden.
type Deleter interface {
	Delete(ctx context.Context, id blobstore.ID) error
}

// CollectIndex is what Collect needs from the index (*index.Index).
type CollectIndex interface {
	Blobs() ([]index.Blob, error)
	Referenced(ids [][32]byte) (map[[32]byte]bool, error)
	DropBlob(id [32]byte) (bool, error)
}

// CollectConfig tunes Collect.
type CollectConfig struct {
	// Grace keeps blobs unreferenced for fewer epochs than this.
	Grace uint32
	// InFlightGrace keeps Blob objects unknown to the index younger than
	// this many epochs (at least 1; Config.GCGrace in a mount).
	InFlightGrace uint32
}

// Unreferenced is one blob record without references.
type Unreferenced struct {
	Blob index.Blob
	// Keep says why the blob is not collected now ("" when it is).
	Keep string
}

// CollectPlan is what Collect would do now.
type CollectPlan struct {
	Epoch uint32
	// Blobs are the records without references, collectable or not.
	Blobs []Unreferenced
	// Objects are Blob objects to delete or burn (a Discarder's),
	// including those no record names.
	Objects []blobstore.Info
	// Miscounted are records whose counts say unreferenced while chunks
	// point into them: kept (fsck --repair fixes the counts).
	Miscounted []index.Blob
	// Unsupported is set when the ledger can collect nothing, with why.
	Unsupported string
}

// Collected is what Collect did.
type Collected struct {
	Blobs        int    // records dropped with their blob
	Bytes        uint64 // their unencoded size
	EncodedBytes uint64 // the storage they paid for
	Objects      int    // Blob objects deleted or burned
	// Failed are the blobs or objects that could not be collected, and
	// why; they stay for the next run.
	Failed []CollectFailure
}

// CollectFailure is one blob or object Collect left.
type CollectFailure struct {
	ID     blobstore.ID
	Object string
	Err    error
}

// PlanCollect reads the ledger and the index and returns what Collect
// would do now, changing nothing.
func PlanCollect(ctx context.Context, ledger Ledger, idx CollectIndex, cfg CollectConfig) (CollectPlan, error) {
	var now uint32
	if ledger != nil {
		var err error
		if now, err = ledger.CurrentEpoch(ctx); err != nil {
			return CollectPlan{}, fmt.Errorf("chainsync: current epoch: %w", err)
		}
	}
	plan := CollectPlan{Epoch: now}
	blobs, err := idx.Blobs()
	if err != nil {
		return plan, fmt.Errorf("chainsync: blob records: %w", err)
	}
	var ids [][32]byte
	for _, b := range blobs {
		if !b.Referenced() {
			ids = append(ids, b.ID)
		}
	}
	used, err := idx.Referenced(ids)
	if err != nil {
		return plan, fmt.Errorf("chainsync: chunk references: %w", err)
	}
	records := make(map[blobstore.ID]index.Blob, len(blobs))
	collectable := map[blobstore.ID]bool{}
	for _, b := range blobs {
		records[b.ID] = b
		if b.Referenced() { // a chunk, or a kept snapshot, needs it
			continue
		}
		if used[b.ID] {
			plan.Miscounted = append(plan.Miscounted, b)
			continue
		}
		u := Unreferenced{Blob: b}
		since := b.UnreferencedSince
		if since == 0 {
			since = now
		}
		if since+cfg.Grace > now {
			u.Keep = fmt.Sprintf("unreferenced since epoch %d, within the grace of %d epochs", since, cfg.Grace)
		}
		plan.Blobs = append(plan.Blobs, u)
		if u.Keep == "" {
			collectable[b.ID] = true
		}
	}
	_, deleter := ledger.(Deleter)
	d, discarder := ledger.(Discarder)
	switch {
	case ledger == nil:
		plan.Unsupported = "the store has no ledger walrusfs can delete from (with --publisher, give --network and --sui-key)"
	case discarder:
		if ps, ok := ledger.(PassStarter); ok {
			if err := ps.StartPass(ctx); err != nil {
				return plan, fmt.Errorf("chainsync: read the chain: %w", err)
			}
		}
		inFlight := max(cfg.InFlightGrace, 1)
		for _, o := range d.Owned() {
			rec, known := records[o.ID]
			switch {
			case known && rec.ObjectID == o.ObjectID:
				if collectable[o.ID] {
					plan.Objects = append(plan.Objects, o)
				}
			case o.RegisteredEpoch+inFlight <= now:
				plan.Objects = append(plan.Objects, o)
			}
		}
	case deleter:
	default:
		plan.Unsupported = "the ledger cannot delete blobs"
	}
	if plan.Unsupported != "" {
		for i := range plan.Blobs {
			if plan.Blobs[i].Keep == "" {
				plan.Blobs[i].Keep = plan.Unsupported
			}
		}
	}
	sort.Slice(plan.Blobs, func(i, j int) bool { return string(plan.Blobs[i].Blob.ID[:]) < string(plan.Blobs[j].Blob.ID[:]) })
	return plan, nil
}

// Collect carries out plan: deletes the collectable blobs (a Deleter) or
// their Blob objects (a Discarder), and drops their records. Failures are
// counted in the result and left for the next run; an error means the
// index could not be updated.
func Collect(ctx context.Context, ledger Ledger, idx CollectIndex, plan CollectPlan) (Collected, error) {
	var out Collected
	if plan.Unsupported != "" {
		return out, nil
	}
	drop := func(b index.Blob) error {
		dropped, err := idx.DropBlob(b.ID)
		if err != nil {
			return fmt.Errorf("chainsync: drop the record of %s: %w", blobstore.ID(b.ID), err)
		}
		if dropped {
			out.Blobs++
			out.Bytes += b.Size
			out.EncodedBytes += b.EncodedSize
		}
		return nil
	}
	if d, ok := ledger.(Discarder); ok {
		errs := d.Discard(ctx, plan.Objects)
		gone := map[string]bool{}
		for i, o := range plan.Objects {
			if i < len(errs) && errs[i] != nil {
				out.Failed = append(out.Failed, CollectFailure{ID: o.ID, Object: o.ObjectID, Err: errs[i]})
				continue
			}
			out.Objects++
			gone[o.ObjectID] = true
		}
		owned := map[string]bool{}
		for _, o := range d.Owned() {
			owned[o.ObjectID] = true
		}
		for _, u := range plan.Blobs {
			if u.Keep != "" {
				continue
			}
			if owned[u.Blob.ObjectID] && !gone[u.Blob.ObjectID] {
				continue // its object stays (a failure above)
			}
			if err := drop(u.Blob); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	del, ok := ledger.(Deleter)
	if !ok {
		return out, nil
	}
	for _, u := range plan.Blobs {
		if u.Keep != "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		id := blobstore.ID(u.Blob.ID)
		if err := del.Delete(ctx, id); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			out.Failed = append(out.Failed, CollectFailure{ID: id, Err: err})
			continue
		}
		if err := drop(u.Blob); err != nil {
			return out, err
		}
	}
	return out, nil
}
