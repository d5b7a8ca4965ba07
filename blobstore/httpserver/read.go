package httpserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// getBlobs dispatches the GET routes under /v1/blobs/.
func (s *server) getBlobs(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), wire.PathBlobs+"/")
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		v, err := url.PathUnescape(seg)
		if err != nil {
			plainError(w, http.StatusBadRequest, "Invalid URL: "+err.Error())
			return
		}
		segs[i] = v
	}
	switch {
	case len(segs) == 1:
		s.getBlob(w, r, segs[0])
	case len(segs) == 2 && segs[1] == strings.TrimPrefix(wire.SuffixByteRange, "/"):
		s.getByteRange(w, r, segs[0])
	case len(segs) == 2 && segs[0] == "by-quilt-patch-id":
		s.getPatchByID(w, r, segs[1])
	case len(segs) == 3 && segs[0] == "by-quilt-id":
		s.getPatchByIdentifier(w, r, segs[1], segs[2])
	default:
		http.NotFound(w, r)
	}
}

// parseIDParam parses a blob ID path segment, answering like axum's Path
// rejection on failure.
func parseIDParam(w http.ResponseWriter, s string) (blobstore.ID, bool) {
	id, err := blobstore.ParseID(s)
	if err != nil {
		plainError(w, http.StatusBadRequest, "Invalid URL: "+err.Error())
		return id, false
	}
	return id, true
}

// readOptions validates the aggregator's ReadOptions query.
func readOptions(w http.ResponseWriter, r *http.Request, extra ...string) (map[string]string, bool) {
	allowed := append([]string{wire.ParamStrictConsistencyCheck, wire.ParamSkipConsistencyCheck}, extra...)
	q, err := parseQuery(r.URL.RawQuery, allowed...)
	if err == nil {
		var strict, skip bool
		if strict, err = queryBool(q, wire.ParamStrictConsistencyCheck); err == nil {
			skip, err = queryBool(q, wire.ParamSkipConsistencyCheck)
		}
		if err == nil && strict && skip {
			jsonError(w, http.StatusBadRequest, wire.ReasonMalformedRequest,
				"strict_consistency_check and skip_consistency_check cannot both be set")
			return nil, false
		}
	}
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return q, true
}

// setReadHeaders sets the headers Walrus puts on every blob read.
func setReadHeaders(w http.ResponseWriter, r *http.Request, etag string) {
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", wire.CacheControlBlobRead)
	// Walrus mirrors the request's Accept (if it names no wildcard) or its
	// Content-Type; it never guesses from the data. A nil entry stops
	// net/http from sniffing one.
	switch accept, ct := r.Header.Get("Accept"), r.Header.Get("Content-Type"); {
	case accept != "" && !strings.Contains(accept, "*"):
		h.Set("Content-Type", accept)
	case ct != "":
		h.Set("Content-Type", ct)
	default:
		h["Content-Type"] = nil
	}
}

// getBlob serves GET /v1/blobs/{id}, with or without a Range header.
func (s *server) getBlob(w http.ResponseWriter, r *http.Request, idText string) {
	id, ok := parseIDParam(w, idText)
	if !ok {
		return
	}
	if _, ok := readOptions(w, r); !ok {
		return
	}
	var off, length int64
	rangeHeader, ranged := r.Header["Range"]
	if ranged {
		var err error
		if len(rangeHeader) != 1 {
			err = fmt.Errorf("several Range headers: %w", blobstore.ErrInvalidArgument)
		} else {
			off, length, err = wire.ParseRange(rangeHeader[0])
		}
		if err != nil {
			jsonError(w, http.StatusRequestedRangeNotSatisfiable, wire.ReasonInvalidByteRange, err.Error())
			return
		}
	}
	info, err := s.store.Stat(r.Context(), id)
	if err != nil {
		s.writeStoreError(w, r, opRead, err)
		return
	}
	if !ranged {
		length = info.Size
	} else if off >= info.Size || length > info.Size-off {
		jsonError(w, http.StatusRequestedRangeNotSatisfiable, wire.ReasonInvalidByteRange,
			fmt.Sprintf("range %d-%d is outside the blob's %d bytes", off, off+length-1, info.Size))
		return
	}
	setReadHeaders(w, r, id.String())
	status := http.StatusOK
	if ranged {
		status = http.StatusPartialContent
		w.Header().Set(wire.HeaderContentRange, wire.FormatContentRange(off, length, info.Size))
	}
	s.stream(w, r, id, off, length, status)
}

// getByteRange serves GET /v1/blobs/{id}/byte-range?start=&length=.
func (s *server) getByteRange(w http.ResponseWriter, r *http.Request, idText string) {
	id, ok := parseIDParam(w, idText)
	if !ok {
		return
	}
	q, ok := readOptions(w, r, wire.ParamStart, wire.ParamLength)
	if !ok {
		return
	}
	start, haveStart, err1 := queryUint(q, wire.ParamStart, 63)
	length, haveLength, err2 := queryUint(q, wire.ParamLength, 63)
	switch {
	case err1 != nil || err2 != nil:
		plainError(w, http.StatusBadRequest, errors.Join(err1, err2).Error())
		return
	case !haveStart || !haveLength:
		plainError(w, http.StatusBadRequest, "Failed to deserialize query string: missing field `start` or `length`")
		return
	case length == 0:
		jsonError(w, http.StatusBadRequest, wire.ReasonInvalidByteRange, "length must be positive")
		return
	}
	info, err := s.store.Stat(r.Context(), id)
	if err != nil {
		s.writeStoreError(w, r, opRead, err)
		return
	}
	off, n := int64(start), int64(length)
	if off >= info.Size || n > info.Size-off {
		jsonError(w, http.StatusBadRequest, wire.ReasonInvalidByteRange,
			fmt.Sprintf("range start %d length %d is outside the blob's %d bytes", off, n, info.Size))
		return
	}
	setReadHeaders(w, r, fmt.Sprintf("%s-%d-%d", id, off, n))
	s.stream(w, r, id, off, n, http.StatusOK)
}

// stream copies a range of the blob into the reply. Once the headers are
// out, a failure can only be signalled by cutting the connection, which the
// client sees as a body shorter than Content-Length.
func (s *server) stream(w http.ResponseWriter, r *http.Request, id blobstore.ID, off, length int64, status int) {
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead || length == 0 {
		w.WriteHeader(status)
		return
	}
	rc, err := s.store.ReadRange(r.Context(), id, off, length)
	if err != nil {
		s.writeStoreError(w, r, opRead, err)
		return
	}
	defer rc.Close()
	w.WriteHeader(status)
	n, err := io.Copy(w, io.LimitReader(rc, length))
	if err == nil && n < length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		if r.Context().Err() == nil {
			s.log.WarnContext(r.Context(), "blob read failed mid-reply", "blob", id, "offset", off, "length", length, "sent", n, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// getPatchByID serves GET /v1/blobs/by-quilt-patch-id/{patchId}.
func (s *server) getPatchByID(w http.ResponseWriter, r *http.Request, pidText string) {
	pid, err := blobstore.ParsePatchID(pidText)
	if err != nil {
		plainError(w, http.StatusBadRequest, "Invalid URL: "+err.Error())
		return
	}
	if _, ok := readOptions(w, r); !ok {
		return
	}
	identifier := ""
	if l, ok := s.store.(blobstore.QuiltLister); ok {
		patches, err := l.ListPatches(r.Context(), pid.Quilt)
		if err != nil {
			s.writeStoreError(w, r, opPatch, err)
			return
		}
		found := false
		for _, p := range patches {
			if p.PatchID == pid {
				identifier, found = p.Identifier, true
			}
		}
		if !found {
			s.writeStoreError(w, r, opPatch, fmt.Errorf("patch %s: %w", pid, errPatchNotFound))
			return
		}
	}
	s.streamPatch(w, r, pid, identifier)
}

// getPatchByIdentifier serves GET /v1/blobs/by-quilt-id/{quiltId}/{identifier}.
func (s *server) getPatchByIdentifier(w http.ResponseWriter, r *http.Request, quiltText, identifier string) {
	quilt, ok := parseIDParam(w, quiltText)
	if !ok {
		return
	}
	if _, ok := readOptions(w, r); !ok {
		return
	}
	l, ok := s.store.(blobstore.QuiltLister)
	if !ok {
		plainError(w, http.StatusNotImplemented, msgNotImplemented)
		return
	}
	patches, err := l.ListPatches(r.Context(), quilt)
	if err != nil {
		s.writeStoreError(w, r, opPatch, err)
		return
	}
	for _, p := range patches {
		if p.Identifier == identifier {
			s.streamPatch(w, r, p.PatchID, identifier)
			return
		}
	}
	s.writeStoreError(w, r, opPatch, fmt.Errorf("quilt %s patch %q: %w", quilt, identifier, errPatchNotFound))
}

// streamPatch sends one patch's data. Patch readers have no announced
// length, so the reply is chunked; a failure mid-way cuts the connection
// before the final chunk, which clients detect.
func (s *server) streamPatch(w http.ResponseWriter, r *http.Request, pid blobstore.PatchID, identifier string) {
	rc, err := s.store.ReadPatch(r.Context(), pid)
	if err != nil {
		s.writeStoreError(w, r, opPatch, err)
		return
	}
	defer rc.Close()
	setReadHeaders(w, r, pid.Quilt.String())
	if identifier != "" && isPrintableASCII(identifier) {
		w.Header().Set(wire.HeaderQuiltPatchID, identifier)
	}
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		if r.Context().Err() == nil {
			s.log.WarnContext(r.Context(), "patch read failed mid-reply", "patch", pid, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

func isPrintableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// listPatches serves GET /v1/quilts/{quilt}/patches.
func (s *server) listPatches(w http.ResponseWriter, r *http.Request) {
	quilt, ok := parseIDParam(w, r.PathValue("quilt"))
	if !ok {
		return
	}
	if _, ok := readOptions(w, r); !ok {
		return
	}
	l, ok := s.store.(blobstore.QuiltLister)
	if !ok {
		plainError(w, http.StatusNotImplemented, msgNotImplemented)
		return
	}
	patches, err := l.ListPatches(r.Context(), quilt)
	if err != nil {
		s.writeStoreError(w, r, opPatch, err)
		return
	}
	items := make([]wire.QuiltPatchItem, len(patches))
	for i, p := range patches {
		tags := p.Tags
		if tags == nil {
			tags = map[string]string{}
		}
		items[i] = wire.QuiltPatchItem{Identifier: p.Identifier, PatchID: p.PatchID, Tags: tags}
	}
	writeJSON(w, s.log, r, items)
}
