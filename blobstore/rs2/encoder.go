package rs2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/walrusfs/walrusfs/blobstore"
)

// ErrTooFewSlivers means reconstruction was asked for with fewer usable
// primary slivers than the code needs.
var ErrTooFewSlivers = errors.New("rs2: too few slivers to reconstruct")

// Encoder encodes blobs for one shard count. Building one sets up the
// Reed-Solomon engines, which is not free: make one per shard count and
// reuse it. An Encoder is safe for concurrent use; each call uses up to
// GOMAXPROCS goroutines.
type Encoder struct {
	p Params
	// secondary encodes a row: Ks originals to F repair symbols.
	secondary *code
	// primary encodes a column: Kp originals to N−Kp repair symbols.
	primary *code
	workers int
	// rows recycles the message matrices of finished Encode calls
	// (*[]byte): allocating and zeroing one per call costs more than
	// keeping a few.
	rows sync.Pool
}

// NewEncoder returns an encoder for n shards (1000 on Walrus Mainnet and
// Testnet). It fails with [blobstore.ErrInvalidArgument] for an
// unsupported n.
func NewEncoder(n int) (*Encoder, error) {
	p, err := NewParams(n)
	if err != nil {
		return nil, err
	}
	sec, err := newCode(p.Ks, p.N-p.Ks)
	if err != nil {
		return nil, err
	}
	pri, err := newCode(p.Kp, p.N-p.Kp)
	if err != nil {
		return nil, err
	}
	return &Encoder{p: p, secondary: sec, primary: pri, workers: runtime.GOMAXPROCS(0)}, nil
}

// Params returns the encoder's parameters.
func (e *Encoder) Params() Params { return e.p }

// Layout returns the layout of a blob of length bytes; see [NewLayout].
func (e *Encoder) Layout(length uint64) (Layout, error) { return NewLayout(e.p, length) }

// BlobID returns the blob ID of the size bytes read from r. See
// [Encoder.Encode] for errors and memory use; [Encoder.BlobIDAt] bounds
// memory instead when the blob is in an io.ReaderAt such as a file.
func (e *Encoder) BlobID(ctx context.Context, r io.Reader, size int64) (blobstore.ID, error) {
	m, err := e.Encode(ctx, r, size, nil)
	if err != nil {
		return blobstore.ID{}, err
	}
	return m.BlobID(), nil
}

// Encode reads exactly size bytes from r, encodes them and returns the
// blob's metadata, whose BlobID is the Walrus blob ID.
//
// If slivers is not nil it must have N entries; primary sliver i (Ks·S
// bytes, row i of the expanded matrix) is then written to slivers[i] with
// WriteAt, in pieces, at offsets relative to the sliver's start. Nil
// entries are skipped. WriteAt calls are never concurrent with each other.
// Systematic slivers (i < Kp) hold the blob bytes themselves, zero-padded.
//
// Errors: a blob larger than the layout allows wraps [blobstore.ErrTooLarge];
// a reader that yields fewer or more than size bytes wraps
// [blobstore.ErrInvalidArgument]; read and write errors are wrapped as they
// are; cancellation returns ctx.Err().
//
// Memory: the message matrix with its secondary repair columns is held
// in memory, about 1.5× the blob size (more for small symbol sizes, at
// least Kp·N·64 bytes), plus O(N²·32/W) bytes of hashes and per-goroutine
// scratch; the N×N expanded matrix is never materialized.
func (e *Encoder) Encode(ctx context.Context, r io.Reader, size int64, slivers []io.WriterAt) (*Metadata, error) {
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
	j := &job{e: e, l: l, sp: paddedSize(l.SymbolSize), out: slivers}
	defer j.release()
	if err := j.readAndExpandRows(ctx, r); err != nil {
		return nil, err
	}
	return j.columns(ctx)
}

// release hands the job's message matrix back to the encoder. Every
// worker using it has returned.
func (j *job) release() {
	if j.rows != nil {
		b := j.rows
		j.e.rows.Put(&b)
		j.rows = nil
	}
}

// job is the state of one Encode call.
type job struct {
	e   *Encoder
	l   Layout
	sp  int // padded symbol size
	out []io.WriterAt
	wmu sync.Mutex

	// rows holds rows 0…Kp−1 of the expanded matrix, all N columns, each
	// symbol padded to sp bytes in engine layout: row r, column c is
	// rows[(r·N + c)·sp:][:sp].
	rows []byte
}

func (j *job) row(r int) []byte {
	n, sp := j.e.p.N, j.sp
	return j.rows[r*n*sp : (r+1)*n*sp]
}

func (j *job) write(i int, p []byte, off int64) error {
	if j.out == nil || j.out[i] == nil {
		return nil
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if _, err := j.out[i].WriteAt(p, off); err != nil {
		return fmt.Errorf("rs2: write primary sliver %d at %d: %w", i, off, err)
	}
	return nil
}

// readAndExpandRows reads the blob row by row into j.rows, writes the
// systematic primary slivers, and computes each row's secondary repair
// symbols (columns Ks…N−1) on worker goroutines while later rows are read.
func (j *job) readAndExpandRows(ctx context.Context, in io.Reader) error {
	p, s, sp := j.e.p, j.l.SymbolSize, j.sp
	// Every byte of the matrix is written before it is read (relayout
	// pads the tail block, the row code fills the repair columns), so a
	// recycled one need not be cleared.
	if b, ok := j.e.rows.Get().(*[]byte); ok && cap(*b) >= p.Kp*p.N*sp {
		j.rows = (*b)[:p.Kp*p.N*sp]
	} else {
		j.rows = make([]byte, p.Kp*p.N*sp)
	}
	raw := make([]byte, p.Ks*s)
	rowCh := make(chan int, p.Kp)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	for range min(j.e.workers, p.Kp) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			blobstore.EnterBackground(ctx)
			var cs codeScratch
			src := make([][]byte, p.Ks)
			dst := make([][]byte, p.N-p.Ks)
			for r := range rowCh {
				if failed.Load() {
					continue
				}
				row := j.row(r)
				for c := range src {
					src[c] = row[c*sp : (c+1)*sp]
				}
				for c := range dst {
					dst[c] = row[(p.Ks+c)*sp : (p.Ks+c+1)*sp]
				}
				if err := j.e.secondary.encode(src, dst, &cs); err != nil {
					fail(err)
				}
			}
		}()
	}
	remaining := j.l.Length
	for r := 0; r < p.Kp && !failed.Load(); r++ {
		if err := ctx.Err(); err != nil {
			fail(err)
			break
		}
		k := int(min(remaining, uint64(len(raw))))
		if got, err := io.ReadFull(in, raw[:k]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("rs2: blob ended after %d of %d bytes: %w",
					j.l.Length-remaining+uint64(got), j.l.Length, blobstore.ErrInvalidArgument)
			} else {
				err = fmt.Errorf("rs2: read blob: %w", err)
			}
			fail(err)
			break
		}
		clear(raw[k:])
		remaining -= uint64(k)
		row := j.row(r)
		for c := range p.Ks {
			relayout(row[c*sp:(c+1)*sp], raw[c*s:(c+1)*s])
		}
		if err := j.write(r, raw, 0); err != nil {
			fail(err)
			break
		}
		rowCh <- r
	}
	close(rowCh)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	var one [1]byte
	if n, _ := io.ReadFull(in, one[:]); n > 0 {
		return fmt.Errorf("rs2: blob longer than the declared %d bytes: %w", j.l.Length, blobstore.ErrInvalidArgument)
	}
	return ctx.Err()
}

// batchTarget is the preferred byte width of one primary-encoding batch
// per row: wide enough to amortize the engine's per-call cost, small
// enough that a goroutine's repair rows stay in cache-friendly buffers.
// Each worker's buffers grow with it (at 1000 shards, about 2.5 KiB per
// byte of width); 4 KiB costs no more CPU than 8 KiB and half the memory.
const batchTarget = 4 << 10

// batchWidth returns the number of columns W per primary-encoding batch: a
// power of two, so every full batch is an aligned subtree of each row's
// Merkle tree.
func batchWidth(n, sp int) int {
	w := 1
	for w*2*sp <= batchTarget && w < n {
		w *= 2
	}
	return w
}

// columns runs the primary encoding in batches of W columns. For each
// column it hashes all N symbols, builds the column's Merkle tree (a
// secondary hash) and reduces each row's W leaves to one node of the
// row's Merkle tree; the row trees are finished at the end (the primary
// hashes). Repair symbols of the primary slivers are written out per batch.
func (j *job) columns(ctx context.Context) (*Metadata, error) {
	p := j.e.p
	n := p.N
	w := batchWidth(n, j.sp)
	nb := (n + w - 1) / w
	// Each batch reduces a row's leaves by localLevels levels; with a
	// single batch that is the whole tree.
	localLevels := min(bits.TrailingZeros(uint(w)), levelsFor(n))
	md := &Metadata{Length: j.l.Length, Pairs: make([]PairHash, n)}
	rowNodes := make([]Hash, n*nb)

	workers := make([]*batchWorker, min(j.e.workers, nb))
	err := blobstore.Parallel(ctx, len(workers), nb, func(wk, b int) error {
		bw := workers[wk]
		if bw == nil {
			bw = newBatchWorker(j, w)
			workers[wk] = bw
		}
		c0 := b * w
		for r := range p.Kp {
			bw.src[r] = j.row(r)[c0*j.sp : min(c0+w, n)*j.sp]
		}
		if err := bw.run(b, md, localLevels); err != nil {
			return err
		}
		for i := range n {
			rowNodes[i*nb+b] = bw.nodes[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	x := newHasher()
	scratch := make([]Hash, nb, nb+1)
	for i := range n {
		copy(scratch, rowNodes[i*nb:(i+1)*nb])
		md.Pairs[i].Primary = x.root(scratch[:nb])
	}
	return md, nil
}

// batchWorker holds one goroutine's buffers for column batches.
type batchWorker struct {
	j      *job
	w      int
	x      *hasher
	x4     leafHasher4
	cs     codeScratch
	src    [][]byte
	dst    [][]byte
	parity []byte // (N−Kp) rows × W·sp bytes
	col    []Hash // N leaves of one column (+1 spare)
	leaves []Hash // N rows × (W+1) leaves
	raw    []byte // one raw repair-row piece, W·S bytes
	nodes  []Hash // per row, the batch's node of the row's Merkle tree
}

func newBatchWorker(j *job, w int) *batchWorker {
	p := j.e.p
	bw := &batchWorker{
		j:      j,
		w:      w,
		x:      newHasher(),
		src:    make([][]byte, p.Kp),
		dst:    make([][]byte, p.N-p.Kp),
		parity: make([]byte, (p.N-p.Kp)*w*j.sp),
		col:    make([]Hash, p.N, p.N+1),
		leaves: make([]Hash, p.N*(w+1)),
		raw:    make([]byte, w*j.l.SymbolSize),
		nodes:  make([]Hash, p.N),
	}
	return bw
}

// run encodes and hashes batch b, columns [b·W, b·W+W), whose source
// symbols (rows < Kp) the caller has put in bw.src. It sets the columns'
// secondary hashes in md and, in bw.nodes, each row's node for the batch
// (its W leaves reduced by localLevels levels).
func (bw *batchWorker) run(b int, md *Metadata, localLevels int) error {
	j, p := bw.j, bw.j.e.p
	n, sp, s, w := p.N, j.sp, j.l.SymbolSize, bw.w
	c0 := b * w
	c1 := min(c0+w, n)
	width := (c1 - c0) * sp
	for i := range bw.dst {
		bw.dst[i] = bw.parity[i*w*sp : i*w*sp+width]
	}
	if err := j.e.primary.encode(bw.src, bw.dst, &bw.cs); err != nil {
		return err
	}
	// Hash every symbol of the batch.
	for c := c0; c < c1; c++ {
		off := (c - c0) * sp
		bw.x4.leaves(bw.col[:n], s, func(i int) []byte {
			if i < p.Kp {
				return bw.src[i][off : off+sp]
			}
			return bw.dst[i-p.Kp][off : off+sp]
		})
		for i := range n {
			bw.leaves[i*(w+1)+(c-c0)] = bw.col[i]
		}
		md.Pairs[n-1-c].Secondary = bw.x.root(bw.col[:n])
	}
	for i := range n {
		nodes := bw.x.reduce(bw.leaves[i*(w+1):i*(w+1)+(c1-c0)], localLevels)
		bw.nodes[i] = nodes[0]
	}
	// Write the repair rows' part of the primary slivers (columns < Ks).
	if j.out != nil && c0 < p.Ks {
		ce := min(c1, p.Ks)
		for i := p.Kp; i < n; i++ {
			piece := bw.raw[:(ce-c0)*s]
			for c := c0; c < ce; c++ {
				unrelayout(piece[(c-c0)*s:(c-c0+1)*s], bw.dst[i-p.Kp][(c-c0)*sp:(c-c0+1)*sp])
			}
			if err := j.write(i, piece, int64(c0*s)); err != nil {
				return err
			}
		}
	}
	return nil
}
