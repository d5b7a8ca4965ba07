// Package blockcache is the read cache for stored blocks: the byte ranges of
// Walrus blobs or quilt patches (typically 1 MiB, possibly AEAD-encrypted)
// that walrusfs reads file data in. [Cache.Get] returns a block's decoded
// bytes, from memory, from disk or from the backend, and never returns bytes
// that failed a check against a hash the caller holds.
//
// # Layers
//
// A Get looks in three places, in order:
//
//   - The memory layer: decoded blocks (plaintext), bounded by
//     Config.MemoryBytes with each block costing its length, in two halves.
//     A block loaded (from disk or the backend) goes first into the recent
//     blocks, a least-recently-used list; the block that leaves the list to
//     make room is offered to a ristretto cache, which admits and evicts by
//     estimated frequency (TinyLFU), so a one-off scan does not flush
//     blocks that are read again and again. Ristretto alone would decline
//     most new blocks once full: a sequential reader, whose requests are
//     often smaller than a block, would then read each block back from disk
//     (and check it again) once per request, and blocks fetched ahead of it
//     would wait for it on disk instead of in memory.
//   - The disk layer: one file per block of stored bytes (as fetched, still
//     encrypted), bounded by Config.DiskBytes with least-recently-used
//     eviction. It survives restarts.
//   - The backend, through [Source.Fetch]. The stored bytes go to the disk
//     layer and their decoding to the memory layer, and so do those of any
//     further blocks the fetch brought in (below).
//
// A block found on disk is verified and decoded before it is returned and
// promoted to memory. Failed loads are not cached: the next Get tries again.
//
// # Blocks a fetch brings in
//
// One read from the backend often yields more than the block asked for: a
// sequential reader fetches the rest of a chunk in one range request, and a
// quilt patch can only be read whole. Fetch returns those extra blocks
// alongside the asked-for one, each a [Block] with its key, its stored bytes
// (verified by the fetch like the asked-for block) and its own Source. The
// cache keeps each as if it had been fetched on its own: stored bytes to the
// disk layer, decoded with its Source into the memory layer. Callers never
// put blocks into the cache themselves; the cache is filled by its own loads
// only.
//
// The asked-for block comes first: its waiters get it as soon as it is
// decoded and kept, and the extras are kept after that, by the same load.
// Until an extra is kept its key has a load of its own in flight, so a Get
// of it waits for those bytes rather than fetching them again, and no other
// load of that key runs at the same time. An extra already in the memory
// layer, or whose key is already loading, is left alone. An extra that fails
// to decode is logged and dropped (it is not served, and the asked-for Get
// still succeeds); a Get of its key fetches it afresh. Close waits for extras
// being kept.
//
// # Trust
//
// The cache does not know how to hash anything: each [Source] carries the
// hash the caller holds (from the index, which got it when the data was
// written) and does the checking. Bytes from the network are checked inside
// Fetch, where the backend client can fail over to another aggregator or
// node on a mismatch. Bytes read back from disk are checked with
// [Source.Verify] on every read, because disks and other programs can change
// files: a file that fails is deleted, logged, counted in
// Stats.IntegrityFailures and refetched. The memory layer is trusted: it
// holds only bytes that passed a check in this process. Because every disk
// read is verified, disk writes skip fsync; a torn file after a crash just
// fails verification once.
//
// # Detached fetches
//
// Concurrent Gets and Prefetches of one key share a single load (a
// singleflight). That load runs on the cache's own context, bounded by
// Config.FetchTimeout and cancelled by [Cache.Close], never on a reader's
// context. Reader contexts end for reasons that say nothing about the block:
// the kernel interrupts FUSE requests, even for Go's own preemption signal.
// If the shared fetch ran on the first reader's context, one interrupt would
// fail every reader waiting for that block, and the retry would start from
// zero. Instead each waiter selects on its own ctx.Done and returns
// ctx.Err() at once, while the fetch carries on and fills the caches for the
// retry.
//
// # Disk layout
//
// Keys are arbitrary strings chosen by the caller, such as
// "<blob ID>/<stored offset>". A key's file is named by the hex SHA-256 of
// the key, under a subdirectory named by its first byte:
//
//	DiskDir/
//	  LOCK            flock held while a process has the cache open
//	  3f/
//	    3f9a…c2       stored bytes of one block, nothing else
//	    .tmp-123456   a write in progress, renamed into place when complete
//
// Open removes leftover temporary files, rebuilds the LRU order from file
// modification times (a hit refreshes a file's mtime at most once a minute)
// and evicts down to the budget, so a smaller budget takes effect at once.
// Space for a write is reserved, evicting as needed, before the temporary
// file is written, so the files never add up to more than Config.DiskBytes.
//
// # Memory
//
// The cache holds at most the memory layer's budget plus the blocks being
// loaded. Blocks returned by Get are shared with the cache and with other
// callers and must not be modified.
package blockcache
