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

// discard runs garbage collection for one pass.
func (r *Renewer) discard(ctx context.Context, d Discarder, now uint32, p *Pass) error {
	grace := r.cfg.GCGrace
	blobs, err := r.idx.Blobs()
	if err != nil {
		return fmt.Errorf("chainsync: blob records: %w", err)
	}
	records := make(map[blobstore.ID]index.Blob, len(blobs))
	for _, b := range blobs {
		if b.Refs == 0 && b.LiveBytes == 0 && b.UnreferencedSince == 0 {
			marked, ok, err := r.idx.MarkUnreferenced(b.ID, now)
			if err != nil {
				return fmt.Errorf("chainsync: mark %s: %w", blobstore.ID(b.ID), err)
			}
			if ok {
				b = marked
			}
		}
		records[b.ID] = b
	}
	old := func(e uint32) bool { return e+grace <= now }
	owned := d.Owned()
	live := make(map[string]bool, len(owned))
	var garbage []blobstore.Info
	for _, o := range owned {
		rec, known := records[o.ID]
		keeps := known && rec.ObjectID == o.ObjectID && (rec.Refs > 0 || rec.LiveBytes > 0 || !old(rec.UnreferencedSince))
		if keeps || !old(o.RegisteredEpoch) {
			live[o.ObjectID] = true
			continue
		}
		garbage = append(garbage, o)
	}
	var errs []error
	if len(garbage) > 0 {
		errs = d.Discard(ctx, garbage)
	}
	gone := map[string]bool{}
	for i, o := range garbage {
		if i < len(errs) && errs[i] != nil {
			p.DiscardFailed++
			r.log.Warn("discarding a garbage Blob object failed; retrying at the next pass", "blob", o.ID, "object", o.ObjectID, "err", errs[i])
			live[o.ObjectID] = true
			continue
		}
		p.Discarded++
		gone[o.ObjectID] = true
	}
	// Drop the records of unreferenced blobs whose object is gone.
	for _, rec := range records {
		if rec.Refs != 0 || rec.LiveBytes != 0 || !old(rec.UnreferencedSince) || live[rec.ObjectID] {
			continue
		}
		if _, err := r.idx.DropBlob(rec.ID); err != nil {
			return fmt.Errorf("chainsync: drop the record of %s: %w", blobstore.ID(rec.ID), err)
		}
	}
	return nil
}
