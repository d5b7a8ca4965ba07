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
// Replies follow Walrus byte for byte where it matters to clients: the
// camelCase store replies (newlyCreated with blobObject, storage,
// resourceOperation registerFromScratch and cost; alreadyCertified when the
// store reports the blob was already there and force was not asked), the
// JSON error body with Walrus's reasons in the daemon.walrus.space domain,
// plain-text 413 and 429 bodies, plain-text 400 for query strings Walrus
// would fail to deserialize (unknown or repeated parameters, bad numbers or
// booleans), ETag set to the blob ID without quotes, no Content-Type guessed
// from the data, and 416 INVALID_BYTE_RANGE for any Range header but
// "bytes=first-last" inside the blob.
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
// because the store needs the size up front. Reads stream from the store's
// reader. Concurrency is capped separately for stores and reads; requests
// beyond the cap are shed at once with 429, as Walrus publishers do. If a
// store read fails after the reply headers are out, the connection is cut
// so that the client sees a short body rather than a complete-looking one.
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
	}
}

type server struct {
	store  blobstore.Store
	cfg    Config
	log    *slog.Logger
	stores limiter
	reads  limiter
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
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{
		store:  store,
		cfg:    cfg,
		log:    logger,
		stores: newLimiter(cfg.MaxConcurrentStores),
		reads:  newLimiter(cfg.MaxConcurrentReads),
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
	return mux
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
