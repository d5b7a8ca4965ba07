// Package localstore is the embedded default blob store of walrusfs: a
// faithful local Walrus on disk. Blobs are RS2-encoded exactly as Walrus
// encodes them (package rs2), so a blob's ID here is its real Walrus blob
// ID for the configured shard count, and the store survives the loss or
// corruption of up to f = (n−1)/3 shards the way the network does.
//
// # Shard counts
//
// Standalone blobs (Put) are encoded at Config.Shards, default 40: encoding
// cost per byte grows with n, and 40 keeps large blobs cheap. Quilts
// (PutQuilt) are laid out and encoded at Config.QuiltShards, default 1000
// as on Walrus Mainnet: a QuiltV1 quilt gives every patch at least one of
// the Ks = n−f matrix columns, so it holds at most Ks−1 patches (26 at
// n = 40, 666 at n = 1000), and the small files quilts exist for are cheap
// to encode at any n. A quilt's ID and patch IDs are then the ones Walrus
// Mainnet gives the same parts. Every blob's record keeps the shard count
// it was stored with, and reads, repair and recovery use that count, so
// both settings can change between runs and affect only new blobs.
//
// # Encoding and placement
//
// With n shards, a blob of L bytes becomes n
// primary slivers of Ks·S bytes each (Ks = n−f, symbol size S from L). The
// first Kp = n−2f slivers are systematic: sliver i holds blob bytes
// [i·Ks·S, (i+1)·Ks·S), zero-padded at the end; the others are repair
// slivers. Any Kp of the n slivers recover the blob. Secondary slivers are
// not stored: they add nothing to recoverability on one machine.
//
// Sliver i goes to shard directory Dirs[i mod len(Dirs)]. With n
// directories on n disks, each disk holds one sliver of every blob and any
// f disks can be lost; with fewer directories a directory holds up to
// ⌈n/len(Dirs)⌉ slivers of a blob, and the store survives the loss of a
// directory only if that is at most f. Every directory also holds a full
// copy of each blob's metadata (as every Walrus shard does), so losing
// directories never loses metadata while any holder of the blob remains.
//
// A directory keeps its slivers of a blob back to back in one file rather
// than one file each: creating, allocating and fsyncing n small files per
// blob cost several times the CPU of one file of the same bytes, and CPU
// is what bounds Put. A sliver is still read, verified and repaired on its
// own (a read is one pread at the sliver's offset).
//
// # On-disk layout
//
// Each shard directory looks like this (one blob shown, n = 10, two
// directories):
//
//	Dirs[0]/
//	  store.json        store ID, this directory's index and count, epoch start
//	  LOCK              flock held while a process has the store open
//	  blobs/
//	    M4/                            first two characters of the blob ID
//	      M4hsZGQ1…BUk/                one directory per blob
//	        meta                       metadata record (format in record.go)
//	        slivers                    primary slivers 0, 2, 4, 6, 8, raw, back
//	                                   to back: sliver i at (i div 2)·Ks·S
//	        trees                      large quilts only: one Merkle tree level
//	                                   of each systematic sliver here
//	                                   (format in slivertrees.go)
//	  tmp/
//	    put-<nonce>/                   a put being staged (same layout as a blob dir)
//	    delete-<blob ID>               intent of a delete in progress
//	    trash-<nonce>/, *.tmp          debris, removed at the next Open
//	Dirs[1]/
//	  … the same, with slivers 1, 3, 5, 7, 9
//
// Blob directories written before slivers were packed hold one file per
// sliver instead (s0000, s0002, …); a blob directory without a slivers
// file is read, and repaired, in that layout.
//
// The metadata record holds the Walrus BlobMetadataV1 pair hashes, which
// the blob ID authenticates (a record whose hashes do not reproduce its ID
// is ignored), and the ledger bookkeeping a chain would hold: registered,
// certified and end epochs, deletable, a generation number, a checksum.
// Slivers are raw bytes; each is checked against its primary hash (the
// Merkle root of its full row re-encoding) every time it is read, so a
// torn or truncated slivers file costs only the slivers it damaged.
//
// # Commit protocol
//
// A Put goes through two phases:
//
//  1. Stage: create tmp/put-<nonce>/ in every directory, stream the blob
//     through the encoder into the slivers files there, write the metadata
//     record into each staging directory, then make all of it durable in
//     one parallel round of fsyncs (every file, every staging directory,
//     every tmp directory), so the file system can commit them together.
//     A Put done as background work whose foreground is busy
//     (blobstore.ForegroundBusy: an upload while the filesystem serves
//     reads) writes its slivers back in paced pieces first, each after a
//     yield to the foreground (pacedFile), so the fsyncs find little to
//     write and the disk never holds more than a piece of it at once.
//  2. Publish: under the blob's lock, check whether the blob already
//     exists (then the staged copy only refills directories that lost it,
//     and is dropped), else rename every staging directory to
//     blobs/<xx>/<id> and fsync the parents. The first rename is the
//     commit point.
//
// What a crash leaves, and what the next Open does with it:
//
//   - before the commit point: staging directories, complete or torn, and
//     no published copy of the blob. Nothing was readable; Open removes
//     them.
//   - after it: the blob published in some directories, still staged in
//     the others. Everything was durable before the first rename, so Open
//     publishes the rest (with the published record; staged slivers that
//     fail their hash are logged, and repaired when read).
//   - after phase 2: a complete blob.
//
// In-process, publication and deletion hold the blob's lock (one of 256
// stripes by ID), so readers never see a half-published blob. Storing
// bytes that are already stored publishes nothing (the staging, which is
// how the ID is learnt, is discarded) and reports AlreadyCertified.
//
// Delete writes delete-<id> into every tmp directory (fsynced), then
// renames each blob directory into tmp/ as trash and removes it, and
// finally removes the intents. A crash after the first intent is durable
// is finished by the next Open; before that, the blob is untouched.
//
// Metadata updates (a Put that extends the end epoch) write a new record
// with a higher generation to a temporary file, fsync it and rename it over
// each copy; readers use the copy with the highest generation.
//
// # Reads, verification and repair
//
// A range read maps the range to systematic slivers (rs2.Layout.Locate) and
// reads them one at a time, as the caller consumes bytes. Each sliver is
// verified against its primary hash before any byte of it is returned. If
// a sliver is missing or fails verification, the store reads other
// slivers in index order until it has Kp good ones, reconstructs, and
// (Config.RepairOnRead) overwrites the bad sliver in place and syncs it (a
// crash half-way leaves a sliver that fails its hash again, nothing worse). With fewer
// than Kp good slivers the read fails with blobstore.ErrIntegrity: wrong
// bytes are never returned. A directory that lost blobs entirely (a
// replaced disk) is refilled for a blob when the same bytes are Put again.
//
// Quilts are ordinary blobs holding QuiltV1 bytes (package quilt). A patch
// occupies whole matrix columns, and a column spans every row, so a patch
// read reads the patch's columns from every systematic sliver (334 at
// n = 1000) and checks just those bytes: against the quilt's sliver trees
// when it keeps them (quilts of more than about 14 MB; see
// slivertrees.go), else by re-encoding the columns against their secondary
// hashes (rs2.Encoder.VerifyColumns). Only when that fails does it read,
// verify, reconstruct and repair whole slivers as a range read does. The
// patch is streamed a group of columns at a time (patchread.go), and of
// its last column only the rows it fills are read. The first patch read
// of a quilt reads the quilt's systematic slivers into the page cache in
// the background (sweep.go), so that its other patches come from memory.
//
// # Epochs and the ledger
//
// The local store has no chain. It keeps an epoch clock instead: epoch e
// starts at the store's creation time plus e·Config.EpochDuration (the
// creation time is persisted in store.json). A blob stored with
// PutOptions.Epochs = k in epoch e is registered and certified in e and
// ends at e+k; Info.ObjectID is a stable stand-in derived from the blob ID.
// Store.Extend moves the end as Walrus's extend_blob does. Nothing expires
// by itself: a blob whose lease has ended stays readable until Delete or
// DeleteExpired removes it. With CurrentEpoch, the store is the ledger of
// its own blobs for lease renewal (package chainsync), which drops the
// expired blobs nothing references.
//
// # Concurrency
//
// A Store is safe for concurrent use. Puts run in parallel (staging takes
// no lock); each directory is locked with flock for the life of the Store,
// so two processes cannot open the same store. A blob's commit, lease
// change or delete holds its stripe (one of a fixed set of locks, chosen
// by blob ID) for writing, and readers hold it for reading. That is also
// what lets the store keep records in memory once loaded and verified:
// a record is used again until its stripe ends a write section, or until
// a record file is found changed behind the store (see Store.load); the
// next load then reads the disk.
package localstore
