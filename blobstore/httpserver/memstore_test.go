package httpserver_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/walrusfs/walrusfs/blobstore"
)

// memStore is a minimal in-memory blobstore.Store for the server's tests.
// Its blob IDs are SHA-256 digests, not RS2 IDs; quilts are stored as a
// JSON list of their parts with one made-up column per patch.
type memStore struct {
	mu    sync.Mutex
	blobs map[blobstore.ID]*memBlob
}

type memBlob struct {
	data    []byte
	patches []blobstore.StoredPatch
	patch   map[blobstore.PatchID][]byte
}

func newMemStore() *memStore { return &memStore{blobs: make(map[blobstore.ID]*memBlob)} }

var _ blobstore.QuiltLister = (*memStore)(nil)

func (m *memStore) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	if err := ctx.Err(); err != nil {
		return blobstore.Info{}, err
	}
	if size < 0 || size > 1<<30 {
		return blobstore.Info{}, fmt.Errorf("memstore: put %d bytes: %w", size, blobstore.ErrTooLarge)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return blobstore.Info{}, fmt.Errorf("memstore: put: reading %d bytes: %w (%w)", size, err, blobstore.ErrInvalidArgument)
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return blobstore.Info{}, fmt.Errorf("memstore: put: reader holds more than %d bytes: %w", size, blobstore.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return blobstore.Info{}, err
	}
	return m.store(data, nil, nil, opts), nil
}

func (m *memStore) store(data []byte, patches []blobstore.StoredPatch, patch map[blobstore.PatchID][]byte, opts blobstore.PutOptions) blobstore.Info {
	id := blobstore.ID(sha256.Sum256(data))
	m.mu.Lock()
	_, existed := m.blobs[id]
	if !existed {
		m.blobs[id] = &memBlob{data: data, patches: patches, patch: patch}
	}
	m.mu.Unlock()
	epochs := opts.Epochs
	if epochs == 0 {
		epochs = 1
	}
	return blobstore.Info{
		ID: id, Size: int64(len(data)), EncodedSize: 66034000, RegisteredEpoch: 1,
		Certified: true, CertifiedEpoch: 1, EndEpoch: 1 + epochs, Deletable: !opts.Permanent,
		AlreadyCertified: existed && !opts.Force,
	}
}

func (m *memStore) PutQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (blobstore.QuiltInfo, error) {
	if err := ctx.Err(); err != nil {
		return blobstore.QuiltInfo{}, err
	}
	if len(parts) == 0 {
		return blobstore.QuiltInfo{}, fmt.Errorf("memstore: empty quilt: %w", blobstore.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for _, p := range parts {
		if err := checkIdentifier(p.Identifier); err != nil {
			return blobstore.QuiltInfo{}, err
		}
		if seen[p.Identifier] {
			return blobstore.QuiltInfo{}, fmt.Errorf("memstore: duplicate identifier %q: %w", p.Identifier, blobstore.ErrInvalidArgument)
		}
		seen[p.Identifier] = true
	}
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b blobstore.QuiltPart) int { return bytes.Compare([]byte(a.Identifier), []byte(b.Identifier)) })
	data, err := json.Marshal(sorted)
	if err != nil {
		return blobstore.QuiltInfo{}, err
	}
	quilt := blobstore.ID(sha256.Sum256(data))
	patches := make([]blobstore.StoredPatch, len(sorted))
	byID := make(map[blobstore.PatchID][]byte)
	for i, p := range sorted {
		pid := blobstore.PatchID{Quilt: quilt, Version: blobstore.PatchIDVersion, Start: uint16(1 + i), End: uint16(2 + i)}
		patches[i] = blobstore.StoredPatch{Identifier: p.Identifier, PatchID: pid, Tags: p.Tags}
		byID[pid] = p.Data
	}
	info := m.store(data, patches, byID, opts)
	return blobstore.QuiltInfo{Blob: info, Patches: patches}, nil
}

func checkIdentifier(s string) error {
	bad := func(why string) error {
		return fmt.Errorf("memstore: quilt identifier %q: %s: %w", s, why, blobstore.ErrInvalidArgument)
	}
	switch {
	case s == "":
		return bad("empty")
	case !utf8.ValidString(s):
		return bad("not UTF-8")
	case len(s) > 65531:
		return bad("too long")
	case s[0] == '_':
		return bad("starts with '_'")
	}
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(last) || unicode.IsControl(last) {
		return bad("trailing whitespace or control character")
	}
	return nil
}

func (m *memStore) get(id blobstore.ID) (*memBlob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[id]
	if !ok {
		return nil, fmt.Errorf("memstore: blob %s: %w", id, blobstore.ErrNotFound)
	}
	return b, nil
}

func (m *memStore) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := m.get(id)
	if err != nil {
		return nil, err
	}
	if off < 0 || length < 0 || off > int64(len(b.data)) || length > int64(len(b.data))-off {
		return nil, fmt.Errorf("memstore: blob %s: range %d+%d outside %d bytes: %w", id, off, length, len(b.data), blobstore.ErrInvalidArgument)
	}
	return io.NopCloser(bytes.NewReader(b.data[off : off+length])), nil
}

func (m *memStore) ReadPatch(ctx context.Context, id blobstore.PatchID) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := m.get(id.Quilt)
	if err != nil {
		return nil, err
	}
	data, ok := b.patch[id]
	if !ok {
		return nil, fmt.Errorf("memstore: patch %s: %w", id, blobstore.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (m *memStore) ListPatches(ctx context.Context, quilt blobstore.ID) ([]blobstore.StoredPatch, error) {
	b, err := m.get(quilt)
	if err != nil {
		return nil, err
	}
	if b.patches == nil {
		return nil, fmt.Errorf("memstore: blob %s is not a quilt: %w", quilt, blobstore.ErrInvalidArgument)
	}
	return slices.Clone(b.patches), nil
}

func (m *memStore) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	b, err := m.get(id)
	if err != nil {
		return blobstore.Info{}, err
	}
	return blobstore.Info{ID: id, Size: int64(len(b.data)), Certified: true}, nil
}

func (m *memStore) Delete(ctx context.Context, id blobstore.ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[id]; !ok {
		return fmt.Errorf("memstore: delete %s: %w", id, blobstore.ErrNotFound)
	}
	delete(m.blobs, id)
	return nil
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

var errorsIsStd = errors.Is
