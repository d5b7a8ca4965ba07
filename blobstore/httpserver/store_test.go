package httpserver_test

import (
	"context"
	"io"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
)

// testShards keeps RS2 encoding cheap in tests.
const testShards = 10

// newMemStore returns the store the tests serve: a local store in a
// temporary directory, quilts included.
func newMemStore(t *testing.T) *localstore.Store { return newLocalStore(t, testShards) }

// newLocalStore opens a local store with n shards in a temporary directory.
func newLocalStore(t *testing.T, n int) *localstore.Store {
	t.Helper()
	cfg := localstore.DefaultConfig()
	cfg.Dirs = []string{t.TempDir()}
	cfg.Shards = n
	cfg.QuiltShards = n
	st, err := localstore.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// failStore wraps a store and fails chosen calls, to test the server's
// error mapping.
type failStore struct {
	blobstore.Store
	err error
}

func (f failStore) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	return blobstore.Info{}, f.err
}

func (f failStore) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	return blobstore.Info{}, f.err
}
