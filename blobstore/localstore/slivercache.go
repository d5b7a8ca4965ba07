package localstore

import (
	"bytes"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/costlru"
)

// sliverCacheBytes bounds the verified slivers kept in memory. A read of
// a blob with many shards by byte range (a whole quilt read as one blob,
// or a patch read that fell back to whole slivers) verifies every
// systematic sliver it crosses (334 at 1000 shards); keeping them makes
// the next such read a memory copy instead of hundreds of reads and
// hashes. Patch reads normally read and verify only their own columns and
// do not need it.
//
// Only blobs with many shards are cached (quilts, at 1000): with few, a
// read touches few slivers, and reading them from disk each time lets
// every read notice, and repair, damage on disk at once.
const (
	sliverCacheBytes     = 32 << 20
	sliverCacheMinShards = 200
)

// sliverKey names primary sliver i of a blob.
type sliverKey struct {
	id blobstore.ID
	i  int
}

// sliverCache is a small LRU of slivers that passed verification. The
// bytes were checked against the blob's metadata when they were read;
// blobs never change, so an entry stays right for as long as it is kept.
type sliverCache struct {
	lru *costlru.Cache[sliverKey, []byte]
}

func newSliverCache() sliverCache {
	return sliverCache{lru: costlru.New[sliverKey, []byte](sliverCacheBytes, sliverCacheBytes/8)}
}

// get returns a copy of a cached sliver.
func (c sliverCache) get(id blobstore.ID, i int) ([]byte, bool) {
	b, ok := c.lru.Get(sliverKey{id, i})
	return bytes.Clone(b), ok
}

// put keeps a copy of a verified sliver, evicting the least recently used.
func (c sliverCache) put(id blobstore.ID, i int, data []byte) {
	c.lru.Add(sliverKey{id, i}, bytes.Clone(data), len(data))
}

// forget drops every cached sliver of blob id (when it is deleted).
func (c sliverCache) forget(id blobstore.ID) {
	c.lru.RemoveIf(func(k sliverKey) bool { return k.id == id })
}
