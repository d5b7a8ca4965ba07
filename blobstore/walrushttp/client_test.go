package walrushttp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/blobstore/storetest"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

func readAll(t *testing.T, c *walrushttp.Client, id blobstore.ID, off, length int64) ([]byte, error) {
	t.Helper()
	rc, err := c.ReadRange(t.Context(), id, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// putDirect stores data in the server's store, bypassing HTTP.
func putDirect(t *testing.T, st blobstore.Store, data []byte) blobstore.ID {
	t.Helper()
	info, err := st.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

func TestStoreBlobResult(t *testing.T) {
	srv, _ := newServer(t)
	var auth atomic.Value
	front := httptest.NewServer(handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	cfg := testConfig(front.URL, front.URL)
	cfg.JWT = "token.jwt.sig"
	c := newClient(t, cfg)
	data := storetest.Data(1, 4321)
	res, err := c.StoreBlob(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if auth.Load() != "Bearer token.jwt.sig" {
		t.Fatalf("Authorization %q", auth.Load())
	}
	nc := res.NewlyCreated
	if nc == nil || nc.BlobObject.Size != 4321 || nc.BlobObject.CertifiedEpoch == nil || !strings.HasPrefix(nc.BlobObject.ID, "0x") ||
		nc.BlobObject.Storage.EndEpoch != nc.BlobObject.RegisteredEpoch+3 || nc.ResourceOperation.Kind != wire.OpRegisterFromScratch ||
		nc.ResourceOperation.EpochsAhead != 3 || nc.BlobObject.Storage.StorageSize == 0 {
		t.Fatalf("reply %+v", res)
	}
	res, err = c.StoreBlob(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Epochs: 1})
	if err != nil || res.AlreadyCertified == nil || res.AlreadyCertified.BlobID != nc.BlobObject.BlobID {
		t.Fatalf("second store: %+v %v", res, err)
	}
	info, err := c.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Force: true})
	if err != nil || info.AlreadyCertified || info.ID != nc.BlobObject.BlobID || !info.Certified {
		t.Fatalf("forced store: %+v %v", info, err)
	}
}

// TestUploadThroughOverload stores through bursts of 429 and 503 and a
// dropped connection.
func TestUploadThroughOverload(t *testing.T) {
	srv, _ := newServer(t)
	p, u := newProxy(t, srv.URL,
		faultproxy.Rule{Name: "429", Method: "PUT", Fault: faultproxy.Status, Status: 429, Body: wire.TextTooManyRequests, Times: 2},
		faultproxy.Rule{Name: "503", Method: "PUT", Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable, Times: 1},
		faultproxy.Rule{Name: "drop", Method: "PUT", Fault: faultproxy.Drop, Times: 1},
	)
	c := newClient(t, testConfig(u, u))
	data := storetest.Data(2, 10_000)
	// A reader that cannot seek: the client buffers it for the retries.
	info, err := c.Put(t.Context(), io.MultiReader(bytes.NewReader(data)), int64(len(data)), blobstore.PutOptions{})
	if err != nil {
		t.Fatalf("Put through faults: %v", err)
	}
	if f := p.Fired(); f["429"] != 2 || f["503"] != 1 || f["drop"] != 1 {
		t.Fatalf("faults fired %v", f)
	}
	got, err := readAll(t, c, info.ID, 0, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	// Quilts get the same treatment.
	p2, u2 := newProxy(t, srv.URL, faultproxy.Rule{Method: "PUT", Fault: faultproxy.Status, Status: 504, Times: 2})
	c2 := newClient(t, testConfig(u2, u2))
	if _, err := c2.PutQuilt(t.Context(), []blobstore.QuiltPart{{Identifier: "a", Data: []byte("x")}}, blobstore.PutOptions{}); err != nil {
		t.Fatalf("PutQuilt through 504s: %v", err)
	}
	if p2.Fired()["rule0"] != 2 {
		t.Fatalf("fired %v", p2.Fired())
	}
}

// seekOnly hides everything of a reader but Read and Seek, so the client
// rewinds it for retries.
type seekOnly struct{ r io.ReadSeeker }

func (s seekOnly) Read(p []byte) (int, error)                { return s.r.Read(p) }
func (s seekOnly) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

// TestRetryWaitsForTheBody: a publisher that answers before reading the
// upload leaves the transport still sending the body when the reply
// arrives. A retry must not rewind the reader until the transport is done
// with it (the race detector catches it otherwise), and the bytes stored
// must be the caller's.
func TestRetryWaitsForTheBody(t *testing.T) {
	srv, _ := newServer(t)
	var n atomic.Int32
	early := httptest.NewServer(handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 3 {
			w.Header().Set("Connection", "close")
			http.Error(w, wire.TextTooManyRequests, http.StatusTooManyRequests)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(early.Close)
	c := newClient(t, testConfig(early.URL, srv.URL))
	data := storetest.Data(9, 1<<20)
	for _, r := range []io.Reader{seekOnly{bytes.NewReader(data)}, bytes.NewReader(data)} {
		n.Store(0)
		info, err := c.Put(t.Context(), r, int64(len(data)), blobstore.PutOptions{})
		if err != nil {
			t.Fatalf("Put through early replies: %v", err)
		}
		if want, _ := blobIDFunc(t, testShards)(data); info.ID != want {
			t.Fatalf("stored blob %s, want %s", info.ID, want)
		}
	}
}

// TestOneShotUploadIsNotRetried: a large body that can be neither seeked
// nor buffered is sent once.
func TestOneShotUploadIsNotRetried(t *testing.T) {
	srv, _ := newServer(t)
	p, u := newProxy(t, srv.URL, faultproxy.Rule{Method: "PUT", Fault: faultproxy.Status, Status: 503, Times: 1})
	cfg := testConfig(u, u)
	cfg.MaxBufferedBody = 100
	c := newClient(t, cfg)
	data := storetest.Data(3, 1000)
	_, err := c.Put(t.Context(), io.MultiReader(bytes.NewReader(data)), 1000, blobstore.PutOptions{})
	if !errors.Is(err, blobstore.ErrUnavailable) || p.Requests() != 1 {
		t.Fatalf("err %v after %d requests; want ErrUnavailable after 1", err, p.Requests())
	}
	// A seekable reader of the same size is retried.
	if _, err := c.Put(t.Context(), bytes.NewReader(data), 1000, blobstore.PutOptions{}); err != nil {
		t.Fatalf("seekable Put: %v", err)
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	srv, _ := newServer(t)
	p, u := newProxy(t, srv.URL, faultproxy.Rule{Name: "451", PathPrefix: "/v1/blobs/by-quilt-patch-id/", Fault: faultproxy.Status, Status: 451, Reason: wire.ReasonForbiddenBlob})
	cfg := testConfig(u, u)
	cfg.RetryReadsNotFound = false // a 404 on a read is a miss otherwise (TestReadNotFoundIsAMiss)
	c := newClient(t, cfg)
	var unknown blobstore.ID
	if _, err := c.ReadRange(t.Context(), unknown, 0, 10); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("unknown blob: %v", err)
	}
	if p.Requests() != 1 {
		t.Fatalf("404 took %d requests", p.Requests())
	}
	pid := blobstore.PatchID{Quilt: unknown, Version: 1, Start: 1, End: 2}
	_, err := c.ReadPatch(t.Context(), pid)
	var we *wire.Error
	if !errors.Is(err, blobstore.ErrForbidden) || !errors.As(err, &we) || we.Reason != wire.ReasonForbiddenBlob || p.Requests() != 2 {
		t.Fatalf("451: %v after %d requests", err, p.Requests())
	}
	if _, err := c.Put(t.Context(), strings.NewReader("x"), 1, blobstore.PutOptions{Epochs: 99}); !errors.Is(err, blobstore.ErrInvalidArgument) || p.Requests() != 3 {
		t.Fatalf("bad epochs: %v after %d requests", err, p.Requests())
	}
	if err := c.Delete(t.Context(), unknown); !errors.Is(err, blobstore.ErrForbidden) {
		t.Fatalf("Delete: %v", err)
	}
	big := newClient(t, func() walrushttp.Config { c := testConfig(u, u); c.MaxBlobBody = 10; return c }())
	if _, err := big.Put(t.Context(), strings.NewReader("01234567890"), 11, blobstore.PutOptions{}); !errors.Is(err, blobstore.ErrTooLarge) || p.Requests() != 3 {
		t.Fatalf("over the body limit: %v", err)
	}
}

func TestAggregatorFailover(t *testing.T) {
	srv, st := newServer(t)
	data := storetest.Data(4, 50_000)
	id := putDirect(t, st, data)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p503, u503 := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable})
	c := newClient(t, testConfig(srv.URL, dead.URL, u503, srv.URL))
	for range 3 {
		got, err := readAll(t, c, id, 100, 40_000)
		if err != nil || !bytes.Equal(got, data[100:40_100]) {
			t.Fatalf("read with failover: %v", err)
		}
	}
	// After the first success the working aggregator is preferred.
	if p503.Requests() != 1 {
		t.Fatalf("failing aggregator asked %d times", p503.Requests())
	}
	info, err := c.Stat(t.Context(), id)
	if err != nil || info.Size != 50_000 {
		t.Fatalf("Stat: %+v %v", info, err)
	}
}

// TestCorruptionNeverPassesVerification: aggregators that flip bytes are
// caught by the caller's hash and avoided; the verified read returns the
// right bytes or an error, never wrong bytes.
func TestCorruptionNeverPassesVerification(t *testing.T) {
	srv, st := newServer(t)
	data := storetest.Data(5, 200_000)
	id := putDirect(t, st, data)
	_, bad := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.Corrupt, Ranged: true})
	_, flaky := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.Corrupt, Ranged: true, Probability: 0.5, Flips: 4})

	verify := func(want []byte, out *[]byte) func(io.Reader) error {
		sum := sha256.Sum256(want)
		return func(r io.Reader) error {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if sha256.Sum256(b) != sum {
				return fmt.Errorf("range hash mismatch: %w", blobstore.ErrIntegrity)
			}
			*out = b
			return nil
		}
	}

	t.Run("bad then good", func(t *testing.T) {
		c := newClient(t, testConfig(srv.URL, bad, srv.URL))
		var got []byte
		if err := c.ReadRangeVerified(t.Context(), id, 1000, 5000, verify(data[1000:6000], &got)); err != nil || !bytes.Equal(got, data[1000:6000]) {
			t.Fatalf("verified read: %v", err)
		}
	})
	t.Run("all bad", func(t *testing.T) {
		c := newClient(t, testConfig(srv.URL, bad))
		var got []byte
		err := c.ReadRangeVerified(t.Context(), id, 0, 100, verify(data[:100], &got))
		if !errors.Is(err, blobstore.ErrIntegrity) || got != nil {
			t.Fatalf("every aggregator corrupt: %v, %d bytes", err, len(got))
		}
	})
	t.Run("rejected before reading", func(t *testing.T) {
		// Each copy is blamed on the aggregator that was to serve it, so
		// every aggregator is asked once.
		c := newClient(t, testConfig(srv.URL, srv.URL, srv.URL, srv.URL))
		calls := 0
		err := c.ReadRangeVerified(t.Context(), id, 0, 100, func(io.Reader) error {
			calls++
			return fmt.Errorf("rejected unread: %w", blobstore.ErrIntegrity)
		})
		if !errors.Is(err, blobstore.ErrIntegrity) || calls != 3 {
			t.Fatalf("every copy rejected unread: %v after %d calls, want ErrIntegrity after 3", err, calls)
		}
	})
	t.Run("flaky", func(t *testing.T) {
		c := newClient(t, testConfig(srv.URL, flaky, bad, srv.URL))
		okReads := 0
		for i := range 20 {
			off, n := int64(i*9000), int64(1+i*977)
			var got []byte
			err := c.ReadRangeVerified(t.Context(), id, off, n, verify(data[off:off+n], &got))
			switch {
			case err == nil && bytes.Equal(got, data[off:off+n]):
				okReads++
			case err == nil:
				t.Fatalf("range %d+%d: wrong bytes returned without error", off, n)
			case !errors.Is(err, blobstore.ErrIntegrity):
				t.Fatalf("range %d+%d: %v", off, n, err)
			}
		}
		if okReads != 20 {
			t.Fatalf("%d of 20 reads succeeded with a clean aggregator available", okReads)
		}
	})
}

// TestBrokenStreamsResume: a cut or stalled body is resumed from the next
// byte; the reader delivers the right bytes or an error, never a short read
// that looks complete.
func TestBrokenStreamsResume(t *testing.T) {
	srv, st := newServer(t)
	data := storetest.Data(6, 300_000)
	id := putDirect(t, st, data)

	t.Run("truncated", func(t *testing.T) {
		p, u := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.Truncate, After: 70_000, Ranged: true, Times: 3})
		c := newClient(t, testConfig(u, u))
		got, err := readAll(t, c, id, 5, 290_000)
		if err != nil || !bytes.Equal(got, data[5:290_005]) {
			t.Fatalf("%d bytes, %v", len(got), err)
		}
		if p.Fired()["rule0"] != 3 {
			t.Fatalf("fired %v", p.Fired())
		}
	})
	t.Run("truncated without retries", func(t *testing.T) {
		_, u := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.Truncate, After: 1000, Ranged: true})
		cfg := testConfig(u, u)
		cfg.MaxAttempts = 2
		c := newClient(t, cfg)
		got, err := readAll(t, c, id, 0, 100_000)
		if !errors.Is(err, blobstore.ErrUnavailable) || len(got) >= 100_000 {
			t.Fatalf("%d bytes, %v; want a short read with ErrUnavailable", len(got), err)
		}
		if !bytes.Equal(got, data[:len(got)]) {
			t.Fatal("bytes before the failure are wrong")
		}
	})
	t.Run("stalled body", func(t *testing.T) {
		_, u := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.StallBody, After: 10_000, Ranged: true, Times: 1})
		cfg := testConfig(u, u)
		cfg.IdleTimeout = 200 * time.Millisecond
		c := newClient(t, cfg)
		got, err := readAll(t, c, id, 0, 300_000)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes, %v", len(got), err)
		}
	})
	t.Run("stalled reply", func(t *testing.T) {
		_, u := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.Stall, Times: 2})
		cfg := testConfig(u, u)
		cfg.ResponseTimeout = 200 * time.Millisecond
		c := newClient(t, cfg)
		got, err := readAll(t, c, id, 1, 1000)
		if err != nil || !bytes.Equal(got, data[1:1001]) {
			t.Fatalf("%d bytes, %v", len(got), err)
		}
	})
	t.Run("stalled upload", func(t *testing.T) {
		p, u := newProxy(t, srv.URL, faultproxy.Rule{Method: "PUT", Fault: faultproxy.Stall, Times: 1})
		cfg := testConfig(u, u)
		cfg.StoreTimeout = 200 * time.Millisecond
		c := newClient(t, cfg)
		if _, err := c.Put(t.Context(), bytes.NewReader(data[:1000]), 1000, blobstore.PutOptions{}); err != nil {
			t.Fatalf("Put after a stall: %v", err)
		}
		if p.Fired()["rule0"] != 1 {
			t.Fatalf("fired %v", p.Fired())
		}
	})
	t.Run("canceled while stalled", func(t *testing.T) {
		_, u := newProxy(t, srv.URL, faultproxy.Rule{Fault: faultproxy.Stall})
		c := newClient(t, testConfig(u, u))
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := c.ReadRange(ctx, id, 0, 10); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("canceled read: %v", err)
		}
	})
}

func TestByteRangeEndpoint(t *testing.T) {
	srv, st := newServer(t)
	data := storetest.Data(7, 10_000)
	id := putDirect(t, st, data)
	cfg := testConfig(srv.URL, srv.URL)
	cfg.UseByteRangeEndpoint = true
	c := newClient(t, cfg)
	for _, r := range [][2]int64{{0, 1}, {9999, 1}, {0, 10_000}, {1234, 5678}} {
		got, err := readAll(t, c, id, r[0], r[1])
		if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Fatalf("range %v: %v", r, err)
		}
	}
	if _, err := readAll(t, c, id, 9999, 2); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("out of range: %v", err)
	}
}

// TestBadReplies: replies that do not match what was asked are errors.
func TestBadReplies(t *testing.T) {
	var id blobstore.ID
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"wrong Content-Range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 1-10/100")
			w.WriteHeader(206)
			w.Write(make([]byte, 10))
		}, blobstore.ErrUnavailable},
		{"range beyond the blob", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-4/5")
			w.WriteHeader(206)
			w.Write(make([]byte, 5))
		}, blobstore.ErrInvalidArgument},
		{"200 of the wrong length", func(w http.ResponseWriter, r *http.Request) {
			w.Write(make([]byte, 50))
		}, blobstore.ErrUnavailable},
		{"gateway HTML", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}, blobstore.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			cfg := testConfig(srv.URL, srv.URL)
			cfg.MaxAttempts = 2
			c := newClient(t, cfg)
			got, err := readAll(t, c, id, 0, 10)
			if !errors.Is(err, tc.want) || len(got) != 0 {
				t.Fatalf("got %d bytes, %v; want %v", len(got), err, tc.want)
			}
		})
	}

	publisher := func(body string) *walrushttp.Client {
		srv := httptest.NewServer(handlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		t.Cleanup(srv.Close)
		cfg := testConfig(srv.URL, srv.URL)
		cfg.MaxAttempts = 2
		cfg.MaxJSONReply = 1000
		return newClient(t, cfg)
	}
	for _, tc := range []struct {
		name, body string
		want       error
	}{
		{"marked invalid", `{"markedInvalid":{"blobId":"M4hsZGQ1oCktdzegB6HnI6Mi28S2nqOPHxK-W7_4BUk"}}`, blobstore.ErrIntegrity},
		{"error reply", `{"error":{"blobId":null,"failurePhase":"certify","errorMsg":"timeout"}}`, blobstore.ErrUnavailable},
		{"not JSON", `<html>`, blobstore.ErrUnavailable},
		{"oversized", `{"x":"` + strings.Repeat("a", 2000) + `"}`, blobstore.ErrTooLarge},
		{"wrong size", `{"newlyCreated":{"blobObject":{"id":"0x1","registeredEpoch":1,"blobId":"M4hsZGQ1oCktdzegB6HnI6Mi28S2nqOPHxK-W7_4BUk","size":7,"encodingType":"RS2","certifiedEpoch":1,"storage":{"id":"0x2","startEpoch":1,"endEpoch":2,"storageSize":1},"deletable":true},"resourceOperation":{"registerFromScratch":{"encodedLength":1,"epochsAhead":1}},"cost":1}}`, blobstore.ErrIntegrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := publisher(tc.body).Put(t.Context(), strings.NewReader("x"), 1, blobstore.PutOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
}

// TestQuiltReads stores a quilt through the client and the server over the
// local store, and checks the quilt blob ID and every patch ID against a
// QuiltV1 encoding made offline, then reads each patch by ID and by
// identifier.
func TestQuiltReads(t *testing.T) {
	srv, _ := newServer(t)
	c := newClient(t, testConfig(srv.URL, srv.URL))
	parts := []blobstore.QuiltPart{
		{Identifier: "b/c d.txt", Data: []byte("one"), Tags: map[string]string{"k": "v"}},
		{Identifier: `quote"back\slash`, Data: []byte("two")},
		{Identifier: "名前", Data: storetest.Data(8, 3000), Tags: map[string]string{"b": "1", "aa": "2"}},
		{Identifier: "empty"},
	}
	wantQuilt, wantIDs := offlineQuilt(t, testShards, parts)
	qi, err := c.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if qi.Blob.ID != wantQuilt {
		t.Fatalf("quilt blob ID %s, offline QuiltV1 encoding gives %s", qi.Blob.ID, wantQuilt)
	}
	list, err := c.ListPatches(t.Context(), qi.Blob.ID)
	if err != nil || len(list) != len(parts) || len(qi.Patches) != len(parts) {
		t.Fatalf("ListPatches: %v %v", list, err)
	}
	for i := range list {
		if list[i].PatchID != qi.Patches[i].PatchID || list[i].PatchID != wantIDs[list[i].Identifier] {
			t.Fatalf("patch %q: listed %s, stored %s, offline %s", list[i].Identifier, list[i].PatchID, qi.Patches[i].PatchID, wantIDs[list[i].Identifier])
		}
	}
	for _, p := range parts {
		for how, open := range map[string]func() (io.ReadCloser, error){
			"by ID":         func() (io.ReadCloser, error) { return c.ReadPatch(t.Context(), wantIDs[p.Identifier]) },
			"by identifier": func() (io.ReadCloser, error) { return c.ReadPatchByIdentifier(t.Context(), qi.Blob.ID, p.Identifier) },
		} {
			rc, err := open()
			if err != nil {
				t.Fatalf("%q %s: %v", p.Identifier, how, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, p.Data) {
				t.Fatalf("%q %s: %q %v", p.Identifier, how, got, err)
			}
		}
	}
	if _, err := c.ReadPatchByIdentifier(t.Context(), qi.Blob.ID, "missing"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("missing identifier: %v", err)
	}
	if _, err := c.PutQuilt(t.Context(), []blobstore.QuiltPart{{Identifier: "a\nb", Data: []byte("x")}}, blobstore.PutOptions{}); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("control character: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []walrushttp.Config{
		{},
		{AggregatorURLs: []string{"ftp://x"}},
		{AggregatorURLs: []string{"http://"}},
		{AggregatorURLs: []string{"http://x"}, PublisherURL: "x:y"},
	} {
		if _, err := walrushttp.New(cfg, nil); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
	c := newClient(t, walrushttp.Config{AggregatorURLs: []string{"http://127.0.0.1:1/base/"}})
	if _, err := c.Put(t.Context(), strings.NewReader("x"), 1, blobstore.PutOptions{}); !errors.Is(err, blobstore.ErrForbidden) {
		t.Fatalf("Put without a publisher: %v", err)
	}
}

// TestReadNotFoundIsAMiss: an aggregator that answers 404 for a blob just
// stored (a CDN in front of it) makes a read try the others and then retry,
// not fail; a blob that stays missing fails with ErrNotFound once the
// attempts are used up; and with RetryReadsNotFound off a 404 is final.
func TestReadNotFoundIsAMiss(t *testing.T) {
	srv, st := newServer(t)
	data := storetest.Data(6, 30_000)
	id := putDirect(t, st, data)
	notFound := faultproxy.Rule{Name: "404", Method: "GET", PathPrefix: "/v1/blobs/", Fault: faultproxy.Status, Status: 404, Reason: wire.ReasonBlobNotFound}

	_, cdn := newProxy(t, srv.URL, notFound)
	c := newClient(t, testConfig(srv.URL, cdn, srv.URL))
	if got, err := readAll(t, c, id, 0, int64(len(data))); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("one aggregator answers 404: %v", err)
	}

	twice := notFound
	twice.Times = 2
	p, late := newProxy(t, srv.URL, twice)
	c = newClient(t, testConfig(srv.URL, late))
	if got, err := readAll(t, c, id, 0, int64(len(data))); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the only aggregator answers 404 twice, then serves: %v", err)
	}
	if n := p.Fired()["404"]; n != 2 {
		t.Fatalf("the 404 fired %d times, want 2", n)
	}

	p, gone := newProxy(t, srv.URL, notFound)
	cfg := testConfig(srv.URL, gone)
	c = newClient(t, cfg)
	if _, err := readAll(t, c, id, 0, 100); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("a blob that stays missing: %v, want ErrNotFound", err)
	}
	if n := p.Requests(); n != cfg.MaxAttempts {
		t.Fatalf("%d requests for a missing blob, want %d (MaxAttempts)", n, cfg.MaxAttempts)
	}

	p, gone = newProxy(t, srv.URL, notFound)
	cfg = testConfig(srv.URL, gone)
	cfg.RetryReadsNotFound = false
	c = newClient(t, cfg)
	if _, err := readAll(t, c, id, 0, 100); !errors.Is(err, blobstore.ErrNotFound) || p.Requests() != 1 {
		t.Fatalf("RetryReadsNotFound off: %v after %d requests, want ErrNotFound after 1", err, p.Requests())
	}
}

// TestQuiltIdentifiersWithUnderscores: identifiers may start with '_'
// (_config.yml, __init__.py) and round-trip through the publisher; only
// _metadata, the form field of the tags, is refused before sending.
func TestQuiltIdentifiersWithUnderscores(t *testing.T) {
	srv, _ := newServer(t)
	c := newClient(t, testConfig(srv.URL, srv.URL))
	parts := []blobstore.QuiltPart{
		{Identifier: "_config.yml", Data: []byte("x: 1"), Tags: map[string]string{"k": "v"}},
		{Identifier: "__init__.py", Data: []byte("")},
	}
	qi, err := c.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, p := range parts {
		want[p.Identifier] = p.Data
	}
	if len(qi.Patches) != len(parts) {
		t.Fatalf("%d patches stored, want %d", len(qi.Patches), len(parts))
	}
	for _, p := range qi.Patches {
		rc, err := c.ReadPatch(t.Context(), p.PatchID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		_ = rc.Close()
		if w, ok := want[p.Identifier]; err != nil || !ok || !bytes.Equal(got, w) {
			t.Fatalf("patch %q: %q, %v", p.Identifier, got, err)
		}
	}
	_, err = c.PutQuilt(t.Context(), []blobstore.QuiltPart{{Identifier: "_metadata", Data: []byte("x")}}, blobstore.PutOptions{})
	if !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("identifier _metadata: %v, want ErrInvalidArgument", err)
	}
}
