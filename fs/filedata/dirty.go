package filedata

import (
	"errors"
	"os"
	"sync"

	"github.com/walrusfs/walrusfs/index"
)

// dirtySet remembers which chunk files each inode wrote since they were
// last flushed, so fsync flushes exactly those, including ones written
// through descriptors closed long ago.
type dirtySet struct {
	mu sync.Mutex
	m  map[index.Ino]map[uint64]struct{}
}

func (s *dirtySet) mark(ino index.Ino, id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[index.Ino]map[uint64]struct{}{}
	}
	ids := s.m[ino]
	if ids == nil {
		ids = map[uint64]struct{}{}
		s.m[ino] = ids
	}
	ids[id] = struct{}{}
}

// take removes and returns the dirty chunk files of ino.
func (s *dirtySet) take(ino index.Ino) map[uint64]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.m[ino]
	delete(s.m, ino)
	return ids
}

// takeAll removes and returns everything.
func (s *dirtySet) takeAll() map[index.Ino]map[uint64]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.m
	s.m = nil
	return all
}

// putBack returns entries taken for a flush that failed.
func (s *dirtySet) putBack(ino index.Ino, ids map[uint64]struct{}) {
	for id := range ids {
		s.mark(ino, id)
	}
}

// syncInode flushes the chunk files d's inode wrote since its last flush.
// The caller holds d.io, so no chunk file of the inode is closed meanwhile.
func (e *Engine) syncInode(d *fileData) error {
	ids := e.dirty.take(d.ino)
	if len(ids) == 0 {
		return nil
	}
	files := make([]*os.File, 0, len(ids))
	var opened []*os.File
	d.mu.Lock()
	for id := range ids {
		if c := d.chunks[id]; c != nil {
			files = append(files, c)
		}
	}
	d.mu.Unlock()
	for id := range ids {
		d.mu.Lock()
		_, open := d.chunks[id]
		d.mu.Unlock()
		if open {
			continue
		}
		c, err := e.stage.open(id, false)
		if errors.Is(err, os.ErrNotExist) {
			continue // released since: nothing to flush
		}
		if err != nil {
			e.dirty.putBack(d.ino, ids)
			return err
		}
		opened = append(opened, c)
		files = append(files, c)
	}
	err := e.flushFiles(files)
	for _, c := range opened {
		_ = c.Close() // only flushed, not written
	}
	if err != nil {
		e.dirty.putBack(d.ino, ids)
	}
	return err
}

// syncStaging flushes every chunk file written since its last flush, and
// nothing else: a directory fsync or `walrusfs sync` costs what walrusfs
// wrote, not what other programs left dirty on the same filesystem (which
// syncfs(2) would flush too). Files are flushed concurrently (syncFiles),
// so the journal commits of a local filesystem group them.
func (e *Engine) syncStaging() error {
	before := e.dirty.takeAll()
	var files []*os.File
	var err error
	for _, ids := range before {
		for id := range ids {
			c, oerr := e.stage.open(id, false)
			if errors.Is(oerr, os.ErrNotExist) {
				continue // released since: nothing to flush
			}
			if oerr != nil {
				err = oerr
				break
			}
			files = append(files, c)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = e.flushFiles(files)
	}
	for _, c := range files {
		_ = c.Close() // only flushed, not written
	}
	if err != nil {
		for ino, ids := range before {
			e.dirty.putBack(ino, ids)
		}
	}
	return err
}
