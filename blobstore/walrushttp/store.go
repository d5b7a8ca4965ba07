package walrushttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// Put stores size bytes from r as one blob. See [Client.StoreBlob].
func (c *Client) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	res, err := c.StoreBlob(ctx, r, size, opts)
	if err != nil {
		return blobstore.Info{}, err
	}
	return res.Info(size)
}

// StoreBlob stores size bytes from r with PUT /v1/blobs and returns the
// publisher's reply, which is newlyCreated or alreadyCertified (other
// variants become errors: markedInvalid wraps ErrIntegrity, a failure
// reply ErrUnavailable). Reading other than exactly size bytes from r fails
// with ErrInvalidArgument; blobs over Config.MaxBlobBody fail with
// ErrTooLarge before anything is sent. Retries re-read r as the package
// documentation describes.
func (c *Client) StoreBlob(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (wire.BlobStoreResult, error) {
	what := fmt.Sprintf("walrushttp: store %d-byte blob", size)
	if size < 0 {
		return wire.BlobStoreResult{}, fmt.Errorf("%s: negative size: %w", what, blobstore.ErrInvalidArgument)
	}
	if c.cfg.MaxBlobBody > 0 && size > c.cfg.MaxBlobBody {
		return wire.BlobStoreResult{}, fmt.Errorf("%s: over the publisher limit of %d bytes: %w", what, c.cfg.MaxBlobBody, blobstore.ErrTooLarge)
	}
	targets, err := c.publisherTarget()
	if err != nil {
		return wire.BlobStoreResult{}, fmt.Errorf("%s: %w", what, err)
	}
	src, err := newBodySource(r, size, c.cfg.MaxBufferedBody)
	if err != nil {
		return wire.BlobStoreResult{}, fmt.Errorf("%s: %w", what, err)
	}
	attempts := c.cfg.MaxAttempts
	if !src.replayable {
		attempts = 1
	}
	var res wire.BlobStoreResult
	err = c.retryN(ctx, what, targets, attempts, false, func(ctx context.Context, t target) error {
		body, err := src.open()
		if err != nil {
			return err
		}
		req, err := http.NewRequest(http.MethodPut, endpoint(t.base, wire.PathBlobs, storeQuery(opts)), body)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		c.authorize(req)
		b, err := c.storeAttempt(ctx, req, what)
		if size > 0 {
			// The transport may still be sending the body (a reply can come
			// before the upload ends); the next attempt rewinds the same
			// reader, and body.err is the transport's to write until then.
			if werr := body.waitClosed(bodyCloseWait); werr != nil {
				return fmt.Errorf("%s: %w", what, werr)
			}
		}
		if err != nil {
			// A body that did not match its size is the caller's mistake,
			// whatever the transport made of it.
			if body.err != nil {
				return body.err
			}
			return err
		}
		if body.err != nil {
			return body.err
		}
		res, err = wire.ParseBlobStoreResult(b)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", what, blobstore.ErrUnavailable, err)
		}
		if err := res.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if nc := res.NewlyCreated; nc != nil && nc.BlobObject.Size != uint64(size) {
			return fmt.Errorf("%s: publisher stored %d bytes as blob %s: %w", what, nc.BlobObject.Size, nc.BlobObject.BlobID, blobstore.ErrIntegrity)
		}
		return nil
	})
	if err != nil {
		return wire.BlobStoreResult{}, err
	}
	if id, ok := res.BlobID(); ok {
		c.log.DebugContext(ctx, "stored blob", "blob", id, "size", size, "alreadyCertified", res.AlreadyCertified != nil)
	}
	return res, nil
}

func (c *Client) authorize(req *http.Request) {
	if c.cfg.JWT != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.JWT)
	}
}

// storeAttempt sends one publisher request and returns its JSON body.
func (c *Client) storeAttempt(ctx context.Context, req *http.Request, what string) ([]byte, error) {
	rep, err := c.send(ctx, req, c.cfg.StoreTimeout, what)
	if err != nil {
		return nil, err
	}
	return c.readJSON(rep, what)
}

func storeQuery(opts blobstore.PutOptions) url.Values {
	q := url.Values{}
	if opts.Epochs > 0 {
		q.Set(wire.ParamEpochs, strconv.FormatUint(uint64(opts.Epochs), 10))
	}
	if opts.Permanent {
		q.Set(wire.ParamPermanent, "true")
	}
	if opts.SendObjectTo != "" {
		q.Set(wire.ParamSendObjectTo, opts.SendObjectTo)
	}
	if opts.Force {
		q.Set(wire.ParamForce, "true")
	}
	return q
}

// bodySource produces the upload body for each attempt.
type bodySource struct {
	open       func() (*exactReader, error)
	replayable bool
}

func newBodySource(r io.Reader, size, maxBuffered int64) (*bodySource, error) {
	if s, ok := r.(io.Seeker); ok {
		pos, err := s.Seek(0, io.SeekCurrent)
		if err == nil {
			return &bodySource{
				open: func() (*exactReader, error) {
					if _, err := s.Seek(pos, io.SeekStart); err != nil {
						return nil, fmt.Errorf("rewinding the body: %w", err)
					}
					return newExactReader(r, size), nil
				},
				replayable: true,
			}, nil
		}
	}
	if ra, ok := r.(io.ReaderAt); ok {
		return &bodySource{
			open: func() (*exactReader, error) {
				return newExactReader(io.NewSectionReader(ra, 0, size+1), size), nil
			},
			replayable: true,
		}, nil
	}
	if size <= maxBuffered {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("reader ended before %d bytes: %w (%w)", size, blobstore.ErrInvalidArgument, err)
		}
		if n, _ := r.Read(make([]byte, 1)); n > 0 {
			return nil, fmt.Errorf("reader holds more than %d bytes: %w", size, blobstore.ErrInvalidArgument)
		}
		return &bodySource{
			open:       func() (*exactReader, error) { return newExactReader(bytes.NewReader(buf), size), nil },
			replayable: true,
		}, nil
	}
	return &bodySource{
		open:       func() (*exactReader, error) { return newExactReader(r, size), nil },
		replayable: false,
	}, nil
}

// exactReader passes on exactly remaining bytes and records an
// ErrInvalidArgument error if the source has fewer or more. It is the
// request body of one attempt; the transport closes it when done with it.
type exactReader struct {
	r         io.Reader
	remaining int64
	err       error
	closeOnce sync.Once
	closed    chan struct{}
}

func newExactReader(r io.Reader, size int64) *exactReader {
	return &exactReader{r: r, remaining: size, closed: make(chan struct{})}
}

// Close records that the transport no longer reads the body.
func (e *exactReader) Close() error {
	e.closeOnce.Do(func() { close(e.closed) })
	return nil
}

// bodyCloseWait bounds how long an attempt waits for the transport to let
// go of its body. The transport always closes it, at the latest when the
// attempt's connection is torn down.
const bodyCloseWait = 30 * time.Second

// waitClosed waits until the transport has closed the body. If it does not
// within d, the body is still in use and the upload must not be retried.
func (e *exactReader) waitClosed(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-e.closed:
		return nil
	case <-t.C:
		return errors.New("the transport still holds the upload body; not retrying")
	}
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.remaining == 0 {
		var one [1]byte
		if n, _ := e.r.Read(one[:]); n > 0 {
			e.err = fmt.Errorf("upload body holds more bytes than its declared size: %w", blobstore.ErrInvalidArgument)
			return 0, e.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	switch {
	case errors.Is(err, io.EOF) && e.remaining > 0:
		e.err = fmt.Errorf("upload body ended %d bytes before its declared size: %w", e.remaining, blobstore.ErrInvalidArgument)
		return n, e.err
	case err != nil && !errors.Is(err, io.EOF):
		e.err = fmt.Errorf("reading upload body: %w", err)
		return n, e.err
	}
	return n, nil
}

// PutQuilt stores parts as one quilt. See [Client.StoreQuilt].
func (c *Client) PutQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (blobstore.QuiltInfo, error) {
	res, err := c.StoreQuilt(ctx, parts, opts)
	if err != nil {
		return blobstore.QuiltInfo{}, err
	}
	qi := blobstore.QuiltInfo{Patches: make([]blobstore.StoredPatch, len(res.StoredQuiltBlobs))}
	tags := make(map[string]map[string]string, len(parts))
	for _, p := range parts {
		tags[p.Identifier] = p.Tags
	}
	for i, sq := range res.StoredQuiltBlobs {
		qi.Patches[i] = blobstore.StoredPatch{Identifier: sq.Identifier, PatchID: sq.QuiltPatchID, Tags: tags[sq.Identifier]}
	}
	if res.BlobStoreResult.AlreadyCertified != nil {
		// The reply does not repeat the quilt's size; ask for it.
		info, err := c.Stat(ctx, res.BlobStoreResult.AlreadyCertified.BlobID)
		if err != nil {
			return blobstore.QuiltInfo{}, err
		}
		qi.Blob, err = res.BlobStoreResult.Info(info.Size)
		return qi, err
	}
	qi.Blob, err = res.BlobStoreResult.Info(0)
	return qi, err
}

// StoreQuilt stores parts as one quilt with PUT /v1/quilts: a
// multipart/form-data body with one part per file (field name = identifier)
// and a _metadata part carrying the tags. The publisher enforces the
// identifier rules (violations are ErrInvalidArgument); identifiers with
// control characters are refused here already, since they cannot travel in
// a form field name, and so is _metadata, the form field that carries the
// tags. Every patch ID in the reply is checked to belong to the
// stored quilt.
func (c *Client) StoreQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (wire.QuiltStoreResult, error) {
	what := fmt.Sprintf("walrushttp: store quilt of %d parts", len(parts))
	targets, err := c.publisherTarget()
	if err != nil {
		return wire.QuiltStoreResult{}, fmt.Errorf("%s: %w", what, err)
	}
	body, contentType, err := quiltBody(parts)
	if err != nil {
		return wire.QuiltStoreResult{}, fmt.Errorf("%s: %w", what, err)
	}
	if c.cfg.MaxQuiltBody > 0 && int64(len(body)) > c.cfg.MaxQuiltBody {
		return wire.QuiltStoreResult{}, fmt.Errorf("%s: %d-byte body over the publisher limit of %d: %w", what, len(body), c.cfg.MaxQuiltBody, blobstore.ErrTooLarge)
	}
	var res wire.QuiltStoreResult
	err = c.retry(ctx, what, targets, func(ctx context.Context, t target) error {
		req, err := http.NewRequest(http.MethodPut, endpoint(t.base, wire.PathQuilts, storeQuery(opts)), bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		req.Header.Set("Content-Type", contentType)
		c.authorize(req)
		b, err := c.storeAttempt(ctx, req, what)
		if err != nil {
			return err
		}
		res, err = wire.ParseQuiltStoreResult(b)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", what, blobstore.ErrUnavailable, err)
		}
		if err := res.BlobStoreResult.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if len(res.StoredQuiltBlobs) != len(parts) {
			return fmt.Errorf("%s: publisher reports %d patches: %w", what, len(res.StoredQuiltBlobs), blobstore.ErrIntegrity)
		}
		return nil
	})
	return res, err
}

// quiltBody builds the multipart/form-data body of a quilt store.
func quiltBody(parts []blobstore.QuiltPart) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	var meta []wire.QuiltMetadataItem
	for _, p := range parts {
		if strings.ContainsFunc(p.Identifier, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, "", fmt.Errorf("quilt identifier %q: control character: %w", p.Identifier, blobstore.ErrInvalidArgument)
		}
		if p.Identifier == wire.MetadataFormField {
			return nil, "", fmt.Errorf("quilt identifier %q: the publisher reads that form field as the quilt's metadata: %w", p.Identifier, blobstore.ErrInvalidArgument)
		}
		h := textproto.MIMEHeader{}
		name := quoteEscaper.Replace(p.Identifier)
		h.Set("Content-Disposition", `form-data; name="`+name+`"; filename="`+name+`"`)
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(p.Data); err != nil {
			return nil, "", err
		}
		if len(p.Tags) > 0 {
			meta = append(meta, wire.QuiltMetadataItem{Identifier: p.Identifier, Tags: p.Tags})
		}
	}
	if len(meta) > 0 {
		b, err := json.Marshal(meta)
		if err != nil {
			return nil, "", err
		}
		if err := mw.WriteField(wire.MetadataFormField, string(b)); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// Delete always fails with ErrForbidden: deleting a Walrus blob is a Sui
// transaction on its Blob object, not an HTTP call.
func (c *Client) Delete(ctx context.Context, id blobstore.ID) error {
	return fmt.Errorf("walrushttp: delete blob %s: deletion is a Sui transaction: %w", id, blobstore.ErrForbidden)
}
