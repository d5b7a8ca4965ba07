// Package walrushttp is a [blobstore.Store] that talks to Walrus through
// its HTTP API: blobs and quilts are stored with a publisher (PUT /v1/blobs,
// PUT /v1/quilts) and read from one or more aggregators (GET /v1/blobs/…).
// The same client works against `walrusfs serve`, which speaks the same API
// over the local store.
//
//	cfg := walrushttp.DefaultConfig()
//	cfg.PublisherURL = "http://127.0.0.1:31415"
//	cfg.AggregatorURLs = []string{"https://aggregator.walrus-testnet.walrus.space"}
//	c, err := walrushttp.New(cfg, logger)
//
// # Results
//
// Put and PutQuilt return the blobstore vocabulary. [Client.StoreBlob] and
// [Client.StoreQuilt] return the publisher's full reply ([wire.BlobStoreResult]:
// newlyCreated with the Sui Blob object, its storage and certified epoch, or
// alreadyCertified), which an uploader that tracks Blob objects needs.
// Deletion is a Sui transaction, not an HTTP call: Delete always fails with
// [blobstore.ErrForbidden].
//
// # Errors and retries
//
// Every failure wraps a blobstore sentinel; [wire.Sentinel] is the one
// mapping from HTTP status and Walrus reason to sentinel. Failures that wrap
// [blobstore.ErrUnavailable] are retried: 429, 5xx, connection errors,
// timeouts and stalls, and bodies cut short; and a 404 on a read of data
// when Config.RetryReadsNotFound is set (a CDN in front of an aggregator can
// answer 404 for a blob certified moments ago). Nothing else is. Retries back off exponentially with jitter,
// except that a read first fails over to the next aggregator at once; the
// aggregator that last answered is tried first by the next request. The
// caller's context bounds everything: once it is done, no further attempt is
// made and its error is returned.
//
// # Integrity
//
// An aggregator decodes blobs for us and can serve wrong bytes; the client
// cannot tell from a range alone. Callers that hold a hash use
// [Client.ReadRangeVerified] (the Client is a [blobstore.RangeVerifier]):
// their consume function reads one full copy of
// the range and returns an error wrapping [blobstore.ErrIntegrity] if the
// hash does not match, and the client then fetches the range again from
// another aggregator, never from one that served bad bytes for it. A short
// or overlong body is never passed off as complete: range replies are
// checked against Content-Range and Content-Length, and a body that ends
// early fails with ErrUnavailable.
//
// # Limits and streaming
//
// Bodies stream both ways. A read holds no more than the buffer the caller
// reads into; a reply is never read beyond the requested length, and JSON
// replies are capped at Config.MaxJSONReply. Every request has deadlines:
// Config.ResponseTimeout (or StoreTimeout for uploads, which the publisher
// answers only after certifying) until the reply headers arrive, then
// Config.IdleTimeout between two reads of the body that make progress, so a
// large read may take as long as it needs while a stalled one is cut and
// resumed. A stalled or broken [Client.ReadRange] stream resumes where it
// stopped, from the next aggregator.
//
// Retrying an upload needs its body again. Put seeks back if the reader is an
// [io.Seeker], reads from offset 0 if it is only an [io.ReaderAt], and
// otherwise buffers blobs up to Config.MaxBufferedBody in memory; a larger
// one-shot stream is sent once, without retries.
//
// A Client is safe for concurrent use.
package walrushttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// Config configures a [Client]. Start from [DefaultConfig].
type Config struct {
	// PublisherURL is the base URL of the publisher, e.g.
	// "http://127.0.0.1:31415". Empty means the client cannot store.
	PublisherURL string
	// AggregatorURLs are the base URLs of the aggregators, tried in turn.
	// At least one is required.
	AggregatorURLs []string
	// JWT, if set, is sent as "Authorization: Bearer <JWT>" to the
	// publisher.
	JWT string
	// HTTPClient sends the requests. Nil means a client with its own
	// transport. Its Timeout should be zero: the Client sets deadlines
	// itself, and a total timeout would cut long reads.
	HTTPClient *http.Client

	// ResponseTimeout bounds one read or listing attempt until its reply
	// headers arrive. Aggregators reconstruct before they answer, so this
	// includes fetching slivers from the storage nodes.
	ResponseTimeout time.Duration
	// StoreTimeout bounds one upload attempt until its reply headers
	// arrive: sending the body, and the publisher encoding, registering,
	// uploading slivers and certifying.
	StoreTimeout time.Duration
	// IdleTimeout is the longest a reply body may go without delivering a
	// byte before the attempt counts as stalled.
	IdleTimeout time.Duration

	// MaxAttempts is how many times one operation is tried in total.
	MaxAttempts int
	// RetryReadsNotFound makes reads of blob data and patches (ReadRange,
	// ReadRangeVerified, ReadPatch) treat a 404 as a miss rather than a
	// loss: aggregators behind a CDN can answer 404 for a blob certified
	// moments ago, so the read tries the other aggregators, then retries
	// with backoff, and fails with ErrNotFound only when MaxAttempts are
	// used up. For a caller that reads only blobs it knows were stored
	// (walrusfs). Stat and ListPatches keep a 404 authoritative.
	RetryReadsNotFound bool
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff:
	// attempt k waits a random time in [d/2, d] with
	// d = min(RetryMaxDelay, RetryBaseDelay·2^(k-1)).
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration

	// MaxBlobBody is the publisher's body limit; larger Puts fail with
	// ErrTooLarge without being sent. Zero means no limit.
	MaxBlobBody int64
	// MaxQuiltBody is the publisher's quilt body limit. Zero means no limit.
	MaxQuiltBody int64
	// MaxBufferedBody is the largest upload from a reader that can be
	// neither seeked nor read at an offset that is buffered in memory so it
	// can be retried.
	MaxBufferedBody int64
	// MaxJSONReply caps the size of JSON replies read.
	MaxJSONReply int64
	// MaxPatchReply caps the size of a quilt patch read.
	MaxPatchReply int64
	// UseByteRangeEndpoint reads ranges with GET /v1/blobs/{id}/byte-range
	// (a 200 reply that CDNs cache) instead of a Range header.
	UseByteRangeEndpoint bool
	// QuiltShards is the shard count of the network behind the publisher,
	// at which it lays out quilts (blobstore.NetworkShards, 1000, on
	// Mainnet and Testnet). The HTTP API does not tell it; packers use it
	// to size quilts. Zero means blobstore.NetworkShards.
	QuiltShards int
}

// DefaultConfig returns defaults suited to Walrus's public services, with
// no URLs set.
func DefaultConfig() Config {
	return Config{
		ResponseTimeout:    2 * time.Minute,
		StoreTimeout:       10 * time.Minute,
		IdleTimeout:        30 * time.Second,
		MaxAttempts:        6,
		RetryReadsNotFound: true,
		RetryBaseDelay:     250 * time.Millisecond,
		RetryMaxDelay:      15 * time.Second,
		MaxBlobBody:        wire.DefaultMaxBlobBody,
		MaxQuiltBody:       wire.DefaultMaxQuiltBody,
		MaxBufferedBody:    wire.DefaultMaxBlobBody,
		MaxJSONReply:       4 << 20,
		MaxPatchReply:      4 << 30,
		QuiltShards:        blobstore.NetworkShards,
	}
}

// Client is a Walrus HTTP client. It implements [blobstore.Store],
// [blobstore.QuiltLister] and [blobstore.QuiltLimiter].
type Client struct {
	cfg       Config
	log       *slog.Logger
	hc        *http.Client
	publisher *url.URL
	aggs      []*url.URL
	preferred atomic.Int64 // index of the aggregator to try first
}

var (
	_ blobstore.Store         = (*Client)(nil)
	_ blobstore.QuiltLister   = (*Client)(nil)
	_ blobstore.QuiltLimiter  = (*Client)(nil)
	_ blobstore.RangeVerifier = (*Client)(nil)
)

// New validates cfg and returns a client. A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Client, error) {
	def := DefaultConfig()
	for _, d := range []struct{ v, def *time.Duration }{
		{&cfg.ResponseTimeout, &def.ResponseTimeout}, {&cfg.StoreTimeout, &def.StoreTimeout},
		{&cfg.IdleTimeout, &def.IdleTimeout}, {&cfg.RetryBaseDelay, &def.RetryBaseDelay}, {&cfg.RetryMaxDelay, &def.RetryMaxDelay},
	} {
		if *d.v <= 0 {
			*d.v = *d.def
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 1
	}
	if cfg.MaxJSONReply <= 0 {
		cfg.MaxJSONReply = def.MaxJSONReply
	}
	if cfg.MaxPatchReply <= 0 {
		cfg.MaxPatchReply = def.MaxPatchReply
	}
	if cfg.QuiltShards <= 0 {
		cfg.QuiltShards = def.QuiltShards
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: logger, hc: cfg.HTTPClient}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 0 // the Client's own deadlines apply
		c.hc = &http.Client{Transport: tr}
	}
	if cfg.PublisherURL != "" {
		u, err := parseBase(cfg.PublisherURL)
		if err != nil {
			return nil, fmt.Errorf("walrushttp: publisher: %w", err)
		}
		c.publisher = u
	}
	if len(cfg.AggregatorURLs) == 0 {
		return nil, fmt.Errorf("walrushttp: no aggregator URLs: %w", blobstore.ErrInvalidArgument)
	}
	for _, s := range cfg.AggregatorURLs {
		u, err := parseBase(s)
		if err != nil {
			return nil, fmt.Errorf("walrushttp: aggregator: %w", err)
		}
		c.aggs = append(c.aggs, u)
	}
	return c, nil
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[:port][/path]: %w", s, blobstore.ErrInvalidArgument)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// endpoint joins a base URL with an already escaped path and a query.
func endpoint(base *url.URL, escapedPath string, q url.Values) string {
	u := *base
	u.RawPath = u.EscapedPath() + escapedPath
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		p = u.RawPath
	}
	u.Path = p
	u.RawQuery = q.Encode()
	return u.String()
}

// errStalled is the cancellation cause of an attempt whose deadline fired.
var errStalled = errors.New("no progress within the timeout")

// retryable reports whether err is worth another attempt.
func retryable(err error) bool { return errors.Is(err, blobstore.ErrUnavailable) }

// backoff returns the wait before retry number k (k ≥ 1).
func (c *Client) backoff(k int) time.Duration {
	d := c.cfg.RetryBaseDelay
	for i := 1; i < k && d < c.cfg.RetryMaxDelay; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RetryMaxDelay)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// target is one server an attempt can go to.
type target struct {
	base *url.URL
	agg  int // aggregator index, or -1 for the publisher
}

func (c *Client) publisherTarget() ([]target, error) {
	if c.publisher == nil {
		return nil, fmt.Errorf("no publisher URL configured: %w", blobstore.ErrForbidden)
	}
	return []target{{c.publisher, -1}}, nil
}

// aggregatorTargets returns the aggregators not in skip, preferred first.
func (c *Client) aggregatorTargets(skip map[int]bool) []target {
	start := int(c.preferred.Load())
	var ts []target
	for i := range c.aggs {
		j := (start + i) % len(c.aggs)
		if !skip[j] {
			ts = append(ts, target{c.aggs[j], j})
		}
	}
	return ts
}

// retry runs fn against targets until it succeeds, fails for good, or
// MaxAttempts is used up. Attempts rotate through targets; a wait comes only
// when the rotation returns to a target already tried.
func (c *Client) retry(ctx context.Context, op string, targets []target, fn func(ctx context.Context, t target) error) error {
	return c.retryN(ctx, op, targets, c.cfg.MaxAttempts, false, fn)
}

// retryRead is retry for reads of data, where a 404 is a miss when
// Config.RetryReadsNotFound says so.
func (c *Client) retryRead(ctx context.Context, op string, targets []target, fn func(ctx context.Context, t target) error) error {
	return c.retryN(ctx, op, targets, c.cfg.MaxAttempts, c.cfg.RetryReadsNotFound, fn)
}

// retryN is retry with an explicit attempt budget; missRetried makes a
// 404 worth another attempt too.
func (c *Client) retryN(ctx context.Context, op string, targets []target, attempts int, missRetried bool, fn func(ctx context.Context, t target) error) error {
	if len(targets) == 0 {
		return fmt.Errorf("%s: no server left to try: %w", op, blobstore.ErrUnavailable)
	}
	var err error
	for attempt := range attempts {
		if attempt >= len(targets) {
			if serr := sleep(ctx, c.backoff(attempt-len(targets)+1)); serr != nil {
				return fmt.Errorf("%s: %w (last error: %w)", op, serr, err)
			}
		}
		t := targets[attempt%len(targets)]
		err = fn(ctx, t)
		if err == nil {
			if t.agg >= 0 {
				c.preferred.Store(int64(t.agg))
			}
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %w (last error: %w)", op, cerr, err)
		}
		miss := missRetried && errors.Is(err, blobstore.ErrNotFound)
		if !retryable(err) && !miss {
			return err
		}
		c.demote(t.agg)
		c.log.DebugContext(ctx, "walrus request failed; retrying", "op", op, "server", t.base.Host, "attempt", attempt+1, "err", err)
	}
	return fmt.Errorf("%s: giving up after %d attempts: %w", op, attempts, err)
}

// watchdog cancels an attempt when its current deadline passes. The
// deadline is set for the headers first, then pushed forward by every read
// of the body that makes progress.
type watchdog struct {
	timer *time.Timer
	idle  time.Duration
}

func newWatchdog(first, idle time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{timer: time.AfterFunc(first, func() { cancel(errStalled) }), idle: idle}
}

func (w *watchdog) kick() { w.timer.Reset(w.idle) }
func (w *watchdog) stop() { w.timer.Stop() }

// reply is a successful response whose body is guarded by the attempt's
// watchdog and classifies its errors.
type reply struct {
	*http.Response
	body *guardedBody
}

// guardedBody kicks the watchdog on progress, turns transport failures and
// stalls into ErrUnavailable, and releases the attempt on Close.
type guardedBody struct {
	rc     io.ReadCloser
	wd     *watchdog
	ctx    context.Context // the attempt's
	parent context.Context
	cancel context.CancelCauseFunc
	what   string
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.wd.kick()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = b.classify(err)
	}
	return n, err
}

func (b *guardedBody) classify(err error) error {
	if perr := b.parent.Err(); perr != nil {
		return fmt.Errorf("%s: %w", b.what, perr)
	}
	if errors.Is(context.Cause(b.ctx), errStalled) {
		return fmt.Errorf("%s: body stalled for %v: %w", b.what, b.wd.idle, blobstore.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w: %w", b.what, blobstore.ErrUnavailable, err)
}

func (b *guardedBody) Close() error {
	b.wd.stop()
	err := b.rc.Close()
	b.cancel(context.Canceled)
	return err
}

// send performs one attempt. On a 2xx reply it returns the response with a
// guarded body that the caller must close; any other outcome is an error
// wrapping a sentinel.
func (c *Client) send(ctx context.Context, req *http.Request, headerTimeout time.Duration, what string) (*reply, error) {
	actx, cancel := context.WithCancelCause(ctx)
	wd := newWatchdog(headerTimeout, c.cfg.IdleTimeout, cancel)
	// The body is closed through the guardedBody that wraps it below: here
	// on a non-2xx reply, by the caller of the returned reply otherwise.
	resp, err := c.hc.Do(req.WithContext(actx)) //nolint:bodyclose // closed via guardedBody
	if err != nil {
		wd.stop()
		cause := context.Cause(actx)
		cancel(context.Canceled)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s: %w", what, ctx.Err())
		case errors.Is(cause, errStalled):
			return nil, fmt.Errorf("%s: no reply within %v: %w", what, headerTimeout, blobstore.ErrUnavailable)
		}
		return nil, fmt.Errorf("%s: %w: %w", what, blobstore.ErrUnavailable, err)
	}
	wd.kick()
	body := &guardedBody{rc: resp.Body, wd: wd, ctx: actx, parent: ctx, cancel: cancel, what: what}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer func() { _ = body.Close() }()
		b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
		return nil, fmt.Errorf("%s: %w", what, wire.ParseError(resp.StatusCode, b))
	}
	return &reply{Response: resp, body: body}, nil
}

// readJSON reads a JSON reply body of at most MaxJSONReply bytes.
func (c *Client) readJSON(r *reply, what string) ([]byte, error) {
	defer func() { _ = r.body.Close() }()
	b, err := io.ReadAll(io.LimitReader(r.body, c.cfg.MaxJSONReply+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > c.cfg.MaxJSONReply {
		return nil, fmt.Errorf("%s: reply over %d bytes: %w", what, c.cfg.MaxJSONReply, blobstore.ErrTooLarge)
	}
	return b, nil
}

// QuiltShards returns Config.QuiltShards: the shard count the publisher
// lays out quilts at.
func (c *Client) QuiltShards() int { return c.cfg.QuiltShards }
