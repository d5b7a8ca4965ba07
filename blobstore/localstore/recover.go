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
//     directories. If any of them holds a valid metadata record, the put
//     passed its commit point: every staging directory of the group is
//     published (copying the record where it is missing). Otherwise the
//     group is removed.
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
		if err := s.recoverStage(nonce, ds); err != nil {
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
func (s *Store) recoverStage(nonce string, ds []int) error {
	var rec *record
	for _, d := range ds {
		b, err := os.ReadFile(filepath.Join(s.tmpPath(d, stagePrefix+nonce), metaFile))
		if err != nil {
			continue
		}
		r, err := unmarshalRecord(b)
		if err == nil {
			err = verifyRecord(r)
		}
		if err != nil {
			s.log.Warn("localstore: recover: bad staged metadata", "nonce", nonce, "dir", s.dirs[d], "err", err)
			continue
		}
		rec = r
		break
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
		mp := filepath.Join(sd, metaFile)
		if b, err := os.ReadFile(mp); err != nil || !validRecord(b, rec.ID) {
			os.Remove(mp)
			if err := writeFileSync(mp, meta); err != nil {
				return err
			}
			if err := syncDir(sd); err != nil {
				return err
			}
		}
		// A directory that already holds the blob (a committed copy with a
		// valid record) keeps it; the staged copy is dropped.
		if b, err := os.ReadFile(filepath.Join(s.blobDir(d, rec.ID), metaFile)); err == nil && validRecord(b, rec.ID) {
			if err := os.RemoveAll(sd); err != nil {
				return err
			}
			continue
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := s.publish(d, nonce, rec.ID); err != nil {
			return err
		}
	}
	s.log.Info("localstore: completed interrupted put", "blob", rec.ID)
	return nil
}

// validRecord reports whether b is a valid metadata record of blob id.
func validRecord(b []byte, id blobstore.ID) bool {
	r, err := unmarshalRecord(b)
	return err == nil && r.ID == id && verifyRecord(r) == nil
}
