// Package httpserver serves the Walrus publisher and aggregator HTTP API
// over any [blobstore.Store], so that Walrus tools, SDKs and our own client
// ([walrushttp]) can talk to a local store exactly as they talk to Walrus.
// `walrusfs serve` runs it over the embedded local store.
//
//	store, _ := localstore.Open(ctx, lcfg, logger)
//	h := httpserver.New(store, httpserver.DefaultConfig(), logger)
//	http.ListenAndServe("127.0.0.1:31415", h)
//
// # Endpoints
//
//	GET  /status                                        200 "OK"
//	PUT  /v1/blobs?epochs=&permanent=&force=&…          store one blob (raw body)
//	PUT  /v1/quilts?…                                   store a quilt (multipart/form-data)
//	GET  /v1/blobs/{id}                                 read; "Range: bytes=a-b" gives 206
//	GET  /v1/blobs/{id}/byte-range?start=&length=       read a range with a 200
//	GET  /v1/blobs/by-quilt-patch-id/{patchId}          read one quilt patch
//	GET  /v1/blobs/by-quilt-id/{quiltId}/{identifier}   read one quilt patch by name
//	GET  /v1/quilts/{quiltId}/patches                   list a quilt's patches
//
// The two quilt lookups that need the quilt's index (by identifier, and the
// listing) require the store to implement [blobstore.QuiltLister]; stores
// that do not get 501 there.
//
// # Compatibility
//
// Replies follow Walrus (its daemon routes, crates/walrus-service/src/
// client/daemon/routes.rs) wherever a client could tell the difference:
//
//   - Store replies are camelCase: newlyCreated with blobObject, storage,
//     resourceOperation registerFromScratch and cost; alreadyCertified when
//     the store reports the blob was already there and force was not asked.
//   - Structured errors are the JSON status body
//     {"error":{"status","code","message","details":[{"@type":"ErrorInfo",
//     "reason","domain":"daemon.walrus.space","metadata":{}}]}} with Walrus's
//     reasons and status names (403 BLOB_TOO_LARGE is SIZE_EXCEEDED).
//     Load shedding (429), bodies over the limit (413) and query strings
//     or path segments that fail to parse (400) are plain text, as axum
//     sends them.
//   - Query strings are checked like serde's deny_unknown_fields: PUT
//     takes the PublisherQuery parameters; GET /v1/blobs/{id} takes
//     ReadOptions (strict_consistency_check, skip_consistency_check; both
//     true is a JSON 400 INVALID_CONSISTENCY_CHECK); byte-range takes start
//     and length only. Unknown, repeated or unparsable parameters are a
//     plain 400. Numbers parse as Rust's FromStr does (a leading '+' is
//     accepted). Patch reads and the patch listing take no query in Walrus,
//     so theirs is ignored.
//   - Reads send ETag (the blob ID, unquoted; "<id>-<start>-<length>" for
//     byte-range; the quilt's ID for patches), X-Content-Type-Options:
//     nosniff and Cache-Control: public, max-age=86400,
//     stale-while-revalidate=3600. Content-Type is never guessed from the
//     data: it mirrors the request's Accept if that has no '*', else the
//     request's Content-Type on a GET (on any read by quilt identifier,
//     where Walrus treats every request as a GET), else it is absent.
//   - Range takes only "bytes=first-last" (one range, within the blob);
//     anything else, open-ended and suffix forms included, is 416
//     INVALID_BYTE_RANGE, checked before the blob is looked up. A 206
//     carries Content-Range "bytes first-last/total". The byte-range
//     endpoint answers 200; a zero length, an overflowing start+length or
//     a range outside the blob is a JSON 400 INVALID_BYTE_RANGE.
//   - Patch reads return the patch data only, with Content-Length,
//     X-Quilt-Patch-Identifier when the identifier is a valid header value
//     (visible ASCII and tabs: not for non-ASCII identifiers), and the
//     patch's tags whose keys are in Config.AllowedHeaders as headers,
//     without replacing headers already set. A missing quilt is 404
//     BLOB_NOT_FOUND, a missing patch in an existing quilt 404
//     QUILT_PATCH_NOT_FOUND.
//   - PUT /v1/quilts reads the form as Walrus does: each _metadata field
//     is a JSON array of {identifier, tags} (several are merged; an
//     identifier named twice is an error; entries naming no file are
//     ignored; non-string tag values become their JSON text), every other
//     field is a file named by its field name. A quilt the store cannot
//     build (bad identifiers, too many patches, too much data) is 400
//     MALFORMED_REQUEST.
//   - CORS is wide open: every reply allows any origin, and preflight
//     requests get 200 allowing any method and header for 24 hours.
//
// Where Walrus's behaviour is not pinned down, or the local store differs,
// the server chooses:
//
//   - HEAD on /v1/blobs/{id} (and byte-range) answers from the blob's size
//     without reading it; Walrus reconstructs the whole blob for a HEAD.
//     Patch HEADs read the patch, as GETs do.
//   - Unknown paths get net/http's plain 404 and wrong methods its 405;
//     GET /v1/api (the OpenAPI page) and the by-object-id and v1alpha
//     routes are not served.
//   - Putting a blob larger than the store can encode is a plain 413 like
//     an oversized body. epochs outside 1…MaxEpochsAhead, and share=true
//     (the local store has no shared objects), are JSON 400
//     MALFORMED_REQUEST.
//   - The quilt listing and patch reads of a blob that is not a quilt are
//     400 MALFORMED_REQUEST; a patch ID whose columns the quilt does not
//     have is 404 QUILT_PATCH_NOT_FOUND. Patches over Config.MaxPatchReply
//     are 403 BLOB_TOO_LARGE.
//   - Stores that do not implement [blobstore.QuiltLister] answer reads by
//     identifier and listings with a plain 501.
//
// The local store has no Sui objects. Where a reply needs an object ID and
// the store reports none, the server derives a stable made-up one from the
// blob ID, so that repeated stores of one blob agree.
//
// # Limits
//
// Blob bodies are limited to Config.MaxBlobBody (10 MiB, the Walrus
// default) and quilt bodies to Config.MaxQuiltBody (100 MiB); larger bodies
// get 413 before the store sees them. A blob body with a Content-Length is
// streamed into the store; a chunked one is buffered (within the limit)
// because the store needs the size up front. Blob reads stream from the
// store's reader, and so do patch reads when the store's patch reader
// knows the patch's size before its first byte (a Size method, as the
// local store's has); other patch reads are buffered whole (up to
// Config.MaxPatchReply) so that a failure is still a JSON error.
// Concurrency is capped separately for stores and reads; requests beyond
// the cap are shed at once with 429, as Walrus publishers do. If a store
// read fails after the reply headers are out, the connection is cut so
// that the client sees a short body rather than a complete-looking one.
//
// The handler is safe for concurrent use.
//
// [walrushttp]: github.com/walrusfs/walrusfs/blobstore/walrushttp
package httpserver

import (
	"log/slog"
	"net/http"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// Config configures the server. Start from [DefaultConfig].
type Config struct {
	// MaxBlobBody is the largest PUT /v1/blobs body accepted, in bytes.
	MaxBlobBody int64
	// MaxQuiltBody is the largest PUT /v1/quilts body accepted, in bytes.
	MaxQuiltBody int64
	// MaxConcurrentStores is how many PUT requests run at once; more are
	// answered with 429. Zero or less means no limit.
	MaxConcurrentStores int
	// MaxConcurrentReads is how many GET requests run at once; more are
	// answered with 429. Zero or less means no limit.
	MaxConcurrentReads int
	// MaxEpochsAhead is the largest epochs value accepted.
	MaxEpochsAhead uint32
	// MaxPatchReply is the largest quilt patch a read returns. Larger
	// patches get 403 BLOB_TOO_LARGE: before any of the patch is read when
	// the store's patch reader knows its size, else once more than this
	// has been read. Zero means MaxQuiltBody.
	MaxPatchReply int64
	// AllowedHeaders are the tag keys (case-insensitive) that patch reads
	// return as reply headers, like the aggregator's --allowed-headers.
	// Nil means Walrus's default list (wire.DefaultAllowedHeaders).
	AllowedHeaders []string
}

// DefaultConfig returns Walrus's defaults: 10 MiB blobs, 100 MiB quilts,
// 16 concurrent stores (8 running plus 8 queued on Walrus), 256 concurrent
// reads, 53 epochs ahead.
func DefaultConfig() Config {
	return Config{
		MaxBlobBody:         wire.DefaultMaxBlobBody,
		MaxQuiltBody:        wire.DefaultMaxQuiltBody,
		MaxConcurrentStores: 16,
		MaxConcurrentReads:  256,
		MaxEpochsAhead:      wire.MaxEpochsAhead,
		MaxPatchReply:       wire.DefaultMaxQuiltBody,
		AllowedHeaders:      wire.DefaultAllowedHeaders,
	}
}

type server struct {
	store  blobstore.Store
	cfg    Config
	log    *slog.Logger
	stores limiter
	reads  limiter
	// allowed holds the canonical names of AllowedHeaders.
	allowed map[string]bool
}

// New returns a handler serving the Walrus API over store. A nil logger
// discards logs. Zero limits in cfg are replaced with the defaults.
func New(store blobstore.Store, cfg Config, logger *slog.Logger) http.Handler {
	def := DefaultConfig()
	if cfg.MaxBlobBody <= 0 {
		cfg.MaxBlobBody = def.MaxBlobBody
	}
	if cfg.MaxQuiltBody <= 0 {
		cfg.MaxQuiltBody = def.MaxQuiltBody
	}
	if cfg.MaxEpochsAhead == 0 {
		cfg.MaxEpochsAhead = def.MaxEpochsAhead
	}
	if cfg.MaxPatchReply <= 0 {
		cfg.MaxPatchReply = cfg.MaxQuiltBody
	}
	if cfg.AllowedHeaders == nil {
		cfg.AllowedHeaders = def.AllowedHeaders
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{
		store:   store,
		cfg:     cfg,
		log:     logger,
		stores:  newLimiter(cfg.MaxConcurrentStores),
		reads:   newLimiter(cfg.MaxConcurrentReads),
		allowed: make(map[string]bool),
	}
	for _, h := range cfg.AllowedHeaders {
		s.allowed[http.CanonicalHeaderKey(h)] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	})
	mux.Handle("PUT /v1/blobs", s.stores.wrap(http.HandlerFunc(s.putBlob)))
	mux.Handle("PUT /v1/quilts", s.stores.wrap(http.HandlerFunc(s.putQuilt)))
	// Read routes overlap (/v1/blobs/{id}/byte-range against
	// /v1/blobs/by-quilt-patch-id/{id}), so one handler dispatches them.
	mux.Handle("GET /v1/blobs/", s.reads.wrap(http.HandlerFunc(s.getBlobs)))
	mux.Handle("GET /v1/quilts/{quilt}/patches", s.reads.wrap(http.HandlerFunc(s.listPatches)))
	return cors(mux)
}

// cors answers as Walrus's wide-open CORS layer does (any origin, method
// and header, preflight cached for 24 hours): every reply allows any
// origin, and a preflight request (OPTIONS with
// Access-Control-Request-Method) is answered here with 200.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Add("Vary", "origin, access-control-request-method, access-control-request-headers")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "*")
			h.Set("Access-Control-Allow-Headers", "*")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limiter sheds requests beyond a fixed concurrency with a plain-text 429.
type limiter chan struct{}

func newLimiter(n int) limiter {
	if n <= 0 {
		return nil
	}
	return make(limiter, n)
}

func (l limiter) wrap(h http.Handler) http.Handler {
	if l == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case l <- struct{}{}:
			defer func() { <-l }()
			h.ServeHTTP(w, r)
		default:
			plainError(w, http.StatusTooManyRequests, wire.TextTooManyRequests)
		}
	})
}
