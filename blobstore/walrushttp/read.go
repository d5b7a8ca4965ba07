package walrushttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// ReadRange returns length bytes of blob id from offset off, read from the
// aggregators. The reply is checked against the requested range; if the
// stream breaks or stalls, the reader resumes at the next unread byte from
// the next aggregator (within Config.MaxAttempts) and otherwise fails with
// ErrUnavailable. The reader is bound to ctx. It cannot detect an
// aggregator that serves wrong bytes; use [Client.ReadRangeVerified] when
// holding a hash.
func (c *Client) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	if err := c.checkRange(ctx, id, off, length); err != nil {
		return nil, err
	}
	if length == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return c.openRange(ctx, id, off, length, nil)
}

// checkRange validates a range request; an empty range needs the blob's
// size, which it fetches.
func (c *Client) checkRange(ctx context.Context, id blobstore.ID, off, length int64) error {
	if off < 0 || length < 0 || off > 1<<62 || length > 1<<62 {
		return fmt.Errorf("walrushttp: read blob %s [%d,+%d): %w", id, off, length, blobstore.ErrInvalidArgument)
	}
	if length > 0 {
		return nil
	}
	info, err := c.Stat(ctx, id)
	if err != nil {
		return err
	}
	if off > info.Size {
		return fmt.Errorf("walrushttp: read blob %s [%d,+0): beyond its %d bytes: %w", id, off, info.Size, blobstore.ErrInvalidArgument)
	}
	return nil
}

// ReadRangeVerified reads length bytes of blob id at off and hands them to
// consume, which must read the range in full and check it (the Client's
// [blobstore.RangeVerifier]). If consume returns an error wrapping
// [blobstore.ErrIntegrity], the bytes are bad: every aggregator that served
// part of them (or, if consume read none, the one that was to serve them)
// is excluded and consume is called again with a fresh reader from the
// start of the range. consume must therefore discard what it saw on each
// call (reset its hash, truncate its buffer). Any other error from consume
// is returned as is. When no aggregator is left, the result wraps
// ErrIntegrity; when those left cannot be read, it is their error.
func (c *Client) ReadRangeVerified(ctx context.Context, id blobstore.ID, off, length int64, consume func(r io.Reader) error) error {
	if err := c.checkRange(ctx, id, off, length); err != nil {
		return err
	}
	bad := make(map[int]bool)
	for {
		r := io.NopCloser(bytes.NewReader(nil))
		var rr *rangeReader
		if length > 0 {
			var err error
			if rr, err = c.openRange(ctx, id, off, length, bad); err != nil {
				return err
			}
			r = rr
		}
		err := consume(r)
		_ = r.Close()
		if err == nil || !errors.Is(err, blobstore.ErrIntegrity) || rr == nil {
			return err
		}
		blamed := rr.served
		if len(blamed) == 0 {
			blamed = map[int]bool{rr.curAgg: true}
		}
		for a := range blamed {
			bad[a] = true
			c.log.WarnContext(ctx, "aggregator served bytes that failed verification", "aggregator", c.aggs[a].Host, "blob", id, "offset", off, "length", length)
		}
		if len(bad) >= len(c.aggs) {
			return fmt.Errorf("walrushttp: read blob %s [%d,+%d): every aggregator served bad bytes: %w", id, off, length, err)
		}
	}
}

// rangeReader reads a range, resuming from another aggregator when a
// stream breaks.
type rangeReader struct {
	c           *Client
	ctx         context.Context
	id          blobstore.ID
	off, remain int64
	skip        map[int]bool // aggregators not to use
	served      map[int]bool // aggregators that delivered part of the range
	cur         io.ReadCloser
	curAgg      int
	resumes     int
	err         error
}

var errClosed = errors.New("walrushttp: read from closed reader")

func (c *Client) openRange(ctx context.Context, id blobstore.ID, off, length int64, skip map[int]bool) (*rangeReader, error) {
	rr := &rangeReader{c: c, ctx: ctx, id: id, off: off, remain: length, skip: skip, served: make(map[int]bool)}
	if err := rr.open(); err != nil {
		return nil, err
	}
	return rr, nil
}

func (rr *rangeReader) open() error {
	what := fmt.Sprintf("walrushttp: read blob %s [%d,+%d)", rr.id, rr.off, rr.remain)
	return rr.c.retryRead(rr.ctx, what, rr.c.aggregatorTargets(rr.skip), func(ctx context.Context, t target) error {
		body, err := rr.c.rangeAttempt(ctx, t, rr.id, rr.off, rr.remain)
		if err != nil {
			return err
		}
		rr.cur, rr.curAgg = body, t.agg
		return nil
	})
}

func (rr *rangeReader) Read(p []byte) (int, error) {
	if rr.err != nil {
		return 0, rr.err
	}
	if rr.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > rr.remain {
		p = p[:rr.remain]
	}
	for {
		if rr.cur == nil {
			if err := rr.open(); err != nil {
				rr.err = err
				return 0, err
			}
		}
		n, err := rr.cur.Read(p)
		if n > 0 {
			rr.served[rr.curAgg] = true
		}
		rr.off += int64(n)
		rr.remain -= int64(n)
		if rr.remain == 0 {
			_ = rr.cur.Close()
			rr.cur = nil
			return n, io.EOF
		}
		if err == nil {
			return n, nil
		}
		_ = rr.cur.Close()
		rr.cur = nil
		if !retryable(err) || rr.resumes+1 >= rr.c.cfg.MaxAttempts || rr.ctx.Err() != nil {
			rr.err = err
			return n, err
		}
		rr.resumes++
		rr.c.demote(rr.curAgg)
		rr.c.log.DebugContext(rr.ctx, "blob stream broke; resuming", "blob", rr.id, "offset", rr.off, "remaining", rr.remain, "err", err)
		if len(rr.c.aggs) == 1 {
			if serr := sleep(rr.ctx, rr.c.backoff(rr.resumes)); serr != nil {
				rr.err = fmt.Errorf("walrushttp: read blob %s: %w (last error: %w)", rr.id, serr, err)
				return n, rr.err
			}
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (rr *rangeReader) Close() error {
	if rr.cur != nil {
		_ = rr.cur.Close()
		rr.cur = nil
	}
	if rr.err == nil {
		rr.err = errClosed
	}
	return nil
}

// demote stops preferring aggregator i after it failed.
func (c *Client) demote(i int) {
	if i >= 0 {
		c.preferred.CompareAndSwap(int64(i), int64((i+1)%len(c.aggs)))
	}
}

// rangeAttempt asks one aggregator for a range and checks the reply's
// framing: status, Content-Range and Content-Length must describe exactly
// the range asked for.
func (c *Client) rangeAttempt(ctx context.Context, t target, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	what := fmt.Sprintf("walrushttp: read blob %s [%d,+%d) from %s", id, off, length, t.base.Host)
	var u string
	if c.cfg.UseByteRangeEndpoint {
		q := url.Values{wire.ParamStart: {strconv.FormatInt(off, 10)}, wire.ParamLength: {strconv.FormatInt(length, 10)}}
		u = endpoint(t.base, wire.PathBlobs+"/"+id.String()+wire.SuffixByteRange, q)
	} else {
		u = endpoint(t.base, wire.PathBlobs+"/"+id.String(), nil)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !c.cfg.UseByteRangeEndpoint {
		req.Header.Set("Range", wire.FormatRange(off, length))
	}
	rep, err := c.send(ctx, req, c.cfg.ResponseTimeout, what)
	if err != nil {
		return nil, err
	}
	if err := checkRangeReply(rep.Response, c.cfg.UseByteRangeEndpoint, off, length); err != nil {
		_ = rep.body.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &exactBody{rc: rep.body, remain: length, what: what}, nil
}

func checkRangeReply(resp *http.Response, byteRangeEndpoint bool, off, length int64) error {
	if resp.StatusCode == http.StatusPartialContent {
		o, l, total, err := wire.ParseContentRange(resp.Header.Get(wire.HeaderContentRange))
		switch {
		case err != nil:
			return fmt.Errorf("%w: %w", blobstore.ErrUnavailable, err)
		case total < off+length:
			return fmt.Errorf("range beyond the blob's %d bytes: %w", total, blobstore.ErrInvalidArgument)
		case o != off || l != length:
			return fmt.Errorf("reply covers [%d,+%d) instead: %w", o, l, blobstore.ErrUnavailable)
		}
	}
	if resp.ContentLength >= 0 && resp.ContentLength != length {
		return fmt.Errorf("reply announces %d bytes: %w", resp.ContentLength, blobstore.ErrUnavailable)
	}
	switch {
	case byteRangeEndpoint && resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusOK && off == 0:
		// A server that ignored the Range header; with the length checked
		// above, the whole blob is the range.
		if resp.ContentLength != length {
			return fmt.Errorf("200 reply of unknown length to a range request: %w", blobstore.ErrUnavailable)
		}
		return nil
	case resp.StatusCode != http.StatusPartialContent:
		return fmt.Errorf("status %d to a range request: %w", resp.StatusCode, blobstore.ErrUnavailable)
	}
	return nil
}

// exactBody delivers exactly remain bytes and never reads past them; a body
// that ends early fails with ErrUnavailable.
type exactBody struct {
	rc     io.ReadCloser
	remain int64
	what   string
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.rc.Read(p)
	b.remain -= int64(n)
	switch {
	case b.remain == 0:
		return n, io.EOF
	case errors.Is(err, io.EOF):
		return n, fmt.Errorf("%s: body ended %d bytes short: %w: %w", b.what, b.remain, blobstore.ErrUnavailable, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (b *exactBody) Close() error { return b.rc.Close() }

// Stat returns the blob's size, learned from a one-byte range read (the
// cheapest question an aggregator answers; HEAD would reconstruct the whole
// blob). Only ID and Size are set.
func (c *Client) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	what := fmt.Sprintf("walrushttp: stat blob %s", id)
	var size int64
	err := c.retry(ctx, what, c.aggregatorTargets(nil), func(ctx context.Context, t target) error {
		req, err := http.NewRequest(http.MethodGet, endpoint(t.base, wire.PathBlobs+"/"+id.String(), nil), nil)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		req.Header.Set("Range", wire.FormatRange(0, 1))
		rep, err := c.send(ctx, req, c.cfg.ResponseTimeout, what)
		if e, ok := wire.AsError(err); ok && e.HTTPStatus == http.StatusRequestedRangeNotSatisfiable {
			// Byte 0 does not exist: the blob exists (else 404) and is
			// empty. Confirm with a plain read of it.
			return c.statEmpty(ctx, t, id, &size)
		}
		if err != nil {
			return err
		}
		defer func() { _ = rep.body.Close() }()
		if rep.StatusCode != http.StatusPartialContent {
			return fmt.Errorf("%s: status %d to a range request: %w", what, rep.StatusCode, blobstore.ErrUnavailable)
		}
		o, l, total, err := wire.ParseContentRange(rep.Header.Get(wire.HeaderContentRange))
		if err != nil || o != 0 || l != 1 {
			return fmt.Errorf("%s: bad Content-Range %q: %w", what, rep.Header.Get(wire.HeaderContentRange), blobstore.ErrUnavailable)
		}
		size = total
		return nil
	})
	if err != nil {
		return blobstore.Info{}, err
	}
	return blobstore.Info{ID: id, Size: size}, nil
}

func (c *Client) statEmpty(ctx context.Context, t target, id blobstore.ID, size *int64) error {
	what := fmt.Sprintf("walrushttp: stat blob %s", id)
	req, err := http.NewRequest(http.MethodGet, endpoint(t.base, wire.PathBlobs+"/"+id.String(), nil), nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	rep, err := c.send(ctx, req, c.cfg.ResponseTimeout, what)
	if err != nil {
		return err
	}
	defer func() { _ = rep.body.Close() }()
	n, err := io.Copy(io.Discard, io.LimitReader(rep.body, 1))
	if err != nil {
		return err
	}
	if rep.StatusCode != http.StatusOK || n != 0 {
		return fmt.Errorf("%s: range 0-0 unsatisfiable yet the blob is not empty: %w", what, blobstore.ErrUnavailable)
	}
	*size = 0
	return nil
}

// ReadPatch returns the data of one quilt patch
// (GET /v1/blobs/by-quilt-patch-id/{id}). A patch is read in one piece; a
// broken stream fails with ErrUnavailable and is not resumed.
func (c *Client) ReadPatch(ctx context.Context, id blobstore.PatchID) (io.ReadCloser, error) {
	what := fmt.Sprintf("walrushttp: read quilt patch %s", id)
	return c.readPatch(ctx, what, id.Quilt, wire.PathByQuiltPatchID+id.String())
}

// ReadPatchByIdentifier returns the data of the patch named identifier in
// quilt (GET /v1/blobs/by-quilt-id/{quilt}/{identifier}).
func (c *Client) ReadPatchByIdentifier(ctx context.Context, quilt blobstore.ID, identifier string) (io.ReadCloser, error) {
	what := fmt.Sprintf("walrushttp: read quilt %s patch %q", quilt, identifier)
	if identifier == "" {
		return nil, fmt.Errorf("%s: empty identifier: %w", what, blobstore.ErrInvalidArgument)
	}
	return c.readPatch(ctx, what, quilt, wire.PathByQuiltID+quilt.String()+"/"+url.PathEscape(identifier))
}

func (c *Client) readPatch(ctx context.Context, what string, quilt blobstore.ID, path string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := c.retryRead(ctx, what, c.aggregatorTargets(nil), func(ctx context.Context, t target) error {
		req, err := http.NewRequest(http.MethodGet, endpoint(t.base, path, nil), nil)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		rep, err := c.send(ctx, req, c.cfg.ResponseTimeout, what)
		if err != nil {
			return err
		}
		if etag := rep.Header.Get("ETag"); etag != "" && etag != quilt.String() {
			_ = rep.body.Close()
			return fmt.Errorf("%s: reply is for blob %q: %w", what, etag, blobstore.ErrUnavailable)
		}
		if rep.ContentLength > c.cfg.MaxPatchReply {
			_ = rep.body.Close()
			return fmt.Errorf("%s: %d-byte patch over the %d-byte limit: %w", what, rep.ContentLength, c.cfg.MaxPatchReply, blobstore.ErrTooLarge)
		}
		rc = &cappedBody{rc: rep.body, remain: c.cfg.MaxPatchReply, what: what}
		return nil
	})
	return rc, err
}

// cappedBody fails once a body exceeds its cap.
type cappedBody struct {
	rc     io.ReadCloser
	remain int64
	what   string
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.remain+1 {
		p = p[:b.remain+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.remain {
		return int(b.remain), fmt.Errorf("%s: reply longer than %d bytes: %w", b.what, b.remain, blobstore.ErrTooLarge)
	}
	b.remain -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// ListPatches lists the patches of quilt (GET /v1/quilts/{id}/patches) and
// checks that every patch ID belongs to it.
func (c *Client) ListPatches(ctx context.Context, quilt blobstore.ID) ([]blobstore.StoredPatch, error) {
	what := fmt.Sprintf("walrushttp: list patches of quilt %s", quilt)
	var out []blobstore.StoredPatch
	err := c.retry(ctx, what, c.aggregatorTargets(nil), func(ctx context.Context, t target) error {
		req, err := http.NewRequest(http.MethodGet, endpoint(t.base, wire.PathQuilts+"/"+quilt.String()+wire.SuffixQuiltPatches, nil), nil)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		rep, err := c.send(ctx, req, c.cfg.ResponseTimeout, what)
		if err != nil {
			return err
		}
		b, err := c.readJSON(rep, what)
		if err != nil {
			return err
		}
		items, err := wire.ParseQuiltPatchList(b, quilt)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", what, blobstore.ErrUnavailable, err)
		}
		out = make([]blobstore.StoredPatch, len(items))
		for i, it := range items {
			out[i] = blobstore.StoredPatch{Identifier: it.Identifier, PatchID: it.PatchID, Tags: it.Tags}
		}
		return nil
	})
	return out, err
}
