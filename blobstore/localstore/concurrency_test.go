package localstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// Random ranges of blobs of assorted sizes, compared with the original
// bytes, with one sliver of each blob corrupted so that some reads
// reconstruct.
func TestRandomRanges(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 4, 10))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 57, 4095, 99_999, 700_001} {
		data := lcg(uint32(size), size)
		info := put(t, s, data)
		flipSliverByte(t, s, info.ID, rng.IntN(s.params.Kp), 0)
		for range 40 {
			off := rng.Int64N(int64(size))
			n := rng.Int64N(int64(size) - off + 1)
			if rng.IntN(4) == 0 {
				n = min(n, 1+rng.Int64N(16))
			}
			checkBytes(t, fmt.Sprintf("%d-byte blob [%d,+%d)", size, off, n), mustRead(t, s, info.ID, off, n), data[off:off+n])
		}
	}
}

// Concurrent puts, reads, stats and deletes, for the race detector and
// for the locking between commits, deletes and readers.
func TestConcurrentUse(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 3, 10))
	ctx := context.Background()
	const workers = 6
	shared := lcg(99, 50_000)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range workers {
		wg.Go(func() {
			for i := range 5 {
				data := lcg(uint32(w*100+i), 1000+w*4000+i)
				if i%2 == 0 {
					data = shared
				}
				info, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
				if err != nil {
					errs <- fmt.Errorf("worker %d: Put: %w", w, err)
					return
				}
				rc, err := s.ReadRange(ctx, info.ID, 0, int64(len(data)))
				if err != nil {
					if i%2 == 0 && errors.Is(err, blobstore.ErrNotFound) {
						continue // another worker deleted the shared blob
					}
					errs <- fmt.Errorf("worker %d: ReadRange: %w", w, err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				switch {
				case i%2 == 0 && errors.Is(err, blobstore.ErrNotFound):
				case err != nil:
					errs <- fmt.Errorf("worker %d: read: %w", w, err)
					return
				case !bytes.Equal(got, data):
					errs <- fmt.Errorf("worker %d: wrong bytes", w)
					return
				}
				if w == 0 && i == 2 {
					if err := s.Delete(ctx, info.ID); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
						errs <- fmt.Errorf("worker %d: Delete: %w", w, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertNoDebris(t, s)
}

func TestCloseWhileReading(t *testing.T) {
	cfg := testConfig(t, 2, 10)
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := lcg(1, 500_000)
	info := put(t, s, data)
	rc, err := s.ReadRange(context.Background(), info.ID, 0, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("reading a closed store's blob went on")
	}
	if _, err := s.Stat(context.Background(), info.ID); err == nil {
		t.Error("Stat after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
