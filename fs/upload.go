package fs

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/index"
)

// The uploader turns sealed chunks into blobs. It reads the upload queue
// from the index, sends chunks of at least QuiltThreshold bytes as
// standalone blobs and packs smaller ones into quilts, and records each
// result in the index in one operation (index.CompleteUploads). Nothing is
// taken off the queue before its result is recorded, so a crash at any point
// leaves every sealed chunk either recorded or still queued; the next mount
// uploads what is queued.

// UploadConfig tunes the uploader. Start from DefaultUploadConfig.
type UploadConfig struct {
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
	// data. The quilt is held in memory while it is built.
	QuiltMaxBytes   int64
	QuiltMaxPatches int
	// QuiltMaxAge is how long a partly filled quilt waits for more chunks
	// before it is uploaded anyway.
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
	// Epochs is how many epochs each blob is stored for (0: the store's
	// default).
	Epochs uint32
	// SendObjectTo receives the Blob objects (the daemon's Sui address).
	SendObjectTo string
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

// DefaultUploadConfig returns the uploader's defaults.
func DefaultUploadConfig() UploadConfig {
	return UploadConfig{
		Concurrency:     2,
		QuiltThreshold:  DefaultQuiltThreshold,
		QuiltMaxBytes:   DefaultQuiltMaxBytes,
		QuiltMaxPatches: DefaultQuiltMaxPatches,
		QuiltMaxAge:     10 * time.Second,
		ForegroundFirst: 10 * time.Second,
		QuietPeriod:     DefaultQuietPeriod,
		SealDelay:       5 * time.Second,
		StagingWait:     2 * time.Minute,
		RetryMin:        time.Second,
		RetryMax:        time.Minute,
	}
}

func (c UploadConfig) validate() error {
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

type uploader struct {
	f   *FS
	cfg UploadConfig
	// quiltParams are the RS2 parameters quilts are laid out at (the
	// store's quilt shard count); plan is the scheduler's quilt planner.
	quiltParams rs2.Params
	plan        *quilt.Planner

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
}

func newUploader(f *FS, cfg UploadConfig) (*uploader, error) {
	shards := blobstore.NetworkShards
	if l, ok := f.cfg.Store.(blobstore.QuiltLimiter); ok {
		shards = l.QuiltShards()
	}
	p, err := rs2.NewParams(shards)
	if err != nil {
		return nil, fmt.Errorf("the store's quilt shard count: %w", err)
	}
	if cfg.QuietPeriod <= 0 {
		cfg.QuietPeriod = DefaultQuietPeriod
	}
	// Uploads are background work: their encoding runs at low priority
	// and leaves the cores to the requests the filesystem is serving.
	ctx, cancel := context.WithCancel(blobstore.WithBackground(context.Background()))
	return &uploader{
		f: f, cfg: cfg,
		quiltParams: p, plan: quilt.NewPlanner(p),
		ctx: ctx, cancel: cancel,
		wake:      make(chan struct{}, 1),
		slots:     make(chan struct{}, cfg.Concurrency),
		quiltSlot: make(chan struct{}, 1),
		inflight:  map[uint64]bool{},
		checked:   map[uint64]bool{},
		progress:  make(chan struct{}),
	}, nil
}

func (u *uploader) start() {
	u.wg.Add(1)
	go u.run()
}

// stop cancels uploads in flight (their chunks stay queued) and waits.
func (u *uploader) stop() {
	u.cancel()
	u.wg.Wait()
}

func (u *uploader) kick() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// progressed returns a channel closed at the next completed batch.
func (u *uploader) progressed() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.progress
}

func (u *uploader) signal() {
	u.mu.Lock()
	close(u.progress)
	u.progress = make(chan struct{})
	u.mu.Unlock()
}

// schedulePause is the least time between two passes over the queue: a
// stream of closes (tar x) wakes the scheduler thousands of times a second,
// and each pass reads the whole queue.
const schedulePause = 50 * time.Millisecond

func (u *uploader) run() {
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
func (u *uploader) schedule() time.Duration {
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
	ups, err := u.f.idx.Uploads(0, maxQueueScan)
	if err != nil {
		if !errors.Is(err, index.ErrClosed) {
			u.f.log.Error("upload queue unreadable", "err", err)
		}
		return idle
	}
	var small []queued
	for _, up := range ups {
		q, ok := u.prepare(up)
		if !ok {
			continue
		}
		if q.size >= u.cfg.QuiltThreshold {
			if !u.launch([]queued{q}) {
				return idle
			}
			continue
		}
		small = append(small, q)
	}
	// Small chunks fill quilts in order of size: every patch takes whole
	// columns, so one large patch among small ones inflates them all, and
	// chunks of like sizes waste the least (a third less stored for a Go
	// source tree). Chunks that have waited QuiltMaxAge come first, so a
	// stream of small chunks cannot starve larger ones. A quilt is full when
	// the next chunk would take it past QuiltMaxBytes as laid out (see
	// quilt.Planner) or past the patch limit; a full quilt goes at once, the
	// last partial one when its oldest chunk has waited long enough or a
	// flush asks.
	overdue := time.Now().Add(-u.cfg.QuiltMaxAge).UnixNano()
	slices.SortStableFunc(small, func(a, b queued) int {
		if ao, bo := a.SealedAt <= overdue, b.SealedAt <= overdue; ao != bo {
			if ao {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.size, b.size)
	})
	var batch []queued
	plan, maxPatches := u.plan, u.maxPatches()
	plan.Reset()
	for i, q := range small {
		if !u.planPatch(plan, q, maxPatches) {
			if len(batch) > 0 {
				if !u.launch(batch) {
					return idle
				}
				batch = nil
				plan.Reset()
			}
			if !u.planPatch(plan, q, maxPatches) {
				// Too large for any quilt on its own: a blob then.
				if !u.launch([]queued{q}) {
					return idle
				}
				continue
			}
		}
		batch = append(batch, q)
		if plan.Len() == maxPatches || i == len(small)-1 && (flush || u.aged(batch)) {
			if !u.launch(batch) {
				return idle
			}
			batch = nil
			plan.Reset()
		}
	}
	if len(batch) > 0 {
		return min(idle, max(10*time.Millisecond, time.Until(oldestSeal(batch).Add(u.cfg.QuiltMaxAge))))
	}
	return idle
}

// DefaultQuietPeriod is how long the filesystem must go without a change
// request before deferred uploads start (see UploadConfig.ForegroundFirst).
const DefaultQuietPeriod = 500 * time.Millisecond

// yieldToForeground returns how long uploads should wait for the
// filesystem to go quiet, or 0 to go now. Uploads compete with the
// requests being served for the disk and, on small machines, the cores:
// a tar x runs at local-disk speed when the quilts of its files are built
// after it ends rather than during it. The wait is bounded, so a stream
// of changes that never pauses still gets its uploads, and it is skipped
// whenever anyone waits for uploads or staging fills up.
func (u *uploader) yieldToForeground(now time.Time, flush bool) time.Duration {
	limit := u.cfg.ForegroundFirst
	if limit <= 0 || flush || u.stagingTight() {
		u.busySince = time.Time{}
		return 0
	}
	quietFor := now.Sub(time.Unix(0, u.f.lastChange.Load()))
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
func (u *uploader) stagingTight() bool {
	b := u.cfg.StagingBudget
	return b > 0 && u.f.stage.usedBytes() > b/2
}

// planPatch adds q to the quilt being planned if the quilt then stays
// within QuiltMaxBytes and maxPatches.
func (u *uploader) planPatch(plan *quilt.Planner, q queued, maxPatches int) bool {
	if plan.Len() >= maxPatches {
		return false
	}
	codec := u.f.cfg.Codec
	idLen := codec.SealedNameLen(len(patchName(q)))
	return plan.Add(idLen, nil, int(codec.Layout().StoredLen(q.size)), u.cfg.QuiltMaxBytes)
}

// patchName is the name of a chunk's patch in its quilt, before sealing:
// unique among the chunks the uploader sends.
func patchName(q queued) string {
	return fmt.Sprintf("c%d-%d-%d", q.Ino, q.N, q.StagingID)
}

// maxPatches is the most chunks one quilt takes: the configured limit, or
// less when the store refused larger quilts. (The store's own limit, Ks−1
// at its quilt shard count, is the planner's.)
func (u *uploader) maxPatches() int {
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
func (u *uploader) quiltResult(n int, refused bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case refused && (u.patchFail == 0 || n < u.patchFail):
		u.patchFail = n
	case !refused && n > u.patchOK:
		u.patchOK = n
	}
}

func (u *uploader) aged(batch []queued) bool {
	return time.Since(oldestSeal(batch)) >= u.cfg.QuiltMaxAge
}

// oldestSeal is when the longest-waiting chunk of batch was sealed.
func oldestSeal(batch []queued) time.Time {
	oldest := batch[0].SealedAt
	for _, q := range batch[1:] {
		oldest = min(oldest, q.SealedAt)
	}
	return time.Unix(0, oldest)
}

// prepare returns up with its staged size, or false when it is in flight,
// or its chunk no longer wants it (the entry is then dropped).
func (u *uploader) prepare(up index.Upload) (queued, bool) {
	u.mu.Lock()
	busy, known := u.inflight[up.Seq], u.checked[up.Seq]
	u.mu.Unlock()
	if busy {
		return queued{}, false
	}
	if up.Size == index.SizeUnknown {
		u.f.log.Error("upload queue: an entry without a size; remount to repair it", "ino", up.Ino, "chunk", up.N)
		return queued{}, false
	}
	if !known {
		current, err := u.f.idx.UploadCurrent(up)
		if err != nil {
			return queued{}, false
		}
		if !current {
			if err := u.f.idx.DropUpload(up.Seq); err != nil && !errors.Is(err, index.ErrClosed) {
				u.f.log.Error("upload queue: dropping a replaced chunk", "err", err)
			}
			return queued{}, false
		}
		u.mu.Lock()
		u.checked[up.Seq] = true
		u.mu.Unlock()
	}
	return queued{Upload: up, size: up.Size}, true
}

// launch starts one upload of batch (one blob, or one quilt) if a slot is
// free; false means none is and scheduling should stop for now.
func (u *uploader) launch(batch []queued) bool {
	asBlob := u.isBlob(batch)
	if !asBlob {
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
		if !asBlob {
			<-u.quiltSlot
		}
		return false
	}
	u.mu.Lock()
	for _, q := range batch {
		u.inflight[q.Seq] = true
	}
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		blobstore.EnterBackground(u.ctx)
		var err error
		if asBlob {
			err = u.uploadBlob(batch[0])
		} else {
			err = u.uploadQuilt(batch)
		}
		u.mu.Lock()
		for _, q := range batch {
			delete(u.inflight, q.Seq)
			if err == nil {
				delete(u.checked, q.Seq)
			}
		}
		u.mu.Unlock()
		<-u.slots
		if !asBlob {
			<-u.quiltSlot
		}
		u.finished(err, batch)
		u.kick()
	}()
	return true
}

func (u *uploader) finished(err error, batch []queued) {
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
	u.f.log.Error("upload failed; the chunks stay queued and are retried", "chunks", len(batch), "retry_in", backoff, "err", err, "hint", uploadHint(err))
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

// isBlob reports whether batch goes as a standalone blob: one chunk that is
// large, or too large for a quilt of its own.
func (u *uploader) isBlob(batch []queued) bool {
	return len(batch) == 1 && (batch[0].size >= u.cfg.QuiltThreshold || !u.fitsQuilt(batch[0]))
}

// fitsQuilt reports whether q fits a quilt of its own within QuiltMaxBytes.
func (u *uploader) fitsQuilt(q queued) bool {
	return u.planPatch(quilt.NewPlanner(u.quiltParams), q, 1)
}

func (u *uploader) putOptions() blobstore.PutOptions {
	return blobstore.PutOptions{Epochs: u.cfg.Epochs, SendObjectTo: u.cfg.SendObjectTo, Force: u.cfg.SendObjectTo != ""}
}

// uploadBlob streams one chunk, sealed block by block, into a standalone
// blob: memory holds a block or two, whatever the chunk size.
func (u *uploader) uploadBlob(q queued) error {
	c, err := u.f.stage.open(q.StagingID, false)
	if err != nil {
		if u.replaced(q, err) {
			return nil
		}
		return fmt.Errorf("open staged chunk: %w", err)
	}
	defer func() { _ = c.Close() }()
	codec := u.f.cfg.Codec
	storedLen := codec.Layout().StoredLen(q.size)
	pr, pw := io.Pipe()
	type encoded struct {
		hashes [][32]byte
		err    error
	}
	done := make(chan encoded, 1)
	go func() {
		blobstore.EnterBackground(u.ctx)
		src := bufio.NewReaderSize(io.NewSectionReader(c, 0, q.size), 256<<10)
		h, _, err := codec.EncodeChunk(src, q.size, pw)
		pw.CloseWithError(err)
		done <- encoded{h, err}
	}()
	info, err := u.f.cfg.Store.Put(u.ctx, pr, storedLen, u.putOptions())
	_ = pr.CloseWithError(errors.New("upload ended")) // unblocks the encoder if Put stopped reading
	enc := <-done
	if err != nil {
		return err
	}
	if enc.err != nil {
		return fmt.Errorf("read staged chunk: %w", enc.err)
	}
	l := codec.Layout()
	return u.complete(blobRecord(info, index.BlobStandalone), []index.UploadResult{{
		Upload: q.Upload,
		Stored: index.StoredChunk{Length: uint64(storedLen), PlainLen: uint64(q.size), Encrypted: l.Encrypted, BlockSize: uint32(l.BlockSize), BlockHashes: enc.hashes},
	}})
}

// uploadQuilt packs small chunks into one quilt, one patch per chunk.
func (u *uploader) uploadQuilt(batch []queued) error {
	codec := u.f.cfg.Codec
	l := codec.Layout()
	parts := make([]blobstore.QuiltPart, 0, len(batch))
	results := make([]index.UploadResult, 0, len(batch))
	byName := make(map[string]int, len(batch))
	for _, q := range batch {
		c, err := u.f.stage.open(q.StagingID, false)
		var src io.Reader = bytes.NewReader(nil)
		switch {
		case err == nil:
			defer func() { _ = c.Close() }()
			src = io.NewSectionReader(c, 0, q.size)
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
	info, err := u.f.cfg.Store.PutQuilt(u.ctx, parts, u.putOptions())
	// A store that cannot take the quilt (too large, too many patches for
	// its shard count; publishers answer the latter as a bad request) gets
	// halves until it can.
	if (errors.Is(err, blobstore.ErrTooLarge) || errors.Is(err, blobstore.ErrInvalidArgument)) && len(parts) > 1 {
		u.quiltResult(len(parts), true)
		u.f.log.Info("the store refused a quilt; sending it in halves", "patches", len(parts), "err", err)
		if err := u.uploadQuilt(batch[:len(batch)/2]); err != nil {
			return err
		}
		return u.uploadQuilt(batch[len(batch)/2:])
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
	return u.complete(blobRecord(info.Blob, index.BlobQuilt), results)
}

// replaced reports whether q's staging file is missing because its chunk
// was rewritten or deleted after sealing (the file was released); the
// queue entry is then dropped. A chunk that still wants a missing file is
// an error the caller reports.
func (u *uploader) replaced(q queued, err error) bool {
	if !errors.Is(err, os.ErrNotExist) {
		return false
	}
	current, cerr := u.f.idx.UploadCurrent(q.Upload)
	if cerr != nil || current {
		if current {
			u.f.log.Error("upload: a sealed chunk's staging file is missing; its data is lost", "ino", q.Ino, "chunk", q.N, "staging_id", q.StagingID)
		}
		return false
	}
	if err := u.f.idx.DropUpload(q.Seq); err != nil {
		return false
	}
	return true
}

func blobRecord(info blobstore.Info, kind index.BlobKind) index.Blob {
	b := index.Blob{
		ID: info.ID, Kind: kind, State: index.BlobStored, Deletable: info.Deletable,
		Size: uint64(info.Size), EncodedSize: uint64(info.EncodedSize),
		RegisteredEpoch: info.RegisteredEpoch, EndEpoch: info.EndEpoch, ObjectID: info.ObjectID,
	}
	if info.Certified {
		b.State, b.CertifiedEpoch = index.BlobCertified, info.CertifiedEpoch
	}
	return b
}

// complete records a stored batch and lets open files see it.
func (u *uploader) complete(b index.Blob, results []index.UploadResult) error {
	applied, err := u.f.idx.CompleteUploads(b, results)
	if err != nil {
		return fmt.Errorf("record upload: %w", err)
	}
	var bytes uint64
	for _, c := range applied {
		u.f.chunkStored(c)
		bytes += c.Ref.Stored.PlainLen
	}
	u.f.log.Debug("uploaded", "blob", blobstore.ID(b.ID), "kind", b.Kind, "chunks", len(applied), "bytes", bytes, "state", b.State)
	u.signal()
	return nil
}

// flushing asks for partial quilts to go now until the returned function
// is called.
func (u *uploader) flushing() func() {
	u.mu.Lock()
	u.flushes++
	u.mu.Unlock()
	u.kick()
	return func() {
		u.mu.Lock()
		u.flushes--
		u.mu.Unlock()
	}
}

// waitFor waits until done reports true, re-checking after every completed
// upload, or until ctx ends.
func (u *uploader) waitFor(ctx context.Context, done func() (bool, error)) error {
	defer u.flushing()()
	for {
		ch := u.progressed()
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

// status describes the queue for logs and status output.
func (u *uploader) status() (queued int, lastErr error) {
	n, err := u.f.idx.PendingUploads(0)
	if err != nil {
		return 0, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return n, u.lastErr
}
