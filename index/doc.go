// Package index keeps the whole walrusfs tree in one bbolt file: inodes and
// their attributes, directory entries, symlink targets, extended attributes,
// each file's chunk map, and the counters that go with them. It is the only
// copy of the namespace; file bytes live elsewhere (staging files now, Walrus
// blobs once uploaded) and are found through the chunk map.
//
// # Schema (version 2)
//
// All keys are fixed-width big-endian integers, optionally followed by a
// name, so a cursor walks them in numeric order. Every bucket sits at the top
// level:
//
//	meta       "schema"          → u32 schema version
//	           "next_ino"        → u64 next inode number to hand out
//	           "next_staging"    → u64 next staging file ID to hand out
//	           "journal_seq"     → u64 last journal record folded into this file
//	           "inode_count"     → u64 live inodes (for statfs)
//	           "last_upload"     → u64 last upload queue sequence number
//	           "volume_key"      → fingerprint of the key file data is encrypted with
//	           "restored_from"   → root blob ID of the snapshot the index was restored from
//	inodes     ino               → inode record (see encodeInode)
//	dirents    parent ‖ name     → child ino ‖ u32 file type (for readdir d_type)
//	symlinks   ino               → target bytes
//	xattrs     ino ‖ name        → 0x00 ‖ value (POSIX ACLs among them, in
//	                               step with the inode's mode: see acl.go)
//	chunks     ino ‖ chunk no.   → chunk reference (staged or stored; see ChunkRef)
//	orphans    ino               → 0x01: unlinked while open; purged at mount
//	blobs      blob ID           → blob record (reserved for the uploader)
//	uploads    u64 queue seq     → queued upload (reserved for the uploader)
//	snapshots  root blob ID      → kept snapshot (since version 2; see snapshots.go)
//	snapshot_pins root ‖ blob ID → empty: the snapshot pins the blob (since version 2)
//
// ino, parent and chunk numbers are u64; names are raw bytes (any byte but
// '/' and NUL, at most 255).
//
// # Transactions, group commit and the journal
//
// Every exported method is one atomic operation: it either happens whole or
// not at all, and once it has returned success it survives a crash of the
// daemon process (kill -9). Paying one disk flush per operation would make
// untar or git checkout crawl, so operations are grouped:
//
//  1. An operation runs inside one long-lived bbolt write transaction, under
//     the index mutex. Later operations see its effects at once.
//  2. Before returning, the operation appends one record holding its
//     key/value mutations (CRC-protected, with a sequence number) to the
//     journal file with a single write(2). The record is now in the kernel:
//     a kill -9 of the daemon cannot lose it.
//  3. Every CommitInterval (default one second) the journal is flushed to
//     disk (fdatasync); Sync does the same at once, and fsync and directory
//     fsync in the filesystem call it. The flush runs without the index
//     mutex, so operations go on meanwhile, and Syncs that arrive during a
//     flush share the next one: an fsync costs one journal flush, as on a
//     local filesystem, not a commit of the whole tree.
//  4. A background checkpoint commits the bbolt transaction (with bbolt's
//     usual fdatasyncs) every CheckpointInterval (default 30 s), or sooner
//     when many operations are pending, records the last folded sequence
//     number in "journal_seq", and truncates the journal. Commit does the
//     same at once. A checkpoint holds the mutex through bbolt's flushes,
//     which is why it is rare; staging files that operations stopped
//     referring to are released only then.
//
// At open, journal records newer than "journal_seq" are replayed; a torn or
// corrupt tail (a power loss in the middle of a write) ends the replay. So:
// a daemon crash loses nothing; a power loss or kernel crash loses at most
// the operations acknowledged since the last journal flush (at most
// CommitInterval, default one second) and never leaves a half-applied
// operation.
//
// If an operation fails half-way through its mutations, the transaction is
// rolled back and the operations since the last commit are replayed from
// memory, so the half-done operation leaves no trace.
//
// # Concurrency
//
// An *Index is safe for concurrent use. Operations are serialized by one
// mutex; each holds it for a few microseconds. No method does network or
// FUSE work while holding it.
package index
