// Package snapshot stores a point-in-time dump of a walrusfs tree (the
// index: names, attributes, xattrs, links, and which blob holds each chunk)
// as blobs in the volume's own store, and restores an index from it on any
// machine that can reach the store. File bytes are not copied: they are
// already in the store, and a kept snapshot pins the blobs that hold them
// (see the index package's snapshot records).
//
// # Taking a snapshot
//
//  1. Everything written so far is sealed and uploaded (the caller's flush),
//     then index.OpenDump copies the committed index. Chunks that are still
//     only staged (written during the flush) cannot be restored elsewhere:
//     the flush and the copy are tried again a few times, and if chunks are
//     still staged the snapshot fails. A snapshot never leaves data out.
//  2. The dump's records are streamed into parts of at most
//     Config.PartSize bytes, each stored as one blob (sealed under the
//     volume key when the volume is encrypted). One part is in memory at a
//     time, however large the tree.
//  3. A root blob lists the parts with their sizes and SHA-256 hashes, the
//     format version, the creation time, the volume key's fingerprint and
//     counts. Its ID is the snapshot ID.
//  4. The index records the snapshot and pins its blobs and the blobs its
//     tree refers to, so renewal keeps them and garbage collection leaves
//     them until the snapshot is retired.
//
// # The root blob
//
//	"walrusfs snapshot\n"  magic (18 bytes)
//	u32 big-endian n       length of the header
//	header                 JSON: format, volume_key, encrypted
//	body                   JSON manifest; sealed when encrypted, with the
//	                       magic and header as associated data
//	SHA-256                of everything before it
//
// The header is readable without the key, so a snapshot of another
// volume, or a key file of another volume, is refused by fingerprint in one
// line; sealing binds it to the manifest. The trailing hash catches damage
// to a snapshot in the clear.
//
// # Parts
//
// The parts' plaintexts, concatenated, are the dump stream: records of
// u8 bucket ‖ uvarint key length ‖ key ‖ uvarint value length ‖ value,
// ended by a zero byte. An encrypted part is sealed on its own, with its
// number and the volume key's fingerprint in the associated data, so parts
// cannot be reordered or moved between snapshots.
//
// # Restoring
//
// Restore reads the root, checks its hash, header and key, then reads the
// parts in order, checking each one's SHA-256 before use (bytes that
// crossed a network are never trusted; a store with several sources is
// asked for another copy), and loads the records into a new index
// (index.Load) in a temporary directory next to the target, which is
// renamed into place only when everything has been read and checked. A
// failed restore changes nothing on disk.
package snapshot
