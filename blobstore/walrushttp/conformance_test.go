package walrushttp_test

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/blobstore/httpserver"
	"github.com/walrusfs/walrusfs/blobstore/storetest"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// TestConformance runs the Store suite against the client talking to the
// server over a real local store, checking every blob ID against RS2.
func TestConformance(t *testing.T) {
	storetest.RunWithOptions(t, func(t *testing.T) blobstore.Store {
		srv, _ := newServer(t)
		return newClient(t, testConfig(srv.URL, srv.URL))
	}, storetest.Options{
		Delete:      storetest.DeleteForbidden,
		MaxBlobSize: maxBlobSize(t, testShards),
		BlobID:      blobIDFunc(t, testShards),
	})
}

// TestConformanceThroughProxies runs the Store suite with reads spread over
// two aggregators, each a fault proxy in front of the server that fails,
// cuts and stalls some replies: reads must resume or fail over, and a
// verified read whose first copy is rejected gets another from the other
// aggregator.
func TestConformanceThroughProxies(t *testing.T) {
	storetest.RunWithOptions(t, func(t *testing.T) blobstore.Store {
		srv, _ := newServer(t)
		var aggs []string
		for range 2 {
			_, u := newProxy(t, srv.URL,
				faultproxy.Rule{Name: "503", Method: "GET", Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable, Probability: 0.1},
				faultproxy.Rule{Name: "cut", Method: "GET", Ranged: true, Fault: faultproxy.Truncate, After: 700, Probability: 0.1},
				faultproxy.Rule{Name: "stall", Method: "GET", Ranged: true, Fault: faultproxy.StallBody, After: 300, Times: 1, Skip: 5},
			)
			aggs = append(aggs, u)
		}
		cfg := testConfig(srv.URL, aggs...)
		cfg.IdleTimeout = 500 * time.Millisecond
		return newClient(t, cfg)
	}, storetest.Options{
		Delete:      storetest.DeleteForbidden,
		MaxBlobSize: maxBlobSize(t, testShards),
		BlobID:      blobIDFunc(t, testShards),
	})
}

// TestLargeBlob stores and reads a multi-MiB blob through the client, in
// ranges and whole.
func TestLargeBlob(t *testing.T) {
	st := newLocalStore(t, largeShards)
	srv := httptest.NewServer(httpserver.New(st, httpserver.DefaultConfig(), nil))
	t.Cleanup(srv.Close)
	c := newClient(t, testConfig(srv.URL, srv.URL))
	data := storetest.Data(77, 5<<20+3)
	info, err := c.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := blobIDFunc(t, largeShards)(data)
	if err != nil || info.ID != want {
		t.Fatalf("blob ID %s, RS2 says %s (%v)", info.ID, want, err)
	}
	for _, r := range [][2]int64{{0, int64(len(data))}, {1 << 20, 2<<20 + 1}, {int64(len(data)) - 1, 1}} {
		rc, err := c.ReadRange(t.Context(), info.ID, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Fatalf("range %v: %d bytes, %v", r, len(got), err)
		}
	}
}
