package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/httpserver"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/blobstore/storetest"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

func newServer(t *testing.T, st blobstore.Store, cfg httpserver.Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpserver.New(st, cfg, nil))
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	code int
	h    http.Header
	body []byte
}

func do(t *testing.T, method, u string, body io.Reader, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// wantJSONError checks a Walrus JSON error reply.
func wantJSONError(t *testing.T, r reply, code int, reason string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d (%s), want %d", r.code, r.body, code)
	}
	var eb wire.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if eb.Error.Code != code || eb.Error.Status != wire.StatusName(code, reason) || eb.Error.Message == "" || len(eb.Error.Details) != 1 ||
		eb.Error.Details[0].Reason != reason || eb.Error.Details[0].Domain != wire.DomainDaemon || eb.Error.Details[0].Type != "ErrorInfo" ||
		!bytes.Contains(r.body, []byte(`"metadata":{}`)) {
		t.Fatalf("error body %s, want code %d reason %s", r.body, code, reason)
	}
	if r.h.Get("Content-Type") != "application/json" || r.h.Get("ETag") != "" || r.h.Get("Content-Range") != "" {
		t.Fatalf("error reply headers %v", r.h)
	}
}

func wantPlainError(t *testing.T, r reply, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d (%s), want %d", r.code, r.body, code)
	}
	if !strings.HasPrefix(r.h.Get("Content-Type"), "text/plain") || json.Valid(r.body) {
		t.Fatalf("want a plain-text body, got %s %q", r.h.Get("Content-Type"), r.body)
	}
}

func TestStatus(t *testing.T) {
	srv := newServer(t, newMemStore(t), httpserver.DefaultConfig())
	if r := do(t, "GET", srv.URL+"/status", nil); r.code != 200 || string(r.body) != "OK" {
		t.Fatalf("status: %d %q", r.code, r.body)
	}
}

func TestStoreReplyShapes(t *testing.T) {
	srv := newServer(t, newMemStore(t), httpserver.DefaultConfig())
	data := storetest.Data(1, 1234)
	r := do(t, "PUT", srv.URL+"/v1/blobs?epochs=5&send_object_to=0xabc", bytes.NewReader(data))
	if r.code != 200 {
		t.Fatalf("store: %d %s", r.code, r.body)
	}
	for _, key := range []string{`"newlyCreated":{"blobObject":{"id":"0x`, `"registeredEpoch":`, `"blobId":"`, `"size":1234`,
		`"encodingType":"RS2"`, `"certifiedEpoch":`, `"storage":{"id":"0x`, `"startEpoch":`, `"endEpoch":`, `"storageSize":`,
		`"deletable":true`, `"resourceOperation":{"registerFromScratch":{"encodedLength":`, `"epochsAhead":5`, `"cost":`} {
		if !bytes.Contains(r.body, []byte(key)) {
			t.Errorf("reply lacks %s: %s", key, r.body)
		}
	}
	res, err := wire.ParseBlobStoreResult(r.body)
	if err != nil || res.NewlyCreated == nil {
		t.Fatalf("parse %s: %v", r.body, err)
	}
	if o := res.NewlyCreated.BlobObject; o.Storage.EndEpoch != o.Storage.StartEpoch+5 || o.Storage.StartEpoch != o.RegisteredEpoch {
		t.Fatalf("epochs: %+v", o)
	}
	id := res.NewlyCreated.BlobObject.BlobID

	r = do(t, "PUT", srv.URL+"/v1/blobs", bytes.NewReader(data))
	res, err = wire.ParseBlobStoreResult(r.body)
	if err != nil || res.AlreadyCertified == nil || res.AlreadyCertified.BlobID != id || res.AlreadyCertified.Object == "" {
		t.Fatalf("second store: %s (%v), want alreadyCertified", r.body, err)
	}
	r = do(t, "PUT", srv.URL+"/v1/blobs?force=true", bytes.NewReader(data))
	if res, err = wire.ParseBlobStoreResult(r.body); err != nil || res.NewlyCreated == nil {
		t.Fatalf("forced store: %s (%v), want newlyCreated", r.body, err)
	}
	r = do(t, "PUT", srv.URL+"/v1/blobs?permanent=true", bytes.NewReader(storetest.Data(2, 10)))
	if !bytes.Contains(r.body, []byte(`"deletable":false`)) {
		t.Fatalf("permanent store: %s", r.body)
	}
	// Storing a permanent blob again names the event that certified it, as
	// Walrus does: {"txDigest": base58 of 32 bytes, "eventSeq": "0"}.
	r = do(t, "PUT", srv.URL+"/v1/blobs?permanent=true", bytes.NewReader(storetest.Data(2, 10)))
	res, err = wire.ParseBlobStoreResult(r.body)
	if err != nil || res.AlreadyCertified == nil || res.AlreadyCertified.Object != "" || res.AlreadyCertified.Event == nil ||
		!bytes.Contains(r.body, []byte(`"eventSeq":"0"`)) {
		t.Fatalf("permanent blob stored again: %s (%v), want alreadyCertified with an event", r.body, err)
	}
	if d, err := base58.Decode(res.AlreadyCertified.Event.TxDigest); err != nil || len(d) != 32 {
		t.Fatalf("txDigest %q: not base58 of 32 bytes (%v)", res.AlreadyCertified.Event.TxDigest, err)
	}
}

func TestStoreQueryValidation(t *testing.T) {
	srv := newServer(t, newMemStore(t), httpserver.DefaultConfig())
	plain := []string{
		"foo=1", "epochs=1&epochs=2", "epochs=abc", "epochs=-1", "permanent=yes", "force=1",
		"encoding_type=RS1", "send_object_to=0xZZ", "send_object_to=abc", "quilt_version=v2",
		"send_object_to=0x1&share=false", "epochs=99999999999",
	}
	for _, q := range plain {
		t.Run(q, func(t *testing.T) {
			wantPlainError(t, do(t, "PUT", srv.URL+"/v1/blobs?"+q, strings.NewReader("x")), 400)
		})
	}
	structured := []struct{ q, reason string }{
		{"permanent=true&deletable=true", wire.ReasonInvalidBlobPersistence},
		{"epochs=0", wire.ReasonMalformedRequest},
		{"epochs=54", wire.ReasonMalformedRequest},
		{"share=true", wire.ReasonMalformedRequest},
	}
	for _, tc := range structured {
		t.Run(tc.q, func(t *testing.T) {
			wantJSONError(t, do(t, "PUT", srv.URL+"/v1/blobs?"+tc.q, strings.NewReader("x")), 400, tc.reason)
		})
	}
	for _, q := range []string{"epochs=53&permanent=true&force=false&encoding_type=RS2&send_object_to=0xAbC1&reuse_resources=true&quilt_version=V1", "deletable=true"} {
		if r := do(t, "PUT", srv.URL+"/v1/blobs?"+q, strings.NewReader("x")); r.code != 200 {
			t.Errorf("%s: %d %s", q, r.code, r.body)
		}
	}
}

func TestBodyLimits(t *testing.T) {
	cfg := httpserver.DefaultConfig()
	cfg.MaxBlobBody, cfg.MaxQuiltBody = 100, 1000
	srv := newServer(t, newMemStore(t), cfg)
	if r := do(t, "PUT", srv.URL+"/v1/blobs", bytes.NewReader(make([]byte, 100))); r.code != 200 {
		t.Fatalf("at limit: %d %s", r.code, r.body)
	}
	wantPlainError(t, do(t, "PUT", srv.URL+"/v1/blobs", bytes.NewReader(make([]byte, 101))), 413)
	// Chunked: no Content-Length, so the limit trips while reading.
	wantPlainError(t, do(t, "PUT", srv.URL+"/v1/blobs", io.MultiReader(bytes.NewReader(make([]byte, 101)))), 413)
	body, ct := quiltForm(t, map[string][]byte{"a": make([]byte, 2000)}, nil)
	wantPlainError(t, do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct), 413)
	// A store's own size limit surfaces as 413 too.
	srv2 := newServer(t, failStore{newMemStore(t), fmt.Errorf("encoding: %w", blobstore.ErrTooLarge)}, httpserver.DefaultConfig())
	wantPlainError(t, do(t, "PUT", srv2.URL+"/v1/blobs", strings.NewReader("x")), 413)
}

func TestReads(t *testing.T) {
	st := newMemStore(t)
	srv := newServer(t, st, httpserver.DefaultConfig())
	data := storetest.Data(3, 1000)
	info, err := st.Put(t.Context(), bytes.NewReader(data), 1000, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := srv.URL + "/v1/blobs/" + info.ID.String()

	r := do(t, "GET", u, nil)
	if r.code != 200 || !bytes.Equal(r.body, data) || r.h.Get("ETag") != info.ID.String() ||
		r.h.Get("X-Content-Type-Options") != "nosniff" || r.h.Get("Cache-Control") != wire.CacheControlBlobRead ||
		r.h.Get("Content-Length") != "1000" || r.h.Get("Content-Type") != "" {
		t.Fatalf("GET: %d %v", r.code, r.h)
	}
	if r := do(t, "GET", u, nil, "Accept", "image/png"); r.h.Get("Content-Type") != "image/png" {
		t.Fatalf("Accept not mirrored: %v", r.h)
	}
	r = do(t, "GET", u, nil, "Range", "bytes=10-19")
	if r.code != 206 || !bytes.Equal(r.body, data[10:20]) || r.h.Get("Content-Range") != "bytes 10-19/1000" || r.h.Get("Content-Length") != "10" {
		t.Fatalf("range GET: %d %v", r.code, r.h)
	}
	if r := do(t, "GET", u, nil, "Range", "bytes=999-999"); r.code != 206 || !bytes.Equal(r.body, data[999:]) {
		t.Fatalf("last byte: %d %q", r.code, r.body)
	}
	for _, h := range []string{"bytes=10-", "bytes=-10", "bytes=0-1,5-6", "bytes=9-1", "bytes=0-1000", "bytes=1000-1000", "lines=1-2", "bytes=a-b"} {
		t.Run(h, func(t *testing.T) {
			wantJSONError(t, do(t, "GET", u, nil, "Range", h), 416, wire.ReasonInvalidByteRange)
		})
	}
	if r := do(t, "HEAD", u, nil, "Range", "bytes=0-0"); r.code != 206 || r.h.Get("Content-Range") != "bytes 0-0/1000" {
		t.Fatalf("HEAD: %d %v", r.code, r.h)
	}

	r = do(t, "GET", u+"/byte-range?start=100&length=50", nil)
	if r.code != 200 || !bytes.Equal(r.body, data[100:150]) || r.h.Get("ETag") != fmt.Sprintf("%s-100-50", info.ID) {
		t.Fatalf("byte-range: %d %v", r.code, r.h)
	}
	wantPlainError(t, do(t, "GET", u+"/byte-range?start=1", nil), 400)
	wantPlainError(t, do(t, "GET", u+"/byte-range?start=1&length=2&x=3", nil), 400)
	wantPlainError(t, do(t, "GET", u+"/byte-range?start=-1&length=2", nil), 400)
	wantJSONError(t, do(t, "GET", u+"/byte-range?start=1&length=0", nil), 400, wire.ReasonInvalidByteRange)
	wantJSONError(t, do(t, "GET", u+"/byte-range?start=990&length=11", nil), 400, wire.ReasonInvalidByteRange)

	wantPlainError(t, do(t, "GET", u+"?foo=bar", nil), 400)
	wantJSONError(t, do(t, "GET", u+"?strict_consistency_check=true&skip_consistency_check=true", nil), 400, wire.ReasonInvalidConsistencyCheck)
	if r := do(t, "GET", u+"?strict_consistency_check=true", nil); r.code != 200 {
		t.Fatalf("strict check: %d", r.code)
	}
	var unknown blobstore.ID
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/"+unknown.String(), nil), 404, wire.ReasonBlobNotFound)
	wantPlainError(t, do(t, "GET", srv.URL+"/v1/blobs/not-an-id", nil), 400)
	if r := do(t, "GET", srv.URL+"/v1/blobs/a/b/c/d", nil); r.code != 404 {
		t.Fatalf("unknown route: %d", r.code)
	}
}

func TestStoreErrorMapping(t *testing.T) {
	var id blobstore.ID
	for _, tc := range []struct {
		err    error
		code   int
		reason string
	}{
		{blobstore.ErrUnavailable, 503, wire.ReasonBlobUnavailable},
		{blobstore.ErrForbidden, 451, wire.ReasonForbiddenBlob},
		{blobstore.ErrTooLarge, 403, wire.ReasonBlobTooLarge},
		{blobstore.ErrNotFound, 404, wire.ReasonBlobNotFound},
		{blobstore.ErrIntegrity, 500, wire.ReasonInternal},
		{fmt.Errorf("disk: %w", blobstore.ErrInvalidArgument), 400, wire.ReasonMalformedRequest},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			srv := newServer(t, failStore{newMemStore(t), tc.err}, httpserver.DefaultConfig())
			r := do(t, "GET", srv.URL+"/v1/blobs/"+id.String(), nil)
			wantJSONError(t, r, tc.code, tc.reason)
			// The client side maps it back to the same sentinel.
			if e := wire.ParseError(r.code, r.body); !errorsIs(e, tc.err) {
				t.Fatalf("round trip of %v gave %v", tc.err, e)
			}
		})
	}
}

func quiltForm(t *testing.T, files map[string][]byte, meta []wire.QuiltMetadataItem) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, data := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, name, name))
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if meta != nil {
		b, _ := json.Marshal(meta)
		if err := mw.WriteField(wire.MetadataFormField, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// offlineQuilt encodes parts as QuiltV1 at the test shard count without a
// store, and returns the quilt's bytes, its blob ID and the patch ID each
// identifier must get.
func offlineQuilt(t *testing.T, parts []blobstore.QuiltPart) ([]byte, blobstore.ID, map[string]blobstore.PatchID) {
	t.Helper()
	params, err := rs2.NewParams(testShards)
	if err != nil {
		t.Fatal(err)
	}
	q, err := quilt.Build(params, parts)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := rs2.NewEncoder(testShards)
	if err != nil {
		t.Fatal(err)
	}
	id, err := enc.BlobID(t.Context(), bytes.NewReader(q.Bytes()), int64(len(q.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]blobstore.PatchID)
	for _, p := range q.Patches {
		ids[p.Identifier] = p.ID(id)
	}
	return q.Bytes(), id, ids
}

// TestQuilts stores a quilt through PUT /v1/quilts over the local store and
// checks every quilt read against a QuiltV1 encoding made offline: the
// quilt's bytes and blob ID, each patch ID, the listing and the headers.
func TestQuilts(t *testing.T) {
	srv := newServer(t, newMemStore(t), httpserver.DefaultConfig())
	files := map[string][]byte{"b.txt": []byte("bee"), "a.bin": storetest.Data(4, 5000), "ünï": []byte("unicode"), "dir/x y": nil}
	tags := map[string]map[string]string{"a.bin": {"k": "v", "aa": "2"}, "ünï": {"lang": "de"}}
	var parts []blobstore.QuiltPart
	var meta []wire.QuiltMetadataItem
	for name, data := range files {
		parts = append(parts, blobstore.QuiltPart{Identifier: name, Data: data, Tags: tags[name]})
		if tags[name] != nil {
			meta = append(meta, wire.QuiltMetadataItem{Identifier: name, Tags: tags[name]})
		}
	}
	wantBlob, wantQuilt, wantIDs := offlineQuilt(t, parts)

	body, ct := quiltForm(t, files, meta)
	r := do(t, "PUT", srv.URL+"/v1/quilts?epochs=2", body, "Content-Type", ct)
	if r.code != 200 || !bytes.Contains(r.body, []byte(`"blobStoreResult":{"newlyCreated"`)) || !bytes.Contains(r.body, []byte(`"quiltPatchId":"`)) {
		t.Fatalf("quilt store: %d %s", r.code, r.body)
	}
	res, err := wire.ParseQuiltStoreResult(r.body)
	if err != nil || len(res.StoredQuiltBlobs) != len(files) {
		t.Fatalf("quilt reply %s: %v", r.body, err)
	}
	quiltID, _ := res.BlobStoreResult.BlobID()
	if quiltID != wantQuilt {
		t.Fatalf("quilt blob ID %s, offline QuiltV1 encoding gives %s", quiltID, wantQuilt)
	}
	if r := do(t, "GET", srv.URL+"/v1/blobs/"+quiltID.String(), nil); r.code != 200 || !bytes.Equal(r.body, wantBlob) {
		t.Fatalf("quilt blob: %d, %d bytes; want the %d offline QuiltV1 bytes", r.code, len(r.body), len(wantBlob))
	}
	for i, sq := range res.StoredQuiltBlobs {
		if i > 0 && res.StoredQuiltBlobs[i-1].Identifier >= sq.Identifier {
			t.Errorf("storedQuiltBlobs not in quilt order: %q before %q", res.StoredQuiltBlobs[i-1].Identifier, sq.Identifier)
		}
		if sq.QuiltPatchID != wantIDs[sq.Identifier] {
			t.Fatalf("patch %q: server gave ID %s, offline encoding gives %s", sq.Identifier, sq.QuiltPatchID, wantIDs[sq.Identifier])
		}
		if p := sq.QuiltPatchID; sq.Range == nil || *sq.Range != [2]uint64{uint64(p.Start), uint64(p.End)} {
			t.Errorf("patch %q: range %v, want its columns [%d, %d)", sq.Identifier, sq.Range, p.Start, p.End)
		}
		wantHdr := sq.Identifier
		if sq.Identifier == "ünï" {
			wantHdr = "" // not ASCII: Walrus omits the header
		}
		for _, path := range []string{
			"/v1/blobs/by-quilt-patch-id/" + sq.QuiltPatchID.String(),
			"/v1/blobs/by-quilt-id/" + quiltID.String() + "/" + url.PathEscape(sq.Identifier),
		} {
			r := do(t, "GET", srv.URL+path, nil)
			if r.code != 200 || !bytes.Equal(r.body, files[sq.Identifier]) {
				t.Fatalf("GET %s: %d, %d bytes, want %d", path, r.code, len(r.body), len(files[sq.Identifier]))
			}
			if r.h.Get("ETag") != quiltID.String() || r.h.Get("X-Content-Type-Options") != "nosniff" ||
				r.h.Get("Cache-Control") != wire.CacheControlBlobRead || r.h.Get("Content-Type") != "" {
				t.Fatalf("GET %s: headers %v", path, r.h)
			}
			if got, ok := r.h[wire.HeaderQuiltPatchID]; (wantHdr == "") != !ok || (ok && got[0] != wantHdr) {
				t.Fatalf("GET %s: %s %q, want %q", path, wire.HeaderQuiltPatchID, got, wantHdr)
			}
		}
	}
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/by-quilt-id/"+quiltID.String()+"/nope", nil), 404, wire.ReasonQuiltPatchNotFound)
	wantPlainError(t, do(t, "GET", srv.URL+"/v1/blobs/by-quilt-patch-id/short", nil), 400)
	var unknown blobstore.ID
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/quilts/"+unknown.String()+"/patches", nil), 404, wire.ReasonBlobNotFound)

	r = do(t, "GET", srv.URL+"/v1/quilts/"+quiltID.String()+"/patches", nil)
	var items []wire.QuiltPatchItem
	if err := json.Unmarshal(r.body, &items); err != nil || len(items) != len(files) ||
		!bytes.Contains(r.body, []byte(`"patch_id":"`)) || !bytes.Contains(r.body, []byte(`"tags":{}`)) {
		t.Fatalf("patch list %s: %v", r.body, err)
	}
	for i, it := range items {
		if it.PatchID != res.StoredQuiltBlobs[i].QuiltPatchID || it.Identifier != res.StoredQuiltBlobs[i].Identifier {
			t.Errorf("listing[%d] = %q %s, store reply said %q %s", i, it.Identifier, it.PatchID,
				res.StoredQuiltBlobs[i].Identifier, res.StoredQuiltBlobs[i].QuiltPatchID)
		}
		if want := tags[it.Identifier]; len(want) != len(it.Tags) || (want != nil && !maps.Equal(want, it.Tags)) {
			t.Errorf("listing[%d] %q tags %v, want %v", i, it.Identifier, it.Tags, want)
		}
	}

	bad := []struct {
		name  string
		files map[string][]byte
		meta  []wire.QuiltMetadataItem
	}{
		{"trailing space", map[string][]byte{"x ": []byte("1")}, nil},
		{"no files", map[string][]byte{}, nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := quiltForm(t, tc.files, tc.meta)
			wantJSONError(t, do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct), 400, wire.ReasonMalformedRequest)
		})
	}
	// A body that is not a multipart form gets the framework's plain-text
	// 400, as Walrus sends it.
	for _, ct := range []string{"text/plain", "multipart/form-data", ""} {
		r := do(t, "PUT", srv.URL+"/v1/quilts", strings.NewReader("x"), "Content-Type", ct)
		if r.code != 400 || string(r.body) != wire.TextNotMultipart || strings.HasPrefix(r.h.Get("Content-Type"), "application/json") {
			t.Errorf("Content-Type %q: %d %q (%s)", ct, r.code, r.body, r.h.Get("Content-Type"))
		}
	}

	// A leading underscore is a valid identifier; only the field name
	// _metadata is taken (by the tags).
	body, ct = quiltForm(t, map[string][]byte{"_config.yml": []byte("x: 1")}, nil)
	if r := do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct); r.code != 200 || !bytes.Contains(r.body, []byte(`"identifier":"_config.yml"`)) {
		t.Fatalf("identifier _config.yml: status %d (%s)", r.code, r.body)
	}
}

// blockingStore holds Stat calls until released, to fill the server's
// concurrency slots.
type blockingStore struct {
	blobstore.Store
	entered chan struct{}
	release chan struct{}
}

func (b blockingStore) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	b.entered <- struct{}{}
	<-b.release
	return blobstore.Info{}, fmt.Errorf("blob %s: %w", id, blobstore.ErrNotFound)
}

func TestLoadShedding(t *testing.T) {
	st := blockingStore{newMemStore(t), make(chan struct{}), make(chan struct{})}
	cfg := httpserver.DefaultConfig()
	cfg.MaxConcurrentReads = 1
	srv := newServer(t, st, cfg)
	var id blobstore.ID
	done := make(chan reply)
	go func() { done <- do(t, "GET", srv.URL+"/v1/blobs/"+id.String(), nil) }()
	<-st.entered
	r := do(t, "GET", srv.URL+"/v1/blobs/"+id.String(), nil)
	wantPlainError(t, r, 429)
	if string(r.body) != wire.TextTooManyRequests {
		t.Fatalf("429 body %q", r.body)
	}
	// Stores have their own slots.
	if r := do(t, "PUT", srv.URL+"/v1/blobs", strings.NewReader("x")); r.code != 200 {
		t.Fatalf("store while reads are full: %d", r.code)
	}
	close(st.release)
	if r := <-done; r.code != 404 {
		t.Fatalf("held request: %d", r.code)
	}
}

// brokenReadStore serves reads that fail half-way.
type brokenReadStore struct{ blobstore.Store }

func (b brokenReadStore) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	rc, err := b.Store.ReadRange(ctx, id, off, length)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(io.MultiReader(io.LimitReader(rc, length/2), errorReader{fmt.Errorf("sliver: %w", blobstore.ErrIntegrity)})), nil
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }

func TestMidStreamFailureCutsReply(t *testing.T) {
	st := brokenReadStore{newMemStore(t)}
	srv := newServer(t, st, httpserver.DefaultConfig())
	info, err := st.Put(t.Context(), bytes.NewReader(storetest.Data(5, 100_000)), 100_000, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v1/blobs/"+info.ID.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= 100_000 {
		t.Fatalf("read %d bytes with error %v; want a short body and an error", n, err)
	}
}

// brokenPatchStore serves patch reads that fail half-way. With sized its
// readers tell their size before the first byte, as the local store's
// do; without, they do not.
type brokenPatchStore struct {
	*localstore.Store
	sized bool
}

func (b brokenPatchStore) ReadPatch(ctx context.Context, id blobstore.PatchID) (io.ReadCloser, error) {
	rc, err := b.Store.ReadPatch(ctx, id)
	if err != nil {
		return nil, err
	}
	size := rc.(interface{ Size() int64 }).Size()
	broken := io.MultiReader(io.LimitReader(rc, size/2), errorReader{fmt.Errorf("sliver: %w", blobstore.ErrIntegrity)})
	if b.sized {
		return sizedReader{Reader: broken, Closer: rc, size: size}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{broken, rc}, nil
}

type sizedReader struct {
	io.Reader
	io.Closer
	size int64
}

func (s sizedReader) Size() int64 { return s.size }

// A patch whose reader knows its size is streamed, like a blob: a failure
// half-way cuts the reply. A reader that does not is read whole first, so
// the same failure is a JSON error.
func TestPatchFailureMidStream(t *testing.T) {
	for _, sized := range []bool{true, false} {
		st := brokenPatchStore{Store: newMemStore(t), sized: sized}
		srv := newServer(t, st, httpserver.DefaultConfig())
		data := storetest.Data(8, 100_000)
		qi, err := st.PutQuilt(t.Context(), []blobstore.QuiltPart{{Identifier: "f", Data: data}}, blobstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u := srv.URL + "/v1/blobs/by-quilt-patch-id/" + qi.Patches[0].PatchID.String()
		if !sized {
			wantJSONError(t, do(t, "GET", u, nil), 500, wire.ReasonInternal)
			continue
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) || err == nil || n >= int64(len(data)) {
			t.Fatalf("streamed patch: %d, Content-Length %d, read %d bytes with error %v; want 200, %d, a short body and an error",
				resp.StatusCode, resp.ContentLength, n, err, len(data))
		}
	}
}

func errorsIs(err, target error) bool {
	for _, s := range []error{blobstore.ErrNotFound, blobstore.ErrUnavailable, blobstore.ErrTooLarge, blobstore.ErrForbidden, blobstore.ErrInvalidArgument} {
		if errors.Is(target, s) {
			return errors.Is(err, s)
		}
	}
	// ErrIntegrity on the server is a 500, which clients retry elsewhere.
	return errors.Is(err, blobstore.ErrUnavailable)
}
