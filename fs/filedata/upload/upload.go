package upload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// Config tunes the uploader. Start from DefaultConfig.
type Config struct {
	// Concurrency is how many blobs or quilts are uploaded at once.
	Concurrency int
	// QuiltThreshold: chunks smaller than this are packed into quilts;
	// larger ones become standalone blobs.
	QuiltThreshold int64
	// QuiltMaxBytes and QuiltMaxPatches bound one quilt (Walrus allows
	// 666 patches; public publishers take 100 MiB quilts). QuiltMaxBytes
	// bounds the quilt blob as QuiltV1 lays it out at the store's quilt
	// shard count (quilt.Planner), not the sum of its chunks: every chunk
	// takes whole columns, so a quilt of mixed sizes is larger than its
	// data. The quilt is held in memory while it is built. New refuses a
	// QuiltMaxBytes below the smallest quilt at that shard count (Kp·Ks·2
	// bytes: 445 556 at 1000 shards).
	QuiltMaxBytes   int64
	QuiltMaxPatches int
	// QuiltMaxAge is how long a partly filled quilt waits for more chunks
	// before it is uploaded anyway: 10 s by default, NetworkQuiltMaxAge
	// for the Walrus network.
	QuiltMaxAge time.Duration
	// ForegroundFirst: while the filesystem is taking a stream of changes
	// (tar x, rsync, a build), uploads wait for a pause of QuietPeriod,
	// for at most this long; then they run alongside at low priority.
	// They never wait while writers need staging room or someone waits
	// for uploads (fsync=certified, unmount). Zero disables the wait.
	ForegroundFirst time.Duration
	// QuietPeriod is how long the filesystem must go without a change
	// request for deferred uploads to start (DefaultQuietPeriod).
	QuietPeriod time.Duration
	// Epochs is how many epochs each blob is stored for (0: the store's
	// default).
	Epochs uint32
	// SendObjectTo receives the Blob objects (the daemon's Sui address).
	SendObjectTo string
	// CertifiedByChain: the store's word that a blob is certified is not
	// taken; uploaded blobs are recorded as stored until chain sync reads
	// their Blob objects (index.Index.RecordChain). A blob the store found
	// already certified under someone else's object has no object of ours
	// to read, so its claim is taken.
	CertifiedByChain bool
	// RetryMin and RetryMax bound the backoff between failed uploads.
	RetryMin, RetryMax time.Duration
}

// Upload defaults. A quilt of 666 patches of 4 KiB is 3.1 MB at 1000 shards; 16 MiB
// leaves room for larger small chunks while keeping the quilt being built
// (and its encoding) small in memory.
const (
	DefaultQuiltThreshold  = 4 << 20
	DefaultQuiltMaxBytes   = 16 << 20
	DefaultQuiltMaxPatches = 666
)

// DefaultConfig returns the uploader's defaults.
func DefaultConfig() Config {
	return Config{
		Concurrency:     2,
		QuiltThreshold:  DefaultQuiltThreshold,
		QuiltMaxBytes:   DefaultQuiltMaxBytes,
		QuiltMaxPatches: DefaultQuiltMaxPatches,
		QuiltMaxAge:     10 * time.Second,
		ForegroundFirst: 10 * time.Second,
		QuietPeriod:     DefaultQuietPeriod,
		RetryMin:        time.Second,
		RetryMax:        time.Minute,
	}
}

// Validate reports a configuration error in words a person can act on.
func (c Config) Validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("upload concurrency %d: must be at least 1", c.Concurrency)
	case c.QuiltMaxPatches < 1 || c.QuiltMaxPatches > DefaultQuiltMaxPatches:
		return fmt.Errorf("quilt patches %d: must be between 1 and %d", c.QuiltMaxPatches, DefaultQuiltMaxPatches)
	case c.QuiltThreshold > c.QuiltMaxBytes:
		return fmt.Errorf("quilt threshold %d is larger than the quilt size %d", c.QuiltThreshold, c.QuiltMaxBytes)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("upload retry backoff %v..%v: must be positive and ordered", c.RetryMin, c.RetryMax)
	}
	return nil
}

// Queue is the upload queue as the uploader sees it (*index.Index, or a
// wrapper that also tells open files where their chunks went).
type Queue interface {
	// Uploads returns up to limit entries after sequence number after.
	Uploads(after uint64, limit int) ([]index.Upload, error)
	// UploadCurrent reports whether the entry's chunk still wants it.
	UploadCurrent(u index.Upload) (bool, error)
	// DropUpload deletes an entry whose chunk no longer wants it.
	DropUpload(seq uint64) error
	// PendingUploads counts the entries of ino (all for 0).
	PendingUploads(ino index.Ino) (int, error)
	// CompleteUploads records a stored batch in one operation and returns
	// the chunks it now points at the blob.
	CompleteUploads(b index.Blob, results []index.UploadResult) ([]index.ChunkUpdate, error)
}

// Staging is the staging area as the uploader sees it.
type Staging interface {
	// OpenSealed opens a sealed chunk file for reading; a file that is gone
	// fails with an error satisfying errors.Is(err, os.ErrNotExist).
	OpenSealed(id uint64) (*os.File, error)
	// Tight reports that staging is filling up (past half its budget):
	// uploads then go without waiting for a quiet moment.
	Tight() bool
}

// Activity is the filesystem's activity clock.
type Activity interface {
	// LastChange is when the latest request to change the tree or a
	// file's data arrived.
	LastChange() time.Time
}

// Parts are what an Uploader works with. All are required.
type Parts struct {
	Store blobstore.Store
	// Codec cuts chunks into blocks and seals them for upload.
	Codec    *blockcrypt.Codec
	Queue    Queue
	Staging  Staging
	Activity Activity
	Log      *slog.Logger
	// Foreground, when set, tracks the requests uploads yield their disk
	// I/O to (blobstore.Yield).
	Foreground *blobstore.Foreground
}

// Uploader turns sealed chunks into blobs and quilts. Safe for concurrent
// use.
type Uploader struct {
	cfg Config
	Parts
	// planner lays quilts out at the store's quilt shard count; only the
	// scheduler goroutine uses it.
	planner *quilt.Planner

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	slots  chan struct{} // one per upload in flight
	// quiltSlot is held by the one quilt upload allowed at a time.
	quiltSlot chan struct{}

	mu       sync.Mutex
	inflight map[uint64]bool // queue entries being uploaded
	checked  map[uint64]bool // queue entries whose chunks still want them
	flushes  int             // waiters wanting partial quilts sent now
	progress chan struct{}   // closed and replaced after every completed batch
	failures int             // consecutive failed uploads (backoff)
	// patchOK and patchFail are the largest quilt the store took and the
	// smallest it refused (0: none yet), in patches.
	patchOK, patchFail int
	retryAt            time.Time
	// busySince is when the scheduler first held uploads back for the
	// foreground in the current busy stretch (zero: not holding back).
	// Only the scheduler goroutine uses it.
	busySince time.Time
	lastErr   error
	// lastFailure stays after later successes, for status reports.
	lastFailure    error
	lastFailureAt  time.Time
	failuresByKind map[string]uint64

	uploadedBytes, uploadedChunks, uploadedBlobs, uploadedQuilts, failedUploads atomic.Uint64
}

// New returns an uploader; Start sets it going.
func New(cfg Config, parts Parts) (*Uploader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if parts.Store == nil || parts.Codec == nil || parts.Queue == nil || parts.Staging == nil || parts.Activity == nil || parts.Log == nil {
		return nil, errors.New("upload: every part is required")
	}
	shards := blobstore.NetworkShards
	if l, ok := parts.Store.(blobstore.QuiltLimiter); ok {
		shards = l.QuiltShards()
	}
	p, err := rs2.NewParams(shards)
	if err != nil {
		return nil, fmt.Errorf("the store's quilt shard count: %w", err)
	}
	// No quilt is smaller than an empty one: a limit below it could not
	// be kept.
	planner := quilt.NewPlanner(p)
	if smallest := planner.BlobLen(); cfg.QuiltMaxBytes > 0 && cfg.QuiltMaxBytes < smallest {
		return nil, fmt.Errorf("quilt size %d: the smallest quilt at the store's %d shards is %d bytes", cfg.QuiltMaxBytes, shards, smallest)
	}
	if cfg.QuietPeriod <= 0 {
		cfg.QuietPeriod = DefaultQuietPeriod
	}
	// Uploads are background work: their encoding runs at low priority
	// and leaves the cores to the requests the filesystem is serving.
	ctx, cancel := context.WithCancel(blobstore.WithForeground(blobstore.WithBackground(context.Background()), parts.Foreground))
	return &Uploader{
		cfg: cfg, Parts: parts,
		ctx: ctx, cancel: cancel,
		planner:   planner,
		wake:      make(chan struct{}, 1),
		slots:     make(chan struct{}, cfg.Concurrency),
		quiltSlot: make(chan struct{}, 1),
		inflight:  map[uint64]bool{},
		checked:   map[uint64]bool{},
		progress:  make(chan struct{}),
	}, nil
}

// Start starts the scheduler: it uploads what the queue holds and what is
// queued later, until Stop.
func (u *Uploader) Start() {
	u.wg.Add(1)
	go u.run()
}

// Stop cancels uploads in flight (their chunks stay queued) and waits.
func (u *Uploader) Stop() {
	u.cancel()
	u.wg.Wait()
}

// Kick tells the scheduler the queue changed.
func (u *Uploader) Kick() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Progressed returns a channel closed at the next completed batch.
func (u *Uploader) Progressed() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.progress
}

// Changed wakes those waiting in WaitFor: something they wait for may
// have happened outside the uploader (chain sync confirmed a blob).
func (u *Uploader) Changed() { u.signal() }

func (u *Uploader) signal() {
	u.mu.Lock()
	close(u.progress)
	u.progress = make(chan struct{})
	u.mu.Unlock()
}

// schedulePause is the least time between two passes over the queue: a
// stream of closes (tar x) wakes the scheduler thousands of times a second,
// and each pass reads the whole queue.
const schedulePause = 50 * time.Millisecond

func (u *Uploader) run() {
	defer u.wg.Done()
	for {
		wait := u.schedule()
		pause := time.NewTimer(schedulePause)
		select {
		case <-pause.C:
		case <-u.ctx.Done():
			pause.Stop()
			return
		}
		t := time.NewTimer(max(0, wait-schedulePause))
		select {
		case <-u.wake:
		case <-t.C:
		case <-u.ctx.Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}

// queued is a queue entry with its staged size.
type queued struct {
	index.Upload
	size int64
}

// maxQueueScan bounds how many queue entries one scheduling pass reads.
const maxQueueScan = 100_000

// schedule starts every upload that can go now and returns how long to wait
// before looking again (a wake-up comes sooner when something changes).
func (u *Uploader) schedule() time.Duration {
	const idle = time.Second
	u.mu.Lock()
	retryAt, flush := u.retryAt, u.flushes > 0
	u.mu.Unlock()
	if d := time.Until(retryAt); d > 0 {
		return d
	}
	if d := u.yieldToForeground(time.Now(), flush); d > 0 {
		return d
	}
	ups, err := u.Queue.Uploads(0, maxQueueScan)
	if err != nil {
		if !errors.Is(err, index.ErrClosed) {
			u.Log.Error("upload queue unreadable", "err", err)
		}
		return idle
	}
	chunks := make([]queued, 0, len(ups))
	for _, up := range ups {
		if q, ok := u.prepare(up); ok {
			chunks = append(chunks, q)
		}
	}
	p := plan(planInput{
		chunks:        chunks,
		now:           time.Now(),
		flush:         flush,
		threshold:     u.cfg.QuiltThreshold,
		maxBytes:      u.cfg.QuiltMaxBytes,
		maxPatches:    u.maxPatches(),
		maxAge:        u.cfg.QuiltMaxAge,
		planner:       u.planner,
		storedLen:     u.Codec.Layout().StoredLen,
		sealedNameLen: u.Codec.SealedNameLen,
	})
	for _, b := range p.send {
		if !u.launch(b) {
			return idle
		}
	}
	if len(p.waiting) > 0 {
		return min(idle, p.wait)
	}
	return idle
}

// NetworkQuiltMaxAge is the QuiltMaxAge for the Walrus network. On the
// network every quilt carries about 64 MB of encoded metadata whatever it
// holds, so a slow trickle of small files at one quilt per 10 s would
// store some 550 GB of metadata a day; at 5 min, 18 GB. The data is safe
// on local disk meanwhile, and waiting for certification or unmounting
// sends it at once.
const NetworkQuiltMaxAge = 5 * time.Minute

// DefaultQuietPeriod is how long the filesystem must go without a change
// request before deferred uploads start (see Config.ForegroundFirst).
const DefaultQuietPeriod = 500 * time.Millisecond

// yieldToForeground returns how long uploads should wait for the
// filesystem to go quiet, or 0 to go now. Uploads compete with the
// requests being served for the disk and, on small machines, the cores:
// a tar x runs at local-disk speed when the quilts of its files are built
// after it ends rather than during it. The wait is bounded, so a stream
// of changes that never pauses still gets its uploads, and it is skipped
// whenever anyone waits for uploads or staging fills up.
func (u *Uploader) yieldToForeground(now time.Time, flush bool) time.Duration {
	limit := u.cfg.ForegroundFirst
	if limit <= 0 || flush || u.stagingTight() {
		u.busySince = time.Time{}
		return 0
	}
	quietFor := now.Sub(u.Activity.LastChange())
	quiet := u.cfg.QuietPeriod
	if quietFor >= quiet {
		u.busySince = time.Time{}
		return 0
	}
	if u.busySince.IsZero() {
		u.busySince = now
	}
	if now.Sub(u.busySince) >= limit {
		return 0 // busy for too long: upload alongside
	}
	return min(quiet-quietFor, limit-now.Sub(u.busySince))
}

// stagingTight reports whether staged bytes are past half the staging
// budget: uploads then go without waiting for a quiet moment.
func (u *Uploader) stagingTight() bool {
	return u.Staging.Tight()
}

// patchName is the name of a chunk's patch in its quilt, before sealing:
// unique among the chunks the uploader sends.
func patchName(q queued) string {
	return fmt.Sprintf("c%d-%d-%d", q.Ino, q.N, q.StagingID)
}

// maxPatches is the most chunks one quilt takes: the configured limit, or
// less when the store refused larger quilts. (The store's own limit, Ks−1
// at its quilt shard count, is the planner's.)
func (u *Uploader) maxPatches() int {
	n := u.cfg.QuiltMaxPatches
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.patchFail > 0 {
		// A store that does not say its limit (a publisher) refused a
		// quilt of patchFail patches: search between that and the
		// largest it took.
		n = min(n, max(u.patchOK, (u.patchOK+u.patchFail)/2), u.patchFail-1)
	}
	return max(n, 1)
}

// quiltResult records how a quilt of n patches fared, for maxPatches.
func (u *Uploader) quiltResult(n int, refused bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case refused && (u.patchFail == 0 || n < u.patchFail):
		u.patchFail = n
	case !refused && n > u.patchOK:
		u.patchOK = n
	}
}

// prepare returns up with its staged size, or false when it is in flight,
// or its chunk no longer wants it (the entry is then dropped).
func (u *Uploader) prepare(up index.Upload) (queued, bool) {
	u.mu.Lock()
	busy, known := u.inflight[up.Seq], u.checked[up.Seq]
	u.mu.Unlock()
	if busy {
		return queued{}, false
	}
	if up.Size == index.SizeUnknown {
		u.Log.Error("upload queue: an entry without a size; remount to repair it", "ino", up.Ino, "chunk", up.N)
		return queued{}, false
	}
	if !known {
		current, err := u.Queue.UploadCurrent(up)
		if err != nil {
			return queued{}, false
		}
		if !current {
			if err := u.Queue.DropUpload(up.Seq); err != nil && !errors.Is(err, index.ErrClosed) {
				u.Log.Error("upload queue: dropping a replaced chunk", "err", err)
			}
			return queued{}, false
		}
		u.mu.Lock()
		u.checked[up.Seq] = true
		u.mu.Unlock()
	}
	return queued{Upload: up, size: up.Size}, true
}

// launch starts upload b if a slot is free; false means none is and
// scheduling should stop for now.
func (u *Uploader) launch(b batch) bool {
	if !b.blob {
		// One quilt at a time: a quilt's chunks are held in memory, and
		// its encoding at 1000 shards already uses every core; two at
		// once would double that memory for little gain
		// (TestOneQuiltAtATime).
		select {
		case u.quiltSlot <- struct{}{}:
		default:
			return false
		}
	}
	select {
	case u.slots <- struct{}{}:
	default:
		if !b.blob {
			<-u.quiltSlot
		}
		return false
	}
	u.mu.Lock()
	for _, q := range b.chunks {
		u.inflight[q.Seq] = true
	}
	u.mu.Unlock()
	// Uploads yield their disk I/O to the reads being served
	// (Parts.Foreground), except while writers need staging room: they
	// wait for this upload.
	ctx := u.ctx
	if u.stagingTight() {
		ctx = blobstore.WithForeground(ctx, nil)
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		blobstore.EnterBackground(ctx)
		var err error
		if b.blob {
			err = u.uploadBlob(ctx, b.chunks[0])
		} else {
			err = u.uploadQuilt(ctx, b.chunks)
		}
		u.mu.Lock()
		for _, q := range b.chunks {
			delete(u.inflight, q.Seq)
			if err == nil {
				delete(u.checked, q.Seq)
			}
		}
		u.mu.Unlock()
		<-u.slots
		if !b.blob {
			<-u.quiltSlot
		}
		u.finished(err, len(b.chunks))
		u.Kick()
	}()
	return true
}

func (u *Uploader) finished(err error, chunks int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil || u.ctx.Err() != nil {
		if err == nil {
			u.failures, u.lastErr, u.retryAt = 0, nil, time.Time{}
		}
		return
	}
	u.failures++
	backoff := u.cfg.RetryMin << min(u.failures-1, 16)
	if !errors.Is(err, blobstore.ErrUnavailable) {
		backoff = u.cfg.RetryMax // not expected to heal soon
	}
	backoff = min(backoff, u.cfg.RetryMax)
	u.retryAt, u.lastErr = time.Now().Add(backoff), err
	u.lastFailure, u.lastFailureAt = err, time.Now()
	if u.failuresByKind == nil {
		u.failuresByKind = map[string]uint64{}
	}
	u.failuresByKind[FailureKind(err)]++
	u.failedUploads.Add(1)
	u.Log.Error("upload failed; the chunks stay queued and are retried", "chunks", chunks, "retry_in", backoff, "err", err, "hint", uploadHint(err))
}

func uploadHint(err error) string {
	switch {
	case errors.Is(err, blobstore.ErrUnavailable):
		return "the blob store is unreachable or overloaded"
	case errors.Is(err, blobstore.ErrTooLarge):
		return "the store refuses the size: lower --chunk-size or the quilt size"
	case errors.Is(err, blobstore.ErrForbidden):
		return "the store refuses the upload: check credentials and the publisher's limits"
	}
	return "see the error"
}

func (u *Uploader) putOptions() blobstore.PutOptions {
	return blobstore.PutOptions{Epochs: u.cfg.Epochs, SendObjectTo: u.cfg.SendObjectTo, Force: u.cfg.SendObjectTo != ""}
}

// uploadBlob streams one chunk, sealed block by block, into a standalone
// blob: memory holds a block or two, whatever the chunk size.
func (u *Uploader) uploadBlob(ctx context.Context, q queued) error {
	c, err := u.Staging.OpenSealed(q.StagingID)
	if err != nil {
		if u.replaced(q, err) {
			return nil
		}
		return fmt.Errorf("open staged chunk: %w", err)
	}
	defer func() { _ = c.Close() }()
	codec := u.Codec
	storedLen := codec.Layout().StoredLen(q.size)
	pr, pw := io.Pipe()
	type encoded struct {
		hashes [][32]byte
		err    error
	}
	done := make(chan encoded, 1)
	go func() {
		blobstore.EnterBackground(ctx)
		src := bufio.NewReaderSize(newPacedReader(ctx, c, q.size), stagedPiece)
		h, _, err := codec.EncodeChunk(src, q.size, pw)
		pw.CloseWithError(err)
		done <- encoded{h, err}
	}()
	info, err := u.Store.Put(ctx, pr, storedLen, u.putOptions())
	_ = pr.CloseWithError(errors.New("upload ended")) // unblocks the encoder if Put stopped reading
	enc := <-done
	if err != nil {
		return err
	}
	if enc.err != nil {
		return fmt.Errorf("read staged chunk: %w", enc.err)
	}
	l := codec.Layout()
	return u.complete(u.blobRecord(info, index.BlobStandalone), []index.UploadResult{{
		Upload: q.Upload,
		Stored: index.StoredChunk{Length: uint64(storedLen), PlainLen: uint64(q.size), Encrypted: l.Encrypted, BlockSize: uint32(l.BlockSize), BlockHashes: enc.hashes},
	}})
}

// uploadQuilt packs small chunks into one quilt, one patch per chunk.
func (u *Uploader) uploadQuilt(ctx context.Context, chunks []queued) error {
	codec := u.Codec
	l := codec.Layout()
	parts := make([]blobstore.QuiltPart, 0, len(chunks))
	results := make([]index.UploadResult, 0, len(chunks))
	byName := make(map[string]int, len(chunks))
	for _, q := range chunks {
		c, err := u.Staging.OpenSealed(q.StagingID)
		var src io.Reader = bytes.NewReader(nil)
		switch {
		case err == nil:
			defer func() { _ = c.Close() }()
			src = newPacedReader(ctx, c, q.size)
		case errors.Is(err, os.ErrNotExist) && q.size == 0:
		case u.replaced(q, err):
			continue
		default:
			return fmt.Errorf("open staged chunk: %w", err)
		}
		var buf bytes.Buffer
		buf.Grow(int(l.StoredLen(q.size)))
		hashes, storedLen, err := codec.EncodeChunk(src, q.size, &buf)
		if err != nil {
			return fmt.Errorf("read staged chunk: %w", err)
		}
		name, err := codec.SealName(patchName(q))
		if err != nil {
			return err
		}
		byName[name] = len(parts)
		parts = append(parts, blobstore.QuiltPart{Identifier: name, Data: buf.Bytes()})
		results = append(results, index.UploadResult{Upload: q.Upload, Stored: index.StoredChunk{
			Length: uint64(storedLen), PlainLen: uint64(q.size), Encrypted: l.Encrypted, BlockSize: uint32(l.BlockSize), BlockHashes: hashes,
		}})
	}
	if len(parts) == 0 {
		return nil
	}
	info, err := u.Store.PutQuilt(ctx, parts, u.putOptions())
	// A store that cannot take the quilt (too large, too many patches for
	// its shard count; publishers answer the latter as a bad request) gets
	// halves until it can.
	if (errors.Is(err, blobstore.ErrTooLarge) || errors.Is(err, blobstore.ErrInvalidArgument)) && len(parts) > 1 {
		u.quiltResult(len(parts), true)
		u.Log.Info("the store refused a quilt; sending it in halves", "patches", len(parts), "err", err)
		if err := u.uploadQuilt(ctx, chunks[:len(chunks)/2]); err != nil {
			return err
		}
		return u.uploadQuilt(ctx, chunks[len(chunks)/2:])
	}
	if err != nil {
		return err
	}
	u.quiltResult(len(parts), false)
	if len(info.Patches) != len(parts) {
		return fmt.Errorf("quilt %s: the store reports %d patches, %d were sent: %w", info.Blob.ID, len(info.Patches), len(parts), blobstore.ErrIntegrity)
	}
	for _, p := range info.Patches {
		i, ok := byName[p.Identifier]
		if !ok || p.PatchID.Quilt != info.Blob.ID {
			return fmt.Errorf("quilt %s: unexpected patch %q: %w", info.Blob.ID, p.Identifier, blobstore.ErrIntegrity)
		}
		results[i].Stored.PatchID = p.PatchID.Bytes()
	}
	return u.complete(u.blobRecord(info.Blob, index.BlobQuilt), results)
}

// replaced reports whether q's staging file is missing because its chunk
// was rewritten or deleted after sealing (the file was released); the
// queue entry is then dropped. A chunk that still wants a missing file is
// an error the caller reports.
func (u *Uploader) replaced(q queued, err error) bool {
	if !errors.Is(err, os.ErrNotExist) {
		return false
	}
	current, cerr := u.Queue.UploadCurrent(q.Upload)
	if cerr != nil || current {
		if current {
			u.Log.Error("upload: a sealed chunk's staging file is missing; its data is lost", "ino", q.Ino, "chunk", q.N, "staging_id", q.StagingID)
		}
		return false
	}
	if err := u.Queue.DropUpload(q.Seq); err != nil {
		return false
	}
	return true
}

func (u *Uploader) blobRecord(info blobstore.Info, kind index.BlobKind) index.Blob {
	b := index.Blob{
		ID: info.ID, Kind: kind, State: index.BlobStored, Deletable: info.Deletable,
		Size: uint64(info.Size), EncodedSize: uint64(info.EncodedSize),
		RegisteredEpoch: info.RegisteredEpoch, EndEpoch: info.EndEpoch, ObjectID: info.ObjectID,
	}
	if info.Certified && (!u.cfg.CertifiedByChain || info.AlreadyCertified && info.ObjectID == "") {
		b.State, b.CertifiedEpoch = index.BlobCertified, info.CertifiedEpoch
	}
	return b
}

// complete records a stored batch and lets open files see it.
func (u *Uploader) complete(b index.Blob, results []index.UploadResult) error {
	applied, err := u.Queue.CompleteUploads(b, results)
	if err != nil {
		return fmt.Errorf("record upload: %w", err)
	}
	var bytes uint64
	for _, c := range applied {
		bytes += c.Ref.Stored.PlainLen
	}
	u.Log.Debug("uploaded", "blob", blobstore.ID(b.ID), "kind", b.Kind, "chunks", len(applied), "bytes", bytes, "state", b.State)
	u.uploadedBytes.Add(bytes)
	u.uploadedChunks.Add(uint64(len(applied)))
	if b.Kind == index.BlobQuilt {
		u.uploadedQuilts.Add(1)
	} else {
		u.uploadedBlobs.Add(1)
	}
	u.signal()
	return nil
}

// Counters are the uploader's totals since it started.
type Counters struct {
	Bytes, Chunks, Blobs, Quilts uint64
	Failures                     uint64 // failed store calls
	// LastError is the last failure, kept after later successes
	// (Retrying says whether uploads are failing now).
	LastError   error
	LastErrorAt time.Time
	Retrying    bool
	// FailuresByKind counts failures by FailureKind.
	FailuresByKind map[string]uint64
}

// FailureKind names the kind of an upload failure for metrics: the store
// sentinel it wraps ("unavailable", "too_large", "forbidden",
// "integrity", "invalid", "not_found"), "local" for a failure on this
// machine (reading a staged file, the index), else "other".
func FailureKind(err error) string {
	switch {
	case errors.Is(err, blobstore.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, blobstore.ErrTooLarge):
		return "too_large"
	case errors.Is(err, blobstore.ErrForbidden):
		return "forbidden"
	case errors.Is(err, blobstore.ErrIntegrity):
		return "integrity"
	case errors.Is(err, blobstore.ErrInvalidArgument):
		return "invalid"
	case errors.Is(err, blobstore.ErrNotFound):
		return "not_found"
	case errors.Is(err, os.ErrNotExist), errors.Is(err, index.ErrClosed):
		return "local"
	}
	return "other"
}

// Counters returns the totals since the uploader started.
func (u *Uploader) Counters() Counters {
	u.mu.Lock()
	last, at, retrying := u.lastFailure, u.lastFailureAt, u.lastErr != nil
	kinds := maps.Clone(u.failuresByKind)
	u.mu.Unlock()
	return Counters{
		Bytes: u.uploadedBytes.Load(), Chunks: u.uploadedChunks.Load(), Blobs: u.uploadedBlobs.Load(), Quilts: u.uploadedQuilts.Load(),
		Failures: u.failedUploads.Load(), LastError: last, LastErrorAt: at, Retrying: retrying, FailuresByKind: kinds,
	}
}

// Flushing asks for partial quilts to go now until the returned function
// is called.
func (u *Uploader) Flushing() func() {
	u.mu.Lock()
	u.flushes++
	u.mu.Unlock()
	u.Kick()
	return func() {
		u.mu.Lock()
		u.flushes--
		u.mu.Unlock()
	}
}

// WaitFor waits until done reports true, re-checking after every completed
// upload, or until ctx ends.
func (u *Uploader) WaitFor(ctx context.Context, done func() (bool, error)) error {
	defer u.Flushing()()
	for {
		ch := u.Progressed()
		ok, err := done()
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// Status describes the queue for logs and status output.
func (u *Uploader) Status() (queued int, lastErr error) {
	n, err := u.Queue.PendingUploads(0)
	if err != nil {
		return 0, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return n, u.lastErr
}

// Hold waits for the uploads in flight to finish (recorded in the index or
// failed) and starts no new one until release is called: garbage
// collection runs between the two, so no blob it deletes can be one an
// upload has just stored again and is about to point chunks at.
func (u *Uploader) Hold(ctx context.Context) (release func(), err error) {
	held := 0
	release = func() {
		for range held {
			<-u.slots
		}
		u.Kick()
	}
	for held < cap(u.slots) {
		select {
		case u.slots <- struct{}{}:
			held++
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}
