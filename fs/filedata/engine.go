package filedata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/fs/filedata/upload"
	"github.com/walrusfs/walrusfs/index"
)

// Config tunes the engine. Start from DefaultConfig and set the parts
// (Store, Codec, Cache, Key).
type Config struct {
	// ChunkSize is the chunk size of files created from now on. Existing
	// files keep the size they were created with.
	ChunkSize uint32
	// FetchAhead has readers that go through stored chunks in order fetch
	// ahead of them, into the cache, in few large requests (see prefetch
	// in file.go for when and how far).
	FetchAhead bool
	// ReadaheadLead is how far past what the application has read the
	// kernel's own readahead may ask for: about twice the mount's
	// readahead window (the kernel keeps up to two windows in flight),
	// and at least twice the largest request. Those requests reach the
	// engine looking like the application's, so fetch-ahead does not
	// count this much of a run as evidence that the reader goes through
	// the file. DefaultConfig sets 2 MiB (Linux's 128 KiB readahead for
	// FUSE mounts, 1 MiB requests).
	ReadaheadLead int64
	// SealDelay: a chunk not written for this long is sealed and queued
	// even while its file stays open.
	SealDelay time.Duration
	// StagingBudget is how many bytes the staging area may hold before
	// writers wait for uploads; zero means no limit.
	StagingBudget int64
	// StagingWait is how long a writer waits for room before the write
	// fails with ENOSPC.
	StagingWait time.Duration
	// KeepLocalCopies: chunks in certified blobs keep their staged files
	// as local copies (read at local disk speed) while the staging area
	// holds at most this many bytes; the oldest go first. Zero drops them
	// as soon as their blob is certified.
	KeepLocalCopies int64
	// FsyncCertified makes fsync return only once the file's data is
	// certified in the store (--fsync=certified); otherwise fsync returns
	// once it is durable on local disk.
	FsyncCertified bool
	// Upload tunes the uploader.
	Upload upload.Config
	// YieldQuiet and YieldMaxWait pace uploads behind reads: while reads
	// are being served, uploads read staged chunks and write slivers in
	// bounded pieces, each after waiting until no read has been in flight
	// for YieldQuiet, for at most YieldMaxWait (blobstore.Foreground). A
	// zero YieldMaxWait leaves uploads unpaced.
	YieldQuiet, YieldMaxWait time.Duration

	// Store is where sealed chunks are uploaded and stored chunks are read
	// from. Required.
	Store blobstore.Store
	// Codec cuts chunks into blocks and seals them (with the key when
	// encryption is on) for upload. Required.
	Codec *blockcrypt.Codec
	// Key opens encrypted chunks; required to read them.
	Key *blockcrypt.Key
	// Cache is the verified block cache stored chunks are read through.
	// Required.
	Cache *blockcache.Cache
}

// Chunk size limits: a chunk must fit one Walrus blob on a public
// publisher (10 MiB) with room to spare.
const (
	MinChunkSize     = 64 << 10
	MaxChunkSize     = 256 << 20
	DefaultChunkSize = 8 << 20
)

// DefaultConfig returns the configuration walrusfs mounts with, without
// its parts.
func DefaultConfig() Config {
	return Config{
		ChunkSize:     DefaultChunkSize,
		FetchAhead:    true,
		ReadaheadLead: 2 << 20,
		SealDelay:     5 * time.Second,
		StagingWait:   2 * time.Minute,
		Upload:        upload.DefaultConfig(),
		YieldQuiet:    blobstore.DefaultQuiet,
		YieldMaxWait:  blobstore.DefaultMaxWait,
	}
}

// ValidateChunkSize reports a chunk size the engine cannot use.
func ValidateChunkSize(size uint32) error {
	if size < MinChunkSize || size > MaxChunkSize || size%4096 != 0 {
		return fmt.Errorf("chunk size %d: must be a multiple of 4096 between %d and %d", size, MinChunkSize, MaxChunkSize)
	}
	return nil
}

// Validate reports a configuration error in words a person can act on.
func (c Config) Validate() error {
	if err := ValidateChunkSize(c.ChunkSize); err != nil {
		return err
	}
	switch {
	case c.Store == nil:
		return errors.New("file data needs a blob store")
	case c.Codec == nil:
		return errors.New("file data needs a block codec")
	case c.Cache == nil:
		return errors.New("file data needs a block cache")
	}
	return c.Upload.Validate()
}

// Engine holds the bytes of the files of one mounted tree. Safe for
// concurrent use. See the package doc.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	idx   *index.Index
	stage *stagingArea

	openMu sync.Mutex
	files  map[index.Ino]*fileData // inodes with open handles or I/O in flight

	dirty  dirtySet     // chunk files written since their last flush
	writes writeTracker // chunks written since they were sealed

	up         *upload.Uploader
	reads      *blobstore.Foreground // reads being served; uploads yield to them
	lastChange atomic.Int64          // UnixNano of the latest change request (see NoteChange)
	stopSealer context.CancelFunc
	sealerDone chan struct{}

	// flushFiles is syncFiles; tests replace it to see when chunk files
	// are flushed.
	flushFiles func([]*os.File) error
}

// New builds the engine over an open index, with its chunk files in
// stagingDir. Call Recover before serving requests.
func New(idx *index.Index, stagingDir string, cfg Config, log *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	stage, err := openStaging(filepath.Clean(stagingDir), idx, log)
	if err != nil {
		return nil, err
	}
	stage.budget = cfg.StagingBudget
	e := &Engine{cfg: cfg, log: log, idx: idx, stage: stage, files: map[index.Ino]*fileData{}, flushFiles: syncFiles}
	e.reads = blobstore.NewForeground(cfg.YieldQuiet, cfg.YieldMaxWait)
	e.up, err = upload.New(cfg.Upload, upload.Parts{
		Store: cfg.Store, Codec: cfg.Codec, Queue: uploadQueue{e}, Staging: stage, Activity: e, Log: log,
		Foreground: e.reads,
	})
	if err != nil {
		stage.close()
		return nil, err
	}
	return e, nil
}

// ChunkSize is the chunk size of files created now.
func (e *Engine) ChunkSize() uint32 { return e.cfg.ChunkSize }

// Recover brings the tree back to a clean state after whatever ended the last
// mount, then starts uploading and sealing: it deletes orphans (files
// unlinked while open), removes chunk files nothing refers to, and seals the
// chunks a crash left unsealed. Call it once, before serving requests.
func (e *Engine) Recover(ctx context.Context) error {
	orphans, err := e.idx.PurgeOrphans()
	if err != nil {
		return fmt.Errorf("purge orphans: %w", err)
	}
	if err := e.idx.Commit(ctx); err != nil {
		return err
	}
	keep, err := e.idx.StagingIDs()
	if err != nil {
		return err
	}
	e.stage.removeDoomed()
	swept, err := e.stage.sweep(keep)
	if err != nil {
		return err
	}
	if orphans > 0 || swept > 0 {
		e.log.Info("recovered after unclean shutdown", "orphans_deleted", orphans, "chunk_files_removed", swept)
	}
	// Chunks written before a crash were never closed: seal them, then
	// upload whatever the queue holds.
	sealed, err := e.sealUnsealed(0)
	if err != nil {
		return fmt.Errorf("seal chunks left open: %w", err)
	}
	if err := e.sizeLegacyUploads(); err != nil {
		return err
	}
	if pending, err := e.idx.PendingUploads(0); err == nil && pending > 0 {
		e.log.Info("resuming uploads", "chunks_queued", pending, "sealed_now", sealed)
	}
	e.up.Start()
	ctx, cancel := context.WithCancel(context.Background())
	e.stopSealer, e.sealerDone = cancel, make(chan struct{})
	go func() {
		defer close(e.sealerDone)
		e.sealer(ctx)
	}()
	return nil
}

// Sync makes everything acknowledged so far durable: all staged data and
// all metadata.
func (e *Engine) Sync(ctx context.Context) error {
	return e.syncWithIndex(ctx, func() error {
		if err := e.syncStaging(); err != nil {
			return fmt.Errorf("sync staging: %w", err)
		}
		return nil
	})
}

// syncWithIndex runs flushData (chunk files) and the index's journal
// flush at the same time, so an fsync waits for one disk flush instead of
// two in a row, and the local filesystem can fold both into one journal
// commit. Their order does not matter to a crash: the index flushes its
// journal every CommitInterval on its own, ahead of data nobody fsynced,
// so a crash could always find metadata newer than the data (as ext4 with
// data=writeback can). fsync only promises both once it returns.
func (e *Engine) syncWithIndex(ctx context.Context, flushData func() error) error {
	indexErr := make(chan error, 1)
	go func() { indexErr <- e.idx.Sync(ctx) }()
	dataErr := flushData()
	return errors.Join(dataErr, <-indexErr)
}

// Drain seals everything written and waits up to timeout for the upload
// queue to empty, logging progress. Whatever is still queued then stays
// queued for the next mount, and the log says how much.
func (e *Engine) Drain(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.WaitUploaded(ctx) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			pending, lastErr := e.up.Status()
			if err == nil {
				e.log.Info("all uploads done")
				return
			}
			e.log.Warn("uploads still pending; they resume at the next mount", "chunks_queued", pending, "last_upload_error", errString(lastErr))
			return
		case <-tick.C:
			pending, _ := e.up.Status()
			e.log.Info("draining uploads", "chunks_queued", pending)
		}
	}
}

// Close stops background work: sealing, uploads in flight (their chunks
// stay queued) and the staging remover. The caller closes the index
// afterwards.
func (e *Engine) Close() {
	if e.stopSealer != nil {
		e.stopSealer()
		<-e.sealerDone
	}
	e.up.Stop()
	// Commit, so the staging files that uploads released are removed now
	// rather than swept at the next mount.
	if err := e.idx.Commit(context.Background()); err != nil && !errors.Is(err, index.ErrClosed) {
		e.log.Warn("final index commit", "err", err)
	}
	e.stage.close()
}

// Deleted tells the engine that victim (its attributes from before an
// unlink or a rename over it) lost a name. A large file whose last name
// went away gets its space back before the call returns, as on a local
// filesystem: the index is committed (so nothing durable refers to the
// chunk files any more) and the files are removed. Small files are left to
// the periodic commit, so that rm -rf costs no flush per file.
func (e *Engine) Deleted(victim index.Attr) {
	if victim.Type() != syscall.S_IFREG || victim.Nlink != 1 || victim.Size < releaseNowSize {
		return
	}
	if err := e.idx.Commit(context.Background()); err != nil {
		if !errors.Is(err, index.ErrClosed) {
			e.log.Warn("committing a large deletion", "err", err)
		}
		return
	}
	e.stage.removeDoomed()
}

// releaseNowSize is the file size from which deleting a file returns its
// space before the call returns.
const releaseNowSize = 64 << 20

// Statfs reports the capacity of the filesystem holding the staging area.
func (e *Engine) Statfs() (unix.Statfs_t, error) { return e.stage.statfs() }

// NoteChange records that a request to change the tree or a file's data
// arrived now; the uploader holds back while they keep coming (see
// upload.Config.ForegroundFirst).
func (e *Engine) NoteChange() { e.lastChange.Store(time.Now().UnixNano()) }

// LastChange is when NoteChange was last called (the uploader's activity
// clock).
func (e *Engine) LastChange() time.Time { return time.Unix(0, e.lastChange.Load()) }

func now() int64 { return time.Now().UnixNano() }

// uploadQueue is the index's upload queue as the uploader sees it: a
// completed upload also switches the cached references of open files.
type uploadQueue struct{ e *Engine }

func (q uploadQueue) Uploads(after uint64, limit int) ([]index.Upload, error) {
	return q.e.idx.Uploads(after, limit)
}

func (q uploadQueue) UploadCurrent(u index.Upload) (bool, error) { return q.e.idx.UploadCurrent(u) }

func (q uploadQueue) DropUpload(seq uint64) error { return q.e.idx.DropUpload(seq) }

func (q uploadQueue) PendingUploads(ino index.Ino) (int, error) { return q.e.idx.PendingUploads(ino) }

func (q uploadQueue) CompleteUploads(b index.Blob, results []index.UploadResult) ([]index.ChunkUpdate, error) {
	applied, err := q.e.idx.CompleteUploads(b, results)
	for _, c := range applied {
		q.e.chunkStored(c)
	}
	return applied, err
}

// NoteCertified tells the engine that blobs became certified outside the
// upload path (chain sync read their Blob objects): fsyncs waiting for
// certification look again (local copies of their chunks may go at the
// sealer's next round).
func (e *Engine) NoteCertified() { e.up.Changed() }

// UploadCounters returns the uploader's totals.
func (e *Engine) UploadCounters() upload.Counters { return e.up.Counters() }

// Uploaded returns a channel closed at the next completed upload (chain
// sync then looks for the new blobs' objects).
func (e *Engine) Uploaded() <-chan struct{} { return e.up.Progressed() }
