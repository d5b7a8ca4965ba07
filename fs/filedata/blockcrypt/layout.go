package blockcrypt

import (
	"fmt"

	"github.com/walrusfs/walrusfs/blobstore"
)

const (
	// NonceSize is the length of the random nonce that starts every
	// encrypted block and sealed name.
	NonceSize = 24
	// TagSize is the length of the Poly1305 tag that ends every encrypted
	// block and sealed name.
	TagSize = 16
	// EncryptedOverhead is how many bytes encryption adds to a block.
	EncryptedOverhead = NonceSize + TagSize
	// MaxBlockSize is the largest block size a [Layout] may have. It is a
	// sanity bound, far above any useful block, that keeps block arithmetic
	// inside an int on every platform.
	MaxBlockSize = 1 << 30
	// DefaultBlockSize is the block size walrusfs stores chunks with: the
	// unit one seek fetches and one hash covers.
	DefaultBlockSize = 1 << 20
)

// Layout is the block geometry of one stored chunk. The index records it
// with the chunk, since the stored bytes do not describe themselves.
//
// The arithmetic methods assume a valid layout ([Layout.Validate]); every
// [Codec] holds one.
type Layout struct {
	// BlockSize is the plaintext length of every block but the last, in
	// bytes, between 1 and [MaxBlockSize].
	BlockSize int
	// Encrypted reports whether blocks are sealed with XChaCha20-Poly1305.
	Encrypted bool
}

// Validate reports whether l can describe a chunk. It fails with
// [blobstore.ErrInvalidArgument].
func (l Layout) Validate() error {
	if l.BlockSize < 1 || l.BlockSize > MaxBlockSize {
		return fmt.Errorf("blockcrypt: block size %d outside [1, %d]: %w", l.BlockSize, MaxBlockSize, blobstore.ErrInvalidArgument)
	}
	return nil
}

// Overhead returns how many bytes a stored block has beyond its plaintext:
// [EncryptedOverhead] (40) when encrypted, else 0.
func (l Layout) Overhead() int {
	if l.Encrypted {
		return EncryptedOverhead
	}
	return 0
}

// Blocks returns how many blocks a chunk of plainLen bytes is cut into:
// ceil(plainLen / BlockSize), 0 for an empty chunk.
func (l Layout) Blocks(plainLen int64) int {
	if plainLen <= 0 {
		return 0
	}
	return int((plainLen-1)/int64(l.BlockSize) + 1)
}

// StoredLen returns the length of the stored form of a chunk of plainLen
// bytes: plainLen plus Overhead per block.
func (l Layout) StoredLen(plainLen int64) int64 {
	return plainLen + int64(l.Blocks(plainLen))*int64(l.Overhead())
}

// PlainLen is the inverse of StoredLen: the plaintext length of a stored
// chunk of storedLen bytes in the given number of blocks. It fails with
// [blobstore.ErrInvalidArgument] when no chunk has that stored length and
// block count, which means the record they came from is damaged.
func (l Layout) PlainLen(storedLen int64, blocks int) (int64, error) {
	o := int64(l.Overhead())
	// Every block stores at least one plaintext byte, so blocks ≤
	// storedLen/(o+1); checking that first keeps blocks·o from overflowing.
	if storedLen < 0 || blocks < 0 || int64(blocks) > storedLen/(o+1) {
		return 0, fmt.Errorf("blockcrypt: %d stored bytes cannot hold %d blocks: %w", storedLen, blocks, blobstore.ErrInvalidArgument)
	}
	plain := storedLen - int64(blocks)*o
	if l.Blocks(plain) != blocks {
		return 0, fmt.Errorf("blockcrypt: %d stored bytes in %d blocks of %d (overhead %d) is no chunk: %w",
			storedLen, blocks, l.BlockSize, o, blobstore.ErrInvalidArgument)
	}
	return plain, nil
}

// StoredBlock returns where block i of a chunk of plainLen bytes lies in the
// stored chunk (n bytes from offset off) and how many plaintext bytes it
// holds. i must be in [0, Blocks(plainLen)); StoredBlock panics otherwise,
// as indexing a slice out of range does.
func (l Layout) StoredBlock(plainLen int64, i int) (off int64, n int, plainN int) {
	if i < 0 || i >= l.Blocks(plainLen) {
		panic(fmt.Sprintf("blockcrypt: block %d out of range [0, %d)", i, l.Blocks(plainLen)))
	}
	start := int64(i) * int64(l.BlockSize)
	plainN = int(min(int64(l.BlockSize), plainLen-start))
	return int64(i) * int64(l.BlockSize+l.Overhead()), plainN + l.Overhead(), plainN
}

// BlockOf returns the index of the block that holds plaintext offset off
// (off ≥ 0). The byte is at off − BlockOf(off)·BlockSize within that
// block's plaintext.
func (l Layout) BlockOf(off int64) int {
	return int(off / int64(l.BlockSize))
}
