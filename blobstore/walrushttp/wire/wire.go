// Package wire holds the on-the-wire shapes of the Walrus publisher and
// aggregator HTTP API, shared by the client ([walrushttp]) and the server
// ([httpserver]) so both speak exactly one dialect.
//
// # Reply JSON
//
// Store replies are a [BlobStoreResult]: an object with exactly one of the
// keys newlyCreated, alreadyCertified, markedInvalid or error. Walrus
// serializes them with serde's camelCase renaming on both the variant and the
// field names ("blobObject", "registeredEpoch", "storageSize"); the OpenAPI
// documents published with Walrus show snake_case field names and are wrong
// about that. The one exception is the patch listing of
// GET /v1/quilts/{id}/patches, whose items use "patch_id" ([QuiltPatchItem]).
//
// # Errors
//
// Structured errors carry a JSON status body (see [ErrorBody]) whose
// machine-readable key is the (reason, domain) pair of its ErrorInfo detail.
// Load shedding (429), oversized bodies (413) and query strings that fail to
// parse (400) come back as plain text instead. [ParseError] turns any non-2xx
// reply into an [*Error], and [Sentinel] is the single place that decides which
// blobstore sentinel an HTTP status and reason mean; retry decisions follow
// from it (only [blobstore.ErrUnavailable] is worth retrying).
//
// # Ranges
//
// Aggregators accept exactly one form of Range header, "bytes=first-last"
// (inclusive, a single range). Open-ended and suffix ranges are rejected with
// 416 INVALID_BYTE_RANGE. [ParseRange] implements that grammar and
// [ParseContentRange] the reply's "bytes first-last/total".
//
// [walrushttp]: github.com/walrusfs/walrusfs/blobstore/walrushttp
// [httpserver]: github.com/walrusfs/walrusfs/blobstore/httpserver
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/walrusfs/walrusfs/blobstore"
)

// API paths and path prefixes.
const (
	PathStatus           = "/status"
	PathBlobs            = "/v1/blobs"
	PathQuilts           = "/v1/quilts"
	PathByQuiltPatchID   = "/v1/blobs/by-quilt-patch-id/"
	PathByQuiltID        = "/v1/blobs/by-quilt-id/"
	SuffixByteRange      = "/byte-range"
	SuffixQuiltPatches   = "/patches"
	MetadataFormField    = "_metadata"
	DefaultMaxBlobBody   = 10 << 20
	DefaultMaxQuiltBody  = 100 << 20
	MaxEpochsAhead       = 53
	HeaderQuiltPatchID   = "X-Quilt-Patch-Identifier"
	HeaderContentRange   = "Content-Range"
	CacheControlBlobRead = "public, max-age=86400, stale-while-revalidate=3600"
)

// Publisher query parameters (PublisherQuery in Walrus).
const (
	ParamEpochs         = "epochs"
	ParamPermanent      = "permanent"
	ParamDeletable      = "deletable"
	ParamForce          = "force"
	ParamEncodingType   = "encoding_type"
	ParamSendObjectTo   = "send_object_to"
	ParamShare          = "share"
	ParamReuseResources = "reuse_resources"
	ParamQuiltVersion   = "quilt_version"
)

// Aggregator query parameters.
const (
	ParamStrictConsistencyCheck = "strict_consistency_check"
	ParamSkipConsistencyCheck   = "skip_consistency_check"
	ParamStart                  = "start"
	ParamLength                 = "length"
)

// MaxJSONReply bounds how much of a JSON reply a decoder should read. Walrus
// replies are a few hundred bytes; a quilt's patch list of 666 identifiers of
// up to 64 KiB each is the extreme.
const MaxJSONReply = 64 << 20

// BlobStoreResult is the reply of PUT /v1/blobs: exactly one field is set.
type BlobStoreResult struct {
	NewlyCreated     *NewlyCreated     `json:"newlyCreated,omitempty"`
	AlreadyCertified *AlreadyCertified `json:"alreadyCertified,omitempty"`
	MarkedInvalid    *MarkedInvalid    `json:"markedInvalid,omitempty"`
	Error            *StoreFailure     `json:"error,omitempty"`
}

// NewlyCreated reports a new Blob object registered and certified by the
// publisher.
type NewlyCreated struct {
	BlobObject        BlobObject        `json:"blobObject"`
	ResourceOperation ResourceOperation `json:"resourceOperation"`
	// Cost is the storage and write fee in FROST, excluding gas.
	Cost uint64 `json:"cost"`
	// SharedBlobObject is the SharedBlob object ID when share=true was asked.
	SharedBlobObject string `json:"sharedBlobObject,omitempty"`
}

// BlobObject is the Sui Blob object as the publisher reports it.
type BlobObject struct {
	// ID is the Sui object ID, "0x…".
	ID              string       `json:"id"`
	RegisteredEpoch uint32       `json:"registeredEpoch"`
	BlobID          blobstore.ID `json:"blobId"`
	Size            uint64       `json:"size"`
	EncodingType    string       `json:"encodingType"`
	// CertifiedEpoch is null while the blob is not certified.
	CertifiedEpoch *uint32         `json:"certifiedEpoch"`
	Storage        StorageResource `json:"storage"`
	Deletable      bool            `json:"deletable"`
}

// StorageResource is the Sui Storage object attached to a Blob.
type StorageResource struct {
	ID         string `json:"id"`
	StartEpoch uint32 `json:"startEpoch"`
	// EndEpoch is exclusive: the first epoch the blob is no longer stored.
	EndEpoch    uint32 `json:"endEpoch"`
	StorageSize uint64 `json:"storageSize"`
}

// Resource operation kinds, the variant names of Walrus's RegisterBlobOp.
const (
	OpRegisterFromScratch        = "registerFromScratch"
	OpReuseStorage               = "reuseStorage"
	OpReuseRegistration          = "reuseRegistration"
	OpReuseAndExtend             = "reuseAndExtend"
	OpReuseAndExtendNonCertified = "reuseAndExtendNonCertified"
)

// ResourceOperation says how the publisher obtained storage for a new blob.
// On the wire it is an object with one key, the Kind, holding the fields
// that variant has.
type ResourceOperation struct {
	Kind           string
	EncodedLength  uint64
	EpochsAhead    uint32 // registerFromScratch only
	EpochsExtended uint32 // reuseAndExtend and reuseAndExtendNonCertified only
}

type resourceOpFields struct {
	EncodedLength  uint64  `json:"encodedLength"`
	EpochsAhead    *uint32 `json:"epochsAhead,omitempty"`
	EpochsExtended *uint32 `json:"epochsExtended,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (op ResourceOperation) MarshalJSON() ([]byte, error) {
	f := resourceOpFields{EncodedLength: op.EncodedLength}
	switch op.Kind {
	case OpRegisterFromScratch:
		f.EpochsAhead = &op.EpochsAhead
	case OpReuseAndExtend, OpReuseAndExtendNonCertified:
		f.EpochsExtended = &op.EpochsExtended
	case OpReuseStorage, OpReuseRegistration:
	default:
		return nil, fmt.Errorf("wire: unknown resource operation %q", op.Kind)
	}
	return json.Marshal(map[string]resourceOpFields{op.Kind: f})
}

// UnmarshalJSON implements json.Unmarshaler. Unknown variants are kept by
// name so that a newer publisher does not break the client.
func (op *ResourceOperation) UnmarshalJSON(b []byte) error {
	var m map[string]resourceOpFields
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("resource operation: %w", err)
	}
	if len(m) != 1 {
		return fmt.Errorf("resource operation: want one variant, got %d", len(m))
	}
	for k, f := range m {
		*op = ResourceOperation{Kind: k, EncodedLength: f.EncodedLength}
		if f.EpochsAhead != nil {
			op.EpochsAhead = *f.EpochsAhead
		}
		if f.EpochsExtended != nil {
			op.EpochsExtended = *f.EpochsExtended
		}
	}
	return nil
}

// AlreadyCertified reports that the blob is already certified until at least
// the requested epoch; no new Blob object was created. Exactly one of Event
// (someone's permanent blob) and Object (a Blob the publisher owns) is set.
type AlreadyCertified struct {
	BlobID   blobstore.ID `json:"blobId"`
	Event    *EventID     `json:"event,omitempty"`
	Object   string       `json:"object,omitempty"`
	EndEpoch uint32       `json:"endEpoch"`
}

// EventID names a Sui event: a transaction digest and the event's sequence
// number within it. Sui writes the sequence number as a decimal string; a
// bare number is accepted too.
type EventID struct {
	TxDigest string `json:"txDigest"`
	EventSeq uint64 `json:"eventSeq,string"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (e *EventID) UnmarshalJSON(b []byte) error {
	var raw struct {
		TxDigest string          `json:"txDigest"`
		EventSeq json.RawMessage `json:"eventSeq"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("event ID: %w", err)
	}
	seq := bytes.Trim(raw.EventSeq, `"`)
	n, err := strconv.ParseUint(string(seq), 10, 64)
	if err != nil {
		return fmt.Errorf("event ID: eventSeq %q: not a u64", truncate(string(raw.EventSeq)))
	}
	*e = EventID{TxDigest: raw.TxDigest, EventSeq: n}
	return nil
}

// MarkedInvalid reports that the blob was marked invalid by the storage
// nodes (its encoding is inconsistent). Walrus publishers turn this into an
// HTTP 500, but the variant exists in the reply type.
type MarkedInvalid struct {
	BlobID blobstore.ID `json:"blobId"`
	Event  *EventID     `json:"event,omitempty"`
}

// StoreFailure is the error variant of a store reply.
type StoreFailure struct {
	// BlobID is nil when the failure happened before encoding.
	BlobID       *blobstore.ID `json:"blobId"`
	FailurePhase string        `json:"failurePhase"`
	ErrorMsg     string        `json:"errorMsg"`
}

// ParseBlobStoreResult decodes a store reply and checks that exactly one
// variant is present. It does not judge the variant: a markedInvalid or error
// reply parses fine; see [BlobStoreResult.Err].
func ParseBlobStoreResult(b []byte) (BlobStoreResult, error) {
	var r BlobStoreResult
	if err := json.Unmarshal(b, &r); err != nil {
		return BlobStoreResult{}, fmt.Errorf("store reply: %w", err)
	}
	if err := r.validate(); err != nil {
		return BlobStoreResult{}, err
	}
	return r, nil
}

func (r *BlobStoreResult) validate() error {
	n := 0
	for _, set := range []bool{r.NewlyCreated != nil, r.AlreadyCertified != nil, r.MarkedInvalid != nil, r.Error != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("store reply: want exactly one of newlyCreated, alreadyCertified, markedInvalid, error; got %d", n)
	}
	return nil
}

// BlobID returns the blob ID the reply is about, if it names one.
func (r BlobStoreResult) BlobID() (blobstore.ID, bool) {
	switch {
	case r.NewlyCreated != nil:
		return r.NewlyCreated.BlobObject.BlobID, true
	case r.AlreadyCertified != nil:
		return r.AlreadyCertified.BlobID, true
	case r.MarkedInvalid != nil:
		return r.MarkedInvalid.BlobID, true
	case r.Error != nil && r.Error.BlobID != nil:
		return *r.Error.BlobID, true
	}
	return blobstore.ID{}, false
}

// Err returns nil for newlyCreated and alreadyCertified and a descriptive
// error otherwise: markedInvalid wraps [blobstore.ErrIntegrity], an error
// reply wraps [blobstore.ErrUnavailable] (the publisher failed mid-way; the
// store may be retried).
func (r BlobStoreResult) Err() error {
	switch {
	case r.MarkedInvalid != nil:
		return fmt.Errorf("blob %s marked invalid by the storage nodes: %w", r.MarkedInvalid.BlobID, blobstore.ErrIntegrity)
	case r.Error != nil:
		id := "(none)"
		if r.Error.BlobID != nil {
			id = r.Error.BlobID.String()
		}
		return fmt.Errorf("publisher failed storing blob %s in phase %q: %s: %w",
			id, truncate(r.Error.FailurePhase), truncate(r.Error.ErrorMsg), blobstore.ErrUnavailable)
	case r.NewlyCreated == nil && r.AlreadyCertified == nil:
		return errors.New("empty store reply")
	}
	return nil
}

// Info converts a successful reply into the blobstore vocabulary. size is
// the unencoded length the caller sent, used for alreadyCertified replies,
// which do not repeat it.
func (r BlobStoreResult) Info(size int64) (blobstore.Info, error) {
	if err := r.Err(); err != nil {
		return blobstore.Info{}, err
	}
	if a := r.AlreadyCertified; a != nil {
		return blobstore.Info{
			ID: a.BlobID, Size: size, ObjectID: a.Object,
			Certified: true, EndEpoch: a.EndEpoch, AlreadyCertified: true,
		}, nil
	}
	nc := r.NewlyCreated
	o := nc.BlobObject
	info := blobstore.Info{
		ID:              o.BlobID,
		Size:            int64(o.Size),
		EncodedSize:     int64(o.Storage.StorageSize),
		ObjectID:        o.ID,
		RegisteredEpoch: o.RegisteredEpoch,
		EndEpoch:        o.Storage.EndEpoch,
		Deletable:       o.Deletable,
		Cost:            nc.Cost,
	}
	if o.CertifiedEpoch != nil {
		info.Certified, info.CertifiedEpoch = true, *o.CertifiedEpoch
	}
	return info, nil
}

// QuiltStoreResult is the reply of PUT /v1/quilts.
type QuiltStoreResult struct {
	BlobStoreResult  BlobStoreResult   `json:"blobStoreResult"`
	StoredQuiltBlobs []StoredQuiltBlob `json:"storedQuiltBlobs"`
}

// StoredQuiltBlob maps a part's identifier to its patch ID.
type StoredQuiltBlob struct {
	Identifier   string            `json:"identifier"`
	QuiltPatchID blobstore.PatchID `json:"quiltPatchId"`
	// Range is the patch's columns in the quilt, [start, end), as the
	// patch ID also says; Walrus may leave it out (null).
	Range *[2]uint64 `json:"range,omitempty"`
}

// ParseQuiltStoreResult decodes a quilt store reply and checks that its
// blob result has exactly one variant and that every patch ID refers to the
// quilt's blob.
func ParseQuiltStoreResult(b []byte) (QuiltStoreResult, error) {
	var r QuiltStoreResult
	if err := json.Unmarshal(b, &r); err != nil {
		return QuiltStoreResult{}, fmt.Errorf("quilt store reply: %w", err)
	}
	if err := r.BlobStoreResult.validate(); err != nil {
		return QuiltStoreResult{}, fmt.Errorf("quilt %w", err)
	}
	if id, ok := r.BlobStoreResult.BlobID(); ok && r.BlobStoreResult.Err() == nil {
		for _, p := range r.StoredQuiltBlobs {
			if p.QuiltPatchID.Quilt != id {
				return QuiltStoreResult{}, fmt.Errorf("quilt store reply: patch %q has ID %s of another quilt than %s",
					truncate(p.Identifier), p.QuiltPatchID, id)
			}
		}
	}
	return r, nil
}

// QuiltPatchItem is one item of GET /v1/quilts/{id}/patches. Unlike the
// store replies it is snake_case on the wire.
type QuiltPatchItem struct {
	Identifier string            `json:"identifier"`
	PatchID    blobstore.PatchID `json:"patch_id"`
	Tags       map[string]string `json:"tags"`
}

// ParseQuiltPatchList decodes the reply of GET /v1/quilts/{quilt}/patches
// and checks that every patch ID belongs to quilt. Items without tags get
// an empty map.
func ParseQuiltPatchList(b []byte, quilt blobstore.ID) ([]QuiltPatchItem, error) {
	var items []QuiltPatchItem
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, fmt.Errorf("patch list: %w", err)
	}
	for i, it := range items {
		if it.PatchID.Quilt != quilt {
			return nil, fmt.Errorf("patch list: patch %q belongs to quilt %s, not %s", truncate(it.Identifier), it.PatchID.Quilt, quilt)
		}
		if it.Tags == nil {
			items[i].Tags = map[string]string{}
		}
	}
	return items, nil
}

// DefaultAllowedHeaders are the tag keys a Walrus aggregator returns as
// reply headers of a quilt patch read (its --allowed-headers default).
var DefaultAllowedHeaders = []string{
	"content-type", "authorization", "content-disposition", "content-encoding",
	"content-language", "content-location", "link",
}

// QuiltMetadataItem is one entry of the optional _metadata form field of
// PUT /v1/quilts.
type QuiltMetadataItem struct {
	Identifier string            `json:"identifier"`
	Tags       map[string]string `json:"tags,omitempty"`
}

func truncate(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
