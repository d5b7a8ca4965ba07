package localstore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

// File and directory names inside each shard directory (drawn in doc.go).
const (
	storeFile    = "store.json"
	lockFile     = "LOCK"
	blobsDir     = "blobs"
	tmpDir       = "tmp"
	metaFile     = "meta"
	sliversFile  = "slivers"
	stagePrefix  = "put-"
	deletePrefix = "delete-"
	trashPrefix  = "trash-"
	tmpSuffix    = ".tmp"
)

// storeFileFormat is the version of store.json.
const storeFileFormat = 1

// identity is the content of store.json, the same in every shard directory
// except for Dir.
type identity struct {
	Format int `json:"format"`
	// Store is a random ID chosen when the store is created; directories of
	// different stores cannot be mixed.
	Store string `json:"store"`
	// Dir is this directory's position in Config.Dirs and Dirs their
	// number: sliver placement depends on both.
	Dir  int `json:"dir"`
	Dirs int `json:"dirs"`
	// EpochStart is when epoch 0 began: the store's creation time.
	EpochStart time.Time `json:"epochStart"`
}

// sliverName is the file name of primary sliver i in a blob directory
// written by the first version of the store, which kept one file per
// sliver. The store still reads and repairs such directories: a directory
// without a slivers file is taken to be one of them.
func sliverName(i int) string { return fmt.Sprintf("s%04d", i) }

// sliverOffset is where primary sliver i starts in its directory's
// slivers file, for slivers of size bytes: directory d holds slivers
// d, d+D, d+2D, … (D directories) back to back, in that order.
func (s *Store) sliverOffset(i int, size int64) int64 { return int64(i/len(s.dirs)) * size }

// blobRel is the path of blob id's directory relative to a shard directory:
// blobs/<first two characters of the ID>/<ID>.
func blobRel(id blobstore.ID) string {
	s := id.String()
	return filepath.Join(blobsDir, s[:2], s)
}

// dirOf returns the index of the shard directory that holds sliver i.
func (s *Store) dirOf(i int) int { return i % len(s.dirs) }

func (s *Store) blobDir(d int, id blobstore.ID) string { return filepath.Join(s.dirs[d], blobRel(id)) }

// sliverPath returns the slivers file of the directory holding primary
// sliver i of blob id, and the sliver's offset in it for slivers of size
// bytes.
func (s *Store) sliverPath(id blobstore.ID, i int, size int64) (string, int64) {
	return filepath.Join(s.blobDir(s.dirOf(i), id), sliversFile), s.sliverOffset(i, size)
}

// legacySliverPath is the file of primary sliver i of blob id in the first
// layout.
func (s *Store) legacySliverPath(id blobstore.ID, i int) string {
	return filepath.Join(s.blobDir(s.dirOf(i), id), sliverName(i))
}

func (s *Store) tmpPath(d int, name string) string { return filepath.Join(s.dirs[d], tmpDir, name) }

// newNonce returns a random name component for staging and trash entries.
func newNonce() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// lockDir takes an exclusive, non-blocking flock on dir/LOCK. The lock dies
// with the process, so a crash never leaves a store locked.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("directory %s is in use by another process: %w", dir, blobstore.ErrUnavailable)
		}
		return nil, err
	}
	return f, nil
}

// readIdentity reads dir/store.json. A missing file gives (nil, nil).
func readIdentity(dir string) (*identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, storeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("%s: %w", storeFile, err)
	}
	if id.Format != storeFileFormat {
		return nil, fmt.Errorf("%s: unknown format %d", storeFile, id.Format)
	}
	return &id, nil
}

// writeFileAtomic writes data to path through a temporary file in tmpDir
// (on the same file system): write, fsync, rename, fsync path's directory.
func writeFileAtomic(path string, data []byte, tmpDir string) error {
	tmp := filepath.Join(tmpDir, filepath.Base(path)+"-"+newNonce()+tmpSuffix)
	if err := writeFileSync(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeFileSync creates path (which must not exist), writes data and fsyncs.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// writeAtSync writes data at off in the file at path and makes it durable,
// creating the file (and making its name durable) if it does not exist.
func writeAtSync(path string, off int64, data []byte) error {
	created := false
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		created = true
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, off); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if created {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// initDirs locks every shard directory, checks or writes its identity and
// returns the epoch start shared by all of them.
func (s *Store) initDirs() (time.Time, error) {
	ids := make([]*identity, len(s.dirs))
	var (
		storeID string
		start   time.Time
	)
	for d, dir := range s.dirs {
		for _, sub := range []string{"", blobsDir, tmpDir} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				return time.Time{}, fmt.Errorf("localstore: open: %w", err)
			}
		}
		lf, err := lockDir(dir)
		if err != nil {
			return time.Time{}, fmt.Errorf("localstore: open: lock %s: %w", dir, err)
		}
		s.locks = append(s.locks, lf)
		id, err := readIdentity(dir)
		if err != nil {
			return time.Time{}, fmt.Errorf("localstore: open %s: %w", dir, err)
		}
		ids[d] = id
		if id == nil {
			continue
		}
		if id.Dir != d || id.Dirs != len(s.dirs) {
			return time.Time{}, fmt.Errorf("localstore: open: directory %s was directory %d of %d, now configured as %d of %d (sliver placement depends on the order): %w",
				dir, id.Dir, id.Dirs, d, len(s.dirs), blobstore.ErrInvalidArgument)
		}
		if storeID != "" && id.Store != storeID {
			return time.Time{}, fmt.Errorf("localstore: open: directory %s belongs to store %s, others to %s: %w",
				dir, id.Store, storeID, blobstore.ErrInvalidArgument)
		}
		storeID = id.Store
		if start.IsZero() || id.EpochStart.Before(start) {
			start = id.EpochStart
		}
	}
	if storeID == "" {
		storeID = newNonce()
		start = s.now().UTC()
		s.log.Info("localstore: creating store", "store", storeID, "dirs", len(s.dirs), "shards", s.cfg.Shards, "quiltShards", s.cfg.QuiltShards)
	}
	for d, id := range ids {
		if id != nil && id.EpochStart.Equal(start) {
			continue
		}
		if id == nil {
			s.log.Info("localstore: initialising shard directory", "dir", s.dirs[d], "index", d)
		}
		b, err := json.MarshalIndent(identity{Format: storeFileFormat, Store: storeID, Dir: d, Dirs: len(s.dirs), EpochStart: start}, "", "  ")
		if err != nil {
			return time.Time{}, err
		}
		if err := writeFileAtomic(filepath.Join(s.dirs[d], storeFile), append(b, '\n'), filepath.Join(s.dirs[d], tmpDir)); err != nil {
			return time.Time{}, fmt.Errorf("localstore: open: write %s identity: %w", s.dirs[d], err)
		}
	}
	return start, nil
}

// parseSliverName is the inverse of sliverName.
func parseSliverName(name string) (int, bool) {
	if len(name) != 5 || name[0] != 's' {
		return 0, false
	}
	i, err := strconv.Atoi(name[1:])
	return i, err == nil
}
