// Package blockcrypt defines the stored form of a file chunk: how up to a
// few MiB of plaintext become the bytes of one Walrus blob or quilt patch,
// and back. It cuts a chunk into fixed-size blocks, seals each block with
// XChaCha20-Poly1305 when encryption is on, hashes every stored block with
// SHA-256, and keeps the encryption key in a small text file.
//
// Walrus blobs are public: anyone who learns a blob ID can read the blob.
// With encryption on, nothing but sizes leaves the machine in the clear.
//
// # Blocks
//
// A chunk of P plaintext bytes with block size B is cut into
// N = ceil(P/B) blocks (none when P = 0). Block i holds plaintext bytes
// [i·B, min((i+1)·B, P)): every block is B bytes except the last, which
// may be shorter. Reading any byte costs fetching, checking and opening
// one block, so B bounds the cost of a seek.
//
// The stored chunk is the N stored blocks back to back, with no header,
// padding or trailer. Every block grows by the same overhead O (0 in the
// clear, 40 encrypted), so stored block i starts at i·(B+O) and the stored
// chunk is P + N·O bytes long. The geometry ([Layout]: B and whether the
// blocks are encrypted), the plaintext length and the block hashes live in
// the index, not in the blob: a blob alone says nothing about itself.
//
// # Stored block
//
// In the clear (O = 0) a stored block is its plaintext. Encrypted (O = 40),
// a block of n plaintext bytes is stored as n+40 bytes:
//
//	offset   length  content
//	0        24      nonce: random bytes, drawn fresh for every block
//	24       n       ciphertext: plaintext XOR the XChaCha20 keystream
//	24+n     16      tag: Poly1305 over the associated data and ciphertext
//
// This is XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) under the 32-byte
// key of the key file, with the fixed associated data "walrusfs block v1",
// which keeps a block from being accepted as anything else this key seals
// (such as a patch name). The 192-bit nonces are random, so no counter has
// to survive a crash, and a collision is negligible (below 2⁻⁹⁶ after 2⁴⁸
// blocks). Two seals of the same plaintext therefore differ: equal files do
// not show up as equal blobs.
//
// # Hashes
//
// Every stored block, clear or encrypted, has a SHA-256 hash of its stored
// bytes (nonce ‖ ciphertext ‖ tag when encrypted), which the index records.
// A read checks the hash before it uses the bytes, then the tag before it
// hands out plaintext; either failure is [blobstore.ErrIntegrity], and no
// unchecked byte is ever returned. The hash is what pins a block to its
// place: the associated data is the same for every block, so the tag alone
// would accept a genuine block moved from another chunk or position. The
// hash also lets stored bytes be checked without the key.
//
// # Patch names
//
// A chunk stored in a quilt is named by a patch identifier, which the quilt
// index stores in the clear. With encryption on, [Codec.SealName] turns a
// name into "x" followed by unpadded base64url of
// nonce(24) ‖ ciphertext ‖ tag(16), sealed like a block but with the
// associated data "walrusfs name v1". The leading "x" keeps the identifier
// clear of the reserved leading '_' and marks the format. In the clear,
// names are used as they are.
//
// # What is not hidden
//
// Encryption hides contents and patch names. It does not hide sizes (the
// stored length gives the plaintext length exactly), the block size, how
// many chunks there are, when they were written, which blobs belong to one
// quilt, or quilt tags, which this package does not touch.
//
// # The key file
//
// The key is 32 random bytes kept in a text file, so it can be printed and
// typed back in:
//
//	walrusfs-key-v1
//	<64 lowercase hexadecimal digits>
//
// each line ending in a newline. [LoadOrCreateKey] creates it with mode
// 0600 and refuses to use one that group or others can read or write.
//
// Without the key everything encrypted is lost: every file's contents and
// every sealed patch name. The key file is the only copy. There is no
// escrow, no passphrase it derives from and no way to recover it from the
// blobs, so back it up before storing anything worth keeping.
//
// # Concurrency
//
// A [Codec] is immutable once made and safe for concurrent use. [Layout]
// is a plain value.
package blockcrypt
