package localstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/walrusfs/walrusfs/blobstore"
)

// recover brings the directories back to a consistent state after a crash
// (see "Crashes" in the package doc). It runs in Open, before the store is
// shared, so it takes no blob locks.
//
//   - put-<nonce> staging directories are grouped by nonce across
//     directories. If the blob they stage is published in some directory,
//     the put passed its commit point (the first rename) and everything
//     was durable before it: the remaining staging directories are
//     published. Otherwise the group is removed.
//   - delete-<id> intents finish their delete.
//   - Everything else under tmp/ (trash, temporary files) is removed.
func (s *Store) recover(ctx context.Context) error {
	stages := make(map[string][]int) // nonce → directories holding it
	deletes := make(map[blobstore.ID]bool)
	for d := range s.dirs {
		tmp := filepath.Join(s.dirs[d], tmpDir)
		ents, err := os.ReadDir(tmp)
		if err != nil {
			return fmt.Errorf("localstore: recover: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			switch {
			case strings.HasPrefix(name, stagePrefix) && e.IsDir():
				nonce := strings.TrimPrefix(name, stagePrefix)
				stages[nonce] = append(stages[nonce], d)
			case strings.HasPrefix(name, deletePrefix):
				if id, err := blobstore.ParseID(strings.TrimPrefix(name, deletePrefix)); err == nil {
					deletes[id] = true
					continue
				}
				fallthrough
			default:
				if err := os.RemoveAll(filepath.Join(tmp, name)); err != nil {
					return fmt.Errorf("localstore: recover: sweep %s: %w", name, err)
				}
				s.log.Info("localstore: swept leftover", "path", filepath.Join(tmp, name))
			}
		}
	}
	for nonce, ds := range stages {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.recoverStage(ctx, nonce, ds); err != nil {
			return fmt.Errorf("localstore: recover: staged put %s: %w", nonce, err)
		}
	}
	for id := range deletes {
		if err := s.deleteBlob(id); err != nil {
			return fmt.Errorf("localstore: recover: finish delete of %s: %w", id, err)
		}
		s.log.Info("localstore: finished interrupted delete", "blob", id)
	}
	for d := range s.dirs {
		if err := syncDir(filepath.Join(s.dirs[d], tmpDir)); err != nil {
			return fmt.Errorf("localstore: recover: %w", err)
		}
	}
	return nil
}

// recoverStage rolls one interrupted put forward or back.
func (s *Store) recoverStage(ctx context.Context, nonce string, ds []int) error {
	var id *blobstore.ID
	for _, d := range ds {
		b, err := os.ReadFile(filepath.Join(s.tmpPath(d, stagePrefix+nonce), metaFile))
		if err != nil {
			continue
		}
		r, err := unmarshalRecord(b)
		if err == nil {
			err = verifyRecord(r)
		}
		if err == nil {
			id = &r.ID
			break
		}
	}
	var rec *record
	if id != nil {
		r, err := s.loadFromDisk(ctx, *id)
		if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return err
		}
		rec = r
	}
	if rec == nil {
		// Before the commit point: the put never happened.
		for _, d := range ds {
			if err := os.RemoveAll(s.tmpPath(d, stagePrefix+nonce)); err != nil {
				return err
			}
		}
		s.log.Info("localstore: discarded incomplete put", "nonce", nonce)
		return nil
	}
	meta := rec.marshal()
	for _, d := range ds {
		sd := s.tmpPath(d, stagePrefix+nonce)
		b, err := os.ReadFile(filepath.Join(s.blobDir(d, rec.ID), metaFile))
		if err == nil && validRecord(b, rec.ID) {
			// This directory holds the blob already.
			if err := os.RemoveAll(sd); err != nil {
				return err
			}
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// Publish with the authoritative record. A staged copy that healed
		// a replaced directory may not have been synced: check its
		// slivers. Bad ones are published all the same (reads verify every
		// sliver and repair it), but said.
		if err := writeFileAtomic(filepath.Join(sd, metaFile), meta, sd); err != nil {
			return err
		}
		if err := s.checkStaged(rec, d, sd); err != nil {
			return err
		}
		if err := syncDir(sd); err != nil {
			return err
		}
		if err := s.publish(d, nonce, rec.ID); err != nil {
			return err
		}
	}
	s.log.Info("localstore: completed interrupted put", "blob", rec.ID)
	return nil
}

// checkStaged verifies the slivers staged in sd, directory d's staging
// directory of blob rec, and logs those that fail. A sliver file of the
// first layout that fails is removed, as its absence says the same more
// cheaply.
func (s *Store) checkStaged(rec *record, d int, sd string) error {
	size, err := sliverSize(rec)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(sd)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == sliversFile {
			for i := d; i < rec.Shards; i += len(s.dirs) {
				data, err := readAt(filepath.Join(sd, sliversFile), s.sliverOffset(i, size), size)
				if err == nil {
					err = s.verifySliver(rec, i, data)
				}
				if err != nil {
					s.log.Warn("localstore: recover: bad staged sliver", "blob", rec.ID, "sliver", i, "err", err)
				}
			}
			continue
		}
		i, ok := parseSliverName(e.Name())
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(sd, e.Name()))
		if err == nil {
			err = s.verifySliver(rec, i, data)
		}
		if err != nil {
			s.log.Warn("localstore: recover: dropping bad staged sliver", "blob", rec.ID, "sliver", i, "err", err)
			if err := os.Remove(filepath.Join(sd, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// validRecord reports whether b is a valid metadata record of blob id.
func validRecord(b []byte, id blobstore.ID) bool {
	r, err := unmarshalRecord(b)
	return err == nil && r.ID == id && verifyRecord(r) == nil
}
