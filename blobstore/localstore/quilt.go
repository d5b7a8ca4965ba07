package localstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

var _ blobstore.QuiltLister = (*Store)(nil)

// PutQuilt lays parts out as a QuiltV1 quilt (package quilt) at the
// store's quilt shard count (Config.QuiltShards), stores it as an ordinary
// blob encoded at that shard count, as [Store.Put] stores a blob, and
// returns the patch IDs, in quilt order (sorted by identifier). Putting the
// same parts twice is idempotent as for Put.
//
// Errors: no parts, invalid or duplicate identifiers and bad tags are
// ErrInvalidArgument; more than Ks−1 parts ([Store.MaxQuiltPatches]: 666
// at the default 1000 quilt shards, 26 at n = 40) or more data than one
// blob holds at the quilt shard count (or Config.MaxBlobSize) is
// ErrTooLarge.
func (s *Store) PutQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (blobstore.QuiltInfo, error) {
	if len(parts) == 0 {
		return blobstore.QuiltInfo{}, fmt.Errorf("localstore: put quilt: no parts: %w", blobstore.ErrInvalidArgument)
	}
	q, err := quilt.Build(s.qenc.Params(), parts)
	if err != nil {
		return blobstore.QuiltInfo{}, fmt.Errorf("localstore: put quilt of %d parts: %w", len(parts), err)
	}
	done, err := s.enter()
	if err != nil {
		return blobstore.QuiltInfo{}, err
	}
	defer done()
	info, err := s.put(ctx, s.qenc, q.Reader(), int64(q.Layout.Length), opts)
	if err != nil {
		return blobstore.QuiltInfo{}, fmt.Errorf("localstore: put quilt of %d parts: %w", len(parts), err)
	}
	return blobstore.QuiltInfo{Blob: info, Patches: storedPatches(info.ID, q.Patches)}, nil
}

func storedPatches(quiltID blobstore.ID, ps []quilt.Patch) []blobstore.StoredPatch {
	out := make([]blobstore.StoredPatch, len(ps))
	for i, p := range ps {
		out[i] = blobstore.StoredPatch{Identifier: p.Identifier, PatchID: p.ID(quiltID), Tags: maps.Clone(p.Tags)}
	}
	return out
}

// ReadPatch returns the data of one quilt patch, without its header. A
// patch occupies whole columns of the quilt's matrix and every column
// crosses every row, so ReadPatch reads each systematic sliver once,
// verified as in [Store.ReadRange], and keeps only the patch's columns.
//
// Errors: ErrNotFound (no such quilt), ErrInvalidArgument (columns the
// quilt does not have, or bytes there that are not a patch: the blob is
// not a quilt or the ID was made up), ErrIntegrity (too much damage).
func (s *Store) ReadPatch(ctx context.Context, id blobstore.PatchID) (io.ReadCloser, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	rd, err := s.openReader(ctx, id.Quilt)
	if err != nil {
		return nil, fmt.Errorf("localstore: read patch %s: %w", id, err)
	}
	start, end := int(id.Start), int(id.End)
	if id.Version != blobstore.PatchIDVersion || end <= start || end > rd.lay.Ks {
		return nil, fmt.Errorf("localstore: read patch %s: columns [%d, %d) not in a quilt of %d columns: %w",
			id, start, end, rd.lay.Ks, blobstore.ErrInvalidArgument)
	}
	cols, release, err := rd.columns(start, end, true)
	if err != nil {
		return nil, fmt.Errorf("localstore: read patch %s: %w", id, err)
	}
	defer release()
	pd, err := quilt.ReadPatch(rd.lay.Params, rd.lay.SymbolSize, cols, start, end)
	if err != nil {
		return nil, fmt.Errorf("localstore: read patch %s: %w", id, err)
	}
	return &memReader{Reader: bytes.NewReader(pd.Data), data: pd.Data}, nil
}

// memReader is an io.ReadCloser over bytes in memory. Its Len tells a
// caller that wants the whole of it how much to make room for, and Bytes
// hands over what is left unread without a copy.
type memReader struct {
	*bytes.Reader
	data []byte
}

func (*memReader) Close() error { return nil }

// Bytes returns the bytes not read yet. The caller must not modify them.
func (m *memReader) Bytes() []byte { return m.data[len(m.data)-m.Len():] }

// ListPatches returns the patches of a stored quilt, in quilt order, read
// from the quilt's index columns. It fails with ErrNotFound if the blob does
// not exist and ErrInvalidArgument if it is not a quilt.
func (s *Store) ListPatches(ctx context.Context, id blobstore.ID) ([]blobstore.StoredPatch, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	rd, err := s.openReader(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("localstore: list patches of %s: %w", id, err)
	}
	if ps, ok := s.quiltIndexes.Get(id); ok {
		return slices.Clone(ps), nil
	}
	cols, release, err := rd.columns(0, min(quilt.MaxIndexColumns, rd.lay.Ks), false)
	if err != nil {
		return nil, fmt.Errorf("localstore: list patches of %s: %w", id, err)
	}
	ix, err := quilt.ReadIndex(rd.lay.Params, rd.lay.SymbolSize, cols)
	release()
	if err != nil {
		return nil, fmt.Errorf("localstore: list patches of %s: %w", id, err)
	}
	ps := storedPatches(id, ix.Patches)
	s.quiltIndexes.Add(id, ps, patchesCost(ps))
	return slices.Clone(ps), nil
}

// columns returns a quilt.ColumnReader over matrix columns [c0, c1):
// column c is symbol c of each row, top to bottom (Kp·S bytes). Only those
// columns are kept in memory.
//
// A patch occupies whole columns, and a column can be verified on its own
// against its secondary hash (rs2.Encoder.VerifyColumns), so columns first
// reads just the columns' bytes from each systematic sliver: a patch costs
// what it holds, not what the quilt holds. If that fails (a sliver file
// missing, short or damaged there), it falls back to reading every
// systematic sliver whole, which verifies each one, reconstructs from the
// repair slivers what it must and repairs what it can.
func (r *reader) columns(c0, c1 int, reuse bool) (quilt.ColumnReader, func(), error) {
	read, release, err := r.readColumns(c0, c1, reuse)
	if err == nil {
		return read, release, nil
	}
	if cerr := r.ctx.Err(); cerr != nil {
		return nil, nil, cerr
	}
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil, nil, err
	}
	r.s.log.Debug("localstore: columns unusable, reading whole slivers", "blob", r.rec.ID, "columns", fmt.Sprintf("[%d, %d)", c0, c1), "err", err)
	cols, err := r.wholeColumns(c0, c1)
	if err != nil {
		return nil, nil, err
	}
	return columnsReader(cols, c0), func() {}, nil
}

// columnsReader reads columns [c0, c0+len(cols)) held whole.
func columnsReader(cols [][]byte, c0 int) quilt.ColumnReader {
	return func(c int) ([]byte, error) {
		if c < c0 || c >= c0+len(cols) {
			return nil, fmt.Errorf("column %d outside the columns read [%d, %d): %w", c, c0, c0+len(cols), blobstore.ErrInvalidArgument)
		}
		return cols[c-c0], nil
	}
}

// readColumns reads columns [c0, c1) from the systematic slivers' files,
// one read per sliver, and verifies them.
func (r *reader) readColumns(c0, c1 int, reuse bool) (read quilt.ColumnReader, release func(), err error) {
	s := r.s
	unlock, err := r.hold()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	enc, err := s.encs.get(r.rec.Shards)
	if err != nil {
		return nil, nil, err
	}
	lay := r.lay
	sym := lay.SymbolSize
	size := int64(lay.PrimarySliverSize())
	// With the blob's sliver trees, each row's read is rounded out to
	// whole tree nodes and checked on its own; without, the columns are
	// checked together at the end by re-encoding them.
	bt, terr := s.loadTrees(r.rec, lay)
	if terr != nil && !errors.Is(terr, errNoTrees) && !errors.Is(terr, fs.ErrNotExist) {
		s.log.Debug("localstore: sliver trees unusable", "blob", r.rec.ID, "err", terr)
	}
	g0, g1 := c0, c1
	if bt != nil {
		g0, g1 = bt.trees[0].Span(lay.Params, c0, c1)
	}
	// Each row's span is read and checked; the columns are cut out of the
	// spans when they are asked for.
	width := (g1 - g0) * sym
	spans := getSpans(lay.Kp * width)
	defer func() {
		if read == nil {
			putSpans(spans)
		}
	}()
	// One slivers file per directory holds this blob's rows there.
	files := make([]*os.File, min(len(s.dirs), lay.Kp))
	defer func() {
		for _, f := range files {
			if f != nil {
				_ = f.Close() // read-only
			}
		}
	}()
	for d := range files {
		path, _ := s.sliverPath(r.rec.ID, d, size) // row d lives in directory d
		if files[d], err = os.Open(path); err != nil {
			return nil, nil, err
		}
	}
	spanAt := func(row int) (*os.File, int64) {
		return files[s.dirOf(row)], s.sliverOffset(row, size) + int64(g0*sym)
	}
	// The rows' spans lie a sliver apart: on a cold cache a patch costs
	// Kp small reads however small it is, and the disk's seeks, not its
	// bytes, set the pace. A quilt's systematic slivers are consecutive in
	// each directory's file, so when they are not too large the first
	// patch read of the quilt announces the whole of them, to be read in
	// one sweep, and the quilt's other patches come from the page cache;
	// a larger quilt has each row's span announced, so that at least
	// those reads reach the disk together.
	if int64(lay.Kp)*size <= sweepBytes {
		if _, swept := s.swept.Get(r.rec.ID); !swept {
			s.swept.Add(r.rec.ID, struct{}{}, 1)
			for d, f := range files {
				rows := (lay.Kp - d + len(s.dirs) - 1) / len(s.dirs)
				willNeed(f, s.sliverOffset(d, size), int64(rows)*size)
			}
		}
	} else {
		for row := range lay.Kp {
			f, off := spanAt(row)
			willNeed(f, off, int64(width))
		}
	}
	// Read (and, with trees, check) the rows on a few goroutines when there
	// is much to read, so that the hashing of some rows overlaps the disk
	// reads of others.
	workers := 1
	if len(spans) >= parallelCheckBytes {
		workers = min(lay.Kp, 2*runtime.GOMAXPROCS(0))
	}
	err = blobstore.Parallel(r.ctx, workers, lay.Kp, func(_, row int) error {
		f, off := spanAt(row)
		span := spans[row*width : (row+1)*width]
		if _, err := f.ReadAt(span, off); err != nil {
			return fmt.Errorf("sliver %d: %w", row, err)
		}
		if bt != nil {
			if err := enc.VerifyRange(bt.trees[row], sym, g0, span); err != nil {
				return fmt.Errorf("sliver %d: %w", row, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if bt == nil {
		// Without trees the columns are checked together, whole.
		cols := make([][]byte, c1-c0)
		for c := range cols {
			cols[c] = make([]byte, lay.Kp*sym)
			for row := range lay.Kp {
				at := row*width + (c0-g0+c)*sym
				copy(cols[c][row*sym:(row+1)*sym], spans[at:at+sym])
			}
		}
		if err := enc.VerifyColumns(r.rec.metadata(), c0, cols); err != nil {
			return nil, nil, err
		}
		putSpans(spans)
		return columnsReader(cols, c0), func() {}, nil
	}
	// Each column is gathered from the rows when asked for: into one
	// buffer reused from call to call when the caller copies it at once
	// (reuse), else into a new one.
	var scratch []byte
	read = func(c int) ([]byte, error) {
		if c < c0 || c >= c1 {
			return nil, fmt.Errorf("column %d outside the columns read [%d, %d): %w", c, c0, c1, blobstore.ErrInvalidArgument)
		}
		col := scratch
		if col == nil {
			col = make([]byte, lay.Kp*sym)
			if reuse {
				scratch = col
			}
		}
		for row := range lay.Kp {
			at := row*width + (c-g0)*sym
			copy(col[row*sym:(row+1)*sym], spans[at:at+sym])
		}
		return col, nil
	}
	return read, func() { putSpans(spans) }, nil
}

// quiltIndexCacheBytes bounds the patch lists kept in memory: a quilt's
// list is read from its index columns, which every patch read by ID or
// by identifier needs, and never changes.
const quiltIndexCacheBytes = 4 << 20

// patchesCost estimates the memory a patch list takes.
func patchesCost(ps []blobstore.StoredPatch) int {
	n := 0
	for _, p := range ps {
		n += 128 + len(p.Identifier)
		for k, v := range p.Tags {
			n += 32 + len(k) + len(v)
		}
	}
	return n
}

// sweepBytes is the largest systematic part of a quilt that its first
// patch read asks the kernel to read whole (see readColumns); sweptQuilts
// bounds how many quilts the store remembers having swept.
const (
	sweepBytes  = 128 << 20
	sweptQuilts = 1024
)

// spanPool recycles the buffers patch reads gather rows' spans in.
var spanPool sync.Pool

// getSpans returns a buffer of n bytes, not cleared: readColumns fills it
// whole before using it.
func getSpans(n int) []byte {
	if b, ok := spanPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

func putSpans(b []byte) {
	if cap(b) <= 64<<20 {
		spanPool.Put(&b)
	}
}

// parallelCheckBytes is the size from which readColumns checks rows on
// several goroutines.
const parallelCheckBytes = 256 << 10

// wholeColumns reads every systematic sliver once, verified (and
// reconstructed if need be) as [Store.ReadRange] reads them, and keeps
// columns [c0, c1).
func (r *reader) wholeColumns(c0, c1 int) ([][]byte, error) {
	lay := r.lay
	s := lay.SymbolSize
	cols := make([][]byte, c1-c0)
	for c := range cols {
		cols[c] = make([]byte, lay.Kp*s)
	}
	r.exts = make([]rs2.Extent, lay.Kp)
	for i := range r.exts {
		r.exts[i] = rs2.Extent{Sliver: i, Length: int64(lay.PrimarySliverSize())}
	}
	for row := 0; len(r.exts) > 0; row++ {
		if err := r.next(); err != nil {
			return nil, err
		}
		for c := c0; c < c1; c++ {
			copy(cols[c-c0][row*s:(row+1)*s], r.buf[c*s:(c+1)*s])
		}
		r.buf = nil
	}
	return cols, nil
}
