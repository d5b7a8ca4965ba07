package localstore

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// TestExtend: a lease grows by the epochs asked for, durably (a reopened
// store sees it), within Walrus's 53-epoch window; an ended lease cannot
// be extended, and only an ended lease is dropped by DeleteExpired.
func TestExtend(t *testing.T) {
	var clock atomic.Int64
	start := time.Unix(1_700_000_000, 0)
	clock.Store(start.UnixNano())
	cfg := testConfig(t, 2, 10)
	cfg.EpochDuration = time.Hour
	cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	s, _ := openStore(t, cfg)
	info := put(t, s, lcg(3, 5000))
	if info.EndEpoch != epoch(t, s)+DefaultEpochs {
		t.Fatalf("stored until epoch %d at epoch %d", info.EndEpoch, epoch(t, s))
	}
	got, err := s.Extend(t.Context(), info.ID, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got.EndEpoch != info.EndEpoch+5 {
		t.Fatalf("extended by 5 from %d: ends at %d", info.EndEpoch, got.EndEpoch)
	}
	if st, err := s.Stat(t.Context(), info.ID); err != nil || st.EndEpoch != got.EndEpoch {
		t.Fatalf("Stat after Extend: end %d, %v; want %d", st.EndEpoch, err, got.EndEpoch)
	}
	ahead := got.EndEpoch - epoch(t, s)
	if _, err := s.Extend(t.Context(), info.ID, MaxEpochsAhead-ahead+1); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("extending past %d epochs ahead: %v, want ErrInvalidArgument", MaxEpochsAhead, err)
	}
	if _, err := s.Extend(t.Context(), info.ID, 0); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("extending by 0: %v, want ErrInvalidArgument", err)
	}
	if _, err := s.Extend(t.Context(), blobstore.ID{1}, 1); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("extending a blob never stored: %v, want ErrNotFound", err)
	}
	s.Close()
	if _, err := s.CurrentEpoch(t.Context()); err == nil {
		t.Error("CurrentEpoch of a closed store succeeded")
	}

	s2, _ := openStore(t, cfg)
	if st, err := s2.Stat(t.Context(), info.ID); err != nil || st.EndEpoch != got.EndEpoch {
		t.Fatalf("reopened: end %d, %v; want %d", st.EndEpoch, err, got.EndEpoch)
	}
	if deleted, err := s2.DeleteExpired(t.Context(), info.ID); err != nil || deleted {
		t.Fatalf("DeleteExpired of a live lease: %v, %v", deleted, err)
	}
	// The lease runs out: too late to extend; the blob can be dropped.
	clock.Store(start.Add(time.Duration(got.EndEpoch+1) * time.Hour).UnixNano())
	if _, err := s2.Extend(t.Context(), info.ID, 1); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("extending after the lease ended (epoch %d, end %d): %v, want ErrNotFound", epoch(t, s2), got.EndEpoch, err)
	}
	if deleted, err := s2.DeleteExpired(t.Context(), info.ID); err != nil || !deleted {
		t.Fatalf("DeleteExpired of an ended lease: %v, %v", deleted, err)
	}
	if _, err := s2.Stat(t.Context(), info.ID); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Stat after DeleteExpired: %v, want ErrNotFound", err)
	}
	if _, err := s2.DeleteExpired(t.Context(), info.ID); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("DeleteExpired of a deleted blob: %v, want ErrNotFound", err)
	}
}

// TestDefaultEncodeMemory: the default budget encodes an 8 MiB chunk at
// the default 40 shards in memory and a 16 MiB quilt at 1000 shards in
// strips, as the docs say.
func TestDefaultEncodeMemory(t *testing.T) {
	cfg := rs2.StreamConfig{MemoryBudget: DefaultEncodeMemory}
	for _, tc := range []struct {
		shards   int
		size     int64
		inMemory bool
	}{{DefaultShards, 8<<20 + 320, true}, {DefaultQuiltShards, 16 << 20, false}} {
		e, err := rs2.NewEncoder(tc.shards)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.InMemory(tc.size, cfg); got != tc.inMemory {
			t.Errorf("%d bytes at %d shards: in memory %v, want %v (needs %d bytes)", tc.size, tc.shards, got, tc.inMemory, e.MemoryInMemory(tc.size))
		}
	}
}
