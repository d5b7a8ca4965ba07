package blockcrypt

import (
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/walrusfs/walrusfs/blobstore"
)

// Records: whole messages sealed under the volume key, for what walrusfs
// stores besides file blocks (snapshots of the tree). The caller names
// what it seals in the associated data (a label, and whatever binds the
// record to its place: an index, a header), so that one kind of record
// cannot be passed off as another, nor a block as a record.

// SealRecord appends to dst a fresh random nonce, plain sealed with
// XChaCha20-Poly1305 under key with associated data ad, and the tag:
// len(plain)+EncryptedOverhead bytes.
func SealRecord(key *Key, dst, plain, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("blockcrypt: %w", err)
	}
	n := len(dst)
	dst = slices.Grow(dst, EncryptedOverhead+len(plain))[:n+NonceSize]
	fillRandom(dst[n:])
	return aead.Seal(dst, dst[n:n+NonceSize], plain, ad), nil
}

// OpenRecord appends the plaintext of a record SealRecord made to dst. A
// record that is damaged, sealed with another key or with other
// associated data fails with an error wrapping [blobstore.ErrIntegrity].
func OpenRecord(key *Key, dst, sealed, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("blockcrypt: %w", err)
	}
	if len(sealed) < EncryptedOverhead {
		return nil, fmt.Errorf("blockcrypt: sealed record of %d bytes is shorter than its overhead: %w", len(sealed), blobstore.ErrIntegrity)
	}
	out, err := aead.Open(dst, sealed[:NonceSize], sealed[NonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("blockcrypt: sealed record of %d bytes failed authentication (damaged, or sealed with another key): %w", len(sealed), blobstore.ErrIntegrity)
	}
	return out, nil
}
