package blockcache

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

const (
	lockFile   = "LOCK"
	tempPrefix = ".tmp-"
	// touchInterval is how often at most a hit rewrites a file's mtime, the
	// only recency the disk keeps across restarts.
	touchInterval = time.Minute
)

// diskLayer is the on-disk LRU of stored block bytes. The in-memory index
// (entries and lru) is authoritative: a file the index does not list is not
// read. mu guards the index and every rename or unlink in the directory, so
// the bytes the index accounts for are always at least the bytes on disk.
type diskLayer struct {
	dir    string
	budget int64
	log    *slog.Logger
	lock   *os.File

	// touchEvery is touchInterval; tests shorten it.
	touchEvery time.Duration

	mu      sync.Mutex
	entries map[string]*list.Element // file name → element holding *diskEntry
	lru     list.List                // front is most recently used
	// bytes counts the files in entries plus space reserved by writes in
	// progress; it never exceeds budget.
	bytes     int64
	evictions int64
}

// diskEntry is one cached block file. A replaced file gets a new entry, so
// pointer equality tells whether the file a reader saw is still current.
type diskEntry struct {
	name    string
	size    int64
	touched time.Time // last mtime we set (or found at open)
}

// fileName returns the file name of key: hex SHA-256, so any key is safe.
func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func (d *diskLayer) path(name string) string {
	return filepath.Join(d.dir, name[:2], name)
}

// openDisk takes the directory's lock, removes leftover temporary files,
// rebuilds the LRU from file mtimes (oldest is least recent) and evicts down
// to budget.
func openDisk(dir string, budget int64, log *slog.Logger) (*diskLayer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("blockcache: open %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blockcache: open %s: %w", dir, err)
	}
	d := &diskLayer{
		dir:        dir,
		budget:     budget,
		log:        log,
		lock:       lock,
		touchEvery: touchInterval,
		entries:    make(map[string]*list.Element),
	}
	found, err := d.scan()
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("blockcache: open %s: %w", dir, err)
	}
	slices.SortFunc(found, func(a, b *diskEntry) int {
		if c := a.touched.Compare(b.touched); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range found {
		d.entries[e.name] = d.lru.PushFront(e)
		d.bytes += e.size
	}
	d.evictLocked(0)
	return d, nil
}

// scan lists the cache files under dir and removes temporary files left by a
// crash. Files that are neither are left alone.
func (d *diskLayer) scan() ([]*diskEntry, error) {
	subdirs, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	var found []*diskEntry
	for _, sub := range subdirs {
		if !sub.IsDir() || len(sub.Name()) != 2 || !isLowerHex(sub.Name()) {
			continue
		}
		subdir := filepath.Join(d.dir, sub.Name())
		files, err := os.ReadDir(subdir)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			name := f.Name()
			if strings.HasPrefix(name, tempPrefix) {
				if err := os.Remove(filepath.Join(subdir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
				continue
			}
			if !f.Type().IsRegular() || len(name) != 2*sha256.Size || !isLowerHex(name) || name[:2] != sub.Name() {
				continue
			}
			info, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			found = append(found, &diskEntry{name: name, size: info.Size(), touched: info.ModTime()})
		}
	}
	return found, nil
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lockDir takes an exclusive, non-blocking flock on dir/LOCK: two processes
// sharing one cache directory would each trust an index the other changes.
// The lock dies with the process, so a crash never leaves it held.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("directory is in use by another process: %w", blobstore.ErrUnavailable)
		}
		return nil, err
	}
	return f, nil
}

func (d *diskLayer) close() error {
	return d.lock.Close()
}

// read returns the stored bytes of key and the entry they came from, or an
// error wrapping fs.ErrNotExist on a miss. The bytes are unverified.
func (d *diskLayer) read(key string) ([]byte, *diskEntry, error) {
	name := fileName(key)
	d.mu.Lock()
	el, ok := d.entries[name]
	if !ok {
		d.mu.Unlock()
		return nil, nil, fs.ErrNotExist
	}
	d.lru.MoveToFront(el)
	e := el.Value.(*diskEntry)
	now := time.Now()
	touch := now.Sub(e.touched) >= d.touchEvery
	if touch {
		e.touched = now
	}
	d.mu.Unlock()

	data, err := os.ReadFile(d.path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Removed behind our back; forget it.
			d.remove(e)
		}
		return nil, nil, err
	}
	if touch {
		// Best effort: only the LRU order after a restart depends on it.
		if err := os.Chtimes(d.path(name), now, now); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Debug("blockcache: touch cached block", "path", d.path(name), "err", err)
		}
	}
	return data, e, nil
}

// remove deletes e's file if e is still the current entry for its name (a
// concurrent put may have replaced it with fresh bytes, which stay).
func (d *diskLayer) remove(e *diskEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.entries[e.name]
	if !ok || el.Value.(*diskEntry) != e {
		return
	}
	d.dropLocked(el)
}

// dropLocked unlinks el's file and forgets it.
func (d *diskLayer) dropLocked(el *list.Element) {
	e := el.Value.(*diskEntry)
	if err := os.Remove(d.path(e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("blockcache: remove cached block", "path", d.path(e.name), "err", err)
	}
	d.lru.Remove(el)
	delete(d.entries, e.name)
	d.bytes -= e.size
}

// evictLocked drops least recently used files until need more bytes fit in
// the budget, and reports whether they do.
func (d *diskLayer) evictLocked(need int64) bool {
	for d.bytes+need > d.budget {
		el := d.lru.Back()
		if el == nil {
			return false
		}
		d.dropLocked(el)
		d.evictions++
	}
	return true
}

// put stores data as key's block: space is reserved first (evicting as
// needed), the bytes go to a temporary file, and a rename publishes them.
// No fsync: a torn file after a crash fails verification and is refetched.
// A block that cannot fit is not stored and put returns nil.
func (d *diskLayer) put(key string, data []byte) error {
	size := int64(len(data))
	name := fileName(key)
	d.mu.Lock()
	if size > d.budget || !d.evictLocked(size) {
		d.mu.Unlock()
		d.log.Debug("blockcache: block does not fit the disk budget", "key", key, "size", size, "budget", d.budget)
		return nil
	}
	d.bytes += size
	d.mu.Unlock()

	tmp, err := d.writeTemp(name, data)
	if err != nil {
		d.mu.Lock()
		d.bytes -= size
		d.mu.Unlock()
		return fmt.Errorf("blockcache: store %q: %w", key, err)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.Rename(tmp, d.path(name)); err != nil {
		d.bytes -= size
		_ = os.Remove(tmp)
		return fmt.Errorf("blockcache: store %q: %w", key, err)
	}
	if old, ok := d.entries[name]; ok {
		// The rename replaced the old file: release its bytes without unlinking.
		d.bytes -= old.Value.(*diskEntry).size
		d.lru.Remove(old)
	}
	d.entries[name] = d.lru.PushFront(&diskEntry{name: name, size: size, touched: time.Now()})
	return nil
}

func (d *diskLayer) writeTemp(name string, data []byte) (string, error) {
	subdir := filepath.Join(d.dir, name[:2])
	if err := os.MkdirAll(subdir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(subdir, tempPrefix+"*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// contains reports whether key has a file in the index.
func (d *diskLayer) contains(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.entries[fileName(key)]
	return ok
}

func (d *diskLayer) stats() (bytes, files, evictions int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bytes, int64(len(d.entries)), d.evictions
}
