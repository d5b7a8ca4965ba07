package localstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

func TestPutReadRoundTrip(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 3, 10))
	max := int(s.MaxBlobSize())
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"hello", []byte("hello walrus")},
		{"fills matrix", lcg(3, 56)},
		{"one over", lcg(4, 57)},
		{"odd size", lcg(5, 100_003)},
		{"max", lcg(6, max)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := put(t, s, tc.data)
			if info.Size != int64(len(tc.data)) || !info.Certified {
				t.Errorf("info = %+v", info)
			}
			checkBytes(t, "whole blob", mustRead(t, s, info.ID, 0, int64(len(tc.data))), tc.data)
			if len(tc.data) > 2 {
				l := int64(len(tc.data))
				checkBytes(t, "middle", mustRead(t, s, info.ID, 1, l-2), tc.data[1:l-1])
			}
			st, err := s.Stat(context.Background(), info.ID)
			if err != nil || st != info {
				t.Errorf("Stat = %+v, %v; want %+v", st, err, info)
			}
		})
	}
}

// Reference blob IDs at n = 10 from testdata/blob_id_vectors.json, and the
// first systematic and first repair primary slivers of "hello walrus".
func TestBlobIDMatchesWalrus(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 10))
	enc, err := rs2.NewEncoder(10)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"hello_walrus", []byte("hello walrus"), "5g7EUy58ReQir0t11jz709ae5cdZT24btlovkXo28U8"},
		{"empty", nil, "gLzpD29smKZiYJIWwKatudKr76kEprQeMPyAhuMbWd4"},
		{"lcg_1MiB", lcg(1, 1<<20), "dl-Hkg0Zj1SHF6Sb6BCim0u5yxx1g-BbWu-3FMlt39Y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := put(t, s, tc.data)
			if info.ID.String() != tc.want {
				t.Errorf("Put ID = %s, want %s", info.ID, tc.want)
			}
			id, err := enc.BlobID(context.Background(), bytes.NewReader(tc.data), int64(len(tc.data)))
			if err != nil || id != info.ID {
				t.Errorf("rs2 BlobID = %s, %v; Put gave %s", id, err, info.ID)
			}
			lay, _ := enc.Layout(uint64(len(tc.data)))
			if want := int64(lay.EncodedLength()); info.EncodedSize != want {
				t.Errorf("EncodedSize = %d, want %d", info.EncodedSize, want)
			}
		})
	}
	hello, _ := blobstore.ParseID("5g7EUy58ReQir0t11jz709ae5cdZT24btlovkXo28U8")
	for i, want := range map[int]string{0: "68656c6c6f2077616c7275730000", 4: "6943504495504b42aa83ef8f0000"} {
		if got := sliverBytes(t, s, hello, i); hex.EncodeToString(got) != want {
			t.Errorf("sliver %d = %x, want %s", i, got, want)
		}
	}
}

func TestPutIdempotent(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 10))
	data := lcg(7, 5000)
	first := put(t, s, data)
	if first.AlreadyCertified {
		t.Fatal("first Put reported AlreadyCertified")
	}
	second := put(t, s, data)
	if second.ID != first.ID || !second.AlreadyCertified || second.EndEpoch != first.EndEpoch {
		t.Fatalf("second Put = %+v, first %+v", second, first)
	}
	longer, err := s.Put(context.Background(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Epochs: 5})
	if err != nil || longer.AlreadyCertified || longer.EndEpoch != first.EndEpoch+4 {
		t.Fatalf("Put with more epochs = %+v, %v", longer, err)
	}
	st, err := s.Stat(context.Background(), first.ID)
	if err != nil || st.EndEpoch != longer.EndEpoch {
		t.Fatalf("Stat after extension = %+v, %v", st, err)
	}
	assertNoDebris(t, s)
}

func TestDelete(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 3, 10))
	ctx := context.Background()
	keep := put(t, s, lcg(8, 3000))
	gone := put(t, s, lcg(9, 3000))
	if err := s.Delete(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, gone.ID); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if _, err := readRange(t, s, gone.ID, 0, 1); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadRange after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, gone.ID); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	for d := range s.dirs {
		if _, err := os.Stat(s.blobDir(d, gone.ID)); !os.IsNotExist(err) {
			t.Errorf("dir %d still has the blob: %v", d, err)
		}
	}
	checkBytes(t, "kept blob", mustRead(t, s, keep.ID, 0, 3000), lcg(8, 3000))

	perm, err := s.Put(ctx, bytes.NewReader([]byte("permanent")), 9, blobstore.PutOptions{Permanent: true})
	if err != nil || perm.Deletable {
		t.Fatalf("permanent Put = %+v, %v", perm, err)
	}
	if err := s.Delete(ctx, perm.ID); !errors.Is(err, blobstore.ErrForbidden) {
		t.Errorf("Delete of a permanent blob: %v, want ErrForbidden", err)
	}
	assertNoDebris(t, s)
}

// A reader opened before a Delete fails with ErrNotFound on its next sliver.
func TestDeleteWhileReading(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 10))
	data := lcg(10, 1<<20)
	info := put(t, s, data)
	rc, err := s.ReadRange(context.Background(), info.ID, 0, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := s.Delete(context.Background(), info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("reading on after Delete: %v, want ErrNotFound", err)
	}
}

func TestPutSizeMismatch(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 10))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		data []byte
		size int64
	}{
		{"short", lcg(1, 999), 1000},
		{"long", lcg(1, 1001), 1000},
		{"empty but announced", nil, 10},
		{"announced empty", []byte{1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Put(ctx, bytes.NewReader(tc.data), tc.size, blobstore.PutOptions{})
			if !errors.Is(err, blobstore.ErrInvalidArgument) {
				t.Fatalf("Put: %v, want ErrInvalidArgument", err)
			}
			assertNoDebris(t, s)
			assertNoBlobs(t, s)
		})
	}
}

func TestPutTooLarge(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 1, 10))
	_, err := s.Put(context.Background(), neverRead{t}, s.MaxBlobSize()+1, blobstore.PutOptions{})
	if !errors.Is(err, blobstore.ErrTooLarge) {
		t.Fatalf("Put over the limit: %v, want ErrTooLarge", err)
	}
	cfg := testConfig(t, 1, 10)
	cfg.MaxBlobSize = 100
	s2, _ := openStore(t, cfg)
	if _, err := s2.Put(context.Background(), neverRead{t}, 101, blobstore.PutOptions{}); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Fatalf("Put over Config.MaxBlobSize: %v, want ErrTooLarge", err)
	}
	if _, err := s2.Put(context.Background(), bytes.NewReader(nil), 0, blobstore.PutOptions{Epochs: MaxEpochsAhead + 1}); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("Put too many epochs ahead: %v, want ErrInvalidArgument", err)
	}
}

type neverRead struct{ t testing.TB }

func (r neverRead) Read([]byte) (int, error) {
	r.t.Error("reader was read")
	return 0, io.EOF
}

func TestReadRangeBounds(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 1, 10))
	info := put(t, s, lcg(2, 100))
	for _, r := range [][2]int64{{-1, 1}, {0, 101}, {100, 1}, {50, -1}, {101, 0}} {
		if _, err := readRange(t, s, info.ID, r[0], r[1]); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("ReadRange(%d, %d): %v, want ErrInvalidArgument", r[0], r[1], err)
		}
	}
	if b, err := readRange(t, s, info.ID, 100, 0); err != nil || len(b) != 0 {
		t.Errorf("empty read at the end: %q, %v", b, err)
	}
	var missing blobstore.ID
	missing[0] = 1
	if _, err := readRange(t, s, missing, 0, 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadRange of a missing blob: %v, want ErrNotFound", err)
	}
}

func TestEpochClock(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := testConfig(t, 2, 10)
	cfg.EpochDuration = time.Hour
	cfg.Now = func() time.Time { return now }
	s, _ := openStore(t, cfg)
	a, err := s.Put(context.Background(), bytes.NewReader([]byte("a")), 1, blobstore.PutOptions{Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if a.RegisteredEpoch != 0 || a.CertifiedEpoch != 0 || a.EndEpoch != 3 || !a.Deletable {
		t.Errorf("epoch-0 info = %+v", a)
	}
	if want := objectID(a.ID); a.ObjectID != want || len(want) != 66 {
		t.Errorf("ObjectID = %q, want %q", a.ObjectID, want)
	}
	s.Close()

	now = now.Add(5*time.Hour + time.Minute)
	s2, _ := openStore(t, cfg)
	if e := epoch(t, s2); e != 5 {
		t.Fatalf("epoch after reopening 5h later = %d, want 5", e)
	}
	b, err := s2.Put(context.Background(), bytes.NewReader([]byte("b")), 1, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.RegisteredEpoch != 5 || b.EndEpoch != 6 {
		t.Errorf("epoch-5 info = %+v", b)
	}
}

func TestReopenChecksDirs(t *testing.T) {
	cfg := testConfig(t, 3, 10)
	s, _ := openStore(t, cfg)
	info := put(t, s, lcg(1, 1000))
	if _, err := Open(context.Background(), cfg, nil); !errors.Is(err, blobstore.ErrUnavailable) {
		t.Errorf("second Open while open: %v, want ErrUnavailable", err)
	}
	s.Close()

	swapped := cfg
	swapped.Dirs = []string{cfg.Dirs[1], cfg.Dirs[0], cfg.Dirs[2]}
	if _, err := Open(context.Background(), swapped, nil); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Errorf("Open with reordered dirs: %v, want ErrInvalidArgument", err)
	}
	fewer := cfg
	fewer.Dirs = cfg.Dirs[:2]
	if _, err := Open(context.Background(), fewer, nil); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Errorf("Open with fewer dirs: %v, want ErrInvalidArgument", err)
	}
	s2, _ := openStore(t, cfg)
	checkBytes(t, "after reopen", mustRead(t, s2, info.ID, 0, 1000), lcg(1, 1000))
}

// assertNoDebris checks that no directory has anything left in tmp/.
func assertNoDebris(t testing.TB, s *Store) {
	t.Helper()
	for _, d := range s.dirs {
		ents, err := os.ReadDir(filepath.Join(d, tmpDir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			t.Errorf("leftover %s in %s/tmp", e.Name(), d)
		}
	}
}

// assertNoBlobs checks that no directory holds any blob.
func assertNoBlobs(t testing.TB, s *Store) {
	t.Helper()
	for _, d := range s.dirs {
		filepath.WalkDir(filepath.Join(d, blobsDir), func(path string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				t.Errorf("leftover file %s", path)
			}
			return nil
		})
	}
}

// TestRangeReadTouchesOnlyItsSlivers: a range read reads only the
// systematic slivers holding the range. With every other sliver corrupt it
// still succeeds without reconstructing.
func TestRangeReadTouchesOnlyItsSlivers(t *testing.T) {
	s, logs := openStore(t, testConfig(t, 1, 10))
	data := lcg(7, 1_500_000)
	info := put(t, s, data)
	p := s.Params()
	lay, err := rs2.NewLayout(p, uint64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	sliverBytes := int64(lay.PrimarySliverSize())
	// The range lies inside systematic sliver 1; corrupt every other sliver.
	for i := range p.N {
		if i != 1 {
			flipSliverByte(t, s, info.ID, i, 0)
		}
	}
	off, n := sliverBytes+10, sliverBytes/2
	rc, err := s.ReadRange(context.Background(), info.ID, off, n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[off:off+n]) {
		t.Fatal("range read returned wrong bytes")
	}
	if strings.Contains(logs.String(), "reconstructing") {
		t.Fatalf("range read reconstructed although its sliver was intact:\n%s", logs.String())
	}
}

// TestSliverWriteModes: a blob whose repair slivers are written piece by
// piece as the encoder makes them (wide codes, where gathering them would
// cost too much memory), or that is encoded in strips from its systematic
// slivers under a small EncodeMemory, is stored byte for byte as one whose
// slivers are gathered first, with the same ID, and every sliver verifies.
func TestSliverWriteModes(t *testing.T) {
	data := lcg(9, 1_500_000)
	modes := []string{"gathered", "direct", "strips"}
	stored := map[string][][]byte{}
	ids := map[string]blobstore.ID{}
	for _, mode := range modes {
		cfg := testConfig(t, 2, 10)
		if mode == "strips" {
			cfg.EncodeMemory = 1
		}
		s, _ := openStore(t, cfg)
		if mode == "direct" {
			s.maxGathered = 0
		}
		if inMem := s.enc.InMemory(int64(len(data)), rs2.StreamConfig{MemoryBudget: s.cfg.EncodeMemory}); inMem != (mode != "strips") {
			t.Fatalf("%s: encoded in memory = %v", mode, inMem)
		}
		info := put(t, s, data)
		ids[mode] = info.ID
		checkBytes(t, "blob", mustRead(t, s, info.ID, 0, int64(len(data))), data)
		r := mustLoad(t, s, info.ID)
		for i := range s.params.N {
			if _, err := s.readSliver(r, i); err != nil {
				t.Fatalf("%s: sliver %d: %v", mode, i, err)
			}
			stored[mode] = append(stored[mode], sliverBytes(t, s, info.ID, i))
		}
		if ents, err := os.ReadDir(filepath.Join(cfg.Dirs[0], tmpDir)); err != nil || len(ents) != 0 {
			t.Fatalf("%s: tmp holds %v after the put (%v)", mode, ents, err)
		}
	}
	for _, mode := range modes[1:] {
		if ids[mode] != ids["gathered"] {
			t.Fatalf("%s: blob ID %s, gathered %s", mode, ids[mode], ids["gathered"])
		}
		for i := range stored["gathered"] {
			if !bytes.Equal(stored["gathered"][i], stored[mode][i]) {
				t.Fatalf("sliver %d differs between gathered and %s writes", i, mode)
			}
		}
	}
}
