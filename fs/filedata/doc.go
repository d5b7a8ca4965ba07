// Package filedata is the file data engine of walrusfs: it holds the bytes
// of regular files. Package fs turns FUSE requests into calls on an
// [Engine] and its [File] handles; package index holds names, attributes and
// each file's chunk map. This package never sees FUSE, so it is tested
// without a mount.
//
// # Chunks
//
// A regular file is cut into chunks of its ChunkSize at fixed offsets. The
// chunk map in the index says, for each chunk, where its bytes are:
//
//   - nowhere: the chunk is a hole and reads as zeros;
//   - staged: in a staging file of the staging area, named by an ID the
//     index hands out and never reuses (staging/<id/256>/<id>, in hex);
//   - sealed: staged, frozen and queued for upload;
//   - stored: in a blob or a quilt patch, as blocks with one hash each (see
//     package blockcrypt), perhaps with its staging file kept as a local
//     copy.
//
// # A write
//
// [File.Write] first waits for staging room (back-pressure: past
// Config.StagingBudget a writer waits for uploads to free space, sealing
// early so there is something to upload, and fails with ENOSPC after
// Config.StagingWait). It then takes the file's I/O lock exclusively and,
// for each chunk the write touches, finds the chunk's writable staging
// file: an unsealed staged chunk is written in place; a sealed or stored
// chunk is first copied to a new staging file (copy-on-write, from the
// local copy or fetched from the store) and the chunk map pointed at the
// copy; a hole gets a new staging file. The bytes go to the file, then the
// new size and mtime go to the index journal. The write is acknowledged
// once both are done.
//
// Crash: a write acknowledged is in the staging file (page cache) and the
// index journal, so a crash of the daemon loses nothing acknowledged; only
// fsync makes it survive a power loss. A crash before the index records a
// new staging file leaves the file unreferenced, and the sweep at the next
// mount ([Engine.Recover]) removes it.
//
// # A seal
//
// A chunk stops changing when it is sealed: when it has not been written
// for Config.SealDelay (the file open or closed; neither close nor fsync
// seals, so a file written again soon is uploaded once), at unmount
// ([Engine.Drain]), for fsync with FsyncCertified, or early when staging
// runs out of room. Sealing takes the file's I/O lock (no write is
// half-way into a chunk file), and in one index operation flags each chunk
// sealed and adds a queue entry with the chunk's staging file and its size.
//
// Crash: the flag and the entry are one operation, so a crash leaves both
// or neither. Chunks that were written but never sealed are sealed at the
// next mount.
//
// # An upload
//
// The uploader (package upload) reads the queue, sends large chunks as
// standalone blobs and packs small ones into quilts, each chunk cut into
// blocks that are hashed (and encrypted, with a key). When the store has
// the blob, one index operation records the blob, points every chunk that
// still refers to its sealed file at the stored copy (keeping the file as
// a local copy) and deletes the queue entries. The engine then switches
// the cached references of open files ([index.ChunkUpdate]). A chunk
// rewritten since it was sealed is not switched; its entry is just dropped.
//
// Uploads are background work, and give way to reads: every read counts as
// a request in flight for the engine's blobstore.Foreground until it is
// answered (a [StagedRange] until its Done, once the reply is spliced
// out), and while reads keep coming an upload reads staged chunks and has
// the store write its slivers back in paced pieces, each after waiting for
// a pause in the reads of Config.YieldQuiet, for at most
// Config.YieldMaxWait. Uploads started while staging is tight do not wait:
// writers are waiting for them.
//
// Crash: nothing leaves the queue before its result is recorded, so a
// crash during an upload leaves the chunk queued; the next mount uploads
// it again, which stores the same bytes under the same blob ID.
//
// # Releasing staging files
//
// A staging file is removed only after the index commit that stops
// referring to it: the index queues its ID once the commit is durable, and
// the engine's remover takes the IDs ([index.Index.TakeReleased]) and
// removes the files. No durable state ever points at a removed file; files
// a crash left unreferenced are swept at mount. Local copies of chunks in
// certified blobs are dropped, oldest first, while staging holds more than
// Config.KeepLocalCopies.
//
// # A read
//
// A read takes the file's I/O lock shared and walks the chunks it spans.
// A staged chunk (or a stored one with a local copy) is read from its
// file; a read inside one staged chunk is answered by [File.ReadStaged] so
// the caller can splice it to the kernel without copying (a small read is
// better copied: for a page, a splice's extra system calls cost more than
// the copy, and Read takes one pread). A stored chunk
// is read top to bottom: the engine asks the block cache for each block;
// the cache answers from memory, then from disk (re-verified), then by one
// fetch shared by every reader of that block; the fetch reads the block
// from the store and checks it against the hash the index recorded at
// upload before anything uses it. The blocks of one read that are not
// cached are fetched in one request, starting from the block asked for,
// and nothing else is fetched for a read after a seek. Only a run of reads
// that has gone on for a while past what the kernel's readahead alone
// would ask (Config.ReadaheadLead) has stored data fetched ahead of it
// (Config.FetchAhead), as far ahead as the run has read, up to two chunks,
// in a few large requests; the cache keeps every block such a fetch
// brings. Runs are kept per open handle (File), so two readers of one
// file each keep their own.
//
// # Errors
//
// Methods return errors, never errnos chosen for FUSE: POSIX conditions as
// syscall.Errno (ENOSPC, EINVAL, EOPNOTSUPP), a request interrupted by the
// kernel as the context's error, store failures wrapping the blobstore
// sentinels (ErrIntegrity when no source gave bytes that match their
// hash), ErrNoKey for an encrypted chunk without a key. Package fs maps
// them to errnos in one place.
//
// # Interrupts
//
// The kernel interrupts requests freely. A fetch from the store is shared
// work: it runs on the block cache's own context, and each reader waits on
// its own, so an interrupted reader returns at once while the fetch
// carries on for the others. Waits for staging room and for certification
// end with the request's context.
//
// # Locking
//
// Each open inode has one fileData, shared by its handles and by path
// operations (truncate, fallocate) in flight. Its io lock orders data
// operations: reads share it, writes, truncates and seals hold it
// exclusively; a spliced read keeps it shared until its reply is sent, so
// no truncate or close pulls the descriptor away mid-splice. Its mu guards
// only the cached chunk map and open files, and is never held across I/O
// or an index call. Engine.openMu guards the table of open inodes. The
// index has its own lock and never calls back into the engine, so no lock
// of this package is taken while the index lock is held.
package filedata
