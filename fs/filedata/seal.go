package filedata

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/walrusfs/walrusfs/index"
)

// Sealing decides when written chunks stop changing and go to the upload
// queue: when they have not been written for SealDelay (whether their file
// is open or closed), at unmount, for fsync with FsyncCertified, or sooner
// when the staging area runs out of room.
// A write to a sealed chunk copies it first, so sealing early costs a copy
// of a chunk that is written again, never correctness.

// writeTracker remembers, per inode, the chunks written since they were
// last sealed and when each was last written.
type writeTracker struct {
	mu sync.Mutex
	m  map[index.Ino]map[uint64]time.Time
}

func (t *writeTracker) mark(ino index.Ino, n uint64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[index.Ino]map[uint64]time.Time{}
	}
	cs := t.m[ino]
	if cs == nil {
		cs = map[uint64]time.Time{}
		t.m[ino] = cs
	}
	cs[n] = at
}

// count is how many written chunks are not sealed yet.
func (t *writeTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, cs := range t.m {
		n += len(cs)
	}
	return n
}

// idle returns, per inode, the chunks last written before cutoff.
// keepNewest leaves out each inode's most recently written chunk (the one a
// writer is probably still filling) even when it is idle.
func (t *writeTracker) idle(cutoff time.Time, keepNewest bool) map[index.Ino][]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[index.Ino][]uint64{}
	for ino, cs := range t.m {
		var newest uint64
		var newestAt time.Time
		for n, at := range cs {
			if at.After(newestAt) {
				newest, newestAt = n, at
			}
		}
		for n, at := range cs {
			if at.Before(cutoff) && (!keepNewest || n != newest) {
				out[ino] = append(out[ino], n)
			}
		}
	}
	return out
}

// forget drops tracked chunks of ino: all of them when ns is nil.
func (t *writeTracker) forget(ino index.Ino, ns []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ns == nil {
		delete(t.m, ino)
		return
	}
	for _, n := range ns {
		delete(t.m[ino], n)
	}
	if len(t.m[ino]) == 0 {
		delete(t.m, ino)
	}
}

// sealFile seals chunks of d's inode (all when ns is nil) and updates the
// cached chunk map, holding d.io so that no write is half-way into a chunk
// file as it is frozen.
func (e *Engine) sealFile(d *fileData, ns []uint64) error {
	d.io.Lock()
	defer d.io.Unlock()
	return e.sealLocked(d, ns)
}

func (e *Engine) sealLocked(d *fileData, ns []uint64) error {
	// The chunks stay counted as unsealed until the seal has queued them:
	// a status that sees neither unsealed nor queued chunks must mean
	// there are none (status --wait stops on it).
	defer e.writes.forget(d.ino, ns)
	unsealed, err := e.idx.Unsealed(d.ino)
	if err != nil {
		return err
	}
	sealed, err := e.seal(unsealed, ns)
	if err != nil || len(sealed) == 0 {
		return err
	}
	d.mu.Lock()
	for _, e := range sealed {
		d.refs[e.N] = chunkSlot{ref: e.Ref, ok: true}
	}
	d.mu.Unlock()
	return nil
}

// seal seals the chunks of unsealed (those numbered in only, or all when
// only is nil), recording the size of each staged file for the uploader.
func (e *Engine) seal(unsealed []index.ChunkUpdate, only []uint64) ([]index.ChunkUpdate, error) {
	todo := make([]index.Sealing, 0, len(unsealed))
	for _, c := range unsealed {
		if only == nil || slices.Contains(only, c.N) {
			todo = append(todo, index.Sealing{Ino: c.Ino, N: c.N, StagingID: c.Ref.StagingID, Size: e.stage.sizeOf(c.Ref.StagingID)})
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	sealed, err := e.idx.Seal(todo, now())
	if err == nil && len(sealed) > 0 {
		e.up.Kick()
	}
	return sealed, err
}

// sealUnsealed seals every unsealed chunk of ino (of every inode when ino
// is 0) and returns how many it sealed.
func (e *Engine) sealUnsealed(ino index.Ino) (int, error) {
	unsealed, err := e.idx.Unsealed(ino)
	if err != nil {
		return 0, err
	}
	sealed, err := e.seal(unsealed, nil)
	return len(sealed), err
}

// legacyScan is how many queue entries sizeLegacyUploads reads at a time.
const legacyScan = 10_000

// sizeLegacyUploads records the staged sizes of queue entries written
// before the queue recorded sizes, so the uploader never has to look at
// the files for them.
func (e *Engine) sizeLegacyUploads() error {
	sizes := map[uint64]int64{}
	for after := uint64(0); ; {
		ups, err := e.idx.Uploads(after, legacyScan)
		if err != nil || len(ups) == 0 {
			if err == nil && len(sizes) > 0 {
				err = e.idx.SetUploadSizes(sizes)
			}
			return err
		}
		for _, u := range ups {
			if u.Size == index.SizeUnknown {
				sizes[u.Seq] = e.stage.sizeOf(u.StagingID)
			}
		}
		after = ups[len(ups)-1].Seq
	}
}

// sealIdle seals chunks written before cutoff (see writeTracker.idle).
func (e *Engine) sealIdle(cutoff time.Time, keepNewest bool) {
	idle := e.writes.idle(cutoff, keepNewest)
	for _, ino := range slices.Sorted(maps.Keys(idle)) {
		d := e.acquire(ino)
		if err := e.sealFile(d, idle[ino]); err != nil && !errors.Is(err, index.ErrClosed) {
			e.log.Error("sealing idle chunks", "ino", ino, "err", err)
		}
		e.release(d)
	}
}

// sealer seals idle chunks every second.
func (e *Engine) sealer(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.sealIdle(time.Now().Add(-e.cfg.SealDelay), false)
			e.evictLocalCopies(e.cfg.KeepLocalCopies)
		}
	}
}

// chunkStored is called once an upload is recorded: open files switch
// their cached reference to the stored one.
func (e *Engine) chunkStored(u index.ChunkUpdate) {
	e.openMu.Lock()
	d := e.files[u.Ino]
	e.openMu.Unlock()
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, cached := d.refs[u.N]; cached && s.ok && s.ref.StagingID == u.Ref.StagingID && s.ref.Kind == index.ChunkStaged {
		d.refs[u.N] = chunkSlot{ref: u.Ref, ok: true}
	}
}

// waitForRoom applies back-pressure: while the staging area holds more
// than its budget, a writer that needs n more bytes waits for uploads to
// free some. Chunks are sealed early so there is something to upload. If no
// room appears within StagingWait the write fails with ENOSPC, and the log
// says why.
func (e *Engine) waitForRoom(ctx context.Context, n int64) error {
	budget := e.cfg.StagingBudget
	if budget <= 0 || e.stage.usedBytes()+n <= budget {
		return nil
	}
	deadline := time.Now().Add(e.cfg.StagingWait)
	e.evictLocalCopies(budget - n)
	e.sealIdle(time.Now(), true)
	warned := false
	for e.stage.usedBytes()+n > budget {
		if !warned {
			e.log.Info("staging area full; writers wait for uploads", "staged_bytes", e.stage.usedBytes(), "budget", budget)
			warned = true
		}
		left := time.Until(deadline)
		if left <= 0 {
			pending, lastErr := e.up.Status()
			e.log.Error("staging area full and uploads are not freeing space; failing writes with ENOSPC",
				"staged_bytes", e.stage.usedBytes(), "budget", budget, "waited", e.cfg.StagingWait,
				"chunks_queued", pending, "last_upload_error", errString(lastErr),
				"hint", "check that the blob store is reachable, or raise --staging-budget")
			return syscall.ENOSPC
		}
		ch := e.up.Progressed()
		done := e.up.Flushing()
		t := time.NewTimer(min(left, time.Second))
		select {
		case <-ch:
		case <-t.C:
			e.sealIdle(time.Now(), true)
			e.evictLocalCopies(budget - n)
		case <-ctx.Done():
			t.Stop()
			done()
			return ctx.Err()
		}
		t.Stop()
		done()
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

// WaitUploaded seals every written chunk and waits until the upload queue
// is empty and every stored chunk is certified, or ctx ends.
func (e *Engine) WaitUploaded(ctx context.Context) error {
	e.sealIdle(time.Now().Add(time.Hour), false)
	e.up.Kick()
	return e.up.WaitFor(ctx, func() (bool, error) {
		n, err := e.idx.PendingUploads(0)
		return n == 0, err
	})
}

// waitCertified waits until the chunks of d's inode are all stored in
// certified blobs (fsync with --fsync=certified). Chunks written meanwhile
// are sealed too.
func (e *Engine) waitCertified(ctx context.Context, d *fileData) error {
	return e.up.WaitFor(ctx, func() (bool, error) {
		n, err := e.idx.PendingUploads(d.ino)
		if err != nil || n > 0 {
			return false, err
		}
		chunks, err := e.idx.Chunks(d.ino)
		if err != nil {
			return false, err
		}
		for _, c := range chunks {
			st, err := e.chunkState(c.Ref)
			if err != nil {
				return false, err
			}
			switch st {
			case Staged:
				return false, e.sealFile(d, nil) // written during the wait
			case Certified:
			default:
				return false, nil
			}
		}
		return true, nil
	})
}

// evictLocalCopies drops the local copies of chunks in certified blobs,
// oldest first, until the staging area holds at most keep bytes; with keep
// at zero or below, all of them.
func (e *Engine) evictLocalCopies(keep int64) {
	all := keep <= 0
	excess := e.stage.usedBytes() - max(keep, 0)
	if excess <= 0 && (!all || e.stage.usedBytes() == 0) {
		return
	}
	copies, err := e.idx.LocalCopies()
	if err != nil {
		return
	}
	sort.Slice(copies, func(i, j int) bool { return copies[i].StagingID < copies[j].StagingID })
	for _, c := range copies {
		if excess <= 0 && !all {
			break
		}
		if !c.Certified {
			continue
		}
		dropped, err := e.idx.DropLocalCopy(c)
		if err != nil {
			if !errors.Is(err, index.ErrClosed) {
				e.log.Warn("dropping a local copy", "err", err)
			}
			return
		}
		if dropped {
			excess -= e.stage.sizeOf(c.StagingID)
		}
	}
}

// DropLocalCopies drops the local copies of every chunk in a certified
// blob and removes their files, so that reads and copies of those chunks
// go to the store: what the staging area does under pressure, all at once.
func (e *Engine) DropLocalCopies(ctx context.Context) error {
	e.evictLocalCopies(0)
	if err := e.syncStaging(); err != nil {
		return err
	}
	if err := e.idx.Commit(ctx); err != nil {
		return err
	}
	e.stage.removeDoomed()
	return nil
}

// Requeued tells the engine that a repair turned stored chunks back into
// sealed staged ones and queued them (index.Index.Requeue): open files
// switch to the staged copies and the uploader looks at the queue.
func (e *Engine) Requeued(updates []index.ChunkUpdate) {
	for _, u := range updates {
		e.openMu.Lock()
		d := e.files[u.Ino]
		e.openMu.Unlock()
		if d == nil {
			continue
		}
		d.mu.Lock()
		d.refs[u.N] = chunkSlot{ref: u.Ref, ok: true}
		d.mu.Unlock()
	}
	e.up.Kick()
}

// HoldUploads waits for the uploads in flight to finish and starts none
// until release is called (see upload.Uploader.Hold).
func (e *Engine) HoldUploads(ctx context.Context) (release func(), err error) {
	return e.up.Hold(ctx)
}
