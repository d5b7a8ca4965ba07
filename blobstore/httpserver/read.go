package httpserver

import (
	"bytes"
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

// readOptions validates the ReadOptions query of GET /v1/blobs/{id}: only
// strict_consistency_check and skip_consistency_check, not both.
func readOptions(w http.ResponseWriter, r *http.Request) bool {
	q, err := parseQuery(r.URL.RawQuery, wire.ParamStrictConsistencyCheck, wire.ParamSkipConsistencyCheck)
	var strict, skip bool
	if err == nil {
		if strict, err = queryBool(q, wire.ParamStrictConsistencyCheck); err == nil {
			skip, err = queryBool(q, wire.ParamSkipConsistencyCheck)
		}
	}
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return false
	}
	if strict && skip {
		jsonError(w, http.StatusBadRequest, wire.ReasonInvalidConsistencyCheck, msgInvalidConsistencyCheck)
		return false
	}
	return true
}

// setReadHeaders sets the headers Walrus puts on every successful read.
// mirrorContentType says whether the request's Content-Type may be mirrored
// (Walrus does so on GET only, but always for reads by quilt identifier).
func setReadHeaders(w http.ResponseWriter, r *http.Request, etag string, mirrorContentType bool) {
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", wire.CacheControlBlobRead)
	// Walrus mirrors the request's Accept (if it names no wildcard) or its
	// Content-Type; it never guesses from the data (see noSniff).
	accept, haveAccept := r.Header["Accept"]
	ct, haveCT := r.Header["Content-Type"]
	switch {
	case haveAccept && !strings.Contains(accept[0], "*"):
		h["Content-Type"] = []string{accept[0]}
	case haveCT && mirrorContentType:
		h["Content-Type"] = []string{ct[0]}
	}
}

// noSniff stops net/http from guessing a Content-Type from the data when
// none is set: a nil entry suppresses it.
func noSniff(h http.Header) {
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
}

// getBlob serves GET /v1/blobs/{id}, with or without a Range header.
func (s *server) getBlob(w http.ResponseWriter, r *http.Request, idText string) {
	id, ok := parseIDParam(w, idText)
	if !ok {
		return
	}
	if !readOptions(w, r) {
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
	setReadHeaders(w, r, id.String(), r.Method == http.MethodGet)
	status := http.StatusOK
	if ranged {
		status = http.StatusPartialContent
		w.Header().Set(wire.HeaderContentRange, wire.FormatContentRange(off, length, info.Size))
	}
	s.stream(w, r, id, off, length, status)
}

// getByteRange serves GET /v1/blobs/{id}/byte-range?start=&length=. Its
// query takes start and length only (no ReadOptions); both are u64, and a
// range that is empty, overflows or leaves the blob is a JSON 400
// INVALID_BYTE_RANGE.
func (s *server) getByteRange(w http.ResponseWriter, r *http.Request, idText string) {
	id, ok := parseIDParam(w, idText)
	if !ok {
		return
	}
	q, err := parseQuery(r.URL.RawQuery, wire.ParamStart, wire.ParamLength)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	start, haveStart, err1 := queryUint(q, wire.ParamStart, 64)
	length, haveLength, err2 := queryUint(q, wire.ParamLength, 64)
	switch {
	case err1 != nil || err2 != nil:
		plainError(w, http.StatusBadRequest, errors.Join(err1, err2).Error())
		return
	case !haveStart:
		plainError(w, http.StatusBadRequest, "Failed to deserialize query string: missing field `start`")
		return
	case !haveLength:
		plainError(w, http.StatusBadRequest, "Failed to deserialize query string: missing field `length`")
		return
	case length == 0:
		jsonError(w, http.StatusBadRequest, wire.ReasonInvalidByteRange, "invalid byte range parameters: length must be greater than 0")
		return
	case start+length < start:
		jsonError(w, http.StatusBadRequest, wire.ReasonInvalidByteRange, "invalid byte range parameters: start + length overflows")
		return
	}
	info, err := s.store.Stat(r.Context(), id)
	if err != nil {
		s.writeStoreError(w, r, opRead, err)
		return
	}
	if start >= uint64(info.Size) || length > uint64(info.Size)-start {
		jsonError(w, http.StatusBadRequest, wire.ReasonInvalidByteRange,
			fmt.Sprintf("invalid byte range parameters: start %d length %d is outside the blob's %d bytes", start, length, info.Size))
		return
	}
	off, n := int64(start), int64(length)
	setReadHeaders(w, r, fmt.Sprintf("%s-%d-%d", id, start, length), r.Method == http.MethodGet)
	s.stream(w, r, id, off, n, http.StatusOK)
}

// stream copies a range of the blob into the reply. Once the headers are
// out, a failure can only be signalled by cutting the connection, which the
// client sees as a body shorter than Content-Length.
func (s *server) stream(w http.ResponseWriter, r *http.Request, id blobstore.ID, off, length int64, status int) {
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	noSniff(w.Header())
	if r.Method == http.MethodHead || length == 0 {
		w.WriteHeader(status)
		return
	}
	rc, err := s.store.ReadRange(r.Context(), id, off, length)
	if err != nil {
		s.writeStoreError(w, r, opRead, err)
		return
	}
	defer func() { _ = rc.Close() }()
	w.WriteHeader(status)
	s.sendBody(w, r, io.LimitReader(rc, length), length, "blob read failed mid-reply", "blob", id, "offset", off)
}

// sendBody copies the length bytes of body into a reply whose headers are
// out. A failure can then only be signalled by cutting the connection,
// which the client sees as a body shorter than Content-Length; it is
// logged with msg and attrs unless the client went away.
func (s *server) sendBody(w http.ResponseWriter, r *http.Request, body io.Reader, length int64, msg string, attrs ...any) {
	n, err := io.Copy(w, body)
	if err == nil && n < length {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		if r.Context().Err() == nil {
			s.log.WarnContext(r.Context(), msg, append(attrs, "length", length, "sent", n, "err", err)...)
		}
		panic(http.ErrAbortHandler)
	}
}

// getPatchByID serves GET /v1/blobs/by-quilt-patch-id/{patchId}. Like
// Walrus, it takes no query (parameters are ignored).
func (s *server) getPatchByID(w http.ResponseWriter, r *http.Request, pidText string) {
	pid, err := blobstore.ParsePatchID(pidText)
	if err != nil {
		plainError(w, http.StatusBadRequest, "Invalid URL: "+err.Error())
		return
	}
	var patch *blobstore.StoredPatch
	if l, ok := s.store.(blobstore.QuiltLister); ok {
		patches, err := l.ListPatches(r.Context(), pid.Quilt)
		if err != nil {
			s.writeStoreError(w, r, opPatch, err)
			return
		}
		for i := range patches {
			if patches[i].PatchID == pid {
				patch = &patches[i]
			}
		}
		if patch == nil {
			s.writeStoreError(w, r, opPatch, fmt.Errorf("patch %s: %w", pid, errPatchNotFound))
			return
		}
	} else {
		patch = &blobstore.StoredPatch{PatchID: pid}
	}
	s.sendPatch(w, r, *patch, r.Method == http.MethodGet)
}

// getPatchByIdentifier serves GET /v1/blobs/by-quilt-id/{quiltId}/{identifier}.
// Like Walrus, it takes no query.
func (s *server) getPatchByIdentifier(w http.ResponseWriter, r *http.Request, quiltText, identifier string) {
	quilt, patches, ok := s.quiltPatches(w, r, quiltText)
	if !ok {
		return
	}
	for _, p := range patches {
		if p.Identifier == identifier {
			// Walrus's handler treats every request here as a GET when
			// mirroring Content-Type.
			s.sendPatch(w, r, p, true)
			return
		}
	}
	s.writeStoreError(w, r, opPatch, fmt.Errorf("quilt %s patch %q: %w", quilt, identifier, errPatchNotFound))
}

// sendPatch sends the data of one patch with a Content-Length, the read
// headers, the identifier header and the tags the aggregator allows as
// headers. A store whose patch reader knows its size up front (the local
// store's reads the patch's header first) has the patch streamed, as blob
// reads are: a failure before the first byte is a JSON error, a later one
// cuts the reply. Any other reader is read whole first, as Walrus does
// before answering, so that any failure is a JSON error.
func (s *server) sendPatch(w http.ResponseWriter, r *http.Request, p blobstore.StoredPatch, mirrorContentType bool) {
	rc, err := s.store.ReadPatch(r.Context(), p.PatchID)
	if err != nil {
		s.writeStoreError(w, r, opPatch, err)
		return
	}
	defer func() { _ = rc.Close() }()
	var (
		body   io.Reader
		length int64
	)
	if sized, ok := rc.(interface{ Size() int64 }); ok {
		body, length = rc, sized.Size()
	} else {
		data, err := readAllHint(rc, s.cfg.MaxPatchReply+1)
		if err != nil {
			s.writeStoreError(w, r, opPatch, err)
			return
		}
		body, length = bytes.NewReader(data), int64(len(data))
	}
	if length > s.cfg.MaxPatchReply {
		s.writeStoreError(w, r, opPatch, fmt.Errorf("patch %s over %d bytes: %w", p.PatchID, s.cfg.MaxPatchReply, blobstore.ErrTooLarge))
		return
	}
	setReadHeaders(w, r, p.PatchID.Quilt.String(), mirrorContentType)
	h := w.Header()
	for k, v := range p.Tags {
		name := http.CanonicalHeaderKey(k)
		if _, exists := h[name]; exists || !s.allowed[name] || !isHeaderValue(v) {
			continue
		}
		h.Set(name, v)
	}
	if p.Identifier != "" && isHeaderValue(p.Identifier) {
		h.Set(wire.HeaderQuiltPatchID, p.Identifier)
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	noSniff(h)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	s.sendBody(w, r, body, length, "patch read failed mid-reply", "patch", p.PatchID)
}

// isHeaderValue reports whether s can be sent as a header value the way
// Walrus's HTTP library accepts strings: visible ASCII and tabs. Other
// identifiers (any non-ASCII one) get no header.
func isHeaderValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

// quiltPatches parses a quilt ID path parameter and lists the quilt's
// patches. When it returns false it has already written the error reply.
func (s *server) quiltPatches(w http.ResponseWriter, r *http.Request, quiltText string) (blobstore.ID, []blobstore.StoredPatch, bool) {
	quilt, ok := parseIDParam(w, quiltText)
	if !ok {
		return quilt, nil, false
	}
	l, ok := s.store.(blobstore.QuiltLister)
	if !ok {
		plainError(w, http.StatusNotImplemented, msgNotImplemented)
		return quilt, nil, false
	}
	patches, err := l.ListPatches(r.Context(), quilt)
	if err != nil {
		s.writeStoreError(w, r, opPatch, err)
		return quilt, nil, false
	}
	return quilt, patches, true
}

// listPatches serves GET /v1/quilts/{quilt}/patches. Like Walrus, it takes
// no query.
func (s *server) listPatches(w http.ResponseWriter, r *http.Request) {
	_, patches, ok := s.quiltPatches(w, r, r.PathValue("quilt"))
	if !ok {
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

// readAllHint reads r to its end, at most limit bytes. A reader that says
// how much it holds (a Len method, as bytes.Reader has) is read into one
// buffer of that size, instead of one grown by doubling.
func readAllHint(r io.Reader, limit int64) ([]byte, error) {
	l, ok := r.(interface{ Len() int })
	if !ok || int64(l.Len()) >= limit {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	b := make([]byte, l.Len())
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	// Whatever the reader still had after all: rarely anything.
	rest, err := io.ReadAll(io.LimitReader(r, limit-int64(len(b))))
	if len(rest) > 0 {
		b = append(b, rest...)
	}
	return b, err
}
