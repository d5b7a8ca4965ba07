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
	rec, err := s.stage(context.Background(), s.enc, nonce, bytes.NewReader(data), int64(len(data)), 1, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return nonce, rec
}

func reopen(t *testing.T, s *Store, cfg Config) *Store {
	t.Helper()
	s2, _ := reopenLogs(t, s, cfg)
	return s2
}

func reopenLogs(t *testing.T, s *Store, cfg Config) (*Store, *logBuffer) {
	t.Helper()
	s.Close()
	return openStore(t, cfg)
}

func TestCrashBeforeCommitPoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, s *Store, nonce string)
	}{
		{"staged completely", func(*testing.T, *Store, string) {}},
		{"torn slivers file", func(t *testing.T, s *Store, nonce string) {
			if err := os.Truncate(filepath.Join(s.tmpPath(0, stagePrefix+nonce), sliversFile), 10); err != nil {
				t.Fatal(err)
			}
		}},
		{"no metadata yet", func(t *testing.T, s *Store, nonce string) {
			for d := range s.dirs {
				os.Remove(filepath.Join(s.tmpPath(d, stagePrefix+nonce), metaFile))
			}
		}},
		{"torn metadata", func(t *testing.T, s *Store, nonce string) {
			if err := os.Truncate(filepath.Join(s.tmpPath(1, stagePrefix+nonce), metaFile), 7); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 3, 10)
			s, _ := openStore(t, cfg)
			data := lcg(1, 200_000)
			nonce, rec := stageOnly(t, s, data)
			tc.damage(t, s, nonce)
			s = reopen(t, s, cfg)
			if _, err := s.Stat(context.Background(), rec.ID); !errors.Is(err, blobstore.ErrNotFound) {
				t.Errorf("Stat of a blob staged but not published: %v, want ErrNotFound", err)
			}
			assertNoDebris(t, s)
			assertNoBlobs(t, s)
			// The same bytes can be stored normally afterwards.
			checkBytes(t, "stored after crash", mustRead(t, s, put(t, s, data).ID, 0, int64(len(data))), data)
		})
	}
}

func TestCrashAfterCommitPoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		published []int // directories already renamed into place
	}{
		{"first published", []int{0}},
		{"middle published", []int{1}},
		{"all but one published", []int{0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 3, 10)
			s, _ := openStore(t, cfg)
			data := lcg(2, 300_000)
			nonce, rec := stageOnly(t, s, data)
			for _, d := range tc.published {
				if err := s.publish(d, nonce, rec.ID); err != nil {
					t.Fatal(err)
				}
			}
			s = reopen(t, s, cfg)
			checkBytes(t, "rolled-forward blob", mustRead(t, s, rec.ID, 0, int64(len(data))), data)
			assertNoDebris(t, s)
			r := mustLoad(t, s, rec.ID)
			for i := range s.params.N {
				if _, err := s.readSliver(r, i); err != nil {
					t.Errorf("sliver %d after recovery: %v", i, err)
				}
			}
		})
	}
}

// A put that heals a replaced directory and crashes before its slivers
// are durable must not publish bad slivers there.
func TestCrashWhileHealing(t *testing.T) {
	cfg := testConfig(t, 3, 10)
	s, _ := openStore(t, cfg)
	data := lcg(3, 100_000)
	info := put(t, s, data)
	if err := os.RemoveAll(s.blobDir(1, info.ID)); err != nil {
		t.Fatal(err)
	}
	nonce, _ := stageOnly(t, s, data)
	// Sliver 1 is the first in directory 1's slivers file.
	flipByte(t, filepath.Join(s.tmpPath(1, stagePrefix+nonce), sliversFile), 3)
	s, logs := reopenLogs(t, s, cfg)
	r := mustLoad(t, s, info.ID)
	if _, err := s.readSliver(r, 1); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Errorf("bad staged sliver 1 after recovery: %v, want ErrIntegrity", err)
	}
	if !contains(logs.String(), "bad staged sliver") {
		t.Errorf("bad staged sliver not logged:\n%s", logs)
	}
	if _, err := s.readSliver(r, 4); err != nil {
		t.Errorf("good staged sliver 4 after recovery: %v", err)
	}
	checkBytes(t, "healed blob", mustRead(t, s, info.ID, 0, int64(len(data))), data)
	if _, err := s.readSliver(r, 1); err != nil {
		t.Errorf("sliver 1 after a repairing read: %v", err)
	}
	assertNoDebris(t, s)
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
