package localstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x5a
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFlippedByteIsRepaired(t *testing.T) {
	for _, repair := range []bool{true, false} {
		name := "repair"
		if !repair {
			name = "no repair"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, 2, 10)
			cfg.RepairOnRead = repair
			s, logs := openStore(t, cfg)
			data := lcg(11, 400_000)
			info := put(t, s, data)
			flipSliverByte(t, s, info.ID, 1, 1234)
			flipSliverByte(t, s, info.ID, 6, 0) // a repair sliver, not read unless needed

			// A short range inside the corrupt sliver, then the whole blob.
			lay, _ := mustLoad(t, s, info.ID).metadata().Layout()
			off := int64(lay.PrimarySliverSize()) + 1000
			checkBytes(t, "range in the corrupt sliver", mustRead(t, s, info.ID, off, 10), data[off:off+10])
			checkBytes(t, "whole blob", mustRead(t, s, info.ID, 0, int64(len(data))), data)
			if !contains(logs.String(), "sliver unusable") {
				t.Errorf("corruption not logged:\n%s", logs)
			}

			err := s.verifySliver(mustLoad(t, s, info.ID), 1, sliverBytes(t, s, info.ID, 1))
			if repair && err != nil {
				t.Errorf("sliver 1 after a repairing read: %v", err)
			}
			if !repair && !errors.Is(err, blobstore.ErrIntegrity) {
				t.Errorf("sliver 1 with repair off: %v, want still corrupt", err)
			}
			if repair && !contains(logs.String(), "repaired sliver") {
				t.Error("repair not logged")
			}
			assertNoDebris(t, s)
		})
	}
}

func mustLoad(t testing.TB, s *Store, id blobstore.ID) *record {
	t.Helper()
	r, err := s.load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// With one directory per shard, any f directories can go. RS2 decodes from
// any Kp = n−2f primary slivers the decoder can use (at n = 10: 4 of slivers
// 0…7), so some larger losses are survivable too; beyond that reads fail
// with ErrIntegrity rather than return wrong bytes.
func TestLosingShardDirectories(t *testing.T) {
	const n, f, kp = 10, 3, 4
	base := testConfig(t, n, n)
	s, _ := openStore(t, base)
	var blobs []blobstore.Info
	var datas [][]byte
	for i, size := range []int{1, 5000, 300_001} {
		data := lcg(uint32(20+i), size)
		blobs = append(blobs, put(t, s, data))
		datas = append(datas, data)
	}
	s.Close()

	for _, tc := range []struct {
		name string
		lose []int
	}{
		{"first f", []int{0, 1, 2}},
		{"last f", []int{7, 8, 9}},
		{"mixed f", []int{1, 5, 8}},
		{"f+1, enough left", []int{0, 1, 2, 3}},
		{"2f systematic and repair", []int{0, 1, 2, 3, 4, 5}},
		{"2f, too few usable", []int{2, 3, 4, 5, 6, 7}},
		{"all but kp-1", []int{0, 1, 2, 3, 4, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Work on a copy of the directories.
			cfg := base
			cfg.Dirs = nil
			root := t.TempDir()
			for _, d := range base.Dirs {
				dst := filepath.Join(root, filepath.Base(d))
				if err := os.CopyFS(dst, os.DirFS(d)); err != nil {
					t.Fatal(err)
				}
				cfg.Dirs = append(cfg.Dirs, dst)
			}
			for _, d := range tc.lose {
				if err := os.RemoveAll(cfg.Dirs[d]); err != nil {
					t.Fatal(err)
				}
			}
			s2, _ := openStore(t, cfg)
			usable := 0
			for i := range n {
				if !slices.Contains(tc.lose, i) && s2.usable(mustLoad(t, s2, blobs[0].ID), i) {
					usable++
				}
			}
			readable := usable >= kp
			if len(tc.lose) <= f && !readable {
				t.Fatalf("test case loses only %d directories but leaves %d usable slivers", len(tc.lose), usable)
			}
			for i, info := range blobs {
				data := datas[i]
				got, err := readRange(t, s2, info.ID, 0, int64(len(data)))
				// A read touches only the systematic slivers holding its
				// bytes; it fails only if one of those is lost and cannot
				// be reconstructed.
				lay, _ := mustLoad(t, s2, info.ID).metadata().Layout()
				exts, _ := lay.Locate(0, int64(len(data)))
				intact := true
				for _, e := range exts {
					intact = intact && !slices.Contains(tc.lose, e.Sliver)
				}
				switch {
				case (readable || intact) && err != nil:
					t.Fatalf("blob of %d bytes: %v", len(data), err)
				case readable || intact:
					checkBytes(t, "after losing directories", got, data)
				case !errors.Is(err, blobstore.ErrIntegrity):
					t.Fatalf("blob of %d bytes, %d directories lost: %v (%d bytes), want ErrIntegrity",
						len(data), len(tc.lose), err, len(got))
				}
				// Metadata survives in every remaining directory.
				if st, err := s2.Stat(context.Background(), info.ID); err != nil || st.Size != info.Size {
					t.Errorf("Stat = %+v, %v", st, err)
				}
			}
			if !readable {
				return
			}
			// Storing the bytes again restores the lost directories' slivers.
			last := len(blobs) - 1
			again := put(t, s2, datas[last])
			if !again.AlreadyCertified {
				t.Errorf("re-Put = %+v, want AlreadyCertified", again)
			}
			for _, d := range tc.lose {
				if _, err := s2.readSliver(mustLoad(t, s2, again.ID), d); err != nil {
					t.Errorf("sliver %d not restored by a second Put: %v", d, err)
				}
			}
		})
	}
}

// Blob directories written by the first version of the store hold one
// file per sliver. They are still read, verified and repaired in that
// layout.
func TestFirstLayoutDirectories(t *testing.T) {
	s, logs := openStore(t, testConfig(t, 2, 10))
	data := lcg(12, 300_000)
	info := put(t, s, data)
	// Rewrite directory 0 in the first layout.
	for i := 0; i < s.params.N; i += 2 {
		b := sliverBytes(t, s, info.ID, i)
		if err := os.WriteFile(s.legacySliverPath(info.ID, i), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	packed, _, _ := sliverAt(t, s, info.ID, 0)
	if err := os.Remove(packed); err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "blob with a first-layout directory", mustRead(t, s, info.ID, 0, int64(len(data))), data)
	if contains(logs.String(), "reconstructing") {
		t.Fatalf("intact first-layout slivers were not used:\n%s", logs)
	}

	// A corrupt sliver and a missing one are repaired as files of their own.
	flipByte(t, s.legacySliverPath(info.ID, 0), 5)
	if err := os.Remove(s.legacySliverPath(info.ID, 2)); err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "after damage", mustRead(t, s, info.ID, 0, int64(len(data))), data)
	r := mustLoad(t, s, info.ID)
	for _, i := range []int{0, 2} {
		if _, err := s.readSliver(r, i); err != nil {
			t.Errorf("sliver %d after a repairing read: %v", i, err)
		}
		if _, err := os.Stat(s.legacySliverPath(info.ID, i)); err != nil {
			t.Errorf("sliver %d not repaired in the first layout: %v", i, err)
		}
	}
	if _, err := os.Stat(packed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("repair created a slivers file in a first-layout directory: %v", err)
	}
	assertNoDebris(t, s)
}

// A directory that lost its slivers file but kept the blob's metadata gets
// the file back, one repaired sliver at a time.
func TestLostSliversFile(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 10))
	data := lcg(13, 300_000)
	info := put(t, s, data)
	path, _, _ := sliverAt(t, s, info.ID, 1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "blob", mustRead(t, s, info.ID, 0, int64(len(data))), data)
	r := mustLoad(t, s, info.ID)
	for _, i := range []int{1, 3} { // the systematic slivers of directory 1
		if _, err := s.readSliver(r, i); err != nil {
			t.Errorf("sliver %d after a repairing read: %v", i, err)
		}
	}
	if _, err := s.readSliver(r, 5); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Errorf("repair sliver 5, never read: %v, want ErrIntegrity", err)
	}
	assertNoDebris(t, s)
}

// TestPutAgainHealsDamage: a blob damaged beyond what the erasure code
// recovers fails to read with ErrIntegrity; storing the same bytes again
// replaces the damaged slivers, and it reads back whole.
func TestPutAgainHealsDamage(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 10))
	data := lcg(17, 300_000)
	info := put(t, s, data)
	for i := range 10 {
		flipSliverByte(t, s, info.ID, i, 3)
	}
	if _, err := readRange(t, s, info.ID, 0, int64(len(data))); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Fatalf("read of a blob with every sliver damaged: %v, want ErrIntegrity", err)
	}
	put(t, s, data)
	checkBytes(t, "blob stored again", mustRead(t, s, info.ID, 0, int64(len(data))), data)
	r := mustLoad(t, s, info.ID)
	for i := range 10 {
		if _, err := s.readSliver(r, i); err != nil {
			t.Errorf("sliver %d after storing the bytes again: %v", i, err)
		}
	}
	assertNoDebris(t, s)
}
