package httpserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/mr-tron/base58"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// putBlob serves PUT /v1/blobs.
func (s *server) putBlob(w http.ResponseWriter, r *http.Request) {
	p, ok := s.parseStoreQuery(w, r)
	if !ok {
		return
	}
	if r.ContentLength > s.cfg.MaxBlobBody {
		plainError(w, http.StatusRequestEntityTooLarge, wire.TextPayloadTooLarge)
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBlobBody)
	size := r.ContentLength
	var src io.Reader = body
	if size < 0 {
		// Chunked upload: the store needs the size first, so buffer it
		// (within MaxBlobBody).
		b, err := io.ReadAll(body)
		if err != nil {
			s.bodyError(w, r, err)
			return
		}
		src, size = bytes.NewReader(b), int64(len(b))
	}
	info, err := s.store.Put(r.Context(), src, size, p.opts)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			plainError(w, http.StatusRequestEntityTooLarge, wire.TextPayloadTooLarge)
			return
		}
		s.writeStoreError(w, r, opStore, err)
		return
	}
	writeJSON(w, s.log, r, storeResult(info, p))
}

// bodyError answers a request whose body could not be read.
func (s *server) bodyError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		plainError(w, http.StatusRequestEntityTooLarge, wire.TextPayloadTooLarge)
		return
	}
	s.log.DebugContext(r.Context(), "reading request body", "path", r.URL.Path, "err", err)
	plainError(w, http.StatusBadRequest, "Failed to read the request body: "+err.Error())
}

// storeResult builds the Walrus reply for a stored blob.
func storeResult(info blobstore.Info, p storeParams) wire.BlobStoreResult {
	objectID := info.ObjectID
	if objectID == "" {
		objectID = syntheticObjectID("blob", info.ID)
	}
	if info.AlreadyCertified && !p.opts.Force {
		ac := &wire.AlreadyCertified{BlobID: info.ID, EndEpoch: info.EndEpoch}
		if info.Deletable {
			// Walrus names a Blob object the publisher's own wallet owns.
			ac.Object = objectID
		} else {
			// For a permanent blob Walrus names the event that certified
			// it, whoever stored it.
			ac.Event = &wire.EventID{TxDigest: syntheticTxDigest(info.ID)}
		}
		return wire.BlobStoreResult{AlreadyCertified: ac}
	}
	o := wire.BlobObject{
		ID:              objectID,
		RegisteredEpoch: info.RegisteredEpoch,
		BlobID:          info.ID,
		Size:            uint64(info.Size),
		EncodingType:    "RS2",
		Storage: wire.StorageResource{
			ID:          syntheticObjectID("storage", info.ID),
			StartEpoch:  info.RegisteredEpoch,
			EndEpoch:    info.EndEpoch,
			StorageSize: uint64(info.EncodedSize),
		},
		Deletable: info.Deletable,
	}
	if info.Certified {
		e := info.CertifiedEpoch
		o.CertifiedEpoch = &e
	}
	return wire.BlobStoreResult{NewlyCreated: &wire.NewlyCreated{
		BlobObject: o,
		ResourceOperation: wire.ResourceOperation{
			Kind:          wire.OpRegisterFromScratch,
			EncodedLength: uint64(info.EncodedSize),
			EpochsAhead:   p.epochs,
		},
		Cost: info.Cost,
	}}
}

// syntheticObjectID derives a stable Sui-shaped object ID for a blob the
// store has no object for.
func syntheticObjectID(kind string, id blobstore.ID) string {
	h := sha256.Sum256(append([]byte("walrusfs local "+kind+" object:"), id[:]...))
	return "0x" + hex.EncodeToString(h[:])
}

// syntheticTxDigest is a stable stand-in for the Sui transaction that
// certified blob id: 32 bytes in base58, the form of a Sui digest.
func syntheticTxDigest(id blobstore.ID) string {
	h := sha256.Sum256(append([]byte("walrusfs local certify tx:"), id[:]...))
	return base58.Encode(h[:])
}

// maxMetadataPart bounds the _metadata form field: 666 patches with 64 KiB
// of tags each is the most QuiltV1 can hold, far beyond what is sane.
const maxMetadataPart = 8 << 20

// putQuilt serves PUT /v1/quilts: a multipart/form-data body with one file
// part per patch (the form field name is the identifier) and an optional
// _metadata part with tags.
func (s *server) putQuilt(w http.ResponseWriter, r *http.Request) {
	p, ok := s.parseStoreQuery(w, r)
	if !ok {
		return
	}
	if r.ContentLength > s.cfg.MaxQuiltBody {
		plainError(w, http.StatusRequestEntityTooLarge, wire.TextPayloadTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxQuiltBody)
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		plainError(w, http.StatusBadRequest, wire.TextNotMultipart)
		return
	}
	parts, err := readQuiltForm(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			plainError(w, http.StatusRequestEntityTooLarge, wire.TextPayloadTooLarge)
			return
		}
		jsonError(w, http.StatusBadRequest, wire.ReasonMalformedRequest, err.Error())
		return
	}
	qi, err := s.store.PutQuilt(r.Context(), parts, p.opts)
	if errors.Is(err, blobstore.ErrInvalidArgument) || errors.Is(err, blobstore.ErrTooLarge) {
		// Walrus fails constructing the quilt (bad identifiers or tags, too
		// many patches, too much data for one blob) with MALFORMED_REQUEST.
		jsonError(w, http.StatusBadRequest, wire.ReasonMalformedRequest, "failed to construct quilt: "+err.Error())
		return
	}
	if err != nil {
		s.writeStoreError(w, r, opStore, err)
		return
	}
	reply := wire.QuiltStoreResult{
		BlobStoreResult:  storeResult(qi.Blob, p),
		StoredQuiltBlobs: make([]wire.StoredQuiltBlob, len(qi.Patches)),
	}
	for i, sp := range qi.Patches {
		reply.StoredQuiltBlobs[i] = wire.StoredQuiltBlob{Identifier: sp.Identifier, QuiltPatchID: sp.PatchID,
			Range: &[2]uint64{uint64(sp.PatchID.Start), uint64(sp.PatchID.End)}}
	}
	writeJSON(w, s.log, r, reply)
}

// readQuiltForm reads the multipart body into quilt parts, as Walrus's
// parse_multipart_quilt does: every field named _metadata holds a JSON
// array of {identifier, tags} (several such fields are merged; an
// identifier named twice is an error), every other field is a file whose
// field name is its identifier, and metadata for identifiers that name no
// file is ignored. Identifier rules are the store's to enforce.
func readQuiltForm(r *http.Request) ([]blobstore.QuiltPart, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, fmt.Errorf("quilt: want a multipart/form-data body, got Content-Type %q", r.Header.Get("Content-Type"))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("quilt: %w", err)
	}
	var parts []blobstore.QuiltPart
	tags := make(map[string]map[string]string)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("quilt: reading form: %w", err)
		}
		name := part.FormName()
		if name == wire.MetadataFormField {
			b, err := io.ReadAll(io.LimitReader(part, maxMetadataPart+1))
			if err != nil {
				return nil, fmt.Errorf("quilt: reading %s: %w", wire.MetadataFormField, err)
			}
			if len(b) > maxMetadataPart {
				return nil, fmt.Errorf("quilt: %s field over %d bytes", wire.MetadataFormField, maxMetadataPart)
			}
			if err := parseQuiltMetadata(b, tags); err != nil {
				return nil, err
			}
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("quilt: form part without a field name")
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("quilt: reading part %q: %w", name, err)
		}
		parts = append(parts, blobstore.QuiltPart{Identifier: name, Data: data})
	}
	for i := range parts {
		parts[i].Tags = tags[parts[i].Identifier]
	}
	return parts, nil
}

// parseQuiltMetadata parses one _metadata field, a JSON array of
// {"identifier": string, "tags": object}, into tags by identifier. It
// follows serde's reading of Walrus's QuiltPatchMetadata: identifier is
// required, tags may be missing (no tags) but not null, keys are
// case-sensitive, unknown keys are ignored, a key repeated within one entry
// is an error, a tag repeated within tags keeps its last value, and a tag
// value that is not a string is kept as its JSON text ({"n": 1} gives "1";
// unlike serde_json, numbers keep their spelling and nested objects their
// key order). An identifier already in tags is an error.
func parseQuiltMetadata(b []byte, tags map[string]map[string]string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("quilt: parsing %s: "+format, append([]any{wire.MetadataFormField}, args...)...)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return fail("%w", err)
	}
	for i, item := range items {
		fields, err := objectFields(item)
		if err != nil {
			return fail("entry %d: %w", i, err)
		}
		rawID, ok := fields["identifier"]
		if !ok {
			return fail("entry %d: missing field `identifier`", i)
		}
		var id string
		if err := json.Unmarshal(rawID, &id); err != nil || bytes.Equal(rawID, []byte("null")) {
			return fail("entry %d: identifier is not a string", i)
		}
		var raw map[string]json.RawMessage
		if t, ok := fields["tags"]; ok {
			if bytes.Equal(t, []byte("null")) {
				return fail("entry %d: tags must be an object, not null", i)
			}
			if err := json.Unmarshal(t, &raw); err != nil {
				return fail("entry %d: tags: %w", i, err)
			}
		}
		if _, dup := tags[id]; dup {
			return fail("duplicate identifier %q", id)
		}
		m := make(map[string]string, len(raw))
		for k, v := range raw {
			var str string
			if v[0] == '"' && json.Unmarshal(v, &str) == nil {
				m[k] = str
				continue
			}
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return fail("entry %d: tag %q: %w", i, k, err)
			}
			m[k] = c.String()
		}
		tags[id] = m
	}
	return nil
}

// objectFields splits a JSON object into its members, failing on anything
// else and on a key that appears twice.
func objectFields(b json.RawMessage) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("duplicate field `%s`", key)
		}
		fields[key] = v
	}
	return fields, nil
}
