package localstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/costlru"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// Store is a local Walrus: blobs RS2-encoded into primary slivers spread over
// shard directories. Create one with [Open]; it is safe for concurrent use.
type Store struct {
	cfg    Config
	log    *slog.Logger
	dirs   []string
	params rs2.Params
	enc    *rs2.Encoder // for Config.Shards
	qenc   *rs2.Encoder // for Config.QuiltShards
	encs   encoders     // for blobs stored with other shard counts
	clock  clock
	locks  []*os.File // flocks on each directory's LOCK file

	// maxGathered is the most memory Put gathers a blob's repair slivers
	// in (see sliverWriter); tests lower it.
	maxGathered int64
	// copyBufs recycles writeSystematic's copy buffers.
	copyBufs bufPool
	// sliverBufs recycles the buffers Put gathers repair slivers in
	// (*[]byte).
	sliverBufs bufPool

	// slivers keeps recently verified slivers (see sliverCache).
	slivers sliverCache
	// trees keeps the checked sliver trees of recently read quilts (see
	// slivertrees.go).
	trees *costlru.Cache[blobstore.ID, *blobTrees]
	// records keeps verified records, each valid while its stripe sees no
	// write (see load).
	records *costlru.Cache[blobstore.ID, cachedRecord]
	// swept remembers the quilts whose slivers a patch read has asked the
	// kernel to read whole (see readColumnsInto).
	swept *costlru.Cache[blobstore.ID, *sweepState]
	// sweeps holds a token per sweep running (see sweep.go).
	sweeps chan struct{}
	// patchGroup is about how many bytes of a patch a patch reader reads
	// at a time (defaultPatchGroup; tests make it small).
	patchGroup int
	// quiltIndexes keeps the patch lists of recently listed quilts.
	quiltIndexes *costlru.Cache[blobstore.ID, []blobstore.StoredPatch]

	// stripes serialise commits and deletes of a blob against each other
	// and against sliver reads; a blob uses stripes[id[0]].
	stripes [256]stripe

	closeMu sync.RWMutex // held for reading by every operation in flight
	closed  bool
}

// stripe is one lock of the blob lock table.
type stripe struct {
	mu sync.RWMutex
	// deletes counts deletes committed under this stripe; readers compare
	// it to notice that a blob they stream may be gone.
	deletes atomic.Uint64
	// writes counts the write sections ended under this stripe: a record
	// loaded while it had some value is current as long as it keeps it.
	writes atomic.Uint64
}

// lock takes the stripe for writing: to change a blob's record or files.
func (st *stripe) lock() { st.mu.Lock() }

// unlock ends a write section, making every record loaded before it stale.
func (st *stripe) unlock() {
	st.writes.Add(1)
	st.mu.Unlock()
}

var _ blobstore.Store = (*Store)(nil)

// Open opens (creating if needed) the store in cfg.Dirs. It locks every
// directory for this process, checks that the directories belong together
// and are in their recorded order, and recovers from any crash: it finishes
// interrupted commits that passed their commit point, finishes interrupted
// deletes, and removes everything else left in the staging areas. A nil
// logger discards logs.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	enc, err := rs2.NewEncoder(cfg.Shards)
	if err != nil {
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	if cfg.QuiltShards == 0 {
		cfg.QuiltShards = cfg.Shards
	}
	if cfg.EncodeMemory == 0 {
		cfg.EncodeMemory = DefaultEncodeMemory
	}
	s := &Store{cfg: cfg, log: logger, params: enc.Params(), enc: enc, maxGathered: defaultMaxGathered,
		slivers: newSliverCache(), trees: costlru.New[blobstore.ID, *blobTrees](treeCacheBytes, treeCacheBytes/2),
		records:      costlru.New[blobstore.ID, cachedRecord](recordCacheBytes, recordCacheBytes/8),
		swept:        costlru.New[blobstore.ID, *sweepState](sweptQuilts, 1),
		sweeps:       make(chan struct{}, maxSweeps),
		patchGroup:   defaultPatchGroup,
		quiltIndexes: costlru.New[blobstore.ID, []blobstore.StoredPatch](quiltIndexCacheBytes, quiltIndexCacheBytes/4)}
	s.encs.m = map[int]*rs2.Encoder{cfg.Shards: enc}
	if s.qenc, err = s.encs.get(cfg.QuiltShards); err != nil {
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	for _, d := range cfg.Dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("localstore: open %s: %w", d, err)
		}
		s.dirs = append(s.dirs, abs)
	}
	start, err := s.initDirs()
	if err != nil {
		s.unlock()
		return nil, err
	}
	s.clock = clock{start: start, d: cfg.EpochDuration, now: s.now}
	if err := s.recover(ctx); err != nil {
		s.unlock()
		return nil, err
	}
	s.log.Debug("localstore: opened", "dirs", len(s.dirs), "shards", s.params.N, "quiltShards", cfg.QuiltShards, "epoch", s.clock.epoch())
	return s, nil
}

func (s *Store) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

func (s *Store) unlock() {
	for _, f := range s.locks {
		_ = f.Close() // nothing was written to it; closing drops the flock
	}
	s.locks = nil
}

// Close waits for operations in flight, then releases the directories.
// Readers returned earlier fail after Close. Close is idempotent.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.unlock()
	return nil
}

// enter marks an operation in flight; it fails once the store is closed.
// The caller must call the returned function when done.
func (s *Store) enter() (func(), error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, errClosed
	}
	return s.closeMu.RUnlock, nil
}

func (s *Store) stripe(id blobstore.ID) *stripe { return &s.stripes[id[0]] }

// CurrentEpoch returns the store's current epoch (see "Epochs and the
// ledger" in the package doc). It fails only once the store is closed.
// With Stat, Extend and DeleteExpired it makes the store the ledger of its
// own blobs, as lease renewal sees a chain.
func (s *Store) CurrentEpoch(context.Context) (uint32, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	return s.clock.epoch(), nil
}

// Params returns the RS2 parameters new standalone blobs are encoded with
// (Config.Shards).
func (s *Store) Params() rs2.Params { return s.params }

// QuiltParams returns the RS2 parameters new quilts are laid out and
// encoded with (Config.QuiltShards).
func (s *Store) QuiltParams() rs2.Params { return s.qenc.Params() }

// MaxBlobSize returns the largest blob Put accepts: the RS2 limit for the
// configured shard count, or Config.MaxBlobSize when that is lower.
func (s *Store) MaxBlobSize() int64 { return s.maxSize(s.params) }

// maxSize is the largest blob storable at p: its RS2 limit, or
// Config.MaxBlobSize when that is lower.
func (s *Store) maxSize(p rs2.Params) int64 {
	m := int64(min(p.MaxBlobSize(), math.MaxInt64))
	if s.cfg.MaxBlobSize > 0 && s.cfg.MaxBlobSize < m {
		m = s.cfg.MaxBlobSize
	}
	return m
}

// info converts a record to the Info the Store interface reports.
func (s *Store) info(r *record) blobstore.Info {
	var enc int64
	if p, err := rs2.NewParams(r.Shards); err == nil {
		if l, err := rs2.NewLayout(p, uint64(r.Size)); err == nil {
			enc = int64(l.EncodedLength())
		}
	}
	return blobstore.Info{
		ID:              r.ID,
		Size:            r.Size,
		EncodedSize:     enc,
		ObjectID:        objectID(r.ID),
		RegisteredEpoch: r.Registered,
		Certified:       true,
		CertifiedEpoch:  r.Certified,
		EndEpoch:        r.End,
		Deletable:       r.Deletable,
	}
}

// Stat returns the info of blob id, or an error wrapping
// blobstore.ErrNotFound. It reads only metadata.
func (s *Store) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	done, err := s.enter()
	if err != nil {
		return blobstore.Info{}, err
	}
	defer done()
	st := s.stripe(id)
	st.mu.RLock()
	defer st.mu.RUnlock()
	r, err := s.load(ctx, id)
	if err != nil {
		return blobstore.Info{}, fmt.Errorf("localstore: stat %s: %w", id, err)
	}
	return s.info(r), nil
}

// load reads blob id's metadata record from every directory and returns the
// newest copy that is well-formed and whose hashes reproduce the ID. It fails
// with ErrNotFound when no directory has a record and with ErrIntegrity when
// records exist but none is valid. The caller holds the blob's stripe.
//
// A record loaded is kept in memory and returned again, without reading
// it, while two things hold: its stripe has ended no write section (every
// change the store makes to a blob's record or files happens in one,
// stripe.lock), and each directory's copy of the record is the same file
// as when it was read (inode, size, modification and change times, one
// stat per directory), so that a record removed or replaced behind the
// store is noticed as before. A quilt's record (64 KiB of hashes at 1000
// shards) is wanted twice for every patch read. The record returned is
// shared: callers copy it to change it.
func (s *Store) load(ctx context.Context, id blobstore.ID) (*record, error) {
	st := s.stripe(id)
	writes := st.writes.Load()
	if c, ok := s.records.Get(id); ok && c.writes == writes && s.sameRecordFiles(id, c.files) {
		return c.rec, nil
	}
	r, files, err := s.loadStamped(ctx, id)
	if err == nil && files != nil {
		s.records.Add(id, cachedRecord{rec: r, writes: writes, files: files}, recordCost(r))
	}
	return r, err
}

// sameRecordFiles reports whether blob id's record files are still the
// ones stamped in files.
func (s *Store) sameRecordFiles(id blobstore.ID, files []fileStamp) bool {
	for d, want := range files {
		fi, err := os.Stat(filepath.Join(s.blobDir(d, id), metaFile))
		var got fileStamp
		if err == nil {
			var ok bool
			if got, ok = stampOf(fi); !ok {
				return false
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if got != want {
			return false
		}
	}
	return true
}

// loadFromDisk is load without the memory of records.
func (s *Store) loadFromDisk(ctx context.Context, id blobstore.ID) (*record, error) {
	r, _, err := s.loadStamped(ctx, id)
	return r, err
}

// loadStamped is loadFromDisk that also returns the stamp of each
// directory's record file as read (the zero stamp where there is none),
// or nil stamps when this system gives none.
func (s *Store) loadStamped(ctx context.Context, id blobstore.ID) (*record, []fileStamp, error) {
	var (
		best    *record
		badErrs []error
	)
	files := make([]fileStamp, len(s.dirs))
	stamped := true
	for d := range s.dirs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		path := filepath.Join(s.blobDir(d, id), metaFile)
		b, stamp, err := readStamped(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			badErrs = append(badErrs, err)
			continue
		}
		if stamp == (fileStamp{}) {
			stamped = false
		}
		files[d] = stamp
		r, err := unmarshalRecord(b)
		if err == nil && r.ID != id {
			err = fmt.Errorf("%w: holds blob %s", errBadRecord, r.ID)
		}
		if err == nil {
			err = verifyRecord(r)
		}
		if err != nil {
			s.log.Warn("localstore: bad metadata copy", "blob", id, "path", path, "err", err)
			badErrs = append(badErrs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		if best == nil || r.Gen > best.Gen {
			best = r
		}
	}
	if !stamped || len(badErrs) > 0 {
		files = nil
	}
	if best != nil {
		return best, files, nil
	}
	if len(badErrs) > 0 {
		return nil, nil, fmt.Errorf("no valid metadata copy: %w: %w", errors.Join(badErrs...), blobstore.ErrIntegrity)
	}
	return nil, nil, blobstore.ErrNotFound
}

// readStamped reads the file at path and stamps it (see fileStamp) from
// the same open file, so that the stamp is the bytes'.
func readStamped(path string) ([]byte, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, err
	}
	defer func() { _ = f.Close() }() // read-only
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fileStamp{}, err
	}
	stamp, _ := stampOf(fi)
	return b, stamp, nil
}

// Delete removes blob id: its metadata and every sliver in every directory.
// It fails with ErrNotFound if the blob does not exist and with ErrForbidden
// if it was stored as permanent (Walrus only deletes deletable blobs).
//
// Delete first writes a delete intent to every directory; once one intent is
// durable the delete will complete, here or, after a crash, in the next
// Open.
func (s *Store) Delete(ctx context.Context, id blobstore.ID) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	st := s.stripe(id)
	st.lock()
	defer st.unlock()
	r, err := s.load(ctx, id)
	if err != nil && !errors.Is(err, blobstore.ErrIntegrity) {
		return fmt.Errorf("localstore: delete %s: %w", id, err)
	}
	if r != nil && !r.Deletable {
		return fmt.Errorf("localstore: delete %s: blob is permanent: %w", id, blobstore.ErrForbidden)
	}
	if err := s.deleteBlob(id); err != nil {
		return fmt.Errorf("localstore: delete %s: %w", id, err)
	}
	st.deletes.Add(1)
	s.log.Debug("localstore: deleted", "blob", id)
	return nil
}

// deleteBlob runs the delete protocol for id. The caller holds its stripe
// for writing (or is recovery, which runs alone).
func (s *Store) deleteBlob(id blobstore.ID) error {
	s.slivers.forget(id)
	intent := deletePrefix + id.String()
	var errs []error
	for d := range s.dirs {
		p := s.tmpPath(d, intent)
		if err := writeFileSync(p, []byte(id.String())); err != nil && !errors.Is(err, fs.ErrExist) {
			errs = append(errs, err)
			continue
		}
		if err := syncDir(filepath.Dir(p)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == len(s.dirs) {
		return fmt.Errorf("write delete intent: %w", errors.Join(errs...))
	}
	errs = errs[:0]
	for d := range s.dirs {
		bd := s.blobDir(d, id)
		trash := s.tmpPath(d, trashPrefix+newNonce())
		if err := os.Rename(bd, trash); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if err := syncDir(filepath.Dir(bd)); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(trash); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Leave the intents: the next Open retries.
		return errors.Join(errs...)
	}
	for d := range s.dirs {
		if err := os.Remove(s.tmpPath(d, intent)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("localstore: remove delete intent", "blob", id, "dir", s.dirs[d], "err", err)
		}
	}
	return nil
}
