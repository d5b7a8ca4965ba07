package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// Config tunes the filesystem. Start from DefaultConfig.
type Config struct {
	// ChunkSize is the chunk size of files created from now on. Existing
	// files keep the size they were created with.
	ChunkSize uint32
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool
	// EntryTimeout, AttrTimeout and NegativeTimeout are how long the kernel
	// may cache names, attributes and failed lookups. Every change passes
	// through this daemon, so they only need to be short enough for
	// changes made under the state directory by hand to show.
	EntryTimeout    time.Duration
	AttrTimeout     time.Duration
	NegativeTimeout time.Duration

	// Store is where sealed chunks are uploaded and stored chunks are read
	// from. Without one, file data stays in the staging area.
	Store blobstore.Store
	// Codec cuts chunks into blocks and seals them (with the key when
	// encryption is on) for upload. Required with a Store.
	Codec *blockcrypt.Codec
	// Key opens encrypted chunks; required to read them.
	Key *blockcrypt.Key
	// Cache is the verified block cache for reads of stored chunks; nil
	// fetches every block from the store.
	Cache *blockcache.Cache
	// ReadAhead, when not zero, has sequential readers of stored chunks
	// fetch each chunk ahead whole, into the cache.
	ReadAhead uint64
	// Upload tunes sealing, packing and back-pressure.
	Upload UploadConfig
	// FsyncCertified makes fsync return only once the file's data is
	// certified in the store (--fsync=certified); otherwise fsync returns
	// once it is durable on local disk.
	FsyncCertified bool
}

// Chunk size limits: a chunk must fit one Walrus blob on a public
// publisher (10 MiB) with room to spare.
const (
	MinChunkSize     = 64 << 10
	MaxChunkSize     = 256 << 20
	DefaultChunkSize = 8 << 20
)

// DefaultConfig returns the configuration walrusfs mounts with.
func DefaultConfig() Config {
	return Config{
		ChunkSize:       DefaultChunkSize,
		EntryTimeout:    time.Second,
		AttrTimeout:     time.Second,
		NegativeTimeout: time.Second,
		ReadAhead:       8 << 20,
		Upload:          DefaultUploadConfig(),
	}
}

// Validate reports a configuration error in words a person can act on.
func (c Config) Validate() error {
	if c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize || c.ChunkSize%4096 != 0 {
		return fmt.Errorf("chunk size %d: must be a multiple of 4096 between %d and %d", c.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if c.Store != nil {
		if c.Codec == nil {
			return errors.New("a blob store needs a block codec")
		}
		if err := c.Upload.validate(); err != nil {
			return err
		}
	}
	return nil
}

// FS is one mounted walrusfs tree.
type FS struct {
	cfg   Config
	log   *slog.Logger
	idx   *index.Index
	stage *stagingArea

	openMu sync.Mutex
	files  map[index.Ino]*fileData // inodes with open handles or I/O in flight

	dirty  dirtySet     // chunk files written since their last flush
	writes writeTracker // chunks written since they were sealed

	up         *uploader    // nil without a store
	lastChange atomic.Int64 // UnixNano of the latest change request (see noteChange)
	stopSealer context.CancelFunc
	sealerDone chan struct{}
}

// New builds the filesystem over an open index, with its chunk files in
// stagingDir. Call Recover before mounting.
func New(idx *index.Index, stagingDir string, cfg Config, log *slog.Logger) (*FS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	stage, err := openStaging(filepath.Clean(stagingDir), idx, log)
	if err != nil {
		return nil, err
	}
	f := &FS{cfg: cfg, log: log, idx: idx, stage: stage, files: map[index.Ino]*fileData{}}
	if cfg.Store != nil {
		if f.up, err = newUploader(f, cfg.Upload); err != nil {
			stage.close()
			return nil, err
		}
	}
	return f, nil
}

// Recover brings the tree back to a clean state after whatever ended the last
// mount: it deletes orphans (files unlinked while open) and removes chunk
// files nothing refers to. Call it once, before mounting.
func (f *FS) Recover(ctx context.Context) error {
	orphans, err := f.idx.PurgeOrphans()
	if err != nil {
		return fmt.Errorf("purge orphans: %w", err)
	}
	if err := f.idx.Sync(ctx); err != nil {
		return err
	}
	keep, err := f.idx.StagingIDs()
	if err != nil {
		return err
	}
	f.stage.removeDoomed()
	swept, err := f.stage.sweep(keep)
	if err != nil {
		return err
	}
	if orphans > 0 || swept > 0 {
		f.log.Info("recovered after unclean shutdown", "orphans_deleted", orphans, "chunk_files_removed", swept)
	}
	if f.up == nil {
		return nil
	}
	// Chunks written before a crash were never closed: seal them, then
	// upload whatever the queue holds.
	sealed, err := f.sealUnsealed(0)
	if err != nil {
		return fmt.Errorf("seal chunks left open: %w", err)
	}
	if err := f.sizeLegacyUploads(); err != nil {
		return err
	}
	if pending, err := f.idx.PendingUploads(0); err == nil && pending > 0 {
		f.log.Info("resuming uploads", "chunks_queued", pending, "sealed_now", sealed)
	}
	f.up.start()
	ctx, cancel := context.WithCancel(context.Background())
	f.stopSealer, f.sealerDone = cancel, make(chan struct{})
	go func() {
		defer close(f.sealerDone)
		f.sealer(ctx)
	}()
	return nil
}

// Root returns the root node to mount.
func (f *FS) Root() fusefs.InodeEmbedder { return &node{fs: f, ino: index.RootIno} }

// RootStableAttr is the root's identity for fusefs.Options.RootStableAttr.
func RootStableAttr() *fusefs.StableAttr {
	return &fusefs.StableAttr{Ino: uint64(index.RootIno), Mode: syscall.S_IFDIR}
}

// Sync makes everything acknowledged so far durable: all staged data, then
// all metadata.
func (f *FS) Sync(ctx context.Context) error {
	if err := f.syncStaging(); err != nil {
		return fmt.Errorf("sync staging: %w", err)
	}
	return f.idx.Sync(ctx)
}

// Drain seals everything written and waits up to timeout for the upload
// queue to empty, logging progress. Whatever is still queued then stays
// queued for the next mount, and the log says how much.
func (f *FS) Drain(timeout time.Duration) {
	if f.up == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.WaitUploaded(ctx) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			pending, lastErr := f.up.status()
			if err == nil {
				f.log.Info("all uploads done")
				return
			}
			f.log.Warn("uploads still pending; they resume at the next mount", "chunks_queued", pending, "last_upload_error", errString(lastErr))
			return
		case <-tick.C:
			pending, _ := f.up.status()
			f.log.Info("draining uploads", "chunks_queued", pending)
		}
	}
}

// Close stops background work: sealing, uploads in flight (their chunks
// stay queued) and the staging remover. The caller closes the index
// afterwards.
func (f *FS) Close() {
	if f.stopSealer != nil {
		f.stopSealer()
		<-f.sealerDone
	}
	if f.up != nil {
		f.up.stop()
	}
	// Commit, so the staging files that uploads released are removed now
	// rather than swept at the next mount.
	if err := f.idx.Sync(context.Background()); err != nil && !errors.Is(err, index.ErrClosed) {
		f.log.Warn("final index commit", "err", err)
	}
	f.stage.close()
}

// releaseNow returns the space of a large file whose last name just went
// away before the unlink or rename returns, as a local filesystem does: it
// commits the index (so nothing durable refers to the chunk files any more)
// and removes them. Small files are left to the periodic commit, so that
// rm -rf costs no flush per file.
func (f *FS) releaseNow(victim index.Attr) {
	if victim.Type() != syscall.S_IFREG || victim.Nlink != 1 || victim.Size < releaseNowSize {
		return
	}
	if err := f.idx.Sync(context.Background()); err != nil {
		if !errors.Is(err, index.ErrClosed) {
			f.log.Warn("committing a large deletion", "err", err)
		}
		return
	}
	f.stage.removeDoomed()
}

// releaseNowSize is the file size from which deleting a file returns its
// space before the call returns.
const releaseNowSize = 64 << 20

// Options returns the go-fuse options walrusfs mounts with.
func (f *FS) Options() *fusefs.Options {
	et, at, nt := f.cfg.EntryTimeout, f.cfg.AttrTimeout, f.cfg.NegativeTimeout
	opts := &fusefs.Options{
		EntryTimeout:    &et,
		AttrTimeout:     &at,
		NegativeTimeout: &nt,
		RootStableAttr:  RootStableAttr(),
		MountOptions: fuse.MountOptions{
			FsName:        "walrusfs",
			Name:          "walrusfs",
			Options:       []string{"default_permissions"},
			MaxWrite:      1 << 20,
			MaxReadAhead:  1 << 20,
			MaxBackground: 64,
			DirectMount:   true,
		},
	}
	if f.cfg.ReadOnly {
		opts.Options = append(opts.Options, "ro")
	}
	return opts
}

func now() int64 { return time.Now().UnixNano() }

func caller(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

// noteChange records that a request to change the tree or a file's data
// arrived now; the uploader holds back while they keep coming (see
// UploadConfig.ForegroundFirst).
func (f *FS) noteChange() {
	f.lastChange.Store(time.Now().UnixNano())
}
