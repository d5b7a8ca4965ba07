package localstore

import (
	"encoding/hex"

	"golang.org/x/crypto/blake2b"

	"github.com/walrusfs/walrusfs/blobstore"
)

// objectID returns the stand-in Sui object ID reported for a blob: "0x"
// followed by 64 hex digits of BLAKE2b-256 over a domain tag and the blob
// ID. The local store has no chain and no Blob objects; the ID is stable
// (the same blob always gets the same one, across restarts and stores) so
// callers that record object IDs have something consistent to record.
func objectID(id blobstore.ID) string {
	h, _ := blake2b.New256(nil)
	h.Write([]byte("walrusfs/localstore/object\x00"))
	h.Write(id[:])
	return "0x" + hex.EncodeToString(h.Sum(nil))
}
