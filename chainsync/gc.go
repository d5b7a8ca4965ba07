package chainsync

import (
	"context"
	"fmt"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/index"
)

// Discarder is a Ledger whose Blob objects walrusfs owns and lets go of
// itself (on Sui: delete_blob for a deletable, unexpired blob, burn
// otherwise), instead of letting them run out.
type Discarder interface {
	// Owned returns the Blob objects listed at the start of the pass.
	Owned() []blobstore.Info
	// Discard deletes or burns Blob objects; the result has one error (or
	// nil) per object, in order.
	Discard(ctx context.Context, objects []blobstore.Info) []error
}

// Garbage collection on a Discarder
//
// A Blob object the daemon owns is garbage when it is at least GCGrace
// epochs old and no blob record that keeps it exists: no record for its
// blob at all (an upload that crashed before the index heard of it), a
// record naming another object (the same bytes stored again), or a
// record without references for GCGrace epochs. The age rule protects an
// upload in flight, whose new object the index does not know yet; the
// grace gives an older index (a snapshot) time to still read the blob. A
// record whose object is gone and which nothing references is dropped.

// markUnreferenced records, for each blob without references that has no
// mark yet, that it has none from epoch now, and returns the records as
// they are then.
func (r *Renewer) markUnreferenced(blobs []index.Blob, now uint32) ([]index.Blob, error) {
	out := make([]index.Blob, 0, len(blobs))
	for _, b := range blobs {
		if !b.Referenced() && b.UnreferencedSince == 0 {
			marked, ok, err := r.idx.MarkUnreferenced(b.ID, now)
			if err != nil {
				return nil, fmt.Errorf("chainsync: mark %s: %w", blobstore.ID(b.ID), err)
			}
			if ok {
				b = marked
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// planGarbage picks the owned Blob objects that are garbage in epoch now
// (see above). A record without references and without a mark counts as
// unreferenced from now.
func planGarbage(now, grace uint32, blobs []index.Blob, owned []blobstore.Info) []blobstore.Info {
	records := make(map[blobstore.ID]index.Blob, len(blobs))
	for _, b := range blobs {
		records[b.ID] = b
	}
	old := func(e uint32) bool { return e+grace <= now }
	var garbage []blobstore.Info
	for _, o := range owned {
		rec, known := records[o.ID]
		since := rec.UnreferencedSince
		if since == 0 {
			since = now
		}
		keeps := known && rec.ObjectID == o.ObjectID && (rec.Referenced() || !old(since))
		if keeps || !old(o.RegisteredEpoch) {
			continue
		}
		garbage = append(garbage, o)
	}
	return garbage
}

// discard deletes or burns the plan's garbage and drops the records of
// unreferenced blobs whose object is gone.
func (r *Renewer) discard(ctx context.Context, d Discarder, plan Plan, blobs []index.Blob, p *Pass) error {
	old := func(e uint32) bool { return e != 0 && e+r.cfg.GCGrace <= plan.Epoch }
	var errs []error
	if len(plan.Garbage) > 0 {
		errs = d.Discard(ctx, plan.Garbage)
	}
	live := map[string]bool{}
	for _, o := range d.Owned() {
		live[o.ObjectID] = true
	}
	var failed []blobstore.Info
	var firstErr error
	for i, o := range plan.Garbage {
		if i < len(errs) && errs[i] != nil {
			p.DiscardFailed++
			failed = append(failed, o)
			if firstErr == nil {
				firstErr = errs[i]
			}
			continue
		}
		p.Discarded++
		delete(live, o.ObjectID)
	}
	if len(failed) > 0 {
		r.log.Warn("discarding garbage Blob objects failed; retrying at the next pass", "objects", len(failed), "first", failed[0].ObjectID, "err", firstErr)
	}
	for _, rec := range blobs {
		if rec.Referenced() || !old(rec.UnreferencedSince) || live[rec.ObjectID] {
			continue
		}
		if _, err := r.idx.DropBlob(rec.ID); err != nil {
			return fmt.Errorf("chainsync: drop the record of %s: %w", blobstore.ID(rec.ID), err)
		}
	}
	return nil
}
