package blockcrypt

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/walrusfs/walrusfs/blobstore"
)

// HashSize is the length of a block hash: SHA-256.
const HashSize = sha256.Size

// The associated data of every sealed block and name. Each kind of sealed
// thing has its own, so one cannot be passed off as the other.
var (
	blockAD = []byte("walrusfs block v1")
	nameAD  = []byte("walrusfs name v1")
)

// Codec turns plaintext blocks into stored blocks and back, for one
// [Layout] and, when the layout is encrypted, one key. It is immutable and
// safe for concurrent use.
type Codec struct {
	layout Layout
	aead   cipher.AEAD // nil in the clear
}

// NewCodec returns a codec for layout l. key must be non-nil exactly when
// l.Encrypted; the codec keeps its own copy. It fails with
// [blobstore.ErrInvalidArgument] for an invalid layout or a key that does
// not match it, and fails when the process may not use ChaCha20-Poly1305
// (FIPS 140-only mode).
func NewCodec(l Layout, key *Key) (*Codec, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	switch {
	case l.Encrypted && key == nil:
		return nil, fmt.Errorf("blockcrypt: encrypted layout needs a key: %w", blobstore.ErrInvalidArgument)
	case !l.Encrypted && key != nil:
		return nil, fmt.Errorf("blockcrypt: a key was given for a layout in the clear: %w", blobstore.ErrInvalidArgument)
	}
	c := &Codec{layout: l}
	if l.Encrypted {
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return nil, fmt.Errorf("blockcrypt: %w", err)
		}
		c.aead = aead
	}
	return c, nil
}

// Layout returns the codec's layout.
func (c *Codec) Layout() Layout { return c.layout }

// BlockHash returns the hash the index records for a stored block: SHA-256
// of its stored bytes.
func BlockHash(stored []byte) [HashSize]byte { return sha256.Sum256(stored) }

// SealBlock appends the stored form of one block of plaintext to dst and
// returns the extended slice. In the clear that is plain itself; encrypted
// it is a fresh random nonce, the ciphertext and the tag, len(plain)+40
// bytes. plain must be at most BlockSize bytes (SealBlock panics
// otherwise: the layout could not locate such a block) and must not overlap
// dst's spare capacity. When dst has room for the result, SealBlock does
// not allocate.
func (c *Codec) SealBlock(dst, plain []byte) []byte {
	if len(plain) > c.layout.BlockSize {
		panic(fmt.Sprintf("blockcrypt: SealBlock of %d bytes, block size is %d", len(plain), c.layout.BlockSize))
	}
	if c.aead == nil {
		return append(dst, plain...)
	}
	n := len(dst)
	dst = slices.Grow(dst, EncryptedOverhead+len(plain))[:n+NonceSize]
	nonce := dst[n:]
	fillRandom(nonce)
	return c.aead.Seal(dst, nonce, plain, blockAD)
}

// OpenBlock checks one stored block against want, the hash the index
// recorded for it, and appends its plaintext to dst. It checks the hash
// first and then, when encrypted, the tag; if either fails, or the block
// has a length the layout cannot produce, it returns nil and an error
// wrapping [blobstore.ErrIntegrity], and no plaintext. A wrong key shows up
// as a failed tag. dst's spare capacity may be overwritten even on failure,
// and must not overlap stored. When dst has room for the result, OpenBlock
// does not allocate.
func (c *Codec) OpenBlock(dst, stored []byte, want [HashSize]byte) ([]byte, error) {
	if BlockHash(stored) != want {
		return nil, fmt.Errorf("blockcrypt: stored block of %d bytes does not match its SHA-256: %w", len(stored), blobstore.ErrIntegrity)
	}
	if c.aead == nil {
		if err := c.checkStoredLen(stored); err != nil {
			return nil, err
		}
		return append(dst, stored...), nil
	}
	return c.OpenChecked(dst, stored)
}

// OpenChecked is OpenBlock for a stored block its caller has just checked
// against the recorded hash itself (the block cache checks every block it
// fetches or reads back from disk before decoding it): it checks the
// length and, when encrypted, the tag, without hashing the block again.
// An unencrypted block is its own plaintext and is returned as it is,
// stored itself, not appended to dst.
func (c *Codec) OpenChecked(dst, stored []byte) ([]byte, error) {
	if err := c.checkStoredLen(stored); err != nil {
		return nil, err
	}
	if c.aead == nil {
		return stored, nil
	}
	out, err := c.aead.Open(dst, stored[:NonceSize], stored[NonceSize:], blockAD)
	if err != nil {
		return nil, fmt.Errorf("blockcrypt: stored block of %d bytes failed authentication (damaged, or sealed with another key): %w", len(stored), blobstore.ErrIntegrity)
	}
	return out, nil
}

// checkStoredLen refuses a stored block of a length the layout cannot
// produce.
func (c *Codec) checkStoredLen(stored []byte) error {
	o := c.layout.Overhead()
	if len(stored) < o || len(stored) > c.layout.BlockSize+o {
		return fmt.Errorf("blockcrypt: stored block of %d bytes, want %d to %d: %w", len(stored), o, c.layout.BlockSize+o, blobstore.ErrIntegrity)
	}
	return nil
}

// EncodeChunk reads exactly plainLen bytes from r, writes their stored form
// to w one block at a time, and returns the hash of every stored block and
// the stored length (StoredLen(plainLen)). It holds one plaintext block and
// one stored block in memory however long the chunk is, and reads nothing
// past plainLen bytes.
//
// If r ends early the error wraps io.ErrUnexpectedEOF; a negative plainLen
// wraps [blobstore.ErrInvalidArgument]; errors from r and w are wrapped as
// they are. On error the bytes already written to w are an incomplete chunk
// and must be discarded.
func (c *Codec) EncodeChunk(r io.Reader, plainLen int64, w io.Writer) (hashes [][HashSize]byte, storedLen int64, err error) {
	if plainLen < 0 {
		return nil, 0, fmt.Errorf("blockcrypt: encode chunk of %d bytes: %w", plainLen, blobstore.ErrInvalidArgument)
	}
	l := c.layout
	blocks := l.Blocks(plainLen)
	hashes = make([][HashSize]byte, 0, blocks)
	plain := make([]byte, min(int64(l.BlockSize), plainLen))
	var sealed []byte
	if c.aead != nil {
		sealed = make([]byte, 0, len(plain)+EncryptedOverhead)
	}
	for i := range blocks {
		_, _, plainN := l.StoredBlock(plainLen, i)
		p := plain[:plainN]
		if got, err := io.ReadFull(r, p); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, fmt.Errorf("blockcrypt: encode chunk: read %d of %d bytes: %w", int64(i)*int64(l.BlockSize)+int64(got), plainLen, err)
		}
		out := p
		if c.aead != nil {
			out = c.SealBlock(sealed[:0], p)
		}
		hashes = append(hashes, BlockHash(out))
		n, err := w.Write(out)
		if err == nil && n != len(out) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return nil, 0, fmt.Errorf("blockcrypt: encode chunk: write block %d: %w", i, err)
		}
		storedLen += int64(n)
	}
	return hashes, storedLen, nil
}

// fillRandom fills b from the system's secure random source. crypto/rand.Read
// never returns an error: since Go 1.24 it crashes the program instead,
// because continuing without randomness would repeat nonces.
func fillRandom(b []byte) {
	_, _ = rand.Read(b)
}
