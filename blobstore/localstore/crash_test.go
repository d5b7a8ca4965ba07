package localstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// The crash tests stop the commit and delete protocols at each step by
// running their phases by hand, then "crash" (close without finishing) and
// reopen, as a process restart would.

// stageOnly runs phase 1 of a put and returns the nonce and record.
func stageOnly(t *testing.T, s *Store, data []byte) (string, *record) {
	t.Helper()
	nonce := newNonce()
	meta, err := s.stage(context.Background(), nonce, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return nonce, s.newRecord(meta, 1, blobstore.PutOptions{})
}

// writeStagedMeta runs phase 2 of a put in directory d only.
func writeStagedMeta(t *testing.T, s *Store, d int, nonce string, rec *record) {
	t.Helper()
	if err := writeFileSync(filepath.Join(s.tmpPath(d, stagePrefix+nonce), metaFile), rec.marshal()); err != nil {
		t.Fatal(err)
	}
}

func reopen(t *testing.T, s *Store, cfg Config) *Store {
	t.Helper()
	s.Close()
	s2, _ := openStore(t, cfg)
	return s2
}

func TestCrashDuringStaging(t *testing.T) {
	cfg := testConfig(t, 3, 10)
	s, _ := openStore(t, cfg)
	data := lcg(1, 200_000)
	nonce, rec := stageOnly(t, s, data)
	// A torn sliver, as a crash mid-write leaves.
	p := filepath.Join(s.tmpPath(0, stagePrefix+nonce), sliverName(0))
	if err := os.Truncate(p, 10); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, cfg)
	if _, err := s.Stat(context.Background(), rec.ID); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat of a blob staged but not committed: %v, want ErrNotFound", err)
	}
	assertNoDebris(t, s)
	assertNoBlobs(t, s)
	// The same bytes can be stored normally afterwards.
	checkBytes(t, "stored after crash", mustRead(t, s, put(t, s, data).ID, 0, int64(len(data))), data)
}

func TestCrashAfterCommitPoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		metaIn    []int // staging directories that got the record
		published []int // directories already renamed into place
	}{
		{"first record durable", []int{1}, nil},
		{"all records, none published", []int{0, 1, 2}, nil},
		{"one published", []int{0, 1, 2}, []int{0}},
		{"all but one published", []int{0, 1, 2}, []int{0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 3, 10)
			s, _ := openStore(t, cfg)
			data := lcg(2, 300_000)
			nonce, rec := stageOnly(t, s, data)
			for _, d := range tc.metaIn {
				writeStagedMeta(t, s, d, nonce, rec)
			}
			for _, d := range tc.published {
				if err := s.publish(d, nonce, rec.ID); err != nil {
					t.Fatal(err)
				}
			}
			s = reopen(t, s, cfg)
			checkBytes(t, "rolled-forward blob", mustRead(t, s, rec.ID, 0, int64(len(data))), data)
			assertNoDebris(t, s)
			for i := range s.params.N {
				if _, err := os.Stat(s.sliverPath(rec.ID, i)); err != nil {
					t.Errorf("sliver %d after recovery: %v", i, err)
				}
			}
		})
	}
}

func TestCrashDuringDelete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		intents []int // directories whose intent became durable
		trashed []int // directories whose blob directory was moved to trash
	}{
		{"one intent", []int{2}, nil},
		{"all intents", []int{0, 1, 2}, nil},
		{"some trashed", []int{0, 1, 2}, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 3, 10)
			s, _ := openStore(t, cfg)
			keep := put(t, s, lcg(3, 1000))
			gone := put(t, s, lcg(4, 1000))
			for _, d := range tc.intents {
				if err := writeFileSync(s.tmpPath(d, deletePrefix+gone.ID.String()), nil); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range tc.trashed {
				if err := os.Rename(s.blobDir(d, gone.ID), s.tmpPath(d, trashPrefix+newNonce())); err != nil {
					t.Fatal(err)
				}
			}
			s = reopen(t, s, cfg)
			if _, err := s.Stat(context.Background(), gone.ID); !errors.Is(err, blobstore.ErrNotFound) {
				t.Errorf("Stat of a blob whose delete was interrupted: %v, want ErrNotFound", err)
			}
			checkBytes(t, "other blob", mustRead(t, s, keep.ID, 0, 1000), lcg(3, 1000))
			assertNoDebris(t, s)
		})
	}
}

func TestOpenSweepsDebris(t *testing.T) {
	cfg := testConfig(t, 2, 10)
	s, _ := openStore(t, cfg)
	info := put(t, s, lcg(5, 1000))
	for _, name := range []string{"meta-x.tmp", "repair-y.tmp", trashPrefix + "z", "unknown"} {
		if err := os.WriteFile(s.tmpPath(1, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(s.tmpPath(0, trashPrefix+"dir/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, cfg)
	assertNoDebris(t, s)
	checkBytes(t, "blob", mustRead(t, s, info.ID, 0, 1000), lcg(5, 1000))
}

// A metadata copy that is corrupt, or that claims hashes not matching its
// ID, is ignored in favour of a good copy.
func TestBadMetadataCopy(t *testing.T) {
	s, logs := openStore(t, testConfig(t, 3, 10))
	data := lcg(6, 5000)
	info := put(t, s, data)
	p0 := filepath.Join(s.blobDir(0, info.ID), metaFile)
	b, _ := os.ReadFile(p0)
	b[recordHeaderSize+3] ^= 1 // a pair hash: checksum catches it
	os.WriteFile(p0, b, 0o644)

	// A forged copy with a consistent checksum but wrong hashes.
	p1 := filepath.Join(s.blobDir(1, info.ID), metaFile)
	b, _ = os.ReadFile(p1)
	r, err := unmarshalRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	r.Hashes[0].Primary[0] ^= 1
	r.Gen = 99
	os.WriteFile(p1, r.marshal(), 0o644)

	st, err := s.Stat(context.Background(), info.ID)
	if err != nil || st != info {
		t.Fatalf("Stat with two bad copies = %+v, %v", st, err)
	}
	checkBytes(t, "read", mustRead(t, s, info.ID, 0, 5000), data)
	if !contains(logs.String(), "bad metadata copy") {
		t.Error("bad metadata copies were not logged")
	}
	p2 := filepath.Join(s.blobDir(2, info.ID), metaFile)
	os.WriteFile(p2, []byte("garbage"), 0o644)
	if _, err := s.Stat(context.Background(), info.ID); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Errorf("Stat with no good copy: %v, want ErrIntegrity", err)
	}
}
