package rs2

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/bits"
	"os"

	"golang.org/x/crypto/blake2b"

	"github.com/walrusfs/walrusfs/blobstore"
)

// StreamConfig bounds the memory of [Encoder.MetadataAt].
type StreamConfig struct {
	// MemoryBudget is the most memory, in bytes, the encoder's own buffers
	// may use, whatever the blob size. The Reed-Solomon engine adds its
	// working set on top (bounded by the CPU's L3 cache size per
	// goroutine), as do the N·64 bytes of the metadata.
	MemoryBudget int64
	// TempDir is where blobs too large for the budget spill their
	// secondary repair symbols (about half the blob size at N=1000); ""
	// means os.TempDir().
	TempDir string
}

// DefaultStreamConfig returns a 256 MiB budget and the system temp
// directory.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{MemoryBudget: 256 << 20}
}

// BlobIDAt returns the blob ID of the size bytes of r; see
// [Encoder.MetadataAt].
func (e *Encoder) BlobIDAt(ctx context.Context, r io.ReaderAt, size int64, cfg StreamConfig) (blobstore.ID, error) {
	m, err := e.MetadataAt(ctx, r, size, cfg)
	if err != nil {
		return blobstore.ID{}, err
	}
	return m.BlobID(), nil
}

// MetadataAt returns the metadata of the blob held in bytes [0, size) of r,
// the same as [Encoder.Encode] would, using memory bounded by
// cfg.MemoryBudget. It is [Encoder.EncodeAt] without slivers.
func (e *Encoder) MetadataAt(ctx context.Context, r io.ReaderAt, size int64, cfg StreamConfig) (*Metadata, error) {
	return e.EncodeAt(ctx, r, size, nil, cfg)
}

// EncodeAt encodes the blob held in bytes [0, size) of r as [Encoder.Encode]
// does, writing the primary slivers to slivers the same way (nil entries,
// or a nil slice, are skipped), with memory bounded by cfg.MemoryBudget.
//
// A blob that fits the budget is encoded in memory as by Encode. A larger
// one is encoded in vertical strips of the expanded matrix, in two passes
// over r: the first computes each row's secondary repair symbols (they
// need the whole row) and spills them to a temporary file in cfg.TempDir,
// about (N−Ks)/Ks of the blob size, writing the systematic slivers as it
// goes; the second reads, for each strip of columns, those columns of
// every row from r or the spill file, runs the primary encoding, hashes
// the symbols, finishes the columns' Merkle trees (secondary hashes),
// extends each row's tree (primary hashes) with a stack of O(log N) nodes
// and writes the strip's part of each repair sliver. Very large symbols
// are also cut into ranges of 64-byte blocks, which the code works on
// independently. Slivers then arrive in many pieces: a writer that
// gathers them in memory defeats the budget.
//
// r must support concurrent ReadAt calls (an *os.File does). Errors: as
// for Encode; a reader that ends before size wraps
// [blobstore.ErrInvalidArgument]; a spill file that cannot be created or
// written is returned wrapped.
func (e *Encoder) EncodeAt(ctx context.Context, r io.ReaderAt, size int64, slivers []io.WriterAt, cfg StreamConfig) (*Metadata, error) {
	if size < 0 {
		return nil, fmt.Errorf("rs2: negative blob size %d: %w", size, blobstore.ErrInvalidArgument)
	}
	l, err := NewLayout(e.p, uint64(size))
	if err != nil {
		return nil, err
	}
	if slivers != nil && len(slivers) != e.p.N {
		return nil, fmt.Errorf("rs2: %d sliver writers for %d shards: %w", len(slivers), e.p.N, blobstore.ErrInvalidArgument)
	}
	if e.InMemory(size, cfg) {
		return e.Encode(ctx, io.NewSectionReader(r, 0, size), size, slivers)
	}
	st, err := newStrips(e, l, r, slivers, cfg)
	if err != nil {
		return nil, err
	}
	defer st.close()
	if err := st.rowRepair(ctx); err != nil {
		return nil, err
	}
	return st.columns(ctx)
}

// InMemory reports whether [Encoder.EncodeAt] encodes a blob of size bytes
// in memory under cfg, rather than in strips through a spill file.
func (e *Encoder) InMemory(size int64, cfg StreamConfig) bool {
	return e.MemoryInMemory(size) <= cfg.MemoryBudget
}

// MemoryInMemory estimates the memory [Encoder.Encode] takes for a blob of
// size bytes: the message matrix with its repair columns, per-goroutine
// buffers and the engine's work buffers. It is math.MaxInt64 for a size
// the layout refuses.
func (e *Encoder) MemoryInMemory(size int64) int64 {
	l, err := NewLayout(e.p, uint64(max(size, 0)))
	if err != nil {
		return math.MaxInt64
	}
	return e.inMemoryBytes(l)
}

// inMemoryBytes estimates the peak memory of Encode for layout l: its own
// buffers and the engine's work buffers, on e.workers goroutines.
func (e *Encoder) inMemoryBytes(l Layout) int64 {
	workers := e.workers
	p := l.Params
	n, kp := int64(p.N), int64(p.Kp)
	sp := int64(paddedSize(l.SymbolSize))
	w := int64(batchWidth(p.N, int(sp)))
	nb := (n + w - 1) / w
	rows := kp * n * sp
	rowIn := int64(p.Ks) * int64(l.SymbolSize)
	engine := int64(e.primary.workBytesPerByte()) * w * sp
	worker := (n-kp)*w*sp + n*(w+1)*HashSize + w*int64(l.SymbolSize) + engine
	return rows + rowIn + int64(workers)*worker + n*nb*HashSize
}

// strips is the state of one strip-wise EncodeAt call.
type strips struct {
	e       *Encoder
	l       Layout
	in      io.ReaderAt
	out     *job // writes the slivers (no matrix)
	spill   *os.File
	workers int
	budget  int64 // per goroutine
	sp      int   // padded symbol size
	nblk    int   // 64-byte blocks per padded symbol
}

func newStrips(e *Encoder, l Layout, in io.ReaderAt, slivers []io.WriterAt, cfg StreamConfig) (*strips, error) {
	f, err := os.CreateTemp(cfg.TempDir, "rs2-spill-*")
	if err != nil {
		return nil, fmt.Errorf("rs2: create spill file: %w", err)
	}
	sp := paddedSize(l.SymbolSize)
	return &strips{
		e: e, l: l, in: in, spill: f,
		out:     &job{e: e, l: l, sp: sp, out: slivers},
		workers: e.workers,
		budget:  max(cfg.MemoryBudget/int64(e.workers), 1),
		sp:      sp,
		nblk:    sp / blockSize,
	}, nil
}

func (st *strips) close() {
	name := st.spill.Name()
	// The spill file is scratch space: once read it has no value.
	_ = st.spill.Close()
	_ = os.Remove(name)
}

// rawRange returns the bytes [a, b) of a raw S-byte symbol that blocks
// [k0, k1) of its padded form hold.
func (st *strips) rawRange(k0, k1 int) (a, b int) {
	return k0 * blockSize, min(k1*blockSize, st.l.SymbolSize)
}

// readBlob fills buf with blob bytes [off, off+len(buf)), zeros past the
// blob's end.
func (st *strips) readBlob(buf []byte, off int64) error {
	size := int64(st.l.Length)
	k := 0
	if off < size {
		k = int(min(int64(len(buf)), size-off))
		got, err := st.in.ReadAt(buf[:k], off)
		if got < k {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("rs2: blob ended after %d of %d bytes: %w", off+int64(got), size, blobstore.ErrInvalidArgument)
			}
			return fmt.Errorf("rs2: read blob at %d: %w", off, err)
		}
	}
	clear(buf[k:])
	return nil
}

func (st *strips) readSpill(buf []byte, off int64) error {
	if _, err := st.spill.ReadAt(buf, off); err != nil {
		return fmt.Errorf("rs2: read spill file: %w", err)
	}
	return nil
}

// symbolAt reads bytes [a, b) of symbol (r, c) of the message matrix with
// its secondary repair columns (r < Kp, c < N) into buf.
func (st *strips) symbolAt(buf []byte, r, c, a int) error {
	p, s := st.e.p, int64(st.l.SymbolSize)
	if c < p.Ks {
		return st.readBlob(buf, (int64(r)*int64(p.Ks)+int64(c))*s+int64(a))
	}
	return st.readSpill(buf, (int64(r)*int64(p.N-p.Ks)+int64(c-p.Ks))*s+int64(a))
}

// parallel runs f(i) for i in [0, count) on st.workers goroutines and
// returns the first error.
func (st *strips) parallel(ctx context.Context, count int, f func(worker, i int) error) error {
	return blobstore.Parallel(ctx, st.workers, count, f)
}

// rowRepair is the first pass: for each row of the message matrix, the
// N−Ks secondary repair symbols, written raw to the spill file (row r,
// repair symbol c at (r·(N−Ks) + c)·S). A row whose buffers exceed the
// per-goroutine budget is done in ranges of 64-byte blocks.
func (st *strips) rowRepair(ctx context.Context) error {
	p, s := st.e.p, st.l.SymbolSize
	f := p.N - p.Ks
	// Per block of every symbol: raw in and out, padded row, the
	// engine's work buffers.
	perBlock := int64(blockSize) * int64(p.Ks+f+p.N+st.e.secondary.workBytesPerByte())
	q := int(min(int64(st.nblk), max(st.budget/perBlock, 1)))
	slices := (st.nblk + q - 1) / q
	type scratch struct {
		raw, out, row []byte
		src, dst      [][]byte
		cs            codeScratch
	}
	sc := make([]*scratch, st.workers)
	return st.parallel(ctx, p.Kp*slices, func(wk, i int) error {
		r, k0 := i/slices, i%slices*q
		k1 := min(k0+q, st.nblk)
		a, b := st.rawRange(k0, k1)
		rs, ps := b-a, (k1-k0)*blockSize // raw and padded piece sizes
		x := sc[wk]
		if x == nil {
			x = &scratch{
				raw: make([]byte, p.Ks*q*blockSize),
				out: make([]byte, f*q*blockSize),
				row: make([]byte, p.N*q*blockSize),
				src: make([][]byte, p.Ks),
				dst: make([][]byte, f),
			}
			sc[wk] = x
		}
		if rs == s {
			// Whole symbols: the row is contiguous in the blob, and is
			// systematic sliver r.
			if err := st.readBlob(x.raw[:p.Ks*s], int64(r)*int64(p.Ks)*int64(s)); err != nil {
				return err
			}
			if err := st.out.write(r, x.raw[:p.Ks*s], 0); err != nil {
				return err
			}
		} else {
			for c := range p.Ks {
				piece := x.raw[c*rs : (c+1)*rs]
				if err := st.symbolAt(piece, r, c, a); err != nil {
					return err
				}
				if err := st.out.write(r, piece, int64(c*s+a)); err != nil {
					return err
				}
			}
		}
		for c := range p.N {
			piece := x.row[c*ps : (c+1)*ps]
			if c < p.Ks {
				relayout(piece, x.raw[c*rs:(c+1)*rs])
				x.src[c] = piece
			} else {
				x.dst[c-p.Ks] = piece
			}
		}
		if err := st.e.secondary.encode(x.src, x.dst, &x.cs); err != nil {
			return err
		}
		for c := range f {
			unrelayout(x.out[c*rs:(c+1)*rs], x.dst[c])
		}
		if rs == s {
			if _, err := st.spill.WriteAt(x.out[:f*s], int64(r)*int64(f)*int64(s)); err != nil {
				return fmt.Errorf("rs2: write spill file: %w", err)
			}
			return nil
		}
		for c := range f {
			if _, err := st.spill.WriteAt(x.out[c*rs:(c+1)*rs], (int64(r)*int64(f)+int64(c))*int64(s)+int64(a)); err != nil {
				return fmt.Errorf("rs2: write spill file: %w", err)
			}
		}
		return nil
	})
}

// columns is the second pass. Batches of W columns (W a power of two) are
// encoded and hashed as by Encode, st.workers batches at a time, and each
// row's batch nodes are pushed onto the row's Merkle stack in column
// order. When even one column of whole symbols exceeds the per-goroutine
// budget, each column is done in ranges of blocks with streaming leaf
// hashes instead (columnsSliced).
func (st *strips) columns(ctx context.Context) (*Metadata, error) {
	p := st.e.p
	n, sp, s := p.N, st.sp, st.l.SymbolSize
	// A batch of w columns holds N padded symbols per column plus Kp raw
	// ones, N+1 leaf hashes per column, and the engine's work buffers.
	perColumn := int64(n)*int64(sp) + int64(p.Kp)*int64(s) + int64(n+1)*HashSize + int64(st.e.primary.workBytesPerByte())*int64(sp)
	if perColumn > st.budget {
		return st.columnsSliced(ctx)
	}
	w := batchWidth(n, sp)
	for w > 1 && int64(w)*perColumn > st.budget {
		w /= 2
	}
	nb := (n + w - 1) / w
	localLevels := min(bits.TrailingZeros(uint(w)), levelsFor(n))
	md := &Metadata{Length: st.l.Length, Pairs: make([]PairHash, n)}
	j := st.out
	bws := make([]*batchWorker, min(st.workers, nb))
	bufs := make([][]byte, len(bws))
	for i := range bws {
		bws[i] = newBatchWorker(j, w)
		bufs[i] = make([]byte, p.Kp*w*sp)
	}
	raws := make([][]byte, len(bws))
	stacks := newRowStacks(n)
	for b0 := 0; b0 < nb; b0 += len(bws) {
		round := min(len(bws), nb-b0)
		err := st.parallel(ctx, round, func(_, i int) error {
			bw, buf := bws[i], bufs[i]
			b := b0 + i
			c0, c1 := b*w, min(b*w+w, n)
			width := (c1 - c0) * sp
			if raws[i] == nil {
				raws[i] = make([]byte, w*s)
			}
			raw := raws[i]
			for r := range p.Kp {
				if err := st.readRow(raw, r, c0, c1); err != nil {
					return err
				}
				bw.src[r] = buf[r*w*sp : r*w*sp+width]
				for c := range c1 - c0 {
					relayout(bw.src[r][c*sp:(c+1)*sp], raw[c*s:(c+1)*s])
				}
			}
			return bw.run(b, md, localLevels)
		})
		if err != nil {
			return nil, err
		}
		for i := range round {
			stacks.push(bws[i].x, bws[i].nodes, localLevels)
		}
	}
	stacks.finish(bws[0].x, md)
	return md, nil
}

// readRow reads symbols [c0, c1) of row r < Kp into raw (whole symbols):
// at most one read from the blob and one from the spill file.
func (st *strips) readRow(raw []byte, r, c0, c1 int) error {
	p, s := st.e.p, st.l.SymbolSize
	if c0 < p.Ks {
		e := min(c1, p.Ks)
		if err := st.readBlob(raw[:(e-c0)*s], (int64(r)*int64(p.Ks)+int64(c0))*int64(s)); err != nil {
			return err
		}
	}
	if c1 > p.Ks {
		b := max(c0, p.Ks)
		off := (int64(r)*int64(p.N-p.Ks) + int64(b-p.Ks)) * int64(s)
		if err := st.readSpill(raw[(b-c0)*s:(c1-c0)*s], off); err != nil {
			return err
		}
	}
	return nil
}

// columnsSliced is the second pass for symbols too large for the budget:
// one column at a time, in ranges of 64-byte blocks, feeding each of the
// column's N symbols to its own streaming leaf hash. The N columns are
// spread over the goroutines; each row's leaves are pushed onto its stack
// in column order.
func (st *strips) columnsSliced(ctx context.Context) (*Metadata, error) {
	p := st.e.p
	n := p.N
	perBlock := int64(blockSize) * int64(n+p.Kp+st.e.primary.workBytesPerByte())
	q := int(min(int64(st.nblk), max(st.budget/perBlock, 1)))
	md := &Metadata{Length: st.l.Length, Pairs: make([]PairHash, n)}
	type worker struct {
		x            *hasher
		hs           []hash.Hash
		buf, raw     []byte
		src, dst     [][]byte
		cs           codeScratch
		leaves, cols []Hash
	}
	ws := make([]*worker, min(st.workers, n))
	for i := range ws {
		w := &worker{
			x:      newHasher(),
			hs:     make([]hash.Hash, n),
			buf:    make([]byte, n*q*blockSize),
			raw:    make([]byte, q*blockSize),
			src:    make([][]byte, p.Kp),
			dst:    make([][]byte, n-p.Kp),
			leaves: make([]Hash, n, n+1),
			cols:   make([]Hash, n),
		}
		for r := range w.hs {
			w.hs[r], _ = blake2b.New256(nil)
		}
		ws[i] = w
	}
	stacks := newRowStacks(n)
	prefix := []byte{leafPrefix}
	for c0 := 0; c0 < n; c0 += len(ws) {
		round := min(len(ws), n-c0)
		err := st.parallel(ctx, round, func(_, i int) error {
			w, c := ws[i], c0+i
			for _, h := range w.hs {
				h.Reset()
				h.Write(prefix)
			}
			for k0 := 0; k0 < st.nblk; k0 += q {
				k1 := min(k0+q, st.nblk)
				a, b := st.rawRange(k0, k1)
				ps := (k1 - k0) * blockSize
				for r := range n {
					piece := w.buf[r*ps : (r+1)*ps]
					if r < p.Kp {
						if err := st.symbolAt(w.raw[:b-a], r, c, a); err != nil {
							return err
						}
						relayout(piece, w.raw[:b-a])
						w.src[r] = piece
					} else {
						w.dst[r-p.Kp] = piece
					}
				}
				if err := st.e.primary.encode(w.src, w.dst, &w.cs); err != nil {
					return err
				}
				for r := range n {
					unrelayout(w.raw[:b-a], w.buf[r*ps:(r+1)*ps])
					w.hs[r].Write(w.raw[:b-a])
					if r >= p.Kp && c < p.Ks {
						if err := st.out.write(r, w.raw[:b-a], int64(c*st.l.SymbolSize+a)); err != nil {
							return err
						}
					}
				}
			}
			for r, h := range w.hs {
				h.Sum(w.leaves[r][:0])
				w.cols[r] = w.leaves[r]
			}
			md.Pairs[n-1-c].Secondary = w.x.root(w.leaves[:n])
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i := range round {
			stacks.push(ws[i].x, ws[i].cols, 0)
		}
	}
	stacks.finish(ws[0].x, md)
	return md, nil
}

// rowStacks builds the N row Merkle trees left to right from nodes pushed
// one column batch at a time, keeping per row only the roots of complete
// subtrees: O(log N) nodes.
type rowStacks struct {
	nodes  [][]Hash
	levels [][]int
}

func newRowStacks(n int) *rowStacks {
	return &rowStacks{nodes: make([][]Hash, n), levels: make([][]int, n)}
}

// push appends to each row i the node nodes[i] at the given level,
// merging equal-level subtrees.
func (s *rowStacks) push(x *hasher, nodes []Hash, level int) {
	for i, h := range nodes {
		st, lv := append(s.nodes[i], h), append(s.levels[i], level)
		for k := len(st); k >= 2 && lv[k-1] == lv[k-2]; k-- {
			x.inner(&st[k-2], &st[k-2], &st[k-1])
			lv[k-2]++
			st, lv = st[:k-1], lv[:k-1]
		}
		s.nodes[i], s.levels[i] = st, lv
	}
}

// finish sets md's primary hashes: each row's stack is closed the way
// Walrus pads odd levels, with an empty node on the right.
func (s *rowStacks) finish(x *hasher, md *Metadata) {
	for i := range s.nodes {
		st, lv := s.nodes[i], s.levels[i]
		k := len(st) - 1
		cur, level := st[k], lv[k]
		for k > 0 {
			if lv[k-1] == level {
				x.inner(&cur, &st[k-1], &cur)
				k--
			} else {
				x.inner(&cur, &cur, &Hash{})
			}
			level++
		}
		md.Pairs[i].Primary = cur
	}
}
