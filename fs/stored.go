package fs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// Reading stored chunks. A stored chunk is a run of blocks inside a blob or
// a quilt patch (see fs/filedata/blockcrypt for the stored form). A read asks
// the block cache for the blocks it overlaps; the cache answers from memory,
// then from disk (re-verified), then by one shared fetch from the store.
// Every fetched block is checked against the hash the index recorded at
// upload before anything uses it.

// VerifiedRangeReader is the capability of a store (the Walrus HTTP client)
// to re-read a range from another source when the caller's check fails.
type VerifiedRangeReader interface {
	ReadRangeVerified(ctx context.Context, id blobstore.ID, off, length int64, consume func(r io.Reader) error) error
}

// storedBlock is one block of a stored chunk: the block cache's Source.
type storedBlock struct {
	fs    *FS
	s     *index.StoredChunk
	i     int
	codec *blockcrypt.Codec
	// span makes the fetch read from this block to the end of the chunk
	// and put the later blocks in the cache too: for a sequential reader,
	// one request per chunk instead of one per block (a range read from
	// RS2 slivers costs about the same whatever its length).
	span bool
}

func (f *FS) codecFor(s *index.StoredChunk) (*blockcrypt.Codec, error) {
	l := blockcrypt.Layout{BlockSize: int(s.BlockSize), Encrypted: s.Encrypted}
	if c := f.cfg.Codec; c != nil && c.Layout() == l {
		return c, nil
	}
	if s.Encrypted {
		if f.cfg.Key == nil {
			return nil, errors.New("the chunk is encrypted and no key is configured (key file missing from the state directory?)")
		}
		return blockcrypt.NewCodec(l, f.cfg.Key)
	}
	return blockcrypt.NewCodec(l, nil)
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

func (b *storedBlock) rangeOf() (off int64, n int) {
	off, n, _ = b.codec.Layout().StoredBlock(int64(b.s.PlainLen), b.i)
	return off, n
}

func (b *storedBlock) key() string {
	off, _ := b.rangeOf()
	return blockKey(b.s, off)
}

func (b *storedBlock) Verify(stored []byte) error {
	if blockcrypt.BlockHash(stored) != b.s.BlockHashes[b.i] {
		return fmt.Errorf("block %d of blob %s: hash mismatch: %w", b.i, blobstore.ID(b.s.BlobID), blobstore.ErrIntegrity)
	}
	return nil
}

func (b *storedBlock) Decode(stored []byte) ([]byte, error) {
	return b.codec.OpenBlock(nil, stored, b.s.BlockHashes[b.i])
}

func (b *storedBlock) Fetch(ctx context.Context) ([]byte, error) {
	off, n := b.rangeOf()
	store := b.fs.cfg.Store
	if len(b.s.PatchID) > 0 {
		return b.fetchFromPatch(ctx, off, n)
	}
	id := blobstore.ID(b.s.BlobID)
	start := int64(b.s.Offset) + off
	length := int64(n)
	if b.span {
		length = int64(b.s.Length) - off
	}
	buf := make([]byte, length)
	consume := func(r io.Reader) error {
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		return b.verifySpan(buf, off)
	}
	if v, ok := store.(VerifiedRangeReader); ok {
		if err := v.ReadRangeVerified(ctx, id, start, length, consume); err != nil {
			return nil, err
		}
	} else {
		rc, err := store.ReadRange(ctx, id, start, length)
		if err != nil {
			return nil, err
		}
		err = consume(rc)
		_ = rc.Close()
		if err != nil {
			return nil, err
		}
	}
	if !b.span {
		return buf, nil
	}
	b.keepSiblings(buf, off)
	return bytes.Clone(buf[:n]), nil
}

// verifySpan checks every block held in buf, which starts at stored offset
// off of the chunk (block b.i).
func (b *storedBlock) verifySpan(buf []byte, off int64) error {
	for j := b.i; j < len(b.s.BlockHashes); j++ {
		sib := &storedBlock{fs: b.fs, s: b.s, i: j, codec: b.codec}
		so, sn := sib.rangeOf()
		if so-off >= int64(len(buf)) {
			break
		}
		if err := sib.Verify(buf[so-off : so-off+int64(sn)]); err != nil {
			return err
		}
	}
	return nil
}

// keepSiblings puts the verified blocks after b.i held in buf into the
// cache, decoded in memory and stored on disk.
func (b *storedBlock) keepSiblings(buf []byte, off int64) {
	c := b.fs.cfg.Cache
	if c == nil {
		return
	}
	for j := b.i + 1; j < len(b.s.BlockHashes); j++ {
		sib := &storedBlock{fs: b.fs, s: b.s, i: j, codec: b.codec}
		so, sn := sib.rangeOf()
		if so-off+int64(sn) > int64(len(buf)) {
			return
		}
		stored := buf[so-off : so-off+int64(sn)]
		plain, err := sib.Decode(stored)
		if err != nil {
			return
		}
		if !b.codec.Layout().Encrypted {
			plain = bytes.Clone(plain) // Decode returns a slice of buf
		}
		c.PutDecoded(sib.key(), plain)
		_ = c.PutStored(sib.key(), bytes.Clone(stored))
	}
}

// fetchFromPatch reads the whole patch (patches are read whole), keeps the
// block asked for and puts its verified siblings in the disk cache, so a
// sequential reader of a packed chunk fetches it once.
func (b *storedBlock) fetchFromPatch(ctx context.Context, off int64, n int) ([]byte, error) {
	pid := patchID(b.s)
	var lastErr error
	for attempt := 0; attempt < patchReadAttempts; attempt++ {
		data, err := readAllLimited(ctx, b.fs.cfg.Store, pid, int64(b.s.Offset+b.s.Length))
		if err != nil {
			return nil, err
		}
		if int64(len(data)) < int64(b.s.Offset+b.s.Length) {
			lastErr = fmt.Errorf("patch %s: %d bytes, the chunk needs %d: %w", pid, len(data), b.s.Offset+b.s.Length, blobstore.ErrIntegrity)
			continue
		}
		chunk := data[b.s.Offset : b.s.Offset+b.s.Length]
		block := chunk[off : off+int64(n)]
		if lastErr = b.Verify(block); lastErr != nil {
			b.fs.log.Warn("quilt patch failed verification; reading it again", "patch", pid, "err", lastErr)
			continue
		}
		if c := b.fs.cfg.Cache; c != nil {
			for i := range b.s.BlockHashes {
				if i == b.i {
					continue
				}
				sib := &storedBlock{fs: b.fs, s: b.s, i: i, codec: b.codec}
				so, sn := sib.rangeOf()
				if stored := chunk[so : so+int64(sn)]; sib.Verify(stored) == nil {
					_ = c.PutStored(sib.key(), bytes.Clone(stored))
				}
			}
		}
		return bytes.Clone(block), nil
	}
	return nil, lastErr
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

func readAllLimited(ctx context.Context, store blobstore.Store, pid blobstore.PatchID, want int64) ([]byte, error) {
	rc, err := store.ReadPatch(ctx, pid)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	buf := bytes.NewBuffer(make([]byte, 0, want))
	_, err = io.Copy(buf, io.LimitReader(rc, want))
	return buf.Bytes(), err
}

// readStored fills p with the plaintext of stored chunk s from offset in;
// bytes past the chunk's plaintext read as zeros.
func (f *FS) readStored(ctx context.Context, s *index.StoredChunk, in uint64, p []byte) error {
	if f.cfg.Store == nil {
		f.log.Error("read: the chunk is stored in a blob and no blob store is configured")
		return syscall.EIO
	}
	codec, err := f.codecFor(s)
	if err != nil {
		f.log.Error("read: cannot decode stored chunk", "blob", blobstore.ID(s.BlobID), "err", err)
		return syscall.EIO
	}
	bs := uint64(s.BlockSize)
	done := 0
	for done < len(p) {
		pos := in + uint64(done)
		if pos >= s.PlainLen {
			clear(p[done:])
			return nil
		}
		b := &storedBlock{fs: f, s: s, i: int(pos / bs), codec: codec}
		plain, err := f.block(ctx, b)
		if err != nil {
			return err
		}
		done += copy(p[done:], plain[pos%bs:])
	}
	return nil
}

// block returns the plaintext of one stored block, through the cache when
// there is one.
func (f *FS) block(ctx context.Context, b *storedBlock) ([]byte, error) {
	var plain []byte
	var err error
	if c := f.cfg.Cache; c != nil {
		plain, err = c.Get(ctx, b.key(), b)
	} else {
		var stored []byte
		if stored, err = b.Fetch(ctx); err == nil {
			plain, err = b.Decode(stored)
		}
	}
	if err == nil {
		return plain, nil
	}
	if ctx.Err() != nil {
		return nil, syscall.EINTR
	}
	f.log.Error("read: fetching a stored block failed", "blob", blobstore.ID(b.s.BlobID), "block", b.i, "err", err)
	return nil, syscall.EIO
}

// prefetchStored asks the cache, without waiting, for chunk s from the
// block holding plaintext offset in to the chunk's end, in one fetch.
func (f *FS) prefetchStored(s *index.StoredChunk, in uint64) {
	c := f.cfg.Cache
	if c == nil || f.cfg.Store == nil || in >= s.PlainLen {
		return
	}
	codec, err := f.codecFor(s)
	if err != nil {
		return
	}
	b := &storedBlock{fs: f, s: s, i: int(in / uint64(s.BlockSize)), codec: codec, span: len(s.PatchID) == 0}
	c.Prefetch(b.key(), b)
}
