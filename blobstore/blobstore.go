// Package blobstore is the vocabulary every part of walrusfs uses to talk
// about immutable blobs: blob and quilt-patch IDs, the Store interface that
// stores and fetches bytes, and the sentinel errors that describe failures.
//
// It depends on the standard library only, so any package can import it
// without pulling in HTTP, erasure coding or the chain. Concrete stores live in
// subpackages (the embedded local store, the Walrus HTTP client); the RS2
// codec and the quilt format live beside them.
//
// # Identifiers
//
// A Walrus blob ID is 32 bytes: BLAKE2b-256 over the RS2 encoding's Merkle
// root and the blob length. It has three spellings, all supported by [ID]:
// 43 characters of unpadded base64url (what the HTTP API and people use), the
// 32 raw bytes, and the little-endian u256 that Sui Move code sees.
//
// A quilt patch ID names one file inside a quilt: the quilt's blob ID followed
// by a version byte and the patch's column range ([PatchID]).
//
// # Errors
//
// Implementations wrap one of the sentinel errors below so callers can decide
// with errors.Is: [ErrNotFound] (gone or never existed), [ErrUnavailable]
// (transient: retry later), [ErrTooLarge], [ErrForbidden] and [ErrIntegrity]
// (bytes failed verification; never hand them on).
package blobstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// Sentinel errors. Implementations wrap them with context; test with errors.Is.
var (
	// ErrNotFound means the blob or patch does not exist, or no longer does
	// (expired or deleted).
	ErrNotFound = errors.New("blob not found")
	// ErrUnavailable is a transient failure: overload (HTTP 429), a node or
	// aggregator briefly down (503, 504), a timeout or a broken connection.
	// The same request may succeed later.
	ErrUnavailable = errors.New("blob store temporarily unavailable")
	// ErrTooLarge means the blob or request exceeds a size limit of the
	// encoding or of the service.
	ErrTooLarge = errors.New("blob too large")
	// ErrForbidden means the service refuses the request for good: blocked
	// content, bad credentials, or an operation the store does not allow.
	ErrForbidden = errors.New("blob access forbidden")
	// ErrIntegrity means bytes failed verification against a hash we hold.
	// The bytes must not be used.
	ErrIntegrity = errors.New("blob integrity check failed")
	// ErrInvalidArgument means the request itself is malformed: a bad ID, a
	// range outside the blob, an invalid quilt identifier.
	ErrInvalidArgument = errors.New("invalid argument")
)

// IDSize is the length of a blob ID in bytes.
const IDSize = 32

// ID is a Walrus blob ID. The zero value is not a valid blob's ID in practice
// but is a legal value.
type ID [IDSize]byte

var b64 = base64.RawURLEncoding

// ParseID parses the 43-character unpadded base64url form of a blob ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != b64.EncodedLen(IDSize) {
		return id, fmt.Errorf("blob ID %q: want %d base64url characters, got %d: %w",
			truncateForError(s), b64.EncodedLen(IDSize), len(s), ErrInvalidArgument)
	}
	n, err := b64.Strict().Decode(id[:], []byte(s))
	if err != nil || n != IDSize {
		return ID{}, fmt.Errorf("blob ID %q: not unpadded base64url: %w", truncateForError(s), ErrInvalidArgument)
	}
	return id, nil
}

// IDFromBytes returns the ID held in b, which must be exactly 32 bytes.
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != IDSize {
		return id, fmt.Errorf("blob ID: want %d bytes, got %d: %w", IDSize, len(b), ErrInvalidArgument)
	}
	copy(id[:], b)
	return id, nil
}

// IDFromU256 converts the little-endian u256 that Sui uses for blob IDs.
func IDFromU256(v *big.Int) (ID, error) {
	var id ID
	if v.Sign() < 0 || v.BitLen() > 8*IDSize {
		return id, fmt.Errorf("blob ID u256 %s: out of range: %w", v, ErrInvalidArgument)
	}
	be := v.FillBytes(make([]byte, IDSize))
	for i := range IDSize {
		id[i] = be[IDSize-1-i]
	}
	return id, nil
}

// String returns the unpadded base64url form used by the Walrus HTTP API.
func (id ID) String() string { return b64.EncodeToString(id[:]) }

// Bytes returns a copy of the 32 raw bytes.
func (id ID) Bytes() []byte { return append([]byte(nil), id[:]...) }

// U256 returns the ID as Sui sees it: the bytes read as a little-endian
// unsigned 256-bit integer.
func (id ID) U256() *big.Int {
	be := make([]byte, IDSize)
	for i := range IDSize {
		be[i] = id[IDSize-1-i]
	}
	return new(big.Int).SetBytes(be)
}

// MarshalText implements encoding.TextMarshaler with the base64url form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with the base64url form.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// PatchIDSize is the length of a quilt patch ID in bytes.
const PatchIDSize = IDSize + 1 + 2 + 2

// PatchIDVersion is the only quilt patch ID version Walrus defines (QuiltV1).
const PatchIDVersion = 1

// PatchID names one patch of a quilt: the quilt's blob ID, a version byte and
// the half-open range of matrix columns the patch occupies. Its text form is
// 50 characters of unpadded base64url over
// quilt[32] ‖ version ‖ u16le(start) ‖ u16le(end).
type PatchID struct {
	Quilt   ID
	Version byte
	Start   uint16
	End     uint16
}

// ParsePatchID parses the 50-character base64url form of a quilt patch ID.
func ParsePatchID(s string) (PatchID, error) {
	var p PatchID
	if len(s) != b64.EncodedLen(PatchIDSize) {
		return p, fmt.Errorf("quilt patch ID %q: want %d base64url characters, got %d: %w",
			truncateForError(s), b64.EncodedLen(PatchIDSize), len(s), ErrInvalidArgument)
	}
	var raw [PatchIDSize]byte
	n, err := b64.Strict().Decode(raw[:], []byte(s))
	if err != nil || n != PatchIDSize {
		return p, fmt.Errorf("quilt patch ID %q: not unpadded base64url: %w", truncateForError(s), ErrInvalidArgument)
	}
	copy(p.Quilt[:], raw[:IDSize])
	p.Version = raw[IDSize]
	p.Start = binary.LittleEndian.Uint16(raw[IDSize+1:])
	p.End = binary.LittleEndian.Uint16(raw[IDSize+3:])
	if p.Version != PatchIDVersion {
		return PatchID{}, fmt.Errorf("quilt patch ID %q: unknown version %d: %w", truncateForError(s), p.Version, ErrInvalidArgument)
	}
	if p.End <= p.Start {
		return PatchID{}, fmt.Errorf("quilt patch ID %q: empty column range [%d,%d): %w", truncateForError(s), p.Start, p.End, ErrInvalidArgument)
	}
	return p, nil
}

// Bytes returns the 37-byte binary form.
func (p PatchID) Bytes() []byte {
	raw := make([]byte, PatchIDSize)
	copy(raw, p.Quilt[:])
	raw[IDSize] = p.Version
	binary.LittleEndian.PutUint16(raw[IDSize+1:], p.Start)
	binary.LittleEndian.PutUint16(raw[IDSize+3:], p.End)
	return raw
}

// String returns the unpadded base64url form used by the Walrus HTTP API.
func (p PatchID) String() string { return b64.EncodeToString(p.Bytes()) }

// MarshalText implements encoding.TextMarshaler with the base64url form.
func (p PatchID) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with the base64url form.
func (p *PatchID) UnmarshalText(b []byte) error {
	v, err := ParsePatchID(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

func truncateForError(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// PutOptions are the storage options of a store request. They mirror the
// publisher's query parameters; a local store applies the ones that make
// sense for it (Epochs, Permanent) and ignores the rest.
type PutOptions struct {
	// Epochs is how many epochs ahead of the current one to store for.
	// Zero means the store's default (1 on Walrus).
	Epochs uint32
	// Permanent asks for a blob that cannot be deleted before it expires.
	Permanent bool
	// SendObjectTo is a Sui address that receives the created Blob object.
	SendObjectTo string
	// Force registers a new Blob object even when the blob is already
	// certified for long enough.
	Force bool
}

// Info describes one stored blob.
type Info struct {
	ID ID
	// Size is the unencoded length in bytes.
	Size int64
	// EncodedSize is the storage the blob pays for (Walrus encoded_length).
	EncodedSize int64
	// ObjectID is the Sui object ID of the Blob object, "0x…", when known.
	ObjectID string
	// RegisteredEpoch is the epoch the blob was registered in.
	RegisteredEpoch uint32
	// Certified reports whether CertifiedEpoch is set.
	Certified      bool
	CertifiedEpoch uint32
	// EndEpoch is the first epoch in which the blob is no longer stored.
	EndEpoch  uint32
	Deletable bool
	// AlreadyCertified is true when a store request found the blob already
	// certified and created no new Blob object.
	AlreadyCertified bool
	// Cost is what the store cost, in FROST, when the service reports it.
	Cost uint64
}

// QuiltPart is one file to be stored in a quilt.
type QuiltPart struct {
	// Identifier names the patch inside the quilt: non-empty UTF-8, unique
	// within the quilt, no trailing whitespace or control characters, not
	// starting with '_'.
	Identifier string
	Tags       map[string]string
	// Data is the patch's content. Quilts are bounded in size (at most a few
	// hundred MiB), so parts are held in memory.
	Data []byte
}

// StoredPatch maps an identifier to the patch ID it got in a quilt.
type StoredPatch struct {
	Identifier string
	PatchID    PatchID
	// Tags are the patch's tags, when the store reports them.
	Tags map[string]string
}

// QuiltInfo describes a stored quilt: the blob that holds it and its patches
// in the order the quilt stores them (sorted by identifier).
type QuiltInfo struct {
	Blob    Info
	Patches []StoredPatch
}

// Store stores and fetches immutable blobs. Implementations are safe for
// concurrent use.
//
// Errors wrap the sentinels of this package. A Store never returns bytes it
// could not verify: when it detects corruption it repairs or fails with
// ErrIntegrity.
type Store interface {
	// Put stores size bytes read from r as one blob and returns its info.
	// Reading fewer or more than size bytes from r is an error.
	Put(ctx context.Context, r io.Reader, size int64, opts PutOptions) (Info, error)
	// PutQuilt stores parts as one QuiltV1 quilt.
	PutQuilt(ctx context.Context, parts []QuiltPart, opts PutOptions) (QuiltInfo, error)
	// ReadRange returns length bytes of blob id starting at off. The range
	// must lie within the blob (ErrInvalidArgument otherwise). The caller
	// closes the reader; a reader may fail mid-stream with ErrIntegrity or
	// ErrUnavailable.
	ReadRange(ctx context.Context, id ID, off, length int64) (io.ReadCloser, error)
	// ReadPatch returns the data of one quilt patch (without its header).
	ReadPatch(ctx context.Context, id PatchID) (io.ReadCloser, error)
	// Stat returns what the store knows about blob id.
	Stat(ctx context.Context, id ID) (Info, error)
	// Delete removes blob id. Stores that cannot delete (the HTTP API has no
	// delete call; deletion is a Sui transaction) return ErrForbidden.
	Delete(ctx context.Context, id ID) error
}

// QuiltLister is an optional capability of a [Store], found by type
// assertion: listing the patches of a stored quilt (Walrus:
// GET /v1/quilts/{id}/patches). Reading a patch by identifier is ListPatches
// followed by ReadPatch.
type QuiltLister interface {
	// ListPatches returns the patches of quilt in the order the quilt
	// stores them. It fails with ErrNotFound if the blob does not exist and
	// ErrInvalidArgument if it is not a quilt.
	ListPatches(ctx context.Context, quilt ID) ([]StoredPatch, error)
}

// RangeVerifier is an optional capability of a [Store], found by type
// assertion: a range read that the caller checks (against a hash it holds),
// with the store reading another copy when the check fails. A store that
// reads through sources which can serve wrong bytes (Walrus aggregators)
// uses it to get past a bad one; without it, a caller reads with ReadRange
// and checks once.
type RangeVerifier interface {
	// ReadRangeVerified reads length bytes of blob id at off and calls
	// consume with a reader of exactly those bytes; consume reads them and
	// checks them. The range rules and errors are ReadRange's, and the
	// reader may fail mid-stream as ReadRange's may.
	//
	// When consume returns an error wrapping ErrIntegrity, the bytes are
	// bad: the store may call consume again with a reader of another copy,
	// from the start of the range, so consume must discard what it saw
	// before (reset its hash, truncate its buffer). Once no source is left
	// to try, the call fails with an error wrapping ErrIntegrity; a source
	// left that cannot be read fails it as ReadRange would (ErrUnavailable).
	// Any other error from consume ends the call and is returned so that
	// errors.Is finds it. The call returns nil only when consume did.
	ReadRangeVerified(ctx context.Context, id ID, off, length int64, consume func(r io.Reader) error) error
}

// NetworkShards is the shard count of Walrus Mainnet and Testnet: the
// shard count at which their publishers encode blobs and quilts.
const NetworkShards = 1000

// MaxEpochsAhead is the furthest ahead, in epochs, that Walrus Mainnet and
// Testnet store a blob: PutOptions.Epochs may be at most this.
const MaxEpochsAhead = 53

// QuiltLimiter is an optional capability of a [Store], found by type
// assertion: the shard count at which the store lays out and encodes
// quilts. A QuiltV1 quilt gives every patch whole columns of the RS2
// matrix (Ks = n−⌊(n−1)/3⌋ of them) and keeps at least one for its index,
// so the shard count fixes how many patches fit (Ks−1: 666 at 1000 shards)
// and how large a given set of patches makes the quilt. A store without it
// is taken to encode quilts at [NetworkShards], as Walrus's publishers do.
type QuiltLimiter interface {
	QuiltShards() int
}
