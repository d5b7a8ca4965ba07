package filedata

import (
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/upload"
	"github.com/walrusfs/walrusfs/index"
)

// Report is the engine's state as `walrusfs status` and the metrics show
// it: what waits for upload, what staging holds, what the uploader and the
// cache have done.
type Report struct {
	// Pending is the upload queue.
	Pending index.Pending
	// Unsealed are written chunks not yet sealed for upload (waiting for
	// Config.SealDelay of quiet).
	Unsealed int
	// StagedBytes is what the staging area holds (data not yet uploaded
	// and local copies), against StagingBudget.
	StagedBytes, StagingBudget int64
	// LocalCopies are uploaded chunks that keep their staged file.
	LocalCopies     int
	LocalCopyBytes  int64
	BlobsStored     int // uploaded, certification not yet confirmed
	BlobsCertified  int
	Uploads         upload.Counters
	Cache           blockcache.Stats
	KeepLocalCopies int64
	// IndexFlushes counts the index journal's disk flushes (fsync,
	// fdatasync, and the background flush every index CommitInterval).
	IndexFlushes uint64
}

// Report reads the engine's state. It walks the blob records and local
// copies of the index: a status request, not a hot path.
func (e *Engine) Report() (Report, error) {
	r := Report{
		StagedBytes: e.stage.usedBytes(), StagingBudget: e.cfg.StagingBudget, KeepLocalCopies: e.cfg.KeepLocalCopies,
		Uploads: e.up.Counters(), Cache: e.cfg.Cache.Stats(), Unsealed: e.writes.count(),
		IndexFlushes: e.idx.JournalFlushes(),
	}
	var err error
	if r.Pending, err = e.idx.PendingSummary(); err != nil {
		return r, err
	}
	blobs, err := e.idx.Blobs()
	if err != nil {
		return r, err
	}
	for _, b := range blobs {
		if b.State >= index.BlobCertified {
			r.BlobsCertified++
		} else {
			r.BlobsStored++
		}
	}
	copies, err := e.idx.LocalCopies()
	if err != nil {
		return r, err
	}
	r.LocalCopies = len(copies)
	for _, c := range copies {
		r.LocalCopyBytes += e.stage.sizeOf(c.StagingID)
	}
	return r, nil
}
