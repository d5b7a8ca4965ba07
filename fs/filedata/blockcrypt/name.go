package blockcrypt

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
)

// sealedNamePrefix starts every sealed name. It keeps the identifier clear
// of a leading '_' (which quilts reserve) and marks the format's version.
const sealedNamePrefix = "x"

// MaxNameLen is the longest name, in bytes, that [Codec.SealName] accepts:
// the longest whose sealed form still fits [quilt.MaxIdentifierLen]. The
// limit is the same in the clear, so a name that works with one layout
// works with every layout.
const MaxNameLen = (quilt.MaxIdentifierLen-len(sealedNamePrefix))*6/8 - EncryptedOverhead

var b64 = base64.RawURLEncoding

// SealName returns the quilt patch identifier under which a chunk named
// name is stored. name must itself be a valid identifier
// ([quilt.ValidateIdentifier]) of at most [MaxNameLen] bytes, whatever the
// layout; otherwise SealName fails with [blobstore.ErrInvalidArgument].
//
// In the clear the identifier is name. Encrypted it is opaque:
// "x" ‖ base64url(nonce ‖ ciphertext ‖ tag), a valid identifier of
// 1 + ceil(4·(len(name)+40)/3) bytes, different on every call so that
// equal names in different quilts cannot be matched up. Reverse it with
// [Codec.OpenName].
func (c *Codec) SealName(name string) (string, error) {
	if err := quilt.ValidateIdentifier(name); err != nil {
		return "", fmt.Errorf("blockcrypt: seal name: %w", err)
	}
	if len(name) > MaxNameLen {
		return "", fmt.Errorf("blockcrypt: seal name: %d bytes, more than %d: %w", len(name), MaxNameLen, blobstore.ErrInvalidArgument)
	}
	if c.aead == nil {
		return name, nil
	}
	buf := make([]byte, NonceSize, len(name)+EncryptedOverhead)
	fillRandom(buf)
	buf = c.aead.Seal(buf, buf[:NonceSize], []byte(name), nameAD)
	return sealedNamePrefix + b64.EncodeToString(buf), nil
}

// SealedNameLen returns the length of the identifier [Codec.SealName]
// makes of a name of nameLen bytes: nameLen in the clear, the length of
// the sealed form when encrypted. Packers use it to plan quilts before
// the names are sealed.
func (c *Codec) SealedNameLen(nameLen int) int {
	if c.aead == nil {
		return nameLen
	}
	return len(sealedNamePrefix) + b64.EncodedLen(nameLen+EncryptedOverhead)
}

// OpenName returns the name that [Codec.SealName] turned into the patch
// identifier id.
//
// In the clear it returns id unchanged, failing with
// [blobstore.ErrInvalidArgument] only if id is not a valid identifier.
// Encrypted, any id that this key did not seal, whether damaged, forged,
// sealed under another key or not a sealed name at all, fails with
// [blobstore.ErrIntegrity].
func (c *Codec) OpenName(id string) (string, error) {
	if c.aead == nil {
		if err := quilt.ValidateIdentifier(id); err != nil {
			return "", fmt.Errorf("blockcrypt: open name: %w", err)
		}
		return id, nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("blockcrypt: open name: %s: %w", why, blobstore.ErrIntegrity)
	}
	enc, ok := strings.CutPrefix(id, sealedNamePrefix)
	if !ok {
		return bad("not a sealed name")
	}
	if len(enc) > b64.EncodedLen(MaxNameLen+EncryptedOverhead) {
		return bad("too long for a sealed name")
	}
	raw, err := b64.Strict().DecodeString(enc)
	if err != nil {
		return bad("not base64url")
	}
	if len(raw) < EncryptedOverhead {
		return bad("too short for a sealed name")
	}
	plain, err := c.aead.Open(raw[NonceSize:NonceSize], raw[:NonceSize], raw[NonceSize:], nameAD)
	if err != nil {
		return bad("failed authentication (damaged, or sealed with another key)")
	}
	name := string(plain)
	if quilt.ValidateIdentifier(name) != nil || len(name) > MaxNameLen {
		return bad("sealed an invalid name")
	}
	return name, nil
}
