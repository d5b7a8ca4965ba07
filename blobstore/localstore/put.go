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
	"sync"
	"syscall"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// Put stores size bytes from r as one blob, encoded at Config.Shards, and
// returns its info. The returned ID is the Walrus blob ID of the bytes at
// that shard count.
//
// Errors: a blob over [Store.MaxBlobSize] fails with ErrTooLarge before r is
// read; a reader that yields fewer or more than size bytes fails with
// ErrInvalidArgument and leaves nothing behind, as does any failure before
// the commit point. opts.Epochs above [MaxEpochsAhead] is
// ErrInvalidArgument.
//
// Storing bytes that are already stored is idempotent: the existing blob is
// reported with AlreadyCertified set, unless opts.Force is set or the
// request asks for a later end epoch, in which case the blob's record is
// extended (AlreadyCertified false). A Put that finds the blob missing from
// some directories (a replaced disk) also restores the slivers there.
//
// Memory: within Config.EncodeMemory. A blob is encoded in memory as it
// is read (the message matrix with its secondary repair columns, about
// 1.5× the blob, with the repair slivers gathered before they are written
// when that fits too) or, when that would take more, copied into its
// systematic slivers and encoded from there in strips through a spill
// file in tmp/ (see rs2.Encoder.EncodeAt).
func (s *Store) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	done, err := s.enter()
	if err != nil {
		return blobstore.Info{}, err
	}
	defer done()
	info, err := s.put(ctx, s.enc, r, size, opts)
	if err != nil {
		return blobstore.Info{}, fmt.Errorf("localstore: put %d bytes: %w", size, err)
	}
	return info, nil
}

// put stores a blob encoded with enc (at enc's shard count).
func (s *Store) put(ctx context.Context, enc *rs2.Encoder, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	if size < 0 {
		return blobstore.Info{}, fmt.Errorf("negative size: %w", blobstore.ErrInvalidArgument)
	}
	if max := s.maxSize(enc.Params()); size > max {
		return blobstore.Info{}, fmt.Errorf("blob exceeds the limit of %d bytes at %d shards: %w", max, enc.Params().N, blobstore.ErrTooLarge)
	}
	epochs := opts.Epochs
	if epochs == 0 {
		epochs = DefaultEpochs
	}
	if epochs > MaxEpochsAhead {
		return blobstore.Info{}, fmt.Errorf("%d epochs ahead: at most %d: %w", epochs, MaxEpochsAhead, blobstore.ErrInvalidArgument)
	}
	nonce := newNonce()
	rec, err := s.stage(ctx, enc, nonce, r, size, epochs, opts)
	if err != nil {
		s.removeStaging(nonce)
		return blobstore.Info{}, err
	}
	id := rec.ID

	st := s.stripe(id)
	st.lock()
	defer st.unlock()
	old, err := s.load(ctx, id)
	switch {
	case err == nil:
		// Stored before, or meanwhile; maybe with directories to heal.
		if herr := s.heal(nonce, old); herr != nil {
			s.log.Warn("localstore: restoring missing slivers", "blob", id, "err", herr)
		}
		s.removeStaging(nonce)
		return s.putExisting(old, epochs, opts)
	case !errors.Is(err, blobstore.ErrNotFound):
		s.removeStaging(nonce)
		return blobstore.Info{}, fmt.Errorf("blob %s: %w", id, err)
	}
	if err := s.publishAll(nonce, id); err != nil {
		return blobstore.Info{}, fmt.Errorf("blob %s: publish: %w", id, err)
	}
	s.log.Debug("localstore: stored", "blob", id, "size", size, "endEpoch", rec.End)
	return s.info(rec), nil
}

// newRecord returns the record of a blob stored now for epochs epochs.
func (s *Store) newRecord(meta *rs2.Metadata, epochs uint32, opts blobstore.PutOptions) *record {
	now := s.clock.epoch()
	return &record{
		ID:         meta.BlobID(),
		Shards:     len(meta.Pairs),
		Size:       int64(meta.Length),
		Gen:        1,
		Registered: now,
		Certified:  now,
		End:        now + epochs,
		Deletable:  !opts.Permanent,
		Created:    s.now().UTC(),
		Hashes:     meta.Pairs,
	}
}

// putExisting answers a Put of bytes already stored as record r: it
// reports the blob as already certified, or extends its end epoch (and
// clears Deletable for a permanent request) when the request asks for more
// or opts.Force is set. The caller holds the stripe for writing.
func (s *Store) putExisting(r *record, epochs uint32, opts blobstore.PutOptions) (blobstore.Info, error) {
	end := s.clock.epoch() + epochs
	upgrade := opts.Permanent && r.Deletable
	if !opts.Force && !upgrade && r.End >= end {
		info := s.info(r)
		info.AlreadyCertified = true
		return info, nil
	}
	nr := *r
	nr.Gen++
	nr.End = max(r.End, end)
	nr.Deletable = r.Deletable && !opts.Permanent
	if err := s.rewriteRecord(&nr); err != nil {
		return blobstore.Info{}, fmt.Errorf("blob %s: update record: %w", r.ID, err)
	}
	return s.info(&nr), nil
}

// missingDirs returns the directories that have no copy of blob id.
func (s *Store) missingDirs(id blobstore.ID) []int {
	var out []int
	for d := range s.dirs {
		if _, err := os.Stat(filepath.Join(s.blobDir(d, id), metaFile)); errors.Is(err, fs.ErrNotExist) {
			out = append(out, d)
		}
	}
	return out
}

// stage runs phase 1 of the commit protocol (see the package doc): it
// reads the blob from r, encodes it, writes each directory's primary
// slivers into its slivers file and the metadata record next to it, all
// in tmp/put-<nonce>/, and makes everything durable: every file, every
// staging directory and every tmp directory. enc fixes the shard count.
// The caller removes the staging directories on error.
func (s *Store) stage(ctx context.Context, enc *rs2.Encoder, nonce string, r io.Reader, size int64, epochs uint32, opts blobstore.PutOptions) (*record, error) {
	n := enc.Params().N
	lay, err := enc.Layout(uint64(size))
	if err != nil {
		return nil, err
	}
	sliverSize := int64(lay.PrimarySliverSize())
	nd := len(s.dirs)
	// On error the files are closed here, unchecked: the caller removes
	// them. On success they are closed, checked, before returning.
	files := make([]*os.File, 0, 2*nd)
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	packs := make([]*os.File, nd)
	paced := make([]*pacedFile, nd)
	for d := range s.dirs {
		sd := s.tmpPath(d, stagePrefix+nonce)
		if err := os.Mkdir(sd, 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(sd, sliversFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		packs[d] = f
		paced[d] = &pacedFile{f: f}
	}
	// A blob whose encoding fits Config.EncodeMemory is encoded in memory
	// straight from r, which writes the systematic slivers as it reads.
	// A larger one is copied into its systematic slivers first and encoded
	// from there in strips.
	need := enc.MemoryInMemory(size)
	inMemory := need <= s.cfg.EncodeMemory
	// Gathering repair slivers costs their whole size in memory at once
	// (and saves about 12% of the CPU of an 8 MiB blob at 40 shards): only
	// when it fits the budget next to an in-memory encoding.
	gathered := int64(n-enc.Params().Kp) * sliverSize
	direct := gathered > s.maxGathered || need+gathered > s.cfg.EncodeMemory
	first := 0 // the first sliver the encoder writes
	if !inMemory {
		if err := s.writeSystematic(ctx, r, size, lay, paced); err != nil {
			return nil, err
		}
		first = enc.Params().Kp
	}
	sws := make([]sliverWriter, n)
	writers := make([]io.WriterAt, n) // nil for systematic slivers already written
	for i := first; i < n; i++ {
		sws[i] = sliverWriter{ctx: ctx, f: paced[s.dirOf(i)], base: s.sliverOffset(i, sliverSize), size: sliverSize, bufs: &s.sliverBufs, direct: direct}
		writers[i] = &sws[i]
	}
	var meta *rs2.Metadata
	if inMemory {
		meta, err = enc.Encode(ctx, r, size, writers)
	} else {
		cfg := rs2.StreamConfig{MemoryBudget: s.cfg.EncodeMemory, TempDir: s.tmpPath(0, "")}
		meta, err = enc.EncodeAt(ctx, systematicReader{s: s, packs: packs, rowLen: sliverSize}, size, writers, cfg)
	}
	if err != nil {
		return nil, err
	}
	for i := range sws {
		if err := sws[i].flush(); err != nil {
			return nil, err
		}
	}
	if keepsTrees(n, lay) {
		stageDirs := make([]string, nd)
		for d := range stageDirs {
			stageDirs[d] = s.tmpPath(d, stagePrefix+nonce)
		}
		tf, err := s.writeTrees(ctx, enc, lay, packs, stageDirs)
		files = append(files, tf...)
		if err != nil {
			return nil, fmt.Errorf("sliver trees: %w", err)
		}
	}
	rec := s.newRecord(meta, epochs, opts)
	b := rec.marshal()
	for d := range s.dirs {
		f, err := os.OpenFile(filepath.Join(s.tmpPath(d, stagePrefix+nonce), metaFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		if _, err := f.Write(b); err != nil {
			return nil, err
		}
	}
	for _, pf := range paced {
		if err := pf.writeBack(ctx, 0); err != nil {
			return nil, err
		}
	}
	// One round of fsyncs, all in parallel, so the file system can commit
	// them together.
	errs := make([]error, len(files)+2*nd)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { errs[i] = f.Sync() })
	}
	for d := range s.dirs {
		k := len(files) + 2*d
		wg.Go(func() { errs[k] = syncDir(s.tmpPath(d, stagePrefix+nonce)) })
		wg.Go(func() { errs[k+1] = syncDir(filepath.Join(s.dirs[d], tmpDir)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sync staged blob: %w", err)
	}
	cerrs := make([]error, len(files))
	for i, f := range files {
		cerrs[i] = f.Close()
	}
	files = nil // closed; nothing left for the deferred cleanup
	if err := errors.Join(cerrs...); err != nil {
		return nil, fmt.Errorf("close staged blob: %w", err)
	}
	return rec, nil
}

// writeSystematic copies the blob from r into the systematic primary
// slivers (rows 0…Kp−1 of the message matrix, each Ks·S bytes, the last
// zero-padded) at their places in packs, and checks that r holds exactly
// size bytes (ErrInvalidArgument otherwise).
func (s *Store) writeSystematic(ctx context.Context, r io.Reader, size int64, lay rs2.Layout, packs []*pacedFile) error {
	rowLen := int64(lay.PrimarySliverSize())
	buf := s.copyBufs.get(copyBufSize)
	defer s.copyBufs.put(buf)
	remaining := size
	for row := range lay.Kp {
		f, base := packs[s.dirOf(row)], s.sliverOffset(row, rowLen)
		for off := int64(0); off < rowLen; {
			k := min(int64(len(buf)), rowLen-off)
			data := min(k, remaining)
			if got, err := io.ReadFull(r, buf[:data]); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return fmt.Errorf("blob ended after %d of %d bytes: %w", size-remaining+int64(got), size, blobstore.ErrInvalidArgument)
				}
				return fmt.Errorf("read blob: %w", err)
			}
			clear(buf[data:k])
			remaining -= data
			if _, err := f.writeAt(ctx, buf[:k], base+off); err != nil {
				return err
			}
			off += k
		}
	}
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n > 0 {
		return fmt.Errorf("blob longer than the declared %d bytes: %w", size, blobstore.ErrInvalidArgument)
	}
	return nil
}

// copyBufSize is the piece in which writeSystematic copies blob bytes.
const copyBufSize = 256 << 10

// systematicReader reads the blob back from the systematic slivers
// writeSystematic wrote: blob byte o is byte o mod Ks·S of sliver
// o / (Ks·S). ReadAt may be called concurrently.
type systematicReader struct {
	s      *Store
	packs  []*os.File
	rowLen int64 // bytes per primary sliver, Ks·S
}

func (r systematicReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		row, in := (off+int64(n))/r.rowLen, (off+int64(n))%r.rowLen
		k := min(int64(len(p)-n), r.rowLen-in)
		got, err := r.packs[r.s.dirOf(int(row))].ReadAt(p[n:n+int(k)], r.s.sliverOffset(int(row), r.rowLen)+in)
		n += got
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sliverWriter writes one primary sliver into its directory's slivers
// file, at the sliver's offset there. The encoder hands over a systematic
// sliver whole, which goes straight to the file, but a repair sliver in
// pieces (a batch of columns), interleaved with all the other repair
// slivers. Those pieces are gathered in memory and the sliver written once
// complete, because writing thousands of pieces scattered over the file
// costs more CPU per blob (about 12% for an 8 MiB blob at 40 shards). When
// gathering would not fit Config.EncodeMemory next to the encoding, or would
// take more than Store.maxGathered bytes (wide codes: a 16 MiB quilt at
// 1000 shards has 666 repair slivers, 33 MiB), the pieces go straight to
// the file instead (direct).
type sliverWriter struct {
	ctx    context.Context // paces the writes of background Puts
	f      *pacedFile
	base   int64
	size   int64
	bufs   *bufPool // recycles gathering buffers
	buf    []byte   // the sliver being gathered
	have   int64    // bytes of buf written; pieces never overlap
	direct bool     // write pieces as they come
}

// defaultMaxGathered bounds the memory that gathering a blob's repair
// slivers may take (see sliverWriter): an 8 MiB blob at 40 shards gathers
// 15 MiB.
const defaultMaxGathered = 16 << 20

func (w *sliverWriter) WriteAt(p []byte, off int64) (int, error) {
	if off == 0 && int64(len(p)) == w.size {
		return w.f.writeAt(w.ctx, p, w.base)
	}
	if off < 0 || off+int64(len(p)) > w.size {
		return 0, fmt.Errorf("sliver piece [%d, +%d) outside a %d-byte sliver", off, len(p), w.size)
	}
	if w.direct {
		return w.f.writeAt(w.ctx, p, w.base+off)
	}
	if w.buf == nil {
		// Pieces cover the whole sliver, so a recycled buffer need not be
		// cleared.
		w.buf = w.bufs.get(int(w.size))
	}
	copy(w.buf[off:], p)
	w.have += int64(len(p))
	if w.have < w.size {
		return len(p), nil
	}
	return len(p), w.flush()
}

// flush writes the gathered sliver, if any.
func (w *sliverWriter) flush() error {
	if w.buf == nil {
		return nil
	}
	_, err := w.f.writeAt(w.ctx, w.buf, w.base)
	w.bufs.put(w.buf)
	w.buf, w.have = nil, 0
	return err
}

// publishAll runs phase 2 of the commit protocol: it renames every staging
// directory of nonce to the blob's final path, in parallel. The first
// rename is the commit point. On error the blob is removed again, so the
// caller's error means "not stored". The caller holds the stripe for
// writing.
func (s *Store) publishAll(nonce string, id blobstore.ID) error {
	errs := make([]error, len(s.dirs))
	var wg sync.WaitGroup
	for d := range s.dirs {
		wg.Go(func() { errs[d] = s.publish(d, nonce, id) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.removeStaging(nonce)
		if derr := s.deleteBlob(id); derr != nil {
			s.log.Error("localstore: rolling back a failed publish", "blob", id, "err", derr)
		}
		return err
	}
	return nil
}

// publish moves directory d's staging directory for nonce to the blob's
// final path and makes the rename durable. An existing final directory (a
// leftover without metadata) is replaced.
func (s *Store) publish(d int, nonce string, id blobstore.ID) error {
	sd := s.tmpPath(d, stagePrefix+nonce)
	bd := s.blobDir(d, id)
	parent := filepath.Dir(bd)
	err := os.Rename(sd, bd)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(sd); serr == nil {
			// The fan-out directory blobs/<xx> does not exist yet.
			if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if err := syncDir(filepath.Dir(parent)); err != nil {
				return err
			}
			err = os.Rename(sd, bd)
		}
	}
	if err != nil && (errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY)) {
		trash := s.tmpPath(d, trashPrefix+newNonce())
		if err := os.Rename(bd, trash); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(trash) }() // if this fails, the next Open does it
		err = os.Rename(sd, bd)
	}
	if err != nil {
		return err
	}
	return syncDir(parent)
}

// heal publishes the staged slivers of an already stored blob into the
// directories that lack the blob entirely (a replaced disk) or hold a
// sliver of it that fails its hash (damage too wide for the erasure code
// to mend on read), with the stored record in place of the staged one.
// Storing the same bytes again is how a damaged blob is repaired. The
// caller holds the stripe for writing.
func (s *Store) heal(nonce string, rec *record) error {
	missing := s.missingDirs(rec.ID)
	damaged := s.damagedDirs(rec, missing)
	if len(missing) == 0 && len(damaged) == 0 {
		return nil
	}
	if len(damaged) > 0 {
		s.slivers.forget(rec.ID)
	}
	meta := rec.marshal()
	var errs []error
	for _, d := range append(missing, damaged...) {
		sd := s.tmpPath(d, stagePrefix+nonce)
		if err := writeFileAtomic(filepath.Join(sd, metaFile), meta, sd); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.publish(d, nonce, rec.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("localstore: restored blob in directory", "blob", rec.ID, "dir", s.dirs[d])
	}
	return errors.Join(errs...)
}

// damagedDirs returns the directories, other than skip, that hold blob
// rec with a sliver that is short or fails its hash. It reads every
// sliver of the blob.
func (s *Store) damagedDirs(rec *record, skip []int) []int {
	size, err := sliverSize(rec)
	if err != nil {
		return nil
	}
	var out []int
	for d := range s.dirs {
		if slices.Contains(skip, d) || legacyLayout(s.blobDir(d, rec.ID)) {
			continue
		}
		for i := d; i < rec.Shards; i += len(s.dirs) {
			path, off := s.sliverPath(rec.ID, i, size)
			data, err := readAt(path, off, size)
			if err == nil {
				err = s.verifySliver(rec, i, data)
			}
			if err != nil {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// removeStaging deletes the staging directories of nonce.
func (s *Store) removeStaging(nonce string) {
	for d := range s.dirs {
		p := s.tmpPath(d, stagePrefix+nonce)
		if err := os.RemoveAll(p); err != nil {
			s.log.Warn("localstore: remove staging directory", "path", p, "err", err)
		}
	}
}

// rewriteRecord replaces blob rec.ID's metadata record in every directory
// that holds the blob, each atomically (temporary file, fsync, rename).
// Readers take the copy with the highest generation, so a crash half-way
// leaves either generation readable. The caller holds the stripe for
// writing.
func (s *Store) rewriteRecord(rec *record) error {
	meta := rec.marshal()
	var errs []error
	wrote := 0
	for d := range s.dirs {
		bd := s.blobDir(d, rec.ID)
		if _, err := os.Stat(bd); err != nil {
			continue
		}
		tmp := s.tmpPath(d, "meta-"+newNonce()+tmpSuffix)
		if err := writeFileSync(tmp, meta); err != nil {
			_ = os.Remove(tmp)
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(tmp, filepath.Join(bd, metaFile)); err != nil {
			_ = os.Remove(tmp)
			errs = append(errs, err)
			continue
		}
		if err := syncDir(bd); err != nil {
			errs = append(errs, err)
			continue
		}
		wrote++
	}
	if wrote == 0 {
		return fmt.Errorf("no directory updated: %w", errors.Join(errs...))
	}
	if len(errs) > 0 {
		s.log.Warn("localstore: metadata update incomplete", "blob", rec.ID, "err", errors.Join(errs...))
	}
	return nil
}
