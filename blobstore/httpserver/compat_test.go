package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/httpserver"
	"github.com/walrusfs/walrusfs/blobstore/storetest"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// The tests in this file pin the server to Walrus's daemon routes
// (crates/walrus-service/src/client/daemon/routes.rs) where a client could
// tell the difference.

// TestReadHeaders checks the headers of successful reads: HEAD, and the
// Accept and Content-Type mirroring rule.
func TestReadHeaders(t *testing.T) {
	st := newMemStore(t)
	srv := newServer(t, st, httpserver.DefaultConfig())
	data := storetest.Data(30, 500)
	info, err := st.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := srv.URL + "/v1/blobs/" + info.ID.String()

	r := do(t, "HEAD", u, nil)
	if r.code != 200 || len(r.body) != 0 || r.h.Get("Content-Length") != "500" || r.h.Get("ETag") != info.ID.String() ||
		r.h.Get("X-Content-Type-Options") != "nosniff" || r.h.Get("Cache-Control") != wire.CacheControlBlobRead {
		t.Fatalf("HEAD: %d %v %q", r.code, r.h, r.body)
	}
	for _, tc := range []struct {
		name, method string
		hdr          []string
		want         string
	}{
		{"nothing", "GET", nil, ""},
		{"accept", "GET", []string{"Accept", "image/png"}, "image/png"},
		{"accept list", "GET", []string{"Accept", "text/html, application/xml"}, "text/html, application/xml"},
		{"accept wildcard", "GET", []string{"Accept", "*/*"}, ""},
		{"accept wins", "GET", []string{"Accept", "image/png", "Content-Type", "text/plain"}, "image/png"},
		{"content type behind wildcard", "GET", []string{"Accept", "image/*", "Content-Type", "text/plain"}, "text/plain"},
		{"content type", "GET", []string{"Content-Type", "text/plain"}, "text/plain"},
		{"content type on HEAD", "HEAD", []string{"Content-Type", "text/plain"}, ""},
		{"accept on HEAD", "HEAD", []string{"Accept", "image/png"}, "image/png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, u, nil, tc.hdr...)
			if r.code != 200 || r.h.Get("Content-Type") != tc.want {
				t.Fatalf("%d, Content-Type %q, want %q", r.code, r.h.Get("Content-Type"), tc.want)
			}
			r = do(t, tc.method, u+"/byte-range?start=1&length=2", nil, tc.hdr...)
			if r.code != 200 || r.h.Get("Content-Type") != tc.want {
				t.Fatalf("byte-range: %d, Content-Type %q, want %q", r.code, r.h.Get("Content-Type"), tc.want)
			}
		})
	}
}

// TestQueryStrings checks which query parameters each endpoint takes:
// blob reads take ReadOptions, byte-range reads take start and length only,
// and patch reads and listings take none (Walrus ignores their query).
func TestQueryStrings(t *testing.T) {
	st := newMemStore(t)
	srv := newServer(t, st, httpserver.DefaultConfig())
	info, err := st.Put(t.Context(), bytes.NewReader(storetest.Data(31, 100)), 100, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	qi, err := st.PutQuilt(t.Context(), []blobstore.QuiltPart{{Identifier: "a", Data: []byte("patch")}}, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blob := srv.URL + "/v1/blobs/" + info.ID.String()
	for _, q := range []string{"", "strict_consistency_check=true", "skip_consistency_check=true",
		"strict_consistency_check=false&skip_consistency_check=true", "strict_consistency_check=true&skip_consistency_check=false"} {
		if r := do(t, "GET", blob+"?"+q, nil); r.code != 200 {
			t.Errorf("GET blob ?%s: %d %s", q, r.code, r.body)
		}
		if r := do(t, "GET", blob+"?"+q, nil, "Range", "bytes=0-9"); r.code != 206 {
			t.Errorf("GET blob ?%s with Range: %d %s", q, r.code, r.body)
		}
	}
	for _, q := range []string{"foo=1", "strict_consistency_check=1", "strict_consistency_check=True",
		"skip_consistency_check=", "strict_consistency_check=true&strict_consistency_check=true", "start=0"} {
		t.Run("blob "+q, func(t *testing.T) {
			wantPlainError(t, do(t, "GET", blob+"?"+q, nil), 400)
			wantPlainError(t, do(t, "HEAD", blob+"?"+q, nil), 400)
		})
	}
	// Both checks: a JSON error, before the Range header is looked at.
	both := "?strict_consistency_check=true&skip_consistency_check=true"
	wantJSONError(t, do(t, "GET", blob+both, nil), 400, wire.ReasonInvalidConsistencyCheck)
	wantJSONError(t, do(t, "GET", blob+both, nil, "Range", "bytes=5-"), 400, wire.ReasonInvalidConsistencyCheck)

	for _, q := range []string{"start=0&length=1&strict_consistency_check=true", "start=0&length=1&skip_consistency_check=false",
		"start=0", "length=1", "start=0&length=1&start=0", "start=a&length=1", "start=-1&length=1",
		"start=0&length=18446744073709551616", ""} {
		t.Run("byte-range "+q, func(t *testing.T) {
			wantPlainError(t, do(t, "GET", blob+"/byte-range?"+q, nil), 400)
		})
	}
	for _, q := range []string{"start=0&length=0", "start=18446744073709551615&length=1", "start=9223372036854775808&length=1",
		"start=100&length=1", "start=99&length=2", "start=0&length=101"} {
		t.Run("byte-range "+q, func(t *testing.T) {
			wantJSONError(t, do(t, "GET", blob+"/byte-range?"+q, nil), 400, wire.ReasonInvalidByteRange)
		})
	}
	if r := do(t, "GET", blob+"/byte-range?length=1&start=%2B99", nil); r.code != 200 || len(r.body) != 1 {
		t.Errorf("byte-range with start=+99 (Rust's u64 parsing accepts it): %d %s", r.code, r.body)
	}

	// Patch reads and listings have no query extractor in Walrus.
	pid := qi.Patches[0].PatchID
	for _, path := range []string{
		"/v1/blobs/by-quilt-patch-id/" + pid.String(),
		"/v1/blobs/by-quilt-id/" + qi.Blob.ID.String() + "/a",
		"/v1/quilts/" + qi.Blob.ID.String() + "/patches",
	} {
		if r := do(t, "GET", srv.URL+path+"?foo=bar&strict_consistency_check=true&skip_consistency_check=true", nil); r.code != 200 {
			t.Errorf("GET %s with a query: %d %s", path, r.code, r.body)
		}
	}
}

// TestRanges checks the Range header grammar and the 206 reply.
func TestRanges(t *testing.T) {
	st := newMemStore(t)
	srv := newServer(t, st, httpserver.DefaultConfig())
	data := storetest.Data(32, 1000)
	info, err := st.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := st.Put(t.Context(), bytes.NewReader(nil), 0, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := srv.URL + "/v1/blobs/" + info.ID.String()
	for _, tc := range []struct {
		rng       string
		off, n    int
		wantRange string
	}{
		{"bytes=0-0", 0, 1, "bytes 0-0/1000"},
		{"bytes=0-999", 0, 1000, "bytes 0-999/1000"},
		{"bytes=500-500", 500, 1, "bytes 500-500/1000"},
		{" bytes=1-2 ", 1, 2, "bytes 1-2/1000"},
	} {
		r := do(t, "GET", u, nil, "Range", tc.rng)
		if r.code != 206 || !bytes.Equal(r.body, data[tc.off:tc.off+tc.n]) || r.h.Get("Content-Range") != tc.wantRange ||
			r.h.Get("Content-Length") != fmt.Sprint(tc.n) || r.h.Get("ETag") != info.ID.String() {
			t.Errorf("Range %q: %d %v", tc.rng, r.code, r.h)
		}
	}
	for _, rng := range []string{"bytes=500-", "bytes=-500", "bytes=0-1,3-4", "bytes=1-0", "bytes=0-1000", "bytes=1000-1000",
		"bytes=", "bytes=-", "items=0-1", "bytes=+1-2", "bytes=0x1-2", "bytes=99999999999999999999-99999999999999999999"} {
		t.Run(rng, func(t *testing.T) {
			wantJSONError(t, do(t, "GET", u, nil, "Range", rng), 416, wire.ReasonInvalidByteRange)
		})
	}
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/"+empty.ID.String(), nil, "Range", "bytes=0-0"), 416, wire.ReasonInvalidByteRange)
	var unknown blobstore.ID
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/"+unknown.String(), nil, "Range", "bytes=0-0"), 404, wire.ReasonBlobNotFound)
	// A malformed Range fails before the blob is looked up, as in Walrus.
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/"+unknown.String(), nil, "Range", "bytes=0-"), 416, wire.ReasonInvalidByteRange)
	// Range is ignored on the byte-range endpoint.
	if r := do(t, "GET", u+"/byte-range?start=10&length=5", nil, "Range", "bytes=0-0"); r.code != 200 || !bytes.Equal(r.body, data[10:15]) {
		t.Fatalf("byte-range with a Range header: %d", r.code)
	}
}

// TestCORS checks Walrus's wide-open CORS layer.
func TestCORS(t *testing.T) {
	srv := newServer(t, newMemStore(t), httpserver.DefaultConfig())
	r := do(t, "OPTIONS", srv.URL+"/v1/blobs", nil, "Origin", "https://example.org", "Access-Control-Request-Method", "PUT",
		"Access-Control-Request-Headers", "authorization")
	if r.code != 200 || r.h.Get("Access-Control-Allow-Origin") != "*" || r.h.Get("Access-Control-Allow-Methods") != "*" ||
		r.h.Get("Access-Control-Allow-Headers") != "*" || r.h.Get("Access-Control-Max-Age") != "86400" {
		t.Fatalf("preflight: %d %v", r.code, r.h)
	}
	var unknown blobstore.ID
	for _, u := range []string{"/status", "/v1/blobs/" + unknown.String()} {
		if r := do(t, "GET", srv.URL+u, nil, "Origin", "https://example.org"); r.h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s: no CORS header: %v", u, r.h)
		}
	}
}

// TestPatchReplies checks patch reads: whole patch with Content-Length,
// tags as headers where allowed, the identifier header.
func TestPatchReplies(t *testing.T) {
	st := newMemStore(t)
	srv := newServer(t, st, httpserver.DefaultConfig())
	qi, err := st.PutQuilt(t.Context(), []blobstore.QuiltPart{
		{Identifier: "page.html", Data: []byte("<p>hi</p>"), Tags: map[string]string{
			"Content-Type": "text/html", "content-disposition": "inline", "x-secret": "no", "link": "bad\x7fvalue"}},
		{Identifier: "plain", Data: storetest.Data(33, 4000)},
	}, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]blobstore.PatchID{}
	for _, p := range qi.Patches {
		byName[p.Identifier] = p.PatchID
	}
	u := srv.URL + "/v1/blobs/by-quilt-patch-id/" + byName["page.html"].String()
	r := do(t, "GET", u, nil)
	if r.code != 200 || string(r.body) != "<p>hi</p>" || r.h.Get("Content-Length") != "9" || r.h.Get("Content-Type") != "text/html" ||
		r.h.Get("Content-Disposition") != "inline" || r.h.Get("X-Secret") != "" || r.h.Get("Link") != "" ||
		r.h.Get(wire.HeaderQuiltPatchID) != "page.html" || r.h.Get("ETag") != qi.Blob.ID.String() {
		t.Fatalf("patch read: %d %v %q", r.code, r.h, r.body)
	}
	// Headers already set win over tags.
	if r := do(t, "GET", u, nil, "Accept", "text/plain"); r.h.Get("Content-Type") != "text/plain" {
		t.Fatalf("Accept vs tag: %v", r.h)
	}
	if r := do(t, "HEAD", u, nil); r.code != 200 || len(r.body) != 0 || r.h.Get("Content-Length") != "9" {
		t.Fatalf("HEAD patch: %d %v", r.code, r.h)
	}
	r = do(t, "GET", srv.URL+"/v1/blobs/by-quilt-id/"+qi.Blob.ID.String()+"/"+url.PathEscape("page.html"), nil, "Content-Type", "a/b")
	if r.code != 200 || r.h.Get(wire.HeaderQuiltPatchID) != "page.html" || r.h.Get("Content-Type") != "a/b" {
		t.Fatalf("by identifier: %d %v", r.code, r.h)
	}
	// Walrus mirrors Content-Type on every read by identifier, HEAD too.
	if r := do(t, "HEAD", srv.URL+"/v1/blobs/by-quilt-id/"+qi.Blob.ID.String()+"/page.html", nil, "Content-Type", "a/b"); r.h.Get("Content-Type") != "a/b" {
		t.Fatalf("HEAD by identifier: %v", r.h)
	}
	if r := do(t, "HEAD", u, nil, "Content-Type", "a/b"); r.h.Get("Content-Type") != "text/html" {
		t.Fatalf("HEAD by patch ID: %v", r.h)
	}

	cfg := httpserver.DefaultConfig()
	cfg.AllowedHeaders = []string{"X-Secret"}
	cfg.MaxPatchReply = 1000
	srv2 := newServer(t, st, cfg)
	r = do(t, "GET", srv2.URL+"/v1/blobs/by-quilt-patch-id/"+byName["page.html"].String(), nil)
	if r.h.Get("X-Secret") != "no" || r.h.Get("Content-Type") != "" {
		t.Fatalf("custom allowed headers: %v", r.h)
	}
	wantJSONError(t, do(t, "GET", srv2.URL+"/v1/blobs/by-quilt-patch-id/"+byName["plain"].String(), nil), 403, wire.ReasonBlobTooLarge)

	// A patch ID of this quilt with columns it does not have, and a blob
	// that is not a quilt.
	bad := byName["plain"]
	bad.Start, bad.End = 200, 201
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/by-quilt-patch-id/"+bad.String(), nil), 404, wire.ReasonQuiltPatchNotFound)
	var unknown blobstore.ID
	bad.Quilt = unknown
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/by-quilt-patch-id/"+bad.String(), nil), 404, wire.ReasonBlobNotFound)
	wantJSONError(t, do(t, "GET", srv.URL+"/v1/blobs/by-quilt-id/"+unknown.String()+"/x", nil), 404, wire.ReasonBlobNotFound)
}

// quiltRequest builds a multipart body from fields in order; a field whose
// name is _metadata is sent as text.
func quiltRequest(t *testing.T, fields ...[2]string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		var err error
		if f[0] == wire.MetadataFormField {
			err = mw.WriteField(f[0], f[1])
		} else {
			var w io.Writer
			if w, err = mw.CreateFormFile(f[0], f[0]); err == nil {
				_, err = io.WriteString(w, f[1])
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

// TestQuiltForm checks how the multipart body and its _metadata fields are
// read, against Walrus's parse_multipart_quilt.
func TestQuiltForm(t *testing.T) {
	st := newMemStore(t)
	srv := newServer(t, st, httpserver.DefaultConfig())
	tagsOf := func(t *testing.T, fields ...[2]string) map[string]map[string]string {
		t.Helper()
		body, ct := quiltRequest(t, fields...)
		r := do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct)
		if r.code != 200 {
			t.Fatalf("store: %d %s", r.code, r.body)
		}
		res, err := wire.ParseQuiltStoreResult(r.body)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.BlobStoreResult.BlobID()
		list, err := st.ListPatches(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]string{}
		for _, p := range list {
			out[p.Identifier] = p.Tags
		}
		return out
	}
	got := tagsOf(t,
		[2]string{wire.MetadataFormField, `[{"identifier":"a","tags":{"s":"x","n":1,"b":true,"o":{"k":[1, 2]},"z":null}},{"identifier":"ghost","tags":{"k":"v"}}]`},
		[2]string{"a", "1"}, [2]string{"b", "2"},
		[2]string{wire.MetadataFormField, `[{"identifier":"b","extra":1}]`},
	)
	want := map[string]string{"s": "x", "n": "1", "b": "true", "o": `{"k":[1,2]}`, "z": "null"}
	if fmt.Sprint(got["a"]) != fmt.Sprint(want) || len(got["b"]) != 0 || len(got) != 2 {
		t.Fatalf("tags %v, want a: %v and none for b", got, want)
	}

	for _, tc := range []struct {
		name string
		meta string
	}{
		{"duplicate identifier", `[{"identifier":"a"},{"identifier":"a","tags":{}}]`},
		{"duplicate key", `[{"identifier":"a","identifier":"a"}]`},
		{"missing identifier", `[{"tags":{}}]`},
		{"identifier case", `[{"Identifier":"a"}]`},
		{"identifier not a string", `[{"identifier":1}]`},
		{"null identifier", `[{"identifier":null}]`},
		{"null tags", `[{"identifier":"a","tags":null}]`},
		{"tags not an object", `[{"identifier":"a","tags":[]}]`},
		{"not an array", `{"identifier":"a"}`},
		{"entry not an object", `["a"]`},
		{"trailing data", `[] []`},
		{"not JSON", `[{`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := quiltRequest(t, [2]string{"a", "1"}, [2]string{wire.MetadataFormField, tc.meta})
			wantJSONError(t, do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct), 400, wire.ReasonMalformedRequest)
		})
	}
	t.Run("duplicate across fields", func(t *testing.T) {
		body, ct := quiltRequest(t, [2]string{"a", "1"}, [2]string{wire.MetadataFormField, `[{"identifier":"a"}]`},
			[2]string{wire.MetadataFormField, `[{"identifier":"a"}]`})
		wantJSONError(t, do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct), 400, wire.ReasonMalformedRequest)
	})
	t.Run("duplicate file", func(t *testing.T) {
		body, ct := quiltRequest(t, [2]string{"a", "1"}, [2]string{"a", "2"})
		wantJSONError(t, do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct), 400, wire.ReasonMalformedRequest)
	})
	t.Run("too many patches", func(t *testing.T) {
		// At n = 10 a quilt holds at most Ks − 1 = 6 patches.
		var fields [][2]string
		for i := range 7 {
			fields = append(fields, [2]string{fmt.Sprint("f", i), "x"})
		}
		body, ct := quiltRequest(t, fields...)
		wantJSONError(t, do(t, "PUT", srv.URL+"/v1/quilts", body, "Content-Type", ct), 400, wire.ReasonMalformedRequest)
	})
	t.Run("unnamed part", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		w, _ := mw.CreatePart(map[string][]string{"Content-Disposition": {`form-data; filename="x"`}})
		_, _ = w.Write([]byte("x"))
		_ = mw.Close()
		wantJSONError(t, do(t, "PUT", srv.URL+"/v1/quilts", &buf, "Content-Type", mw.FormDataContentType()), 400, wire.ReasonMalformedRequest)
	})
}

// TestErrorBodies checks the JSON status body field by field.
func TestErrorBodies(t *testing.T) {
	srv := newServer(t, newMemStore(t), httpserver.DefaultConfig())
	var unknown blobstore.ID
	r := do(t, "GET", srv.URL+"/v1/blobs/"+unknown.String(), nil)
	var raw map[string]map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	want := `{"error":{"status":"NOT_FOUND","code":404,"message":"the requested blob ID does not exist on Walrus, ensure that it was entered correctly",` +
		`"details":[{"@type":"ErrorInfo","reason":"BLOB_NOT_FOUND","domain":"daemon.walrus.space","metadata":{}}]}}`
	if string(r.body) != want {
		t.Fatalf("404 body\n%s\nwant\n%s", r.body, want)
	}
	body := string(mustMarshal(t, wire.NewErrorBody(403, wire.ReasonBlobTooLarge, "big")))
	if !strings.Contains(body, `"status":"SIZE_EXCEEDED","code":403`) {
		t.Fatalf("403 BLOB_TOO_LARGE body %s", body)
	}
	// Plain-text replies: load shedding, size limits, query strings.
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"PUT", "/v1/blobs?epochs=x", 400},
		{"GET", "/v1/blobs/" + unknown.String() + "?x=1", 400},
		{"GET", "/v1/blobs/not-a-blob-id", 400},
	} {
		r := do(t, tc.method, srv.URL+tc.path, strings.NewReader("x"))
		wantPlainError(t, r, tc.code)
		if r.h.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, r.h.Get("Content-Type"))
		}
	}
	if r := do(t, "POST", srv.URL+"/v1/blobs", nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/blobs: %d", r.code)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unavailableReads fails every range read before a byte is sent.
type unavailableReads struct{ blobstore.Store }

func (u unavailableReads) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	return nil, fmt.Errorf("nodes down: %w", blobstore.ErrUnavailable)
}

// TestErrorAfterHeaders checks that a read failing after the reply headers
// were prepared sends a clean, uncacheable error.
func TestErrorAfterHeaders(t *testing.T) {
	st := newMemStore(t)
	info, err := st.Put(t.Context(), bytes.NewReader(storetest.Data(34, 100)), 100, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, unavailableReads{st}, httpserver.DefaultConfig())
	for _, hdr := range [][]string{nil, {"Range", "bytes=0-9", "Accept", "image/png"}} {
		r := do(t, "GET", srv.URL+"/v1/blobs/"+info.ID.String(), nil, hdr...)
		wantJSONError(t, r, 503, wire.ReasonBlobUnavailable)
		if r.h.Get("Cache-Control") != "" || r.h.Get("X-Content-Type-Options") != "" {
			t.Fatalf("error reply keeps read headers: %v", r.h)
		}
	}
}
