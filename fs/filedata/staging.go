package filedata

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// stagingArea holds chunk files: staging/<id/256 in hex>/<id in hex>. A
// file's ID is handed out by the index and never reused, so a chunk file is
// written by one chunk of one inode only. IDs are handed out in order, so
// the chunks of a file written front to back share a directory, and the
// local filesystem places them near each other on disk (ext4 spreads
// directories over the disk); no directory holds more than 256 files.
type stagingArea struct {
	dir string
	log *slog.Logger
	// released is where the index hands over the IDs of files no durable
	// state refers to any more.
	released releasedIDs

	// budget is the staging budget (Config.StagingBudget); zero means no
	// limit.
	budget int64
	// removeMu serialises removeDoomed.
	removeMu sync.Mutex
	// creatingOpens counts opens with O_CREAT. Such an open takes the
	// directory's lock exclusively even when the file exists, and every
	// writer's chunk files share a few directories, so files known to
	// exist are opened without it.
	creatingOpens atomic.Uint64

	mu sync.Mutex
	// sizes and used account for the bytes chunk files hold, for the
	// staging budget (back-pressure).
	sizes   map[uint64]int64
	used    int64
	done    chan struct{}
	stopped chan struct{}
}

// releasedIDs is the index's side of staging removal (*index.Index).
type releasedIDs interface {
	Released() <-chan struct{}
	TakeReleased() []uint64
}

func openStaging(dir string, released releasedIDs, log *slog.Logger) (*stagingArea, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("staging area: %w", err)
	}
	s := &stagingArea{dir: dir, log: log, released: released, sizes: map[uint64]int64{}, done: make(chan struct{}), stopped: make(chan struct{})}
	go s.remover()
	return s, nil
}

func (s *stagingArea) path(id uint64) string { return StagingPath(s.dir, id) }

// StagingPath is where the staging area in dir keeps staging file id:
// dir/<id/256>/<id>, in hex.
func StagingPath(dir string, id uint64) string {
	return filepath.Join(dir, strconv.FormatUint(id>>8, 16), strconv.FormatUint(id, 16))
}

// open opens the chunk file id for reading and writing. With create, a
// missing file (and its subdirectory) is created; without, a missing file
// gives an error satisfying errors.Is(err, os.ErrNotExist).
func (s *stagingArea) open(id uint64, create bool) (*os.File, error) {
	p := s.path(id)
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
		s.creatingOpens.Add(1)
	}
	f, err := os.OpenFile(p, flags, 0o600)
	if create && errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(p, flags, 0o600)
	}
	return f, err
}

// OpenSealed opens chunk file id for reading (the uploader's view: sealed
// files never change). A missing file gives an error satisfying
// errors.Is(err, os.ErrNotExist).
func (s *stagingArea) OpenSealed(id uint64) (*os.File, error) { return os.Open(s.path(id)) }

// Tight reports that the staging area holds more than half its budget.
func (s *stagingArea) Tight() bool {
	return s.budget > 0 && s.usedBytes() > s.budget/2
}

// remover removes the chunk files the index releases, as it releases them.
func (s *stagingArea) remover() {
	defer close(s.stopped)
	for {
		select {
		case <-s.released.Released():
		case <-s.done:
			s.removeDoomed()
			return
		}
		s.removeDoomed()
	}
}

// removeDoomed removes the chunk files released so far. Removals are
// serialised: when it returns, every file released before the call is gone,
// including those the remover goroutine had taken and was still removing.
func (s *stagingArea) removeDoomed() {
	s.removeMu.Lock()
	defer s.removeMu.Unlock()
	for _, id := range s.released.TakeReleased() {
		if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("staging: removing released chunk file", "id", id, "err", err)
			continue
		}
		s.noteSize(id, -1)
	}
}

// noteWrite records that chunk file id now extends at least to end.
func (s *stagingArea) noteWrite(id uint64, end int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.sizes[id]; end > old {
		s.sizes[id] = end
		s.used += end - old
	}
}

// noteSize records chunk file id's exact size; a negative size means the
// file is gone.
func (s *stagingArea) noteSize(id uint64, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used -= s.sizes[id]
	if size < 0 {
		delete(s.sizes, id)
		return
	}
	s.sizes[id] = size
	s.used += size
}

// sizeOf is the size of chunk file id as last noted.
func (s *stagingArea) sizeOf(id uint64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sizes[id]
}

// usedBytes is how many bytes the chunk files hold (by apparent size).
func (s *stagingArea) usedBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// sweep removes every chunk file whose ID is not in keep: files left behind
// by a crash between creating a chunk file and recording it, or between an
// index commit and the removal it allowed.
func (s *stagingArea) sweep(keep map[uint64]bool) (int, error) {
	subdirs, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("staging sweep: %w", err)
	}
	removed := 0
	for _, sd := range subdirs {
		if !sd.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.dir, sd.Name()))
		if err != nil {
			return removed, fmt.Errorf("staging sweep: %w", err)
		}
		for _, e := range entries {
			id, err := strconv.ParseUint(e.Name(), 16, 64)
			if err == nil && keep[id] {
				if info, err := e.Info(); err == nil {
					s.noteSize(id, info.Size())
				}
				// A referenced file in another directory (an older
				// layout) is moved to where it is looked for.
				if p := filepath.Join(s.dir, sd.Name(), e.Name()); p != s.path(id) {
					if err := os.MkdirAll(filepath.Dir(s.path(id)), 0o700); err != nil {
						return removed, fmt.Errorf("staging sweep: %w", err)
					}
					if err := os.Rename(p, s.path(id)); err != nil {
						return removed, fmt.Errorf("staging sweep: %w", err)
					}
				}
				continue
			}
			if err := os.Remove(filepath.Join(s.dir, sd.Name(), e.Name())); err != nil {
				return removed, fmt.Errorf("staging sweep: %w", err)
			}
			removed++
		}
	}
	return removed, nil
}

// statfs reports the staging filesystem's capacity.
func (s *stagingArea) statfs() (unix.Statfs_t, error) {
	var st unix.Statfs_t
	err := unix.Statfs(s.dir, &st)
	return st, err
}

func (s *stagingArea) close() {
	close(s.done)
	<-s.stopped
}
