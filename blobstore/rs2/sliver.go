package rs2

import (
	"fmt"
	"io"

	"github.com/walrusfs/walrusfs/blobstore"
)

// sliverSymbolSize returns S for a primary sliver of the given length.
func (e *Encoder) sliverSymbolSize(length int) (int, error) {
	ks := e.p.Ks
	if length == 0 || length%ks != 0 || (length/ks)%2 != 0 || length/ks > MaxSymbolSize {
		return 0, fmt.Errorf("rs2: %d bytes is not a primary sliver length at %d shards (want Ks=%d × an even symbol size ≤ %d): %w",
			length, e.p.N, ks, MaxSymbolSize, blobstore.ErrInvalidArgument)
	}
	return length / ks, nil
}

// PrimarySliverHash returns the primary hash of a primary sliver: the
// Merkle root over the sliver's Ks symbols and the N−Ks repair symbols the
// secondary encoding derives from them (row i of the expanded matrix). It
// does not depend on the sliver's index. A sliver whose length is not Ks
// times an even symbol size fails with [blobstore.ErrInvalidArgument].
func (e *Encoder) PrimarySliverHash(sliver []byte) (Hash, error) {
	s, err := e.sliverSymbolSize(len(sliver))
	if err != nil {
		return Hash{}, err
	}
	leaves, err := e.primaryLeaves(sliver, s)
	if err != nil {
		return Hash{}, err
	}
	return newHasher().root(leaves), nil
}

// VerifyPrimarySliver checks primary sliver index against its primary hash
// in md. A mismatch (or a sliver of the wrong length for md) fails with
// [blobstore.ErrIntegrity]; a bad index or metadata for another shard count
// fails with [blobstore.ErrInvalidArgument].
func (e *Encoder) VerifyPrimarySliver(md *Metadata, index int, sliver []byte) error {
	if len(md.Pairs) != e.p.N {
		return fmt.Errorf("rs2: metadata has %d sliver pairs, encoder %d: %w", len(md.Pairs), e.p.N, blobstore.ErrInvalidArgument)
	}
	if index < 0 || index >= e.p.N {
		return fmt.Errorf("rs2: sliver index %d out of range [0, %d): %w", index, e.p.N, blobstore.ErrInvalidArgument)
	}
	l, err := e.Layout(md.Length)
	if err != nil {
		return err
	}
	if len(sliver) != l.PrimarySliverSize() {
		return fmt.Errorf("rs2: primary sliver %d has %d bytes, want %d: %w", index, len(sliver), l.PrimarySliverSize(), blobstore.ErrIntegrity)
	}
	h, err := e.PrimarySliverHash(sliver)
	if err != nil {
		return err
	}
	if h != md.Pairs[index].Primary {
		return fmt.Errorf("rs2: primary sliver %d: hash %x, metadata says %x: %w", index, h[:8], md.Pairs[index].Primary[:8], blobstore.ErrIntegrity)
	}
	return nil
}

// UsableForReconstruction reports whether primary sliver index can take
// part in [Encoder.ReconstructPrimary]: true for every index in [0, N),
// since any Kp primary slivers determine the blob.
func (e *Encoder) UsableForReconstruction(index int) bool {
	return index >= 0 && index < e.p.N
}

// ReconstructPrimary fills in the missing systematic primary slivers
// (indices < Kp) of slivers, which has one entry per shard: a primary
// sliver (all of the same length, Ks·S bytes) or nil when missing. Present
// slivers must be correct; check them first with
// [Encoder.VerifyPrimarySliver] and pass corrupt ones as nil. Missing
// repair slivers (indices ≥ Kp) are left nil: re-encode the blob to rebuild
// them.
//
// Any Kp present slivers suffice; with fewer it fails with an error
// wrapping [ErrTooFewSlivers].
//
// Cost: when the primary encoding is low rate (most N, including 1000) and
// fewer than Kp of the present slivers lie among indices
// 0 … Kp+P(Kp)−1 (0 … 845 at N=1000), the engine's FFT decoder cannot be
// used and the blob is rebuilt by solving the linear system over
// GF(2^16): m·Kp multiply-adds per element for m missing systematic
// slivers, a few seconds for a small blob at N=1000 and proportionally
// more for large ones. Otherwise the FFT decoder runs in
// O(Kp·log Kp) per element. Memory: about (Kp + P(Kp))·Ks·S bytes on top
// of the slivers.
func (e *Encoder) ReconstructPrimary(slivers [][]byte) error {
	p := e.p
	if len(slivers) != p.N {
		return fmt.Errorf("rs2: %d slivers for %d shards: %w", len(slivers), p.N, blobstore.ErrInvalidArgument)
	}
	size, present, missing := 0, 0, 0
	for i, s := range slivers {
		if s == nil {
			if i < p.Kp {
				missing++
			}
			continue
		}
		if size == 0 {
			size = len(s)
		} else if len(s) != size {
			return fmt.Errorf("rs2: primary sliver %d has %d bytes, others %d: %w", i, len(s), size, blobstore.ErrInvalidArgument)
		}
		present++
	}
	if missing == 0 {
		return nil
	}
	if present < p.Kp {
		return fmt.Errorf("rs2: %d primary slivers present, need %d: %w", present, p.Kp, ErrTooFewSlivers)
	}
	s, err := e.sliverSymbolSize(size)
	if err != nil {
		return err
	}
	// Decode from exactly Kp slivers: the systematic ones present, then
	// repair slivers in index order, which puts those the FFT decoder can
	// use first.
	sp := paddedSize(s)
	shards := make([][]byte, p.N)
	used := 0
	for i, sl := range slivers {
		if sl == nil || used == p.Kp {
			continue
		}
		sh := make([]byte, p.Ks*sp)
		for c := range p.Ks {
			relayout(sh[c*sp:(c+1)*sp], sl[c*s:(c+1)*s])
		}
		shards[i] = sh
		used++
	}
	if err := e.primary.reconstruct(shards, e.workers); err != nil {
		return err
	}
	for i := range p.Kp {
		if slivers[i] != nil {
			continue
		}
		out := make([]byte, size)
		for c := range p.Ks {
			unrelayout(out[c*s:(c+1)*s], shards[i][c*sp:(c+1)*sp])
		}
		slivers[i] = out
	}
	return nil
}

// ReconstructBlob writes the length-byte blob held by slivers (as for
// [Encoder.ReconstructPrimary], which it calls if systematic slivers are
// missing) to w.
func (e *Encoder) ReconstructBlob(slivers [][]byte, length uint64, w io.Writer) error {
	l, err := e.Layout(length)
	if err != nil {
		return err
	}
	if err := e.ReconstructPrimary(slivers); err != nil {
		return err
	}
	remaining := length
	for i := 0; i < e.p.Kp && remaining > 0; i++ {
		if len(slivers[i]) != l.PrimarySliverSize() {
			return fmt.Errorf("rs2: primary sliver %d has %d bytes, want %d: %w", i, len(slivers[i]), l.PrimarySliverSize(), blobstore.ErrInvalidArgument)
		}
		k := min(remaining, uint64(len(slivers[i])))
		if _, err := w.Write(slivers[i][:k]); err != nil {
			return fmt.Errorf("rs2: write blob: %w", err)
		}
		remaining -= k
	}
	return nil
}
