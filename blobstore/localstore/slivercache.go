package localstore

import (
	"bytes"
	"container/list"
	"sync"

	"github.com/walrusfs/walrusfs/blobstore"
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

// sliverCache is a small LRU of slivers that passed verification. The
// bytes were checked against the blob's metadata when they were read;
// blobs never change, so an entry stays right for as long as it is kept.
type sliverCache struct {
	mu    sync.Mutex
	bytes int
	lru   list.List // of *sliverEntry, most recent at the front
	items map[sliverKey]*list.Element
}

type sliverKey struct {
	id blobstore.ID
	i  int
}

type sliverEntry struct {
	key  sliverKey
	data []byte
}

// get returns a copy of a cached sliver.
func (c *sliverCache) get(id blobstore.ID, i int) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[sliverKey{id, i}]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return bytes.Clone(el.Value.(*sliverEntry).data), true
}

// put keeps a copy of a verified sliver, evicting the least recently used.
func (c *sliverCache) put(id blobstore.ID, i int, data []byte) {
	if len(data) > sliverCacheBytes/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[sliverKey]*list.Element{}
	}
	k := sliverKey{id, i}
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.lru.PushFront(&sliverEntry{key: k, data: bytes.Clone(data)})
	c.bytes += len(data)
	for c.bytes > sliverCacheBytes {
		old := c.lru.Back()
		e := old.Value.(*sliverEntry)
		c.lru.Remove(old)
		delete(c.items, e.key)
		c.bytes -= len(e.data)
	}
}

// forget drops every cached sliver of blob id (when it is deleted).
func (c *sliverCache) forget(id blobstore.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.items {
		if k.id == id {
			c.bytes -= len(el.Value.(*sliverEntry).data)
			c.lru.Remove(el)
			delete(c.items, k)
		}
	}
}
