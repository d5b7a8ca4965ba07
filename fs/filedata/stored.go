package filedata

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// Reading stored chunks, top to bottom: readStored asks the block cache for
// each block a read overlaps; the cache answers from memory, then from disk
// (re-verified), then by one shared fetch, which calls storedBlock.Fetch;
// Fetch calls fetchVerified, the one place bytes come from the store, and
// every block is checked there against the hash the index recorded at
// upload before anything uses it. The blocks a fetch brings in besides the
// one asked for go back to the cache with it.

// ErrNoKey means a chunk is encrypted and no key was configured to open
// it.
var ErrNoKey = errors.New("the chunk is encrypted and no key is configured (key file missing from the state directory?)")

// readStored fills p with the plaintext of stored chunk s from offset in;
// bytes past the chunk's plaintext read as zeros.
func (e *Engine) readStored(ctx context.Context, s *index.StoredChunk, in uint64, p []byte) error {
	codec, err := e.codecFor(s)
	if err != nil {
		return fmt.Errorf("stored chunk in blob %s: %w", blobstore.ID(s.BlobID), err)
	}
	// Bytes past the chunk's plaintext read as zeros.
	have := int(min(uint64(len(p)), s.PlainLen-min(in, s.PlainLen)))
	clear(p[have:])
	// A block that is not cached is fetched together with the blocks
	// after it that the read needs (one request, not one per block), and
	// nothing past them: what is fetched ahead of a reader is prefetch's
	// decision.
	bs := uint64(s.BlockSize)
	var lastBlock int
	if have > 0 {
		lastBlock = int((in + uint64(have) - 1) / bs)
	}
	for sp := range spans(in, have, bs) {
		b := &storedBlock{e: e, s: s, i: int(sp.N), codec: codec, spanTo: lastBlock + 1}
		plain, err := e.cfg.Cache.Get(ctx, b.key(), b)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return fmt.Errorf("block %d of blob %s: %w", b.i, blobstore.ID(s.BlobID), err)
		}
		if int(sp.In)+sp.Len > len(plain) {
			return fmt.Errorf("block %d of blob %s: %d bytes, the read needs %d: %w", b.i, blobstore.ID(s.BlobID), len(plain), int(sp.In)+sp.Len, blobstore.ErrIntegrity)
		}
		copy(p[sp.Off:sp.Off+sp.Len], plain[sp.In:])
	}
	return nil
}

// prefetchStored asks the cache, without waiting, for the blocks of
// stored chunk s that start in plaintext [from, to) and the block holding
// to-1, in one fetch. A block that starts before from is left out: the
// reader that is there has it.
func (e *Engine) prefetchStored(s *index.StoredChunk, from, to uint64) {
	bs := uint64(s.BlockSize)
	first, end := (from+bs-1)/bs, min((min(to, s.PlainLen)+bs-1)/bs, uint64(len(s.BlockHashes)))
	if first >= end {
		return
	}
	codec, err := e.codecFor(s)
	if err != nil {
		return
	}
	b := &storedBlock{e: e, s: s, i: int(first), codec: codec, spanTo: int(end)}
	e.cfg.Cache.Prefetch(b.key(), b)
}

func (e *Engine) codecFor(s *index.StoredChunk) (*blockcrypt.Codec, error) {
	l := blockcrypt.Layout{BlockSize: int(s.BlockSize), Encrypted: s.Encrypted}
	if c := e.cfg.Codec; c.Layout() == l {
		return c, nil
	}
	if s.Encrypted {
		if e.cfg.Key == nil {
			return nil, ErrNoKey
		}
		return blockcrypt.NewCodec(l, e.cfg.Key)
	}
	return blockcrypt.NewCodec(l, nil)
}

// storedBlock is block i of a stored chunk: the block cache's Source.
type storedBlock struct {
	e     *Engine
	s     *index.StoredChunk
	i     int
	codec *blockcrypt.Codec
	// spanTo, when past i, makes the fetch read blocks i to spanTo
	// (exclusive) and hand the later ones to the cache too: for a
	// sequential reader, one request per stretch read ahead instead of
	// one per block (a range read from RS2 slivers costs about the same
	// whatever its length).
	spanTo int
}

var (
	_ blockcache.Source  = (*storedBlock)(nil)
	_ blockcache.Spanner = (*storedBlock)(nil)
)

// fetchRange is the blocks [from, to) Fetch reads: the block alone, the
// stretch up to spanTo, or a whole quilt patch (patches are read whole).
func (b *storedBlock) fetchRange() (from, to int) {
	switch {
	case len(b.s.PatchID) > 0:
		return 0, len(b.s.BlockHashes)
	case b.spanTo > b.i+1:
		return b.i, min(b.spanTo, len(b.s.BlockHashes))
	}
	return b.i, b.i + 1
}

// Span is the keys of the other blocks Fetch brings in, so that readers of
// them wait for it rather than fetch them again.
func (b *storedBlock) Span() []string {
	from, to := b.fetchRange()
	var keys []string
	for i := from; i < to; i++ {
		if i != b.i {
			keys = append(keys, b.sibling(i).key())
		}
	}
	return keys
}

func (b *storedBlock) sibling(i int) *storedBlock {
	return &storedBlock{e: b.e, s: b.s, i: i, codec: b.codec}
}

// blockKey names a stored block in the cache: the object it lives in and
// its stored offset there.
func blockKey(s *index.StoredChunk, storedOff int64) string {
	var obj string
	if len(s.PatchID) > 0 {
		obj = "p" + blobstore.ID(s.BlobID).String() + string(s.PatchID[blobstore.IDSize:])
	} else {
		obj = "b" + blobstore.ID(s.BlobID).String()
	}
	return obj + "/" + strconv.FormatInt(int64(s.Offset)+storedOff, 10)
}

func (b *storedBlock) key() string {
	off, _, _ := b.codec.Layout().StoredBlock(int64(b.s.PlainLen), b.i)
	return blockKey(b.s, off)
}

func (b *storedBlock) Verify(stored []byte) error {
	if blockcrypt.BlockHash(stored) != b.s.BlockHashes[b.i] {
		return fmt.Errorf("block %d of blob %s: hash mismatch: %w", b.i, blobstore.ID(b.s.BlobID), blobstore.ErrIntegrity)
	}
	return nil
}

// Decode opens a block the cache has checked with Verify (read back from
// disk) or that Fetch returned (checked there): the hash is not computed a
// second time.
func (b *storedBlock) Decode(stored []byte) ([]byte, error) {
	return b.codec.OpenChecked(nil, stored)
}

// Fetch reads the block (and, for a span or a quilt patch, which is read
// whole, its siblings) from the store, verified.
func (b *storedBlock) Fetch(ctx context.Context) ([]byte, []blockcache.Block, error) {
	from, to := b.fetchRange()
	blocks, err := b.e.fetchVerified(ctx, b.s, b.codec.Layout(), from, to, b.i)
	if err != nil {
		return nil, nil, err
	}
	var more []blockcache.Block
	for j, stored := range blocks {
		if i := from + j; i != b.i && stored != nil {
			sib := b.sibling(i)
			more = append(more, blockcache.Block{Key: sib.key(), Stored: stored, Source: sib})
		}
	}
	return blocks[b.i-from], more, nil
}

// fetchVerified reads the stored bytes of blocks [from, to) of chunk s
// from the store and checks each against its hash; it returns them per
// block. A blob range is read once, and every block must pass: a store
// that can re-read from another source (blobstore.RangeVerifier) does so
// when one fails. A quilt patch is read whole, up to patchReadAttempts
// times until block need passes; its other blocks that fail are left nil.
func (e *Engine) fetchVerified(ctx context.Context, s *index.StoredChunk, l blockcrypt.Layout, from, to, need int) ([][]byte, error) {
	first, _, _ := l.StoredBlock(int64(s.PlainLen), from)
	lastOff, lastLen, _ := l.StoredBlock(int64(s.PlainLen), to-1)
	end := lastOff + int64(lastLen)
	split := func(buf []byte, strict bool) ([][]byte, error) {
		out := make([][]byte, to-from)
		for i := from; i < to; i++ {
			off, n, _ := l.StoredBlock(int64(s.PlainLen), i)
			stored := buf[off-first : off-first+int64(n)]
			if err := (&storedBlock{s: s, i: i}).Verify(stored); err != nil {
				if strict || i == need {
					return nil, err
				}
				continue
			}
			if to-from > 1 || len(s.PatchID) > 0 {
				// The cache keeps each block on its own (unencrypted
				// blocks decode to themselves): do not pin the buffer.
				stored = bytes.Clone(stored)
			}
			out[i-from] = stored
		}
		return out, nil
	}

	if len(s.PatchID) > 0 {
		pid := patchID(s)
		var lastErr error
		for range patchReadAttempts {
			data, err := readPatch(ctx, e.cfg.Store, pid, int64(s.Offset)+end)
			if err != nil {
				return nil, err
			}
			if int64(len(data)) < int64(s.Offset)+end {
				lastErr = fmt.Errorf("patch %s: %d bytes, the chunk needs %d: %w", pid, len(data), int64(s.Offset)+end, blobstore.ErrIntegrity)
				continue
			}
			blocks, err := split(data[int64(s.Offset)+first:], false)
			if err == nil {
				return blocks, nil
			}
			lastErr = err
			e.log.Warn("quilt patch failed verification; reading it again", "patch", pid, "err", err)
		}
		return nil, lastErr
	}

	id := blobstore.ID(s.BlobID)
	start, length := int64(s.Offset)+first, end-first
	var blocks [][]byte
	consume := func(r io.Reader) error {
		buf := make([]byte, length)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		var err error
		blocks, err = split(buf, true)
		return err
	}
	if v, ok := e.cfg.Store.(blobstore.RangeVerifier); ok {
		if err := v.ReadRangeVerified(ctx, id, start, length, consume); err != nil {
			return nil, err
		}
		return blocks, nil
	}
	rc, err := e.cfg.Store.ReadRange(ctx, id, start, length)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	if err := consume(rc); err != nil {
		return nil, err
	}
	return blocks, nil
}

// patchReadAttempts bounds re-reads of a quilt patch that failed
// verification (each may come from another aggregator).
const patchReadAttempts = 3

// patchID decodes the binary patch ID the index keeps.
func patchID(s *index.StoredChunk) blobstore.PatchID {
	var p blobstore.PatchID
	copy(p.Quilt[:], s.PatchID[:blobstore.IDSize])
	p.Version = s.PatchID[blobstore.IDSize]
	p.Start = binary.LittleEndian.Uint16(s.PatchID[blobstore.IDSize+1:])
	p.End = binary.LittleEndian.Uint16(s.PatchID[blobstore.IDSize+3:])
	return p
}

// readPatch reads at most want bytes of quilt patch pid.
func readPatch(ctx context.Context, store blobstore.Store, pid blobstore.PatchID, want int64) ([]byte, error) {
	rc, err := store.ReadPatch(ctx, pid)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	buf := bytes.NewBuffer(make([]byte, 0, want))
	_, err = io.Copy(buf, io.LimitReader(rc, want))
	return buf.Bytes(), err
}
