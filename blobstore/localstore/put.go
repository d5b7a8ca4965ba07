package localstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// Put stores size bytes from r as one blob, encoded with the configured
// shard count, and returns its info. The returned ID is the Walrus blob ID
// of the bytes at that shard count.
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
// Memory: the blob is held once, as the RS2 message matrix (the systematic
// slivers), plus the repair slivers; the reader is not buffered further.
func (s *Store) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	done, err := s.enter()
	if err != nil {
		return blobstore.Info{}, err
	}
	defer done()
	info, err := s.put(ctx, r, size, opts)
	if err != nil {
		return blobstore.Info{}, fmt.Errorf("localstore: put %d bytes: %w", size, err)
	}
	return info, nil
}

func (s *Store) put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	if size < 0 {
		return blobstore.Info{}, fmt.Errorf("negative size: %w", blobstore.ErrInvalidArgument)
	}
	if max := s.MaxBlobSize(); size > max {
		return blobstore.Info{}, fmt.Errorf("blob exceeds the limit of %d bytes at %d shards: %w", max, s.params.N, blobstore.ErrTooLarge)
	}
	epochs := opts.Epochs
	if epochs == 0 {
		epochs = DefaultEpochs
	}
	if epochs > MaxEpochsAhead {
		return blobstore.Info{}, fmt.Errorf("%d epochs ahead: at most %d: %w", epochs, MaxEpochsAhead, blobstore.ErrInvalidArgument)
	}
	nonce := newNonce()
	meta, err := s.stage(ctx, nonce, r, size)
	if err != nil {
		s.removeStaging(nonce)
		return blobstore.Info{}, err
	}
	id := meta.BlobID()

	st := s.stripe(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	old, err := s.load(ctx, id)
	switch {
	case err == nil:
		// Stored meanwhile, or present with directories to heal.
		if herr := s.heal(nonce, old); herr != nil {
			s.log.Warn("localstore: restoring missing slivers", "blob", id, "err", herr)
		}
		s.removeStaging(nonce)
		return s.putExisting(old, epochs, opts)
	case !errors.Is(err, blobstore.ErrNotFound):
		s.removeStaging(nonce)
		return blobstore.Info{}, fmt.Errorf("blob %s: %w", id, err)
	}
	rec := s.newRecord(meta, epochs, opts)
	if err := s.commit(nonce, rec); err != nil {
		return blobstore.Info{}, fmt.Errorf("blob %s: commit: %w", id, err)
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

// stage reads the blob from r, encodes it and writes its primary slivers
// under tmp/put-<nonce> in every directory (sliver i in directory i mod
// len(Dirs)), fsyncing each file, the staging directories and the tmp
// directories. This is phase 1 of the commit protocol (see the package
// doc). The caller removes the staging directories on error.
func (s *Store) stage(ctx context.Context, nonce string, r io.Reader, size int64) (*rs2.Metadata, error) {
	for d := range s.dirs {
		if err := os.Mkdir(s.tmpPath(d, stagePrefix+nonce), 0o755); err != nil {
			return nil, err
		}
	}
	n := s.params.N
	files := make([]*os.File, n)
	writers := make([]io.WriterAt, n)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range n {
		f, err := os.OpenFile(filepath.Join(s.tmpPath(s.dirOf(i), stagePrefix+nonce), sliverName(i)),
			os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		files[i], writers[i] = f, f
	}
	meta, err := s.enc.Encode(ctx, r, size, writers)
	if err != nil {
		return nil, err
	}
	// One fsync per file, all in parallel: the disk sees one flush burst.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			errs[i] = f.Sync()
			if cerr := f.Close(); errs[i] == nil {
				errs[i] = cerr
			}
			files[i] = nil
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sync slivers: %w", err)
	}
	for d := range s.dirs {
		if err := syncDir(s.tmpPath(d, stagePrefix+nonce)); err != nil {
			return nil, err
		}
		if err := syncDir(filepath.Join(s.dirs[d], tmpDir)); err != nil {
			return nil, err
		}
	}
	return meta, nil
}

// commit runs phases 2 and 3 of the commit protocol for a staged blob: write
// the metadata record into every staging directory (the commit point is the
// first of these becoming durable), then rename each staging directory to
// its final place. The caller holds the blob's stripe for writing.
func (s *Store) commit(nonce string, rec *record) error {
	meta := rec.marshal()
	for d := range s.dirs {
		sd := s.tmpPath(d, stagePrefix+nonce)
		if err := writeFileSync(filepath.Join(sd, metaFile), meta); err != nil {
			s.removeStaging(nonce)
			return err
		}
		if err := syncDir(sd); err != nil {
			s.removeStaging(nonce)
			return err
		}
	}
	// Past the commit point: a crash from here on is rolled forward by
	// Open. An error is still rolled back here, so the caller's error
	// means "not stored".
	for d := range s.dirs {
		if err := s.publish(d, nonce, rec.ID); err != nil {
			s.removeStaging(nonce)
			if derr := s.deleteBlob(rec.ID); derr != nil {
				s.log.Error("localstore: rolling back a failed commit", "blob", rec.ID, "err", derr)
			}
			return err
		}
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
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	err := os.Rename(sd, bd)
	if err != nil && (errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY)) {
		trash := s.tmpPath(d, trashPrefix+newNonce())
		if err := os.Rename(bd, trash); err != nil {
			return err
		}
		defer os.RemoveAll(trash)
		err = os.Rename(sd, bd)
	}
	if err != nil {
		return err
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return syncDir(filepath.Join(s.dirs[d], tmpDir))
}

// heal publishes the staged slivers of an already stored blob into the
// directories that lack the blob entirely. The caller holds the stripe for
// writing.
func (s *Store) heal(nonce string, rec *record) error {
	missing := s.missingDirs(rec.ID)
	if len(missing) == 0 {
		return nil
	}
	meta := rec.marshal()
	var errs []error
	for _, d := range missing {
		sd := s.tmpPath(d, stagePrefix+nonce)
		if err := writeFileSync(filepath.Join(sd, metaFile), meta); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := syncDir(sd); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.publish(d, nonce, rec.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("localstore: restored blob in replaced directory", "blob", rec.ID, "dir", s.dirs[d])
	}
	return errors.Join(errs...)
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
			os.Remove(tmp)
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(tmp, filepath.Join(bd, metaFile)); err != nil {
			os.Remove(tmp)
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
