package localstore

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// After one patch read, the next patch of the same quilt comes from the
// verified slivers kept in memory: it reads right even with the quilt's
// sliver files gone from disk (which, from disk, nothing could rebuild).
func TestQuiltPatchReadsReuseVerifiedSlivers(t *testing.T) {
	t.Parallel() // slow: encoding at 1000 shards
	s, _ := openStore(t, defaultConfig(t, 1))
	parts := smallParts(20, 4096)
	qi, err := s.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := func(i int) ([]byte, error) {
		rc, err := s.ReadPatch(t.Context(), qi.Patches[i].PatchID)
		if err != nil {
			return nil, err
		}
		defer func() { _ = rc.Close() }()
		return io.ReadAll(rc)
	}
	if got, err := read(0); err != nil || !bytes.Equal(got, parts[0].Data) {
		t.Fatalf("first patch: %v", err)
	}
	removed := 0
	_ = filepath.WalkDir(s.dirs[0], func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) == sliversFile {
			if os.Remove(p) == nil {
				removed++
			}
		}
		return nil
	})
	if removed == 0 {
		t.Fatal("no slivers file found")
	}
	if got, err := read(7); err != nil || !bytes.Equal(got, parts[7].Data) {
		t.Fatalf("second patch with the slivers file gone: %v", err)
	}
}
