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
		return wire.BlobStoreResult{AlreadyCertified: &wire.AlreadyCertified{
			BlobID:   info.ID,
			Object:   objectID,
			EndEpoch: info.EndEpoch,
		}}
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
	if err != nil {
		s.writeStoreError(w, r, opStore, err)
		return
	}
	reply := wire.QuiltStoreResult{
		BlobStoreResult:  storeResult(qi.Blob, p),
		StoredQuiltBlobs: make([]wire.StoredQuiltBlob, len(qi.Patches)),
	}
	for i, sp := range qi.Patches {
		reply.StoredQuiltBlobs[i] = wire.StoredQuiltBlob{Identifier: sp.Identifier, QuiltPatchID: sp.PatchID}
	}
	writeJSON(w, s.log, r, reply)
}

// readQuiltForm reads the multipart body into quilt parts. Identifier rules
// are the store's to enforce; this only rejects what cannot be a quilt
// request at all.
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
	var meta []wire.QuiltMetadataItem
	sawMeta := false
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
			if sawMeta {
				return nil, fmt.Errorf("quilt: more than one %s field", wire.MetadataFormField)
			}
			sawMeta = true
			b, err := io.ReadAll(io.LimitReader(part, maxMetadataPart+1))
			if err != nil {
				return nil, fmt.Errorf("quilt: reading %s: %w", wire.MetadataFormField, err)
			}
			if len(b) > maxMetadataPart {
				return nil, fmt.Errorf("quilt: %s field over %d bytes", wire.MetadataFormField, maxMetadataPart)
			}
			if err := json.Unmarshal(b, &meta); err != nil {
				return nil, fmt.Errorf("quilt: parsing %s: %w", wire.MetadataFormField, err)
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
	for _, m := range meta {
		found := false
		for i := range parts {
			if parts[i].Identifier == m.Identifier {
				parts[i].Tags, found = m.Tags, true
			}
		}
		if !found {
			return nil, fmt.Errorf("quilt: %s names %q, which is not a file in the request", wire.MetadataFormField, m.Identifier)
		}
	}
	return parts, nil
}
