package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
)

// testShards keeps RS2 encoding cheap in tests.
const testShards = 10

// newMemStore returns the store the tests serve: a local store in a
// temporary directory, with quilts added by quiltStore.
func newMemStore(t *testing.T) *quiltStore { return withQuilts(newLocalStore(t, testShards)) }

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

// failStore wraps a store and fails chosen calls, to test the server's
// error mapping.
type failStore struct {
	blobstore.Store
	err error
}

func (f failStore) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	return blobstore.Info{}, f.err
}

func (f failStore) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	return blobstore.Info{}, f.err
}
