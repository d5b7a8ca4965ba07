package walrushttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/blobstore/httpserver"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
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

// quiltStore adds quilts to a store that has only blobs: a quilt is stored
// as one ordinary blob (a JSON header followed by the parts' data) and its
// index is kept in memory. Patch reads are range reads of that blob, so
// they travel through the real store. It stands in until the local store
// stores QuiltV1 quilts itself.
type quiltStore struct {
	blobstore.Store
	mu     sync.Mutex
	quilts map[blobstore.ID][]quiltEntry
}

type quiltEntry struct {
	patch       blobstore.StoredPatch
	off, length int64
}

func withQuilts(st blobstore.Store) *quiltStore {
	return &quiltStore{Store: st, quilts: make(map[blobstore.ID][]quiltEntry)}
}

var _ blobstore.QuiltLister = (*quiltStore)(nil)

func (q *quiltStore) PutQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (blobstore.QuiltInfo, error) {
	if len(parts) == 0 {
		return blobstore.QuiltInfo{}, fmt.Errorf("quilt: no parts: %w", blobstore.ErrInvalidArgument)
	}
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b blobstore.QuiltPart) int { return bytes.Compare([]byte(a.Identifier), []byte(b.Identifier)) })
	for i, p := range sorted {
		if err := checkIdentifier(p.Identifier); err != nil {
			return blobstore.QuiltInfo{}, err
		}
		if i > 0 && sorted[i-1].Identifier == p.Identifier {
			return blobstore.QuiltInfo{}, fmt.Errorf("quilt: duplicate identifier %q: %w", p.Identifier, blobstore.ErrInvalidArgument)
		}
	}
	header, err := json.Marshal(sorted) // identifiers, tags and data: unique per quilt
	if err != nil {
		return blobstore.QuiltInfo{}, err
	}
	var blob bytes.Buffer
	fmt.Fprintf(&blob, "%d\n", len(header))
	blob.Write(header)
	entries := make([]quiltEntry, len(sorted))
	for i, p := range sorted {
		entries[i] = quiltEntry{off: int64(blob.Len()), length: int64(len(p.Data))}
		blob.Write(p.Data)
	}
	info, err := q.Store.Put(ctx, bytes.NewReader(blob.Bytes()), int64(blob.Len()), opts)
	if err != nil {
		return blobstore.QuiltInfo{}, err
	}
	qi := blobstore.QuiltInfo{Blob: info}
	for i, p := range sorted {
		entries[i].patch = blobstore.StoredPatch{
			Identifier: p.Identifier, Tags: p.Tags,
			PatchID: blobstore.PatchID{Quilt: info.ID, Version: blobstore.PatchIDVersion, Start: uint16(1 + i), End: uint16(2 + i)},
		}
		qi.Patches = append(qi.Patches, entries[i].patch)
	}
	q.mu.Lock()
	q.quilts[info.ID] = entries
	q.mu.Unlock()
	return qi, nil
}

func checkIdentifier(s string) error {
	last, _ := utf8.DecodeLastRuneInString(s)
	if s == "" || !utf8.ValidString(s) || len(s) > 65531 || s[0] == '_' || unicode.IsSpace(last) || unicode.IsControl(last) {
		return fmt.Errorf("quilt: identifier %q breaks the rules: %w", s, blobstore.ErrInvalidArgument)
	}
	return nil
}

func (q *quiltStore) entries(ctx context.Context, quilt blobstore.ID) ([]quiltEntry, error) {
	q.mu.Lock()
	e, ok := q.quilts[quilt]
	q.mu.Unlock()
	if !ok {
		if _, err := q.Store.Stat(ctx, quilt); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("quilt %s: not a quilt: %w", quilt, blobstore.ErrInvalidArgument)
	}
	return e, nil
}

func (q *quiltStore) ReadPatch(ctx context.Context, id blobstore.PatchID) (io.ReadCloser, error) {
	es, err := q.entries(ctx, id.Quilt)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if e.patch.PatchID == id {
			return q.Store.ReadRange(ctx, id.Quilt, e.off, e.length)
		}
	}
	return nil, fmt.Errorf("quilt patch %s: %w", id, blobstore.ErrNotFound)
}

func (q *quiltStore) ListPatches(ctx context.Context, quilt blobstore.ID) ([]blobstore.StoredPatch, error) {
	es, err := q.entries(ctx, quilt)
	if err != nil {
		return nil, err
	}
	out := make([]blobstore.StoredPatch, len(es))
	for i, e := range es {
		out[i] = e.patch
	}
	return out, nil
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

// newServer serves the Walrus API over a fresh local store with quilts.
func newServer(t *testing.T) (*httptest.Server, *quiltStore) {
	t.Helper()
	st := withQuilts(newLocalStore(t, testShards))
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
