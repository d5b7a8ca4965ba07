package localstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/blobstore/storetest"
)

func TestConformance(t *testing.T) {
	enc, err := rs2.NewEncoder(DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunWithOptions(t, func(t *testing.T) blobstore.Store {
		s, _ := openStore(t, testConfig(t, 3, DefaultShards))
		return s
	}, storetest.Options{
		Delete:      storetest.DeleteSupported,
		MaxBlobSize: int64(enc.Params().MaxBlobSize()),
		BlobID: func(data []byte) (blobstore.ID, error) {
			return enc.BlobID(context.Background(), bytes.NewReader(data), int64(len(data)))
		},
	})
}
