// Package storetest is the conformance suite for [blobstore.Store]
// implementations. Every Store runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) blobstore.Store { return newTestStore(t) })
//	}
//
// The suite checks the contract written on [blobstore.Store]: bytes come
// back exactly as stored, at every size and range edge; the sentinel errors
// mean what they say (unknown IDs are [blobstore.ErrNotFound], ranges outside
// a blob and quilt identifiers that break the rules are
// [blobstore.ErrInvalidArgument]); a Put whose reader yields a different
// number of bytes than announced fails; quilt patch IDs name the quilt they
// were stored in; and the store holds up under concurrent use.
//
// Stores differ in what they can do. Deletion is optional: by default the
// suite accepts either a working Delete or [blobstore.ErrForbidden] for
// every Delete call, and [Options.Delete] can require one of them. Stores
// with a size cap set [Options.MaxBlobSize]. When the caller can compute
// real Walrus blob IDs (with the RS2 codec at the store's shard count), it
// sets [Options.BlobID] and the suite checks every ID the store reports.
// A store that is a [blobstore.RangeVerifier] has its verified reads
// checked too: consume sees exactly the range, a rejected copy never
// passes as a success, and a store that runs out of copies says
// [blobstore.ErrIntegrity].
//
// newStore is called once per subtest, so stores need not be emptied between
// tests; it should register its own cleanup with t.Cleanup.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// DeletePolicy says what the suite expects from Store.Delete.
type DeletePolicy int

const (
	// DeleteEither accepts a store that deletes and one that answers every
	// Delete with ErrForbidden.
	DeleteEither DeletePolicy = iota
	// DeleteSupported requires Delete to remove blobs.
	DeleteSupported
	// DeleteForbidden requires Delete to fail with ErrForbidden.
	DeleteForbidden
)

// Options adapt the suite to a store's capabilities.
type Options struct {
	// Delete says what Delete must do.
	Delete DeletePolicy
	// MaxBlobSize is the largest blob the store accepts (its encoding or
	// service limit). The suite's largest blob is min(MaxBlobSize,
	// DefaultLargeBlob). Zero means DefaultLargeBlob.
	MaxBlobSize int64
	// BlobID, when set, computes the Walrus blob ID of data as the store
	// should (the RS2 blob ID at the store's shard count). The suite then
	// checks every ID the store returns against it.
	BlobID func(data []byte) (blobstore.ID, error)
	// QuiltID, when set, computes the blob ID of a quilt's bytes, for
	// stores that encode quilts at another shard count than blobs. Nil
	// means BlobID.
	QuiltID func(data []byte) (blobstore.ID, error)
	// NoQuilts skips the quilt tests for stores without PutQuilt.
	NoQuilts bool
}

// DefaultLargeBlob is the size of the largest blob the suite stores when
// Options.MaxBlobSize does not cap it: a few MiB plus an odd tail.
const DefaultLargeBlob = 3<<20 + 7

// Run runs the suite with the default [Options].
func Run(t *testing.T, newStore func(t *testing.T) blobstore.Store) {
	RunWithOptions(t, newStore, Options{})
}

// RunWithOptions runs the suite with opts.
func RunWithOptions(t *testing.T, newStore func(t *testing.T) blobstore.Store, opts Options) {
	s := suite{newStore: newStore, opts: opts}
	t.Run("PutRead", s.testPutRead)
	t.Run("PutIdempotent", s.testPutIdempotent)
	t.Run("RangeEdges", s.testRangeEdges)
	t.Run("RangeOutOfBounds", s.testRangeOutOfBounds)
	t.Run("RangeVerified", s.testRangeVerified)
	t.Run("NotFound", s.testNotFound)
	t.Run("SizeMismatch", s.testSizeMismatch)
	t.Run("Stat", s.testStat)
	t.Run("Delete", s.testDelete)
	t.Run("Canceled", s.testCanceled)
	t.Run("Concurrent", s.testConcurrent)
	if !opts.NoQuilts {
		t.Run("Quilt", s.testQuilt)
		t.Run("QuiltIdentifiers", s.testQuiltIdentifiers)
	}
}

type suite struct {
	newStore func(t *testing.T) blobstore.Store
	opts     Options
}

func (s suite) largeSize() int64 {
	if s.opts.MaxBlobSize > 0 && s.opts.MaxBlobSize < DefaultLargeBlob {
		return s.opts.MaxBlobSize
	}
	return DefaultLargeBlob
}

// Data returns n deterministic pseudo-random bytes derived from seed.
func Data(seed uint64, n int64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// put stores data and checks the returned info.
func (s suite) put(t *testing.T, st blobstore.Store, data []byte) blobstore.Info {
	t.Helper()
	info, err := st.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("Put(%d bytes): info.Size = %d", len(data), info.Size)
	}
	s.checkID(t, info.ID, data)
	return info
}

func (s suite) checkID(t *testing.T, got blobstore.ID, data []byte) {
	t.Helper()
	s.checkIDWith(t, s.opts.BlobID, got, data)
}

func (s suite) checkIDWith(t *testing.T, blobID func([]byte) (blobstore.ID, error), got blobstore.ID, data []byte) {
	t.Helper()
	if blobID == nil {
		return
	}
	want, err := blobID(data)
	if err != nil {
		t.Fatalf("computing the blob ID of %d bytes: %v", len(data), err)
	}
	if got != want {
		t.Fatalf("store reports blob ID %s for %d bytes; the RS2 blob ID is %s", got, len(data), want)
	}
}

// readRange reads a whole range and closes the reader, failing the test on
// error.
func readRange(t *testing.T, st blobstore.Store, id blobstore.ID, off, length int64) []byte {
	t.Helper()
	rc, err := st.ReadRange(t.Context(), id, off, length)
	if err != nil {
		t.Fatalf("ReadRange(%s, %d, %d): %v", id, off, length, err)
	}
	got, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("ReadRange(%s, %d, %d): reading: %v", id, off, length, err)
	}
	return got
}

func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

func (s suite) testPutRead(t *testing.T) {
	st := s.newStore(t)
	for _, n := range []int64{0, 1, 2, 1001, 64<<10 + 3, s.largeSize()} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := Data(uint64(n), n)
			info := s.put(t, st, data)
			checkBytes(t, "whole blob", readRange(t, st, info.ID, 0, n), data)
		})
	}
}

func (s suite) testPutIdempotent(t *testing.T) {
	st := s.newStore(t)
	data := Data(7, 777)
	a := s.put(t, st, data)
	b := s.put(t, st, data)
	if a.ID != b.ID {
		t.Fatalf("same bytes stored twice got IDs %s and %s", a.ID, b.ID)
	}
	c := s.put(t, st, Data(8, 777))
	if c.ID == a.ID {
		t.Fatalf("different bytes got the same ID %s", a.ID)
	}
	checkBytes(t, "after re-put", readRange(t, st, a.ID, 0, 777), data)
}

func (s suite) testRangeEdges(t *testing.T) {
	st := s.newStore(t)
	n := int64(100_003)
	data := Data(3, n)
	info := s.put(t, st, data)
	for _, r := range []struct{ off, length int64 }{
		{0, 1}, {n - 1, 1}, {0, n}, {1, n - 1}, {0, n - 1}, {12345, 4096}, {n / 2, n - n/2}, {0, 0}, {n, 0}, {777, 0},
	} {
		got := readRange(t, st, info.ID, r.off, r.length)
		checkBytes(t, fmt.Sprintf("range [%d,+%d)", r.off, r.length), got, data[r.off:r.off+r.length])
	}
	empty := s.put(t, st, nil)
	checkBytes(t, "empty blob", readRange(t, st, empty.ID, 0, 0), nil)
}

func (s suite) testRangeOutOfBounds(t *testing.T) {
	st := s.newStore(t)
	n := int64(1000)
	info := s.put(t, st, Data(4, n))
	empty := s.put(t, st, nil)
	for _, r := range []struct {
		id          blobstore.ID
		off, length int64
	}{
		{info.ID, n, 1}, {info.ID, n - 1, 2}, {info.ID, 0, n + 1}, {info.ID, -1, 1}, {info.ID, 0, -1},
		{info.ID, n + 1, 0}, {info.ID, 1 << 62, 1 << 62}, {empty.ID, 0, 1},
	} {
		rc, err := st.ReadRange(t.Context(), r.id, r.off, r.length)
		if err == nil {
			// The error may surface while reading, but it must surface.
			_, err = io.ReadAll(rc)
			_ = rc.Close()
		}
		if !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("ReadRange(%d, %d) of a %d-byte blob: %v, want ErrInvalidArgument", r.off, r.length, n, err)
		}
	}
}

// maxCopies bounds how often the suite lets a store call a consume
// function that rejects every copy: a store has that many sources at most,
// and one that keeps calling has lost count of them.
const maxCopies = 100

// testRangeVerified checks the contract of blobstore.RangeVerifier.
func (s suite) testRangeVerified(t *testing.T) {
	st := s.newStore(t)
	v, ok := st.(blobstore.RangeVerifier)
	if !ok {
		t.Skip("the store is no blobstore.RangeVerifier")
	}
	n := int64(100_003)
	data := Data(14, n)
	id := s.put(t, st, data).ID

	t.Run("exact bytes", func(t *testing.T) {
		for _, r := range []struct{ off, length int64 }{{0, n}, {1, n - 1}, {12345, 4096}, {n - 1, 1}, {777, 0}, {n, 0}} {
			calls := 0
			var got []byte
			err := v.ReadRangeVerified(t.Context(), id, r.off, r.length, func(rd io.Reader) error {
				calls++
				var err error
				got, err = io.ReadAll(rd)
				return err
			})
			if err != nil {
				t.Fatalf("ReadRangeVerified [%d,+%d): %v", r.off, r.length, err)
			}
			if calls != 1 {
				t.Errorf("ReadRangeVerified [%d,+%d) called consume %d times, though it accepted the first copy", r.off, r.length, calls)
			}
			checkBytes(t, fmt.Sprintf("verified range [%d,+%d)", r.off, r.length), got, data[r.off:r.off+r.length])
		}
	})

	t.Run("every copy rejected", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			off, length int64
			read        bool
		}{
			{"after reading", 1000, 5000, true},
			{"before reading", 1000, 5000, false},
			{"empty range", 777, 0, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				calls := 0
				err := v.ReadRangeVerified(t.Context(), id, tc.off, tc.length, func(rd io.Reader) error {
					calls++
					if calls > maxCopies {
						return fmt.Errorf("storetest: consume called %d times", calls)
					}
					if tc.read {
						if _, err := io.Copy(io.Discard, rd); err != nil {
							return err
						}
					}
					return fmt.Errorf("storetest: copy %d rejected: %w", calls, blobstore.ErrIntegrity)
				})
				if calls == 0 {
					t.Fatalf("ReadRangeVerified never called consume: %v", err)
				}
				if !errors.Is(err, blobstore.ErrIntegrity) {
					t.Fatalf("ReadRangeVerified with every copy rejected (%d calls): %v, want ErrIntegrity", calls, err)
				}
			})
		}
	})

	t.Run("first copy rejected", func(t *testing.T) {
		off, length := int64(4096), int64(50_000)
		calls, accepted := 0, false
		var got []byte
		err := v.ReadRangeVerified(t.Context(), id, off, length, func(rd io.Reader) error {
			calls++
			accepted = false
			b, err := io.ReadAll(rd)
			if err != nil {
				return err
			}
			if calls == 1 {
				return fmt.Errorf("storetest: first copy rejected: %w", blobstore.ErrIntegrity)
			}
			got, accepted = b, true
			return nil
		})
		switch {
		case err == nil && !accepted:
			t.Fatalf("ReadRangeVerified returned nil after %d calls, though consume rejected the last copy", calls)
		case err == nil:
			checkBytes(t, "second copy", got, data[off:off+length])
		case accepted:
			t.Fatalf("ReadRangeVerified failed though consume accepted copy %d: %v", calls, err)
		case !errors.Is(err, blobstore.ErrIntegrity):
			t.Fatalf("ReadRangeVerified with the first copy rejected: %v, want success or ErrIntegrity", err)
		default:
			t.Logf("no second copy (a store with one source): %v", err)
		}
	})

	t.Run("consume error", func(t *testing.T) {
		boom := errors.New("storetest: consume failed")
		calls := 0
		err := v.ReadRangeVerified(t.Context(), id, 0, 1000, func(io.Reader) error {
			calls++
			return boom
		})
		if !errors.Is(err, boom) || calls != 1 {
			t.Fatalf("ReadRangeVerified with a failing consume: %v after %d calls, want its error after one", err, calls)
		}
	})

	t.Run("errors", func(t *testing.T) {
		readAll := func(rd io.Reader) error {
			_, err := io.Copy(io.Discard, rd)
			return err
		}
		if err := v.ReadRangeVerified(t.Context(), unknownID(), 0, 1, readAll); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("ReadRangeVerified of an unknown blob: %v, want ErrNotFound", err)
		}
		if err := v.ReadRangeVerified(t.Context(), id, n-1, 2, readAll); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("ReadRangeVerified past the end: %v, want ErrInvalidArgument", err)
		}
	})
}

// unknownID returns an ID no test stores.
func unknownID() blobstore.ID {
	var id blobstore.ID
	copy(id[:], "storetest: no blob has this ID..")
	return id
}

func (s suite) testNotFound(t *testing.T) {
	st := s.newStore(t)
	s.put(t, st, Data(5, 10))
	id := unknownID()
	if _, err := st.ReadRange(t.Context(), id, 0, 1); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadRange of unknown blob: %v, want ErrNotFound", err)
	}
	if _, err := st.Stat(t.Context(), id); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat of unknown blob: %v, want ErrNotFound", err)
	}
	if !s.opts.NoQuilts {
		pid := blobstore.PatchID{Quilt: id, Version: blobstore.PatchIDVersion, Start: 1, End: 2}
		if _, err := st.ReadPatch(t.Context(), pid); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("ReadPatch of unknown quilt: %v, want ErrNotFound", err)
		}
	}
	err := st.Delete(t.Context(), id)
	switch {
	case errors.Is(err, blobstore.ErrForbidden) && s.opts.Delete != DeleteSupported:
	case errors.Is(err, blobstore.ErrNotFound) && s.opts.Delete != DeleteForbidden:
	default:
		t.Errorf("Delete of unknown blob: %v, want ErrNotFound (or ErrForbidden from a store that cannot delete)", err)
	}
}

// testSizeMismatch stores readers that end before or after the announced
// size, or fail, as a truncated upload stream would.
func (s suite) testSizeMismatch(t *testing.T) {
	st := s.newStore(t)
	data := Data(6, 5000)
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"short", 5001}, {"long", 4999}, {"much shorter", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.Put(t.Context(), bytes.NewReader(data), tc.size, blobstore.PutOptions{})
			if err == nil {
				t.Fatalf("Put of %d bytes announced as %d succeeded", len(data), tc.size)
			}
		})
	}
	t.Run("reader error", func(t *testing.T) {
		boom := errors.New("disk on fire")
		r := io.MultiReader(bytes.NewReader(data[:100]), errReader{boom})
		if _, err := st.Put(t.Context(), r, int64(len(data)), blobstore.PutOptions{}); err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
	})
	// The failures above must not have left a blob under the real ID.
	info := s.put(t, st, data)
	checkBytes(t, "after failed puts", readRange(t, st, info.ID, 0, int64(len(data))), data)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func (s suite) testStat(t *testing.T) {
	st := s.newStore(t)
	for _, n := range []int64{0, 1, 4097} {
		info := s.put(t, st, Data(9, n))
		got, err := st.Stat(t.Context(), info.ID)
		if err != nil {
			t.Fatalf("Stat(%s): %v", info.ID, err)
		}
		if got.ID != info.ID || got.Size != n {
			t.Fatalf("Stat(%s) = ID %s size %d, want size %d", info.ID, got.ID, got.Size, n)
		}
	}
}

func (s suite) testDelete(t *testing.T) {
	st := s.newStore(t)
	data := Data(10, 300)
	info := s.put(t, st, data)
	keep := s.put(t, st, Data(11, 300))
	err := st.Delete(t.Context(), info.ID)
	switch {
	case err == nil && s.opts.Delete != DeleteForbidden:
		if _, err := st.Stat(t.Context(), info.ID); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
		}
		if _, err := st.ReadRange(t.Context(), info.ID, 0, 1); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("ReadRange after Delete: %v, want ErrNotFound", err)
		}
		// Storing the same bytes again brings the blob back.
		again := s.put(t, st, data)
		checkBytes(t, "re-stored after delete", readRange(t, st, again.ID, 0, 300), data)
	case errors.Is(err, blobstore.ErrForbidden) && s.opts.Delete != DeleteSupported:
		checkBytes(t, "after refused delete", readRange(t, st, info.ID, 0, 300), data)
	default:
		t.Fatalf("Delete(%s): %v (policy %d)", info.ID, err, s.opts.Delete)
	}
	checkBytes(t, "untouched blob", readRange(t, st, keep.ID, 0, 300), Data(11, 300))
}

func (s suite) testCanceled(t *testing.T) {
	st := s.newStore(t)
	info := s.put(t, st, Data(12, 10))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := st.Put(ctx, bytes.NewReader(Data(13, 10)), 10, blobstore.PutOptions{}); err == nil {
		t.Error("Put with a canceled context succeeded")
	}
	rc, err := st.ReadRange(ctx, info.ID, 0, 10)
	if err == nil {
		_, err = io.ReadAll(rc)
		_ = rc.Close()
	}
	if err == nil {
		t.Error("ReadRange with a canceled context succeeded")
	}
}

func (s suite) testConcurrent(t *testing.T) {
	st := s.newStore(t)
	const workers, perWorker = 8, 4
	shared := Data(99, 20_001)
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				ctx := t.Context()
				data := Data(uint64(1000+w*perWorker+i), int64(1000+w*37+i))
				if w%2 == 0 && i == 0 {
					data = shared // several workers store the same blob at once
				}
				info, err := st.Put(ctx, bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
				if err != nil {
					errs <- fmt.Errorf("worker %d: Put: %w", w, err)
					return
				}
				off := int64(len(data) / 3)
				rc, err := st.ReadRange(ctx, info.ID, off, int64(len(data))-off)
				if err != nil {
					errs <- fmt.Errorf("worker %d: ReadRange: %w", w, err)
					return
				}
				got, err := io.ReadAll(rc)
				_ = rc.Close()
				if err != nil {
					errs <- fmt.Errorf("worker %d: read back %d bytes (err %w), want %d", w, len(got), err, len(data[off:]))
					return
				}
				if !bytes.Equal(got, data[off:]) {
					errs <- fmt.Errorf("worker %d: read back %d bytes differing from the %d written", w, len(got), len(data[off:]))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func quiltParts() []blobstore.QuiltPart {
	return []blobstore.QuiltPart{
		{Identifier: "zeta.bin", Data: Data(20, 70_001)},
		{Identifier: "alpha.txt", Data: []byte("hello, quilt\n"), Tags: map[string]string{"content-type": "text/plain"}},
		{Identifier: "dir/nested name.md", Data: Data(21, 4096)},
		{Identifier: "empty", Data: nil},
		{Identifier: "ünïcødé-名前", Data: Data(22, 333), Tags: map[string]string{"b": "1", "aa": "2"}},
	}
}

func (s suite) testQuilt(t *testing.T) {
	st := s.newStore(t)
	parts := quiltParts()
	qi, err := st.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatalf("PutQuilt: %v", err)
	}
	if len(qi.Patches) != len(parts) {
		t.Fatalf("PutQuilt stored %d patches, want %d", len(qi.Patches), len(parts))
	}
	ids := make([]string, len(qi.Patches))
	for i, p := range qi.Patches {
		ids[i] = p.Identifier
	}
	if !slices.IsSorted(ids) {
		t.Errorf("patches not in identifier order: %q", ids)
	}
	byName := make(map[string]blobstore.QuiltPart)
	for _, p := range parts {
		byName[p.Identifier] = p
	}
	for _, p := range qi.Patches {
		want, ok := byName[p.Identifier]
		if !ok {
			t.Fatalf("unexpected patch %q", p.Identifier)
		}
		if p.PatchID.Quilt != qi.Blob.ID {
			t.Errorf("patch %q ID %s names quilt %s, want %s", p.Identifier, p.PatchID, p.PatchID.Quilt, qi.Blob.ID)
		}
		if p.PatchID.Version != blobstore.PatchIDVersion || p.PatchID.End <= p.PatchID.Start {
			t.Errorf("patch %q has malformed ID %+v", p.Identifier, p.PatchID)
		}
		rc, err := st.ReadPatch(t.Context(), p.PatchID)
		if err != nil {
			t.Fatalf("ReadPatch(%q): %v", p.Identifier, err)
		}
		got, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatalf("ReadPatch(%q): reading: %v", p.Identifier, err)
		}
		checkBytes(t, "patch "+p.Identifier, got, want.Data)
	}
	// The quilt is an ordinary blob too.
	info, err := st.Stat(t.Context(), qi.Blob.ID)
	if err != nil || info.Size != qi.Blob.Size || info.Size == 0 {
		t.Fatalf("Stat(quilt %s) = %+v, %v; PutQuilt said size %d", qi.Blob.ID, info, err, qi.Blob.Size)
	}
	whole := readRange(t, st, qi.Blob.ID, 0, info.Size)
	quiltID := s.opts.QuiltID
	if quiltID == nil {
		quiltID = s.opts.BlobID
	}
	s.checkIDWith(t, quiltID, qi.Blob.ID, whole)

	if l, ok := st.(blobstore.QuiltLister); ok {
		got, err := l.ListPatches(t.Context(), qi.Blob.ID)
		if err != nil {
			t.Fatalf("ListPatches: %v", err)
		}
		if len(got) != len(qi.Patches) {
			t.Fatalf("ListPatches returned %d patches, want %d", len(got), len(qi.Patches))
		}
		for i := range got {
			if got[i].Identifier != qi.Patches[i].Identifier || got[i].PatchID != qi.Patches[i].PatchID {
				t.Errorf("ListPatches[%d] = %q %s, want %q %s", i, got[i].Identifier, got[i].PatchID,
					qi.Patches[i].Identifier, qi.Patches[i].PatchID)
			}
			if wt := byName[got[i].Identifier].Tags; len(wt) > 0 && !mapsEqual(got[i].Tags, wt) {
				t.Errorf("ListPatches[%d] tags %v, want %v", i, got[i].Tags, wt)
			}
		}
		if _, err := l.ListPatches(t.Context(), unknownID()); !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("ListPatches of unknown quilt: %v, want ErrNotFound", err)
		}
	}

	// A patch ID with columns the quilt does not have is not a patch.
	bad := qi.Patches[0].PatchID
	bad.Start, bad.End = 60000, 60001
	if rc, err := st.ReadPatch(t.Context(), bad); err == nil {
		_ = rc.Close()
		t.Error("ReadPatch with made-up columns succeeded")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (s suite) testQuiltIdentifiers(t *testing.T) {
	st := s.newStore(t)
	ok := blobstore.QuiltPart{Identifier: "fine", Data: []byte("x")}
	for _, tc := range []struct {
		name  string
		parts []blobstore.QuiltPart
	}{
		{"empty identifier", []blobstore.QuiltPart{ok, {Identifier: "", Data: []byte("a")}}},
		{"trailing space", []blobstore.QuiltPart{{Identifier: "name ", Data: []byte("a")}}},
		{"trailing tab", []blobstore.QuiltPart{{Identifier: "name\t", Data: []byte("a")}}},
		{"trailing control character", []blobstore.QuiltPart{{Identifier: "name\x01", Data: []byte("a")}}},
		{"invalid UTF-8", []blobstore.QuiltPart{{Identifier: "bad\xffname", Data: []byte("a")}}},
		{"duplicate", []blobstore.QuiltPart{ok, ok}},
		{"too long", []blobstore.QuiltPart{{Identifier: strings.Repeat("a", 70_000), Data: []byte("a")}}},
		{"no parts", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.PutQuilt(t.Context(), tc.parts, blobstore.PutOptions{})
			if !errors.Is(err, blobstore.ErrInvalidArgument) {
				t.Fatalf("PutQuilt: %v, want ErrInvalidArgument", err)
			}
		})
	}
	// A leading underscore is a valid identifier, as walrus-core has it.
	t.Run("leading underscores", func(t *testing.T) {
		parts := []blobstore.QuiltPart{{Identifier: "_config.yml", Data: []byte("a")}, {Identifier: "__init__.py", Data: []byte("b")}}
		qi, err := st.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
		if err != nil || len(qi.Patches) != 2 {
			t.Fatalf("PutQuilt: %+v, %v", qi.Patches, err)
		}
	})
}
