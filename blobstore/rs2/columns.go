package rs2

import (
	"context"
	"fmt"

	"github.com/walrusfs/walrusfs/blobstore"
)

// VerifyColumns checks columns [c0, c0+len(cols)) of a blob's message
// matrix against the secondary hashes in md. cols[k] is column c0+k as
// secondary sliver c0+k holds it: symbol c0+k of each systematic row, top
// to bottom, Kp·S bytes. Only message columns (below Ks) can be checked
// this way.
//
// Each column's secondary hash is the Merkle root over all N symbols of
// the column: its Kp symbols and their N−Kp primary repair symbols. The
// repair symbols depend on nothing but the column itself, so a range of
// columns is verified by re-encoding just those columns, at a cost in
// proportion to their bytes, not to the blob's. That is what makes a
// quilt patch cheap to read: it occupies whole columns, so its bytes can
// be read and checked without touching the rest of the quilt.
//
// A column that does not match fails with an error wrapping
// [blobstore.ErrIntegrity] and naming it; columns of the wrong length,
// columns outside [0, Ks) and metadata for another shard count wrap
// [blobstore.ErrInvalidArgument].
func (e *Encoder) VerifyColumns(md *Metadata, c0 int, cols [][]byte) error {
	p := e.p
	if len(md.Pairs) != p.N {
		return fmt.Errorf("rs2: metadata has %d sliver pairs, encoder %d: %w", len(md.Pairs), p.N, blobstore.ErrInvalidArgument)
	}
	if c0 < 0 || c0+len(cols) > p.Ks {
		return fmt.Errorf("rs2: columns [%d, %d) outside the %d message columns: %w", c0, c0+len(cols), p.Ks, blobstore.ErrInvalidArgument)
	}
	l, err := e.Layout(md.Length)
	if err != nil {
		return err
	}
	s := l.SymbolSize
	for k, col := range cols {
		if len(col) != l.SecondarySliverSize() {
			return fmt.Errorf("rs2: column %d has %d bytes, want %d: %w", c0+k, len(col), l.SecondarySliverSize(), blobstore.ErrInvalidArgument)
		}
	}
	sp := paddedSize(s)
	w := batchWidth(p.N, sp)
	nb := (len(cols) + w - 1) / w
	verifiers := make([]*columnVerifier, min(e.workers, nb))
	return blobstore.Parallel(context.Background(), len(verifiers), nb, func(wk, b int) error {
		if verifiers[wk] == nil {
			verifiers[wk] = newColumnVerifier(e, l, w)
		}
		lo, hi := b*w, min((b+1)*w, len(cols))
		return verifiers[wk].verify(md, c0+lo, cols[lo:hi])
	})
}

// columnVerifier holds one goroutine's buffers for VerifyColumns: up to w
// columns re-encoded at a time.
type columnVerifier struct {
	e      *Encoder
	l      Layout
	sp     int
	x      *hasher
	x4     leafHasher4
	cs     codeScratch
	src    [][]byte // Kp rows × w·sp bytes, engine layout
	dst    [][]byte // N−Kp repair rows × w·sp bytes
	srcBuf []byte
	dstBuf []byte
	leaves []Hash // N leaves of one column (+1 spare)
}

func newColumnVerifier(e *Encoder, l Layout, w int) *columnVerifier {
	p := e.p
	sp := paddedSize(l.SymbolSize)
	return &columnVerifier{
		e: e, l: l, sp: sp, x: newHasher(),
		src:    make([][]byte, p.Kp),
		dst:    make([][]byte, p.N-p.Kp),
		srcBuf: make([]byte, p.Kp*w*sp),
		dstBuf: make([]byte, (p.N-p.Kp)*w*sp),
		leaves: make([]Hash, p.N, p.N+1),
	}
}

// verify re-encodes cols (columns c0, c0+1, …; at most w of them) and
// compares each column's root with its secondary hash in md.
func (cv *columnVerifier) verify(md *Metadata, c0 int, cols [][]byte) error {
	p, s, sp := cv.e.p, cv.l.SymbolSize, cv.sp
	width := len(cols) * sp
	for r := range cv.src {
		row := cv.srcBuf[r*width : (r+1)*width]
		for k, col := range cols {
			relayout(row[k*sp:(k+1)*sp], col[r*s:(r+1)*s])
		}
		cv.src[r] = row
	}
	for i := range cv.dst {
		cv.dst[i] = cv.dstBuf[i*width : (i+1)*width]
	}
	if err := cv.e.primary.encode(cv.src, cv.dst, &cv.cs); err != nil {
		return err
	}
	n := p.N
	for k := range cols {
		off := k * sp
		cv.x4.leaves(cv.leaves[:n], s, func(i int) []byte {
			if i < p.Kp {
				return cv.src[i][off : off+sp]
			}
			return cv.dst[i-p.Kp][off : off+sp]
		})
		c := c0 + k
		if got, want := cv.x.root(cv.leaves[:n]), md.Pairs[n-1-c].Secondary; got != want {
			return fmt.Errorf("rs2: column %d: hash %x, metadata says %x: %w", c, got[:8], want[:8], blobstore.ErrIntegrity)
		}
	}
	return nil
}
