package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// Messages Walrus uses for its structured errors.
const (
	msgBlobNotFound   = "the requested blob ID does not exist on Walrus, ensure that it was entered correctly"
	msgPatchNotFound  = "the requested quilt patch does not exist on Walrus"
	msgUnavailable    = "the requested blob is currently not retrievable; please try again later"
	msgForbidden      = "the requested blob is blocked"
	msgBlobTooLarge   = "the requested blob is too large to be served by this aggregator"
	msgInternal       = "an internal server error has occurred, please report this error"
	msgNotImplemented = "this store cannot look up quilt patches by identifier"

	msgInvalidConsistencyCheck = "cannot set both strict and skip consistency check options"
)

// errPatchNotFound means the quilt exists but has no such patch.
var errPatchNotFound = fmt.Errorf("quilt patch: %w", blobstore.ErrNotFound)

// op says which kind of request failed; it selects reasons and statuses
// where Walrus distinguishes them.
type op int

const (
	opRead  op = iota // blob reads
	opPatch           // quilt patch reads and listings
	opStore           // PUT /v1/blobs and /v1/quilts
)

// writeStoreError answers a request whose store call failed with err. It is
// the server's single mapping from blobstore sentinels to HTTP replies.
func (s *server) writeStoreError(w http.ResponseWriter, r *http.Request, o op, err error) {
	switch {
	case errors.Is(err, errPatchNotFound):
		jsonError(w, http.StatusNotFound, wire.ReasonQuiltPatchNotFound, msgPatchNotFound)
	case errors.Is(err, blobstore.ErrNotFound):
		// The quilt itself is missing: Walrus answers BLOB_NOT_FOUND for
		// patch reads and listings too.
		jsonError(w, http.StatusNotFound, wire.ReasonBlobNotFound, msgBlobNotFound)
	case errors.Is(err, blobstore.ErrInvalidArgument):
		jsonError(w, http.StatusBadRequest, wire.ReasonMalformedRequest, err.Error())
	case errors.Is(err, blobstore.ErrTooLarge):
		if o == opStore {
			plainError(w, http.StatusRequestEntityTooLarge, wire.TextPayloadTooLarge)
		} else {
			jsonError(w, http.StatusForbidden, wire.ReasonBlobTooLarge, msgBlobTooLarge)
		}
	case errors.Is(err, blobstore.ErrForbidden):
		jsonError(w, http.StatusUnavailableForLegalReasons, wire.ReasonForbiddenBlob, msgForbidden)
	case errors.Is(err, blobstore.ErrUnavailable):
		s.log.WarnContext(r.Context(), "store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		jsonError(w, http.StatusServiceUnavailable, wire.ReasonBlobUnavailable, msgUnavailable)
	case r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// The client went away; nobody reads the reply.
		s.log.DebugContext(r.Context(), "request canceled", "method", r.Method, "path", r.URL.Path, "err", err)
		clearReadHeaders(w.Header())
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		// Includes ErrIntegrity: the store found its own data corrupt and
		// could not repair it. Another replica may still serve it.
		s.log.ErrorContext(r.Context(), "store failed", "method", r.Method, "path", r.URL.Path, "err", err)
		jsonError(w, http.StatusInternalServerError, wire.ReasonInternal, msgInternal)
	}
}

// jsonError writes a Walrus JSON status body.
func jsonError(w http.ResponseWriter, code int, reason, message string) {
	b, err := json.Marshal(wire.NewErrorBody(code, reason, message))
	if err != nil {
		// Cannot happen: the body is strings and integers.
		plainError(w, http.StatusInternalServerError, message)
		return
	}
	h := w.Header()
	clearReadHeaders(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// plainError writes a plain-text error, as axum does for its own
// rejections (query parsing, body limits) and as Walrus does for load
// shedding.
func plainError(w http.ResponseWriter, code int, text string) {
	h := w.Header()
	clearReadHeaders(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(text))
}

// clearReadHeaders removes what a read set before it failed: errors are
// never cacheable and describe no blob.
func clearReadHeaders(h http.Header) {
	for _, k := range []string{"Content-Length", "Content-Type", wire.HeaderContentRange, "ETag", "Cache-Control",
		"X-Content-Type-Options", wire.HeaderQuiltPatchID} {
		h.Del(k)
	}
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		log.ErrorContext(r.Context(), "encoding reply", "path", r.URL.Path, "err", err)
		jsonError(w, http.StatusInternalServerError, wire.ReasonInternal, msgInternal)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
