package localstore

import (
	"errors"
	"fmt"
	"sync"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// encoders caches one rs2.Encoder per shard count: blobs keep the shard
// count they were stored with, which may differ from Config.Shards.
type encoders struct {
	mu sync.Mutex
	m  map[int]*rs2.Encoder
}

func (e *encoders) get(n int) (*rs2.Encoder, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if enc, ok := e.m[n]; ok {
		return enc, nil
	}
	enc, err := rs2.NewEncoder(n)
	if err != nil {
		return nil, err
	}
	if e.m == nil {
		e.m = make(map[int]*rs2.Encoder)
	}
	e.m[n] = enc
	return enc, nil
}

// verifySliver checks data against primary sliver i's hash in rec. A
// mismatch wraps blobstore.ErrIntegrity.
func (s *Store) verifySliver(rec *record, i int, data []byte) error {
	enc, err := s.encs.get(rec.Shards)
	if err != nil {
		return err
	}
	return enc.VerifyPrimarySliver(rec.metadata(), i, data)
}

// usable reports whether primary sliver i of a blob with rec's shard count
// can take part in reconstruction.
func (s *Store) usable(rec *record, i int) bool {
	enc, err := s.encs.get(rec.Shards)
	return err == nil && enc.UsableForReconstruction(i)
}

// reconstruct fills the nil entries among the systematic slivers
// (slivers[0:Kp]) from the others; slivers has N entries, nil = missing,
// and every present one has been verified.
func (s *Store) reconstruct(rec *record, slivers [][]byte) error {
	enc, err := s.encs.get(rec.Shards)
	if err != nil {
		return err
	}
	if err := enc.ReconstructPrimary(slivers); err != nil {
		if errors.Is(err, rs2.ErrTooFewSlivers) {
			return fmt.Errorf("%w: %w", err, blobstore.ErrIntegrity)
		}
		return err
	}
	return nil
}
