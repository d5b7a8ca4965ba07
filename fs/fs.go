package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

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
	}
}

// Validate reports a configuration error in words a person can act on.
func (c Config) Validate() error {
	if c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize || c.ChunkSize%4096 != 0 {
		return fmt.Errorf("chunk size %d: must be a multiple of 4096 between %d and %d", c.ChunkSize, MinChunkSize, MaxChunkSize)
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

	dirty dirtySet // chunk files written since their last flush
}

// New builds the filesystem over an open index, with its chunk files in
// stagingDir. Call Recover before mounting.
func New(idx *index.Index, stagingDir string, cfg Config, log *slog.Logger) (*FS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	stage, err := openStaging(filepath.Clean(stagingDir), log)
	if err != nil {
		return nil, err
	}
	f := &FS{cfg: cfg, log: log, idx: idx, stage: stage, files: map[index.Ino]*fileData{}}
	idx.SetHooks(index.Hooks{IsOpen: f.isOpen, ReleaseStaging: stage.release})
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

// Close stops background work. The caller closes the index afterwards.
func (f *FS) Close() { f.stage.close() }

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

func (f *FS) isOpen(ino index.Ino) bool {
	f.openMu.Lock()
	defer f.openMu.Unlock()
	d := f.files[ino]
	return d != nil && d.handles > 0
}

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
