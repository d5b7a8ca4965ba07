package walrushttp_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/blobstore/httpserver"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp"
)

// Shard counts of the test stores. Small n keeps encoding cheap; at n = 10
// the largest blob is 1 834 952 bytes, at n = 100 about 149 MB.
const (
	testShards  = 10
	largeShards = 100
)

// newLocalStore opens a local store with n shards in a temporary directory.
func newLocalStore(t *testing.T, n int) *localstore.Store {
	t.Helper()
	cfg := localstore.DefaultConfig()
	cfg.Dirs = []string{t.TempDir()}
	cfg.Shards = n
	cfg.QuiltShards = n
	st, err := localstore.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// blobIDFunc returns a function computing the RS2 blob ID a store with n
// shards gives data.
func blobIDFunc(t *testing.T, n int) func([]byte) (blobstore.ID, error) {
	enc, err := rs2.NewEncoder(n)
	if err != nil {
		t.Fatal(err)
	}
	return func(data []byte) (blobstore.ID, error) {
		return enc.BlobID(context.Background(), bytes.NewReader(data), int64(len(data)))
	}
}

// offlineQuilt encodes parts as QuiltV1 for n shards without a store and
// returns the quilt's blob ID and the patch ID each identifier must get.
func offlineQuilt(t *testing.T, n int, parts []blobstore.QuiltPart) (blobstore.ID, map[string]blobstore.PatchID) {
	t.Helper()
	params, err := rs2.NewParams(n)
	if err != nil {
		t.Fatal(err)
	}
	q, err := quilt.Build(params, parts)
	if err != nil {
		t.Fatal(err)
	}
	id, err := blobIDFunc(t, n)(q.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]blobstore.PatchID)
	for _, p := range q.Patches {
		ids[p.Identifier] = p.ID(id)
	}
	return id, ids
}

// testConfig is a client configuration with short delays for tests.
func testConfig(publisher string, aggregators ...string) walrushttp.Config {
	cfg := walrushttp.DefaultConfig()
	cfg.PublisherURL = publisher
	cfg.AggregatorURLs = aggregators
	cfg.RetryBaseDelay = time.Millisecond
	cfg.RetryMaxDelay = 5 * time.Millisecond
	cfg.ResponseTimeout = 20 * time.Second
	cfg.StoreTimeout = 20 * time.Second
	cfg.IdleTimeout = 20 * time.Second
	return cfg
}

// newServer serves the Walrus API over a fresh local store.
func newServer(t *testing.T) (*httptest.Server, *localstore.Store) {
	t.Helper()
	st := newLocalStore(t, testShards)
	srv := httptest.NewServer(httpserver.New(st, httpserver.DefaultConfig(), nil))
	t.Cleanup(srv.Close)
	return srv, st
}

// newProxy puts a fault proxy in front of url.
func newProxy(t *testing.T, url string, rules ...faultproxy.Rule) (*faultproxy.Proxy, string) {
	t.Helper()
	p := faultproxy.New(url, 7, rules...)
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	t.Cleanup(p.Close) // runs first: releases stalls before the server closes
	return p, front.URL
}

func newClient(t *testing.T, cfg walrushttp.Config) *walrushttp.Client {
	t.Helper()
	c, err := walrushttp.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handlerFunc is shorthand for fake servers.
type handlerFunc = http.HandlerFunc

// maxBlobSize is the largest blob RS2 encodes at n shards.
func maxBlobSize(t *testing.T, n int) int64 {
	p, err := rs2.NewParams(n)
	if err != nil {
		t.Fatal(err)
	}
	return int64(p.MaxBlobSize())
}
