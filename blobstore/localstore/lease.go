package localstore

import (
	"context"
	"fmt"

	"github.com/walrusfs/walrusfs/blobstore"
)

// Extend adds epochs to blob id's lease, as Walrus's extend_blob does: its
// end epoch moves from E to E+epochs, and the record is rewritten durably
// in every directory that holds the blob.
//
// Errors, as on Walrus: ErrNotFound for a blob the store does not hold or
// whose lease has ended (E ≤ the current epoch: an expired blob cannot be
// extended); ErrInvalidArgument for epochs = 0 or an end more than
// [MaxEpochsAhead] epochs past the current one.
func (s *Store) Extend(ctx context.Context, id blobstore.ID, epochs uint32) (blobstore.Info, error) {
	done, err := s.enter()
	if err != nil {
		return blobstore.Info{}, err
	}
	defer done()
	if epochs == 0 {
		return blobstore.Info{}, fmt.Errorf("localstore: extend %s: zero epochs: %w", id, blobstore.ErrInvalidArgument)
	}
	st := s.stripe(id)
	st.lock()
	defer st.unlock()
	r, err := s.load(ctx, id)
	if err != nil {
		return blobstore.Info{}, fmt.Errorf("localstore: extend %s: %w", id, err)
	}
	now := s.clock.epoch()
	if r.End <= now {
		return blobstore.Info{}, fmt.Errorf("localstore: extend %s: its lease ended at epoch %d (now %d): %w", id, r.End, now, blobstore.ErrNotFound)
	}
	if uint64(r.End-now)+uint64(epochs) > MaxEpochsAhead {
		return blobstore.Info{}, fmt.Errorf("localstore: extend %s by %d epochs: it would end %d epochs ahead, at most %d: %w",
			id, epochs, uint64(r.End-now)+uint64(epochs), MaxEpochsAhead, blobstore.ErrInvalidArgument)
	}
	nr := *r
	nr.Gen++
	nr.End = r.End + epochs
	if err := s.rewriteRecord(&nr); err != nil {
		return blobstore.Info{}, fmt.Errorf("localstore: extend %s: update record: %w", id, err)
	}
	return s.info(&nr), nil
}

// DeleteExpired removes blob id if its lease has ended (its end epoch is
// at or before the current one), as Walrus drops an expired blob, and
// reports whether it did. The check and the delete hold the blob's lock,
// so a Put of the same bytes either extends the lease first (and the blob
// stays) or finds it gone (and stores it afresh). A blob the store does
// not hold is ErrNotFound.
func (s *Store) DeleteExpired(ctx context.Context, id blobstore.ID) (bool, error) {
	done, err := s.enter()
	if err != nil {
		return false, err
	}
	defer done()
	st := s.stripe(id)
	st.lock()
	defer st.unlock()
	r, err := s.load(ctx, id)
	if err != nil {
		return false, fmt.Errorf("localstore: delete expired %s: %w", id, err)
	}
	if r.End > s.clock.epoch() {
		return false, nil
	}
	if err := s.deleteBlob(id); err != nil {
		return false, fmt.Errorf("localstore: delete expired %s: %w", id, err)
	}
	st.deletes.Add(1)
	s.log.Debug("localstore: deleted an expired blob", "blob", id, "end_epoch", r.End)
	return true, nil
}
