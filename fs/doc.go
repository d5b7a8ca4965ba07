// Package fs is the walrusfs filesystem as the kernel sees it: go-fuse nodes
// over the index (package index) and the chunk files of the staging area.
//
// The nodes translate FUSE requests into index operations and chunk I/O, and
// errors into errnos (errno.go); they hold no state the index does not have,
// except open-file bookkeeping and caches of it.
//
// # Data
//
// A regular file is cut into chunks of its ChunkSize at fixed offsets. The
// file's chunk map in the index says, for each chunk, where its bytes are; a
// chunk with no entry is a hole and reads as zeros. Reads consult only the
// chunk map. Writes land in a staging file of the chunk (staging.go), which is
// created on the first write to the chunk; the write is acknowledged once the
// bytes are in the staging file and the new size is in the index journal, so
// a crash of the daemon loses nothing acknowledged.
//
// # Durability
//
//   - Every metadata operation that returned success survives a crash of the
//     daemon (see package index for the journal and group commit).
//   - fsync on a file makes its data and all metadata durable on disk.
//   - fsync on a directory, including the mount root, makes everything
//     durable: all staged data and all metadata. Linux does not pass
//     syncfs(2) to FUSE daemons, so `walrusfs sync` fsyncs the mount root.
//
// # Uploads
//
// With a blob store configured, sealed chunks leave staging through the
// uploader (upload.go): large chunks as standalone blobs, small ones packed
// into quilts planned as QuiltV1 lays them out (quilt.Planner), each result
// recorded in one index operation. Uploads are background work: their
// CPU-heavy goroutines run on OS threads at low priority
// (blobstore.EnterBackground), one quilt is built at a time, and while
// change requests keep arriving the scheduler waits for a pause of
// UploadConfig.QuietPeriod, for at most UploadConfig.ForegroundFirst,
// unless writers wait for staging room or someone waits for the uploads.
//
// # Deletion
//
// An unlinked file that is still open stays readable and writable until its
// last close; it is an orphan in the index until then, and a remount after a
// crash purges orphans. Staging files are removed only after the index
// commit that stops referring to them, so no durable state ever points at a
// removed file; files that a crash left without a reference are swept at
// mount.
//
// # Permissions
//
// The mount uses default_permissions: the kernel checks modes, owners and the
// sticky bit from the attributes we report. New inodes get the caller's uid
// and gid (the index applies setgid-directory inheritance).
package fs
