package localstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"runtime"
	"slices"

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
// crosses every row, so the reader reads each systematic sliver's span of
// the patch's columns, verified, and keeps the patch's bytes. It reads the
// patch a group of columns at a time as the caller reads (see
// patchReader): memory stays bounded whatever the patch's size, and the
// caller can send one group while the next is read.
//
// The patch's header is read and parsed before ReadPatch returns, so a
// patch that cannot be read at all fails here rather than mid-stream; the
// reader's Size tells how many bytes follow. Errors: ErrNotFound (no such
// quilt), ErrInvalidArgument (columns the quilt does not have, or bytes
// there that are not a patch: the blob is not a quilt or the ID was made
// up), ErrIntegrity (too much damage). Later reads can fail the same way,
// and with ErrNotFound if the quilt is deleted meanwhile. The reader is
// not safe for concurrent use; ctx governs its whole life.
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
	pr := &patchReader{r: rd, start: start, end: end, colBytes: rd.lay.Kp * rd.lay.SymbolSize}
	if err := pr.begin(); err != nil {
		_ = pr.Close()
		return nil, fmt.Errorf("localstore: read patch %s: %w", id, err)
	}
	return pr, nil
}

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
	cols, err := rd.columns(0, min(quilt.MaxIndexColumns, rd.lay.Ks))
	if err != nil {
		return nil, fmt.Errorf("localstore: list patches of %s: %w", id, err)
	}
	ix, err := quilt.ReadIndex(rd.lay.Params, rd.lay.SymbolSize, columnsReader(cols, 0))
	if err != nil {
		return nil, fmt.Errorf("localstore: list patches of %s: %w", id, err)
	}
	ps := storedPatches(id, ix.Patches)
	s.quiltIndexes.Add(id, ps, patchesCost(ps))
	return slices.Clone(ps), nil
}

// columns returns matrix columns [c0, c1) whole: column c is symbol c of
// each row, top to bottom (Kp·S bytes). Only those columns are read (see
// readColumnsInto); when that fails, every systematic sliver is read whole,
// which verifies each one, reconstructs from the repair slivers what it
// must and repairs what it can.
func (r *reader) columns(c0, c1 int) ([][]byte, error) {
	colBytes := r.lay.Kp * r.lay.SymbolSize
	buf := make([]byte, (c1-c0)*colBytes)
	if err := r.readColumnsInto(buf, c0, c1, r.lay.Kp); err != nil {
		if !r.canFallBack(err, c0, c1) {
			return nil, err
		}
		return r.wholeColumns(c0, c1)
	}
	return splitColumns(buf, c1-c0, colBytes), nil
}

// canFallBack reports whether a failed read of columns [c0, c1) should be
// retried from whole slivers: not when the reader's context ended or the
// blob is gone.
func (r *reader) canFallBack(err error, c0, c1 int) bool {
	if r.ctx.Err() != nil || errors.Is(err, blobstore.ErrNotFound) {
		return false
	}
	r.s.log.Debug("localstore: columns unusable, reading whole slivers", "blob", r.rec.ID, "columns", fmt.Sprintf("[%d, %d)", c0, c1), "err", err)
	return true
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

// readColumnsInto reads columns [c0, c1) from the systematic slivers'
// files, verified, into dst in patch order: column by column, each
// column's symbols top to bottom. Of the last column only the first
// lastRows symbols are read (the rows a patch ending there fills); dst
// has room for whole columns, and what lies past the bytes read is left
// as it was.
//
// A patch occupies whole columns and each row is a primary sliver, so
// every row's span of the columns is read with one read. With the blob's
// sliver trees, each span is rounded out to whole tree nodes and checked
// on its own; without, the columns are checked together, whole, by
// re-encoding them (rs2.Encoder.VerifyColumns), and lastRows is ignored.
func (r *reader) readColumnsInto(dst []byte, c0, c1, lastRows int) error {
	s := r.s
	unlock, err := r.hold()
	if err != nil {
		return err
	}
	defer unlock()
	enc, err := s.encs.get(r.rec.Shards)
	if err != nil {
		return err
	}
	lay := r.lay
	sym := lay.SymbolSize
	colBytes := lay.Kp * sym
	size := int64(lay.PrimarySliverSize())
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
			return err
		}
	}
	// The rows' spans lie a sliver apart: on a cold cache a patch costs
	// Kp small reads however small it is, and the disk's seeks, not its
	// bytes, set the pace. A quilt's systematic slivers are consecutive in
	// each directory's file, so when they are not too large the first
	// read of the quilt has the whole of them read in one sweep
	// (sweep.go), and the quilt's other patches come from the page cache.
	// The sweep starts before anything else, so that the disk works while
	// the trees load. Until it is done, and always for a larger quilt,
	// each read announces its rows' spans first, so that they reach the
	// disk together and before the sweep's later reads.
	sweepable := int64(lay.Kp)*size <= sweepBytes
	var sweeping *sweepState
	if sweepable {
		var seen bool
		if sweeping, seen = s.swept.Get(r.rec.ID); !seen {
			sweeping = &sweepState{}
			s.swept.Add(r.rec.ID, sweeping, 1)
		} else if sweeping.done() {
			sweeping = nil
		}
	}
	if sweeping != nil && sweeping.start() {
		for d, f := range files {
			rows := (lay.Kp - d + len(s.dirs) - 1) / len(s.dirs)
			off, n := s.sliverOffset(d, size), int64(rows)*size
			if !s.sweep(f.Name(), off, n, sweeping) {
				willNeed(f, off, n)
			}
		}
	}
	bt, terr := s.loadTrees(r.rec, lay)
	if terr != nil && !errors.Is(terr, errNoTrees) && !errors.Is(terr, fs.ErrNotExist) {
		s.log.Debug("localstore: sliver trees unusable", "blob", r.rec.ID, "err", terr)
	}
	if bt == nil {
		lastRows = lay.Kp
	}
	// The columns row `row` needs, and the span read for them.
	rowEnd := func(row int) int {
		if row < lastRows {
			return c1
		}
		return c1 - 1
	}
	span := func(e int) (int, int) {
		if bt == nil {
			return c0, e
		}
		return bt.trees[0].Span(lay.Params, c0, e)
	}
	g0, g1 := span(c1)
	width := (g1 - g0) * sym
	spanAt := func(row, g0 int) (*os.File, int64) {
		return files[s.dirOf(row)], s.sliverOffset(row, size) + int64(g0*sym)
	}
	if !sweepable || sweeping != nil {
		for row := range lay.Kp {
			f, off := spanAt(row, g0)
			willNeed(f, off, int64(width))
		}
	}
	// Read and check the rows on one goroutine per CPU when there is much
	// to read. Once a quilt is swept its rows come from the page cache and
	// the work is hashing: more goroutines than CPUs only take the CPUs
	// from whoever consumes the patch (serve's reply, and on one machine
	// the client hashing it). With twice as many, the quilt row of
	// `make bench` measured 175–194 MB/s on 2 CPUs; with one per CPU,
	// 198–217.
	//
	// The rows go in chunks of about checkChunkBytes, whose spans are
	// hashed together (rs2.Encoder.VerifySpans): a small patch gives each
	// row a node or two, which alone would leave lanes of the vector
	// hasher empty. Each row's symbols then go to their places in dst.
	chunk := max(1, min(lay.Kp, checkChunkBytes/width))
	chunks := (lay.Kp + chunk - 1) / chunk
	workers := 1
	if lay.Kp*width >= parallelCheckBytes {
		workers = min(chunks, runtime.GOMAXPROCS(0))
	}
	// A chunk's spans as read (with no tree when the blob keeps none),
	// and the row of each.
	type chunkScratch struct {
		buf   []byte
		spans []rs2.TreeSpan
		rows  []int
	}
	scratch := make([]chunkScratch, workers)
	defer func() {
		for _, sc := range scratch {
			if sc.buf != nil {
				spanBufs.put(sc.buf)
			}
		}
	}()
	err = blobstore.Parallel(r.ctx, workers, chunks, func(wk, ci int) error {
		sc := &scratch[wk]
		if sc.buf == nil {
			sc.buf = spanBufs.get(chunk * width)
		}
		r0, r1 := ci*chunk, min(lay.Kp, (ci+1)*chunk)
		sc.spans, sc.rows = sc.spans[:0], sc.rows[:0]
		for row := r0; row < r1; row++ {
			e := rowEnd(row)
			if e == c0 {
				continue
			}
			g0, g1 := span(e)
			b := sc.buf[(row-r0)*width:][:(g1-g0)*sym]
			f, off := spanAt(row, g0)
			if _, err := f.ReadAt(b, off); err != nil {
				return fmt.Errorf("sliver %d: %w", row, err)
			}
			var tree *rs2.SliverTree
			if bt != nil {
				tree = bt.trees[row]
			}
			sc.spans = append(sc.spans, rs2.TreeSpan{Tree: tree, C0: g0, Symbols: b})
			sc.rows = append(sc.rows, row)
		}
		if bt != nil {
			if k, err := enc.VerifySpans(sc.spans, sym); err != nil {
				return fmt.Errorf("sliver %d: %w", sc.rows[max(k, 0)], err)
			}
		}
		for i, row := range sc.rows {
			sp, e := sc.spans[i], rowEnd(row)
			for c := c0; c < e; c++ {
				copy(dst[(c-c0)*colBytes+row*sym:][:sym], sp.Symbols[(c-sp.C0)*sym:])
			}
		}
		return nil
	})
	if err != nil || bt != nil {
		return err
	}
	// Without trees the columns are checked together, whole.
	return enc.VerifyColumns(r.rec.metadata(), c0, splitColumns(dst, c1-c0, colBytes))
}

// splitColumns returns the first n columns of colBytes bytes in buf, in
// place.
func splitColumns(buf []byte, n, colBytes int) [][]byte {
	cols := make([][]byte, n)
	for i := range cols {
		cols[i] = buf[i*colBytes : (i+1)*colBytes]
	}
	return cols
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
// patch read asks the kernel to read whole (see readColumnsInto); sweptQuilts
// bounds how many quilts the store remembers having swept.
const (
	sweepBytes  = 128 << 20
	sweptQuilts = 1024
)

// parallelCheckBytes is the size from which readColumnsInto checks rows on
// several goroutines.
const parallelCheckBytes = 256 << 10

// checkChunkBytes is about how many bytes of rows readColumnsInto reads
// and then checks together.
const checkChunkBytes = 128 << 10

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
