package chainsync_test

import (
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/chainsync"
)

// The local store is the ledger of its own blobs, and drops them when told.
var (
	_ chainsync.Ledger    = (*localstore.Store)(nil)
	_ chainsync.Collector = (*localstore.Store)(nil)
)
