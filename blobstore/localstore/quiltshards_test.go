package localstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// defaultConfig returns DefaultConfig with ndirs fresh directories: blobs
// at DefaultShards, quilts at DefaultQuiltShards.
func defaultConfig(t testing.TB, ndirs int) Config {
	t.Helper()
	cfg := testConfig(t, ndirs, DefaultShards)
	cfg.QuiltShards = DefaultConfig().QuiltShards
	return cfg
}

// smallParts returns n parts of size bytes each, named so that quilt order
// is creation order.
func smallParts(n, size int) []blobstore.QuiltPart {
	parts := make([]blobstore.QuiltPart, n)
	for i := range parts {
		parts[i] = blobstore.QuiltPart{Identifier: fmt.Sprintf("f%05d", i), Data: lcg(uint32(i), size)}
	}
	return parts
}

// The default configuration lays quilts out at Walrus Mainnet's 1000
// shards, so a quilt takes 666 small files, while standalone blobs stay at
// DefaultShards.
func TestQuiltShardsDefault(t *testing.T) {
	t.Parallel() // slow: encoding at 1000 shards
	ctx := t.Context()
	cfg := defaultConfig(t, 3)
	s, _ := openStore(t, cfg)
	if got, want := s.MaxQuiltPatches(), 666; got != want {
		t.Fatalf("MaxQuiltPatches() = %d, want %d", got, want)
	}
	parts := smallParts(quiltTestParts, 4096)
	qi, err := s.PutQuilt(ctx, parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatalf("PutQuilt of %d parts: %v", len(parts), err)
	}
	if got := mustLoad(t, s, qi.Blob.ID).Shards; got != DefaultQuiltShards {
		t.Errorf("quilt stored at %d shards, want %d", got, DefaultQuiltShards)
	}
	if len(qi.Patches) != len(parts) {
		t.Fatalf("PutQuilt returned %d patches, want %d", len(qi.Patches), len(parts))
	}
	checkQuilt(t, s, qi, parts)

	again, err := s.PutQuilt(ctx, parts, blobstore.PutOptions{})
	if err != nil || again.Blob.ID != qi.Blob.ID || !again.Blob.AlreadyCertified {
		t.Errorf("second PutQuilt = %s (already certified %v), %v; want %s, already certified", again.Blob.ID, again.Blob.AlreadyCertified, err, qi.Blob.ID)
	}

	data := lcg(7, 100_000)
	info := put(t, s, data)
	if got := mustLoad(t, s, info.ID).Shards; got != DefaultShards {
		t.Errorf("blob stored at %d shards, want %d", got, DefaultShards)
	}
	for _, tc := range []struct {
		n    int
		same bool
	}{{DefaultShards, true}, {DefaultQuiltShards, false}} {
		enc, err := rs2.NewEncoder(tc.n)
		if err != nil {
			t.Fatal(err)
		}
		id, err := enc.BlobID(ctx, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if (id == info.ID) != tc.same {
			t.Errorf("blob ID %s, ID at n = %d %s: equal %v, want %v", info.ID, tc.n, id, id == info.ID, tc.same)
		}
	}
}

// checkQuilt checks that ListPatches serves qi's patches back and ReadPatch
// their bytes, byte-exact. A patch read reads and verifies every
// systematic sliver of the quilt (334 at n = 1000, about 150 ms), so only
// a sample of patches is read, the first and last among them.
func checkQuilt(t *testing.T, s *Store, qi blobstore.QuiltInfo, parts []blobstore.QuiltPart) {
	t.Helper()
	ctx := t.Context()
	list, err := s.ListPatches(ctx, qi.Blob.ID)
	if err != nil {
		t.Fatalf("ListPatches: %v", err)
	}
	if len(list) != len(parts) {
		t.Fatalf("ListPatches returned %d patches, want %d", len(list), len(parts))
	}
	for i, p := range list {
		if p.Identifier != parts[i].Identifier || p.PatchID != qi.Patches[i].PatchID {
			t.Fatalf("ListPatches[%d] = %q %s, want %q %s", i, p.Identifier, p.PatchID, parts[i].Identifier, qi.Patches[i].PatchID)
		}
	}
	step := max(1, len(parts)/2)
	for i := 0; i < len(parts); i += step {
		if i+step >= len(parts) {
			i = len(parts) - 1
		}
		p := qi.Patches[i]
		rc, err := s.ReadPatch(ctx, p.PatchID)
		if err != nil {
			t.Fatalf("ReadPatch %q: %v", p.Identifier, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("ReadPatch %q: %v", p.Identifier, err)
		}
		checkBytes(t, "patch "+p.Identifier, got, parts[i].Data)
	}
}

// A quilt at the default 1000 shards survives a reopen, and a corrupt
// sliver is reconstructed and repaired on read, as for a blob.
func TestQuiltShardsReopenAndRepair(t *testing.T) {
	t.Parallel() // slow: encoding at 1000 shards
	cfg := defaultConfig(t, 3)
	s, _ := openStore(t, cfg)
	parts := smallParts(quiltTestParts, 4096)
	qi, err := s.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, logs := reopenLogs(t, s, cfg)
	const bad = 5 // a systematic sliver: every patch read needs it
	flipSliverByte(t, s, qi.Blob.ID, bad, 3)
	checkQuilt(t, s, qi, parts)
	if !contains(logs.String(), "repaired sliver") {
		t.Errorf("repair not logged:\n%s", logs)
	}
	if err := s.verifySliver(mustLoad(t, s, qi.Blob.ID), bad, sliverBytes(t, s, qi.Blob.ID, bad)); err != nil {
		t.Errorf("sliver %d after a repairing read: %v", bad, err)
	}
}

// The quilt and patch IDs of testdata/quilt_vectors.json case
// "single_hello" at n = 1000: the default configuration gives quilts their
// Walrus Mainnet IDs.
func TestQuiltShardsMatchWalrusMainnet(t *testing.T) {
	t.Parallel() // slow: encoding at 1000 shards
	s, _ := openStore(t, defaultConfig(t, 1))
	qi, err := s.PutQuilt(t.Context(), []blobstore.QuiltPart{{Identifier: "a.txt", Data: []byte("hello")}}, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := qi.Blob.ID.String(), "8Qb9UuDxFSfolhCypadliPmS0k6d80WKlspPxnO19cs"; got != want {
		t.Errorf("quilt ID %s, want %s", got, want)
	}
	if len(qi.Patches) != 1 || qi.Patches[0].PatchID.String() != "8Qb9UuDxFSfolhCypadliPmS0k6d80WKlspPxnO19csBAQACAA" {
		t.Errorf("patches %+v", qi.Patches)
	}
}

func TestQuiltShardsConfig(t *testing.T) {
	for _, tc := range []struct {
		name          string
		quiltShards   int
		wantErr       bool
		wantN         int // shard count of a stored quilt
		wantMaxQuilts int
	}{
		{name: "zero means Shards", quiltShards: 0, wantN: 10, wantMaxQuilts: 6},
		{name: "own count", quiltShards: 40, wantN: 40, wantMaxQuilts: 26},
		{name: "too few", quiltShards: 3, wantErr: true},
		{name: "negative", quiltShards: -1, wantErr: true},
		{name: "too many", quiltShards: maxShards + 1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 2, 10)
			cfg.QuiltShards = tc.quiltShards
			if tc.wantErr {
				s, err := Open(t.Context(), cfg, nil)
				if err == nil {
					s.Close()
				}
				if !errors.Is(err, blobstore.ErrInvalidArgument) {
					t.Fatalf("Open: %v, want ErrInvalidArgument", err)
				}
				return
			}
			s, _ := openStore(t, cfg)
			if got := s.MaxQuiltPatches(); got != tc.wantMaxQuilts {
				t.Errorf("MaxQuiltPatches() = %d, want %d", got, tc.wantMaxQuilts)
			}
			parts := smallParts(tc.wantMaxQuilts, 100)
			qi, err := s.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := mustLoad(t, s, qi.Blob.ID).Shards; got != tc.wantN {
				t.Errorf("quilt stored at %d shards, want %d", got, tc.wantN)
			}
			checkQuilt(t, s, qi, parts)
			_, err = s.PutQuilt(t.Context(), smallParts(tc.wantMaxQuilts+1, 100), blobstore.PutOptions{})
			if !errors.Is(err, blobstore.ErrTooLarge) {
				t.Errorf("PutQuilt of %d parts: %v, want ErrTooLarge", tc.wantMaxQuilts+1, err)
			}
		})
	}
}
