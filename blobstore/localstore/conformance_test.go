package localstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/blobstore/storetest"
)

// The suite runs against the default configuration: blobs at
// DefaultShards, quilts at DefaultQuiltShards.
func TestConformance(t *testing.T) {
	t.Parallel() // slow: quilts encode at 1000 shards
	enc, err := rs2.NewEncoder(DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	qenc, err := rs2.NewEncoder(DefaultQuiltShards)
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunWithOptions(t, func(t *testing.T) blobstore.Store {
		s, _ := openStore(t, defaultConfig(t, 3))
		return s
	}, storetest.Options{
		Delete:      storetest.DeleteSupported,
		MaxBlobSize: int64(enc.Params().MaxBlobSize()),
		BlobID: func(data []byte) (blobstore.ID, error) {
			return enc.BlobID(context.Background(), bytes.NewReader(data), int64(len(data)))
		},
		QuiltID: func(data []byte) (blobstore.ID, error) {
			return qenc.BlobID(context.Background(), bytes.NewReader(data), int64(len(data)))
		},
	})
}
