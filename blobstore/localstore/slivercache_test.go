package localstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// After one whole read of a quilt, the next read comes from the verified
// slivers kept in memory: it reads right even with the quilt's sliver
// files gone from disk (which, from disk, nothing could rebuild).
func TestQuiltReadsReuseVerifiedSlivers(t *testing.T) {
	t.Parallel() // slow: encoding at 1000 shards
	s, _, qi, _ := storeWithQuilt(t)
	whole := func() ([]byte, error) {
		rc, err := s.ReadRange(t.Context(), qi.Blob.ID, 0, qi.Blob.Size)
		if err != nil {
			return nil, err
		}
		defer func() { _ = rc.Close() }()
		return io.ReadAll(rc)
	}
	first, err := whole()
	if err != nil {
		t.Fatalf("first read: %v", err)
	}
	if n := removeSliverFiles(t, s.dirs[0]); n == 0 {
		t.Fatal("no slivers file found")
	}
	if again, err := whole(); err != nil || !bytes.Equal(again, first) {
		t.Fatalf("second read with the slivers file gone: %v", err)
	}
}

// storeWithQuilt opens a store (one directory) holding one quilt of 20
// parts of 4 KiB, and returns the parts.
func storeWithQuilt(t *testing.T) (*Store, *logBuffer, blobstore.QuiltInfo, []blobstore.QuiltPart) {
	t.Helper()
	s, logs := openStore(t, defaultConfig(t, 1))
	parts := smallParts(20, 4096)
	qi, err := s.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs, qi, parts
}

func removeSliverFiles(t *testing.T, dir string) int {
	t.Helper()
	removed := 0
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) == sliversFile {
			if os.Remove(p) == nil {
				removed++
			}
		}
		return nil
	})
	return removed
}

// A patch read reads and verifies only the patch's own columns: damage
// elsewhere in the quilt is neither read nor repaired by it, while damage
// inside the patch's columns is found, read around (the fallback reads
// whole slivers and reconstructs) and repaired.
func TestQuiltPatchReadsOnlyItsColumns(t *testing.T) {
	t.Parallel() // slow: encoding at 1000 shards
	s, logs, qi, parts := storeWithQuilt(t)
	rd, err := s.openReader(t.Context(), qi.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	sym := int64(rd.lay.SymbolSize)
	size := int64(rd.lay.PrimarySliverSize())
	// Damage row 3 in the first column of patch 0.
	path, off := s.sliverPath(qi.Blob.ID, 3, size)
	at := off + int64(qi.Patches[0].PatchID.Start)*sym
	flip := func() byte {
		flipByte(t, path, at)
		b, _ := readAt(path, at, 1)
		return b[0]
	}
	onDisk := func() byte {
		b, err := readAt(path, at, 1)
		if err != nil {
			t.Fatal(err)
		}
		return b[0]
	}
	read := func(i int) []byte {
		rc, err := s.ReadPatch(t.Context(), qi.Patches[i].PatchID)
		if err != nil {
			t.Fatalf("patch %d: %v", i, err)
		}
		defer func() { _ = rc.Close() }()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	damaged := flip()

	if got := read(7); !bytes.Equal(got, parts[7].Data) {
		t.Fatal("patch 7 read wrong")
	}
	if onDisk() != damaged || strings.Contains(logs.String(), "reconstructing") {
		t.Fatalf("reading patch 7 touched row 3 of patch 0's column; logs:\n%s", logs.String())
	}
	if got := read(0); !bytes.Equal(got, parts[0].Data) {
		t.Fatal("patch 0 read wrong over damage in its column")
	}
	if onDisk() == damaged || !strings.Contains(logs.String(), "reconstructing") {
		t.Fatalf("the damage in patch 0's column was not found and repaired; logs:\n%s", logs.String())
	}
}

// A quilt with symbols large enough keeps sliver trees, and patch reads
// check what they read against them. A damaged trees file costs only the
// fast path (reads re-encode columns instead); damaged data under good
// trees is found and read around; and a tree never vouches for wrong
// bytes even when both are damaged.
func TestQuiltSliverTrees(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, 3, 10)
	cfg.QuiltShards = 200
	s, logs := openStore(t, cfg)
	parts := make([]blobstore.QuiltPart, 12)
	for i := range parts {
		parts[i] = blobstore.QuiltPart{Identifier: fmt.Sprintf("p%02d", i), Data: lcg(uint32(i)+40, 20<<10+i*9000)}
	}
	qi, rd := putQuiltWithTrees(t, s, parts)
	treePaths := make([]string, len(s.dirs))
	for d := range s.dirs {
		treePaths[d] = filepath.Join(s.blobDir(d, qi.Blob.ID), treesFile)
		if _, err := os.Stat(treePaths[d]); err != nil {
			t.Fatalf("directory %d: %v", d, err)
		}
	}
	readAll := func(what string) {
		t.Helper()
		for i, p := range qi.Patches {
			rc, err := s.ReadPatch(t.Context(), p.PatchID)
			if err != nil {
				t.Fatalf("%s: patch %d: %v", what, i, err)
			}
			got, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil || !bytes.Equal(got, parts[i].Data) {
				t.Fatalf("%s: patch %d read wrong (%v)", what, i, err)
			}
		}
	}
	readAll("intact")
	if _, ok := s.trees.Get(qi.Blob.ID); !ok {
		t.Fatal("reading patches loaded no trees")
	}
	if strings.Contains(logs.String(), "unusable") || strings.Contains(logs.String(), "reconstructing") {
		t.Fatalf("intact quilt read another way; logs:\n%s", logs.String())
	}

	flipAt := func(path string, at int64) { flipByte(t, path, at) }
	fresh := func() {
		s.trees.RemoveIf(func(blobstore.ID) bool { return true })
		logs.Reset()
	}

	// A damaged tree: the trees are refused as a whole, patches still read.
	fresh()
	flipAt(treePaths[1], treesHeaderSize+40)
	readAll("damaged tree")
	if _, ok := s.trees.Get(qi.Blob.ID); ok {
		t.Fatal("a damaged trees file was accepted")
	}
	if !strings.Contains(logs.String(), "sliver trees unusable") {
		t.Fatalf("no word of the damaged trees; logs:\n%s", logs.String())
	}
	flipAt(treePaths[1], treesHeaderSize+40) // mend it

	// Damaged data under good trees: found, reconstructed, repaired.
	fresh()
	size := int64(rd.lay.PrimarySliverSize())
	path, off := s.sliverPath(qi.Blob.ID, 4, size)
	at := off + int64(qi.Patches[5].PatchID.Start)*int64(rd.lay.SymbolSize) + 1
	flipAt(path, at)
	readAll("damaged data")
	if !strings.Contains(logs.String(), "reconstructing") {
		t.Fatalf("the damaged symbol went unnoticed; logs:\n%s", logs.String())
	}

	// Both damaged: still never a wrong byte.
	fresh()
	flipAt(path, at)
	flipAt(treePaths[4%len(s.dirs)], treesHeaderSize+8)
	readAll("damaged data and tree")
}

// putQuiltWithTrees stores parts as a quilt that keeps sliver trees and
// returns it with a reader of it.
func putQuiltWithTrees(t *testing.T, s *Store, parts []blobstore.QuiltPart) (blobstore.QuiltInfo, *reader) {
	t.Helper()
	qi, err := s.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := s.openReader(t.Context(), qi.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !keepsTrees(rd.rec.Shards, rd.lay) {
		t.Fatalf("a quilt with %d-byte symbols at %d shards keeps no trees; the test needs one that does", rd.lay.SymbolSize, rd.rec.Shards)
	}
	return qi, rd
}

// A loaded record is kept and returned again until its stripe ends a
// write section or its file changes: a lease extended, a permanent Put
// over a deletable blob and a delete are seen at once, and so are a
// record removed, put back or changed behind the store (a bad one is
// refused).
func TestRecordMemoryFollowsWrites(t *testing.T) {
	cfg := testConfig(t, 1, 10)
	s, _ := openStore(t, cfg)
	ctx := t.Context()
	data := lcg(7, 5000)
	info, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Epochs: 5})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.load(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Kept: the same record again while nothing changed; read again, and
	// found gone, once the file is removed behind the store.
	if again, err := s.load(ctx, info.ID); err != nil || again != rec {
		t.Fatalf("second load: %p, %v; want the record kept (%p)", again, err, rec)
	}
	path := filepath.Join(s.blobDir(0, info.ID), metaFile)
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load(ctx, info.ID); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("load with the record removed: err = %v, want ErrNotFound", err)
	}
	if err := os.WriteFile(path, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := s.load(ctx, info.ID); err != nil || again == rec || again.End != rec.End {
		t.Fatalf("load with the record back: %p, %v; want a record read afresh", again, err)
	}
	// Each kind of write makes the next load read the disk.
	ext, err := s.Extend(ctx, info.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stat(ctx, info.ID); err != nil || st.EndEpoch != ext.EndEpoch || st.EndEpoch != info.EndEpoch+3 {
		t.Fatalf("after Extend: Stat = %+v, %v; want end epoch %d", st, err, info.EndEpoch+3)
	}
	if _, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Epochs: 1, Permanent: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stat(ctx, info.ID); err != nil || st.Deletable {
		t.Fatalf("after a permanent Put: Stat = %+v, %v; want a permanent blob", st, err)
	}
	other, err := s.Put(ctx, bytes.NewReader(lcg(8, 5000)), 5000, blobstore.PutOptions{Epochs: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, other.ID); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Stat after Delete: err = %v, want ErrNotFound", err)
	}
	// A record replaced on disk behind the store is read and checked again.
	rec, err = s.load(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	bad := *rec
	bad.Hashes = slices.Clone(rec.Hashes)
	bad.Hashes[3].Primary[0] ^= 1
	if err := os.WriteFile(path+".new", bad.marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load(ctx, info.ID); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Fatalf("load of a record whose hashes no longer give its ID: err = %v, want ErrIntegrity", err)
	}
}
