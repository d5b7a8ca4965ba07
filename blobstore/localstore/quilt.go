package localstore

import (
	"context"
	"fmt"
	"io"

	"github.com/walrusfs/walrusfs/blobstore"
)

// PutQuilt stores parts as one QuiltV1 quilt.
func (s *Store) PutQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (blobstore.QuiltInfo, error) {
	return blobstore.QuiltInfo{}, fmt.Errorf("localstore: put quilt: not implemented: %w", blobstore.ErrForbidden)
}

// ReadPatch returns the data of one quilt patch.
func (s *Store) ReadPatch(ctx context.Context, id blobstore.PatchID) (io.ReadCloser, error) {
	return nil, fmt.Errorf("localstore: read patch: not implemented: %w", blobstore.ErrForbidden)
}
