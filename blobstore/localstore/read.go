package localstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// ReadRange returns length bytes of blob id starting at off. It reads only
// the systematic primary slivers that hold the range, one at a time as the
// caller reads, and checks each against its primary hash before using it.
// A sliver that is missing or fails its hash is reconstructed from other
// slivers (and rewritten when Config.RepairOnRead is set).
//
// The first sliver is fetched before ReadRange returns, so a blob that
// cannot be read at all fails here rather than mid-stream. Errors:
// ErrNotFound (no such blob), ErrInvalidArgument (range outside the blob),
// ErrIntegrity (fewer than Kp good slivers left: the bytes cannot be
// trusted, none are returned). Later reads can fail the same way, and with
// ErrNotFound if the blob is deleted meanwhile. The reader is not safe for
// concurrent use; ctx governs its whole life.
func (s *Store) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	rd, err := s.openReader(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s: %w", id, err)
	}
	exts, err := rd.lay.Locate(off, length)
	if err != nil {
		return nil, fmt.Errorf("localstore: read %s [%d, +%d): %w", id, off, length, err)
	}
	rd.exts = exts
	if len(exts) > 0 {
		if err := rd.next(); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

var _ blobstore.RangeVerifier = (*Store)(nil)

// ReadRangeVerified reads the range with ReadRange and hands it to consume
// once. The store has one copy of each blob, which it already checks sliver
// by sliver and rebuilds from good slivers when it must, so there is no
// other copy to try: when consume rejects the bytes with an error wrapping
// ErrIntegrity, the call fails with that error; any other error from
// consume is returned as is.
func (s *Store) ReadRangeVerified(ctx context.Context, id blobstore.ID, off, length int64, consume func(r io.Reader) error) error {
	rc, err := s.ReadRange(ctx, id, off, length)
	if err != nil {
		return err
	}
	err = consume(rc)
	_ = rc.Close()
	if err != nil && errors.Is(err, blobstore.ErrIntegrity) {
		return fmt.Errorf("localstore: read %s [%d, +%d): the store's only copy was rejected: %w", id, off, length, err)
	}
	return err
}

// openReader loads blob id's record for a new reader.
func (s *Store) openReader(ctx context.Context, id blobstore.ID) (*reader, error) {
	st := s.stripe(id)
	st.mu.RLock()
	defer st.mu.RUnlock()
	rec, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	lay, err := rec.metadata().Layout()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, blobstore.ErrIntegrity)
	}
	return &reader{s: s, ctx: ctx, rec: rec, lay: lay, deletes: st.deletes.Load()}, nil
}

// reader streams extents of one blob, one verified sliver at a time.
type reader struct {
	s       *Store
	ctx     context.Context
	rec     *record
	lay     rs2.Layout
	deletes uint64 // the stripe's delete count when rec was loaded

	exts []rs2.Extent   // extents not yet started
	buf  []byte         // unread part of the current extent
	done map[int][]byte // slivers obtained early by a reconstruction
	err  error          // sticky
}

var errReaderClosed = errors.New("localstore: reader closed")

func (r *reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(r.exts) == 0 {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close releases the reader's buffers. Reads after Close fail.
func (r *reader) Close() error {
	r.err = errReaderClosed
	r.buf, r.done, r.exts = nil, nil, nil
	return nil
}

// next makes the first pending extent current.
func (r *reader) next() error {
	e := r.exts[0]
	data, ok := r.done[e.Sliver]
	if ok {
		delete(r.done, e.Sliver)
	} else {
		pending := make([]int, 0, len(r.exts))
		for _, x := range r.exts {
			pending = append(pending, x.Sliver)
		}
		got, err := r.fetch(e.Sliver, pending)
		if err != nil {
			r.err = fmt.Errorf("localstore: read %s: %w", r.rec.ID, err)
			return r.err
		}
		data = got[e.Sliver]
		delete(got, e.Sliver)
		if len(got) > 0 && r.done == nil {
			r.done = got
		} else {
			for k, v := range got {
				r.done[k] = v
			}
		}
	}
	r.exts = r.exts[1:]
	r.buf = data[e.Offset : e.Offset+e.Length]
	return nil
}

// fetch returns sliver i, and possibly other slivers among pending that a
// reconstruction produced on the way.
func (r *reader) fetch(i int, pending []int) (map[int][]byte, error) {
	unlock, err := r.hold()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.s.systematic(r.ctx, r.rec, r.lay, i, pending)
}

// hold enters the store and holds the blob's stripe for reading, checking
// that the blob was not deleted since the reader loaded it. The caller
// calls unlock when its reads are done.
func (r *reader) hold() (unlock func(), err error) {
	s := r.s
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	if err := r.ctx.Err(); err != nil {
		done()
		return nil, err
	}
	st := s.stripe(r.rec.ID)
	st.mu.RLock()
	unlock = func() { st.mu.RUnlock(); done() }
	if d := st.deletes.Load(); d != r.deletes {
		// Some blob of this stripe was deleted since we looked: make sure
		// it was not this one.
		if _, err := s.load(r.ctx, r.rec.ID); err != nil {
			unlock()
			return nil, err
		}
		r.deletes = d
	}
	return unlock, nil
}

// systematic returns verified systematic primary sliver i of a blob. If it
// is missing or corrupt, it reconstructs it from any Kp good primary
// slivers, repairs the file when configured to, and also returns the
// slivers among also that the reconstruction yields. The caller holds the
// blob's stripe for reading.
func (s *Store) systematic(ctx context.Context, rec *record, lay rs2.Layout, i int, also []int) (map[int][]byte, error) {
	data, err := s.readSliver(rec, i)
	if err == nil {
		return map[int][]byte{i: data}, nil
	}
	s.log.Warn("localstore: sliver unusable, reconstructing", "blob", rec.ID, "sliver", i, "dir", s.dirs[s.dirOf(i)], "err", err)
	have := make([][]byte, lay.N)
	bad := map[int]error{i: err}
	good := 0
	// Read in index order, the systematic slivers first: they are needed
	// anyway when the caller reads on, and the decoder is fastest when the
	// slivers it gets are the low-numbered ones. Any Kp good slivers do.
	for j := 0; j < lay.N && good < lay.Kp; j++ {
		if j == i || !s.usable(rec, j) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := s.readSliver(rec, j)
		if err != nil {
			bad[j] = err
			if !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("localstore: sliver unusable", "blob", rec.ID, "sliver", j, "err", err)
			}
			continue
		}
		have[j] = d
		good++
	}
	if good < lay.Kp {
		// The per-sliver causes are reported, not wrapped: a caller must see
		// ErrIntegrity, not the fs.ErrNotExist (ENOENT) of a missing sliver.
		return nil, fmt.Errorf("sliver %d: only %d of %d primary slivers usable, %d needed (%v): %w",
			i, good, lay.N, lay.Kp, errors.Join(slices.Collect(mapValues(bad))...), blobstore.ErrIntegrity) //nolint:errorlint // see above
	}
	if err := s.reconstruct(rec, have); err != nil {
		return nil, fmt.Errorf("sliver %d: reconstruct: %w", i, err)
	}
	out := map[int][]byte{i: have[i]}
	for _, j := range also {
		if j < lay.Kp && have[j] != nil {
			out[j] = have[j]
		}
	}
	for j, err := range bad {
		if j < lay.Kp && have[j] != nil {
			s.repair(rec, j, have[j], err)
		}
	}
	return out, nil
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// readSliver reads primary sliver i from its directory and verifies it. A
// missing file gives an error wrapping fs.ErrNotExist; a wrong or short
// sliver wraps ErrIntegrity.
func (s *Store) readSliver(rec *record, i int) ([]byte, error) {
	cache := rec.Shards >= sliverCacheMinShards
	if cache {
		if data, ok := s.slivers.get(rec.ID, i); ok {
			return data, nil
		}
	}
	size, err := sliverSize(rec)
	if err != nil {
		return nil, err
	}
	path, off := s.sliverPath(rec.ID, i, size)
	data, err := readAt(path, off, size)
	if errors.Is(err, fs.ErrNotExist) {
		// Maybe a directory of the first layout.
		if b, lerr := os.ReadFile(s.legacySliverPath(rec.ID, i)); lerr == nil {
			data, err = b, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.verifySliver(rec, i, data); err != nil {
		return nil, err
	}
	if cache {
		s.slivers.put(rec.ID, i, data)
	}
	return data, nil
}

// sliverSize returns the size of each primary sliver of blob rec.
func sliverSize(rec *record) (int64, error) {
	lay, err := rec.metadata().Layout()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", err, blobstore.ErrIntegrity)
	}
	return int64(lay.PrimarySliverSize()), nil
}

// readAt reads the n bytes at off in the file at path. A file that ends
// before them fails with ErrIntegrity.
func readAt(path string, off, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only
	b := make([]byte, n)
	if k, err := f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %d of %d bytes at %d: %w", path, k, n, off, blobstore.ErrIntegrity)
		}
		return nil, err
	}
	return b, nil
}

// repair rewrites sliver i of a blob with reconstructed bytes when
// Config.RepairOnRead is set and the directory still holds the blob (a
// directory that lost the blob entirely is restored by the next Put of the
// same bytes). Failures are logged; the read goes on.
//
// The sliver is overwritten in place in its directory's slivers file and
// synced. A crash half-way leaves a sliver that still fails its hash, to
// be reconstructed again; the other slivers in the file are not touched.
func (s *Store) repair(rec *record, i int, data []byte, cause error) {
	if !s.cfg.RepairOnRead {
		return
	}
	d := s.dirOf(i)
	bd := s.blobDir(d, rec.ID)
	if _, err := os.Stat(filepath.Join(bd, metaFile)); err != nil {
		return
	}
	var err error
	if legacyLayout(bd) {
		err = s.repairLegacy(d, s.legacySliverPath(rec.ID, i), data)
	} else {
		path, off := s.sliverPath(rec.ID, i, int64(len(data)))
		err = writeAtSync(path, off, data)
	}
	if err != nil {
		s.log.Warn("localstore: could not rewrite sliver", "blob", rec.ID, "sliver", i, "err", err)
		return
	}
	s.log.Info("localstore: repaired sliver", "blob", rec.ID, "sliver", i, "dir", s.dirs[d], "cause", cause)
}

// repairLegacy atomically replaces the sliver file at path, in a blob
// directory of directory d written in the first layout (temporary file,
// fsync, rename, fsync the blob directory).
func (s *Store) repairLegacy(d int, path string, data []byte) error {
	tmp := s.tmpPath(d, "repair-"+newNonce()+tmpSuffix)
	err := writeFileSync(tmp, data)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// legacyLayout reports whether blob directory bd is in the first layout:
// no slivers file, and sliver files of that layout.
func legacyLayout(bd string) bool {
	ents, err := os.ReadDir(bd)
	if err != nil {
		return false
	}
	legacy := false
	for _, e := range ents {
		if e.Name() == sliversFile {
			return false
		}
		if _, ok := parseSliverName(e.Name()); ok {
			legacy = true
		}
	}
	return legacy
}
