package chainsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/index"
)

// Clock is the Walrus epoch clock and prices as the chain states them.
type Clock struct {
	Epoch         uint32
	EpochStart    time.Time
	EpochDuration time.Duration
	// StoragePrice is FROST per MiB of encoded size per epoch.
	StoragePrice uint64
	WritePrice   uint64
	NShards      uint16
}

// EpochTime is when epoch e starts (or started), estimated from the
// current epoch's start and the epoch length.
func (c Clock) EpochTime(e uint32) time.Time {
	return c.EpochStart.Add(time.Duration(int64(e)-int64(c.Epoch)) * c.EpochDuration)
}

// Chain is Walrus on Sui as the follower reads it (chainsync/sui's Ledger
// is one). Blob objects are named by their Sui object IDs ("0x…").
type Chain interface {
	// Clock reads the epoch clock and prices.
	Clock(ctx context.Context) (Clock, error)
	// BlobObjects reads Blob objects; the result holds nil for objects
	// that no longer exist.
	BlobObjects(ctx context.Context, objectIDs []string) ([]*blobstore.Info, error)
	// OwnedBlobs calls fn for every Blob object the daemon's address
	// owns; without an address it does nothing.
	OwnedBlobs(ctx context.Context, fn func(blobstore.Info) error) error
	// WAL returns the WAL the daemon's address holds (0 without an
	// address), in FROST.
	WAL(ctx context.Context) (uint64, error)
}

// FollowIndex is what the follower needs from the index (*index.Index).
type FollowIndex interface {
	Blobs() ([]index.Blob, error)
	RecordChain(id [32]byte, c index.ChainRecord) (bool, error)
}

// FollowConfig tunes a [Follower].
type FollowConfig struct {
	// Interval between polls of the epoch (and, at an epoch change, of
	// every blob).
	Interval time.Duration
	// ConfirmInterval between looks for uploaded blobs waiting for their
	// certification: fsync with --fsync=certified waits for it. The look
	// reads the local index and asks the chain only when blobs wait.
	ConfirmInterval time.Duration
	// RenewBefore: a referenced blob ending within this many epochs is
	// warned about.
	RenewBefore uint32
}

// DefaultFollowConfig polls the epoch every minute, confirms uploads
// within two seconds, and warns two epochs ahead.
func DefaultFollowConfig() FollowConfig {
	return FollowConfig{Interval: time.Minute, ConfirmInterval: 2 * time.Second, RenewBefore: 2}
}

// Follower keeps the index in step with the chain: it confirms each
// uploaded blob's certification from its Blob object (never from the
// store's word), reconciles end epochs with the chain whenever the epoch
// changes, counts Blob objects the index does not know (left by uploads
// that crashed between the store and the index), and warns, with dates,
// about leases running out and a wallet that cannot pay the next renewal.
type Follower struct {
	chain  Chain
	idx    FollowIndex
	cfg    FollowConfig
	log    *slog.Logger
	notify func() // called after blobs were confirmed
	// OnEpoch, when set before Run, is called when the epoch changes.
	OnEpoch func(epoch uint32)

	kick chan struct{}

	mu     sync.Mutex
	status FollowStatus
}

// FollowStatus is what the last poll found.
type FollowStatus struct {
	Clock       Clock
	Polled      time.Time
	Certified   int // blobs the chain confirmed so far
	Pending     int // stored blobs the chain has not certified yet
	Orphans     int // owned Blob objects the index does not know
	EndingSoon  int // referenced blobs within RenewBefore epochs of their end
	FirstEnd    uint32
	Expired     int // referenced blobs whose lease has ended
	RenewalCost uint64
	WAL         uint64
	LastErr     error
}

// NewFollower returns a follower; notify (may be nil) is called when
// blobs become certified, so waiters (fsync=certified) look again.
func NewFollower(chain Chain, idx FollowIndex, cfg FollowConfig, notify func(), log *slog.Logger) *Follower {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultFollowConfig().Interval
	}
	if cfg.ConfirmInterval <= 0 {
		cfg.ConfirmInterval = DefaultFollowConfig().ConfirmInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if notify == nil {
		notify = func() {}
	}
	return &Follower{chain: chain, idx: idx, cfg: cfg, log: log, notify: notify, kick: make(chan struct{}, 1)}
}

// Uploaded tells the follower that blobs were uploaded: it looks for their
// objects at its next ConfirmInterval tick, and keeps looking while any
// wait for certification. Without this it looks once a poll Interval.
func (f *Follower) Uploaded() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Status returns what the last poll found.
func (f *Follower) Status() FollowStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Run polls until ctx ends. A full reconciliation runs at the start and
// whenever the epoch changes; in between, each poll reads the epoch and
// the blobs waiting for certification, and every ConfirmInterval the
// index is looked at for uploads to confirm.
func (f *Follower) Run(ctx context.Context) {
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	confirm := time.NewTicker(f.cfg.ConfirmInterval)
	defer confirm.Stop()
	var lastEpoch uint32
	seen, full := false, true
	poll := func() {
		epoch, err := f.Poll(ctx, full)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			f.log.Warn("reading the chain failed; retrying", "retry_in", f.cfg.Interval, "err", err)
		default:
			changed := seen && epoch != lastEpoch
			if changed && f.OnEpoch != nil {
				f.OnEpoch(epoch)
			}
			// The next poll reconciles everything when this one saw a
			// new epoch.
			full = changed
			seen, lastEpoch = true, epoch
		}
	}
	poll()
	// waiting: uploads may wait for certification, so look every
	// ConfirmInterval; once none does, only a poll or a kick looks again.
	waiting := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			poll()
		case <-f.kick:
			waiting = true
		case <-confirm.C:
			if !waiting {
				continue
			}
			pending, err := f.Confirm(ctx)
			if err != nil && ctx.Err() == nil {
				f.log.Debug("confirming uploads failed; retrying", "err", err)
				continue
			}
			waiting = pending > 0
		}
	}
}

// Confirm asks the chain about the uploaded blobs still waiting for
// certification, if there are any, and returns how many still wait.
func (f *Follower) Confirm(ctx context.Context) (int, error) {
	blobs, err := f.idx.Blobs()
	if err != nil {
		return 0, fmt.Errorf("chainsync: blob records: %w", err)
	}
	var ask []*index.Blob
	for i := range blobs {
		if b := &blobs[i]; b.ObjectID != "" && b.State < index.BlobCertified {
			ask = append(ask, b)
		}
	}
	if len(ask) == 0 {
		return 0, nil
	}
	var st FollowStatus
	certified, err := f.reconcile(ctx, ask, &st)
	if certified > 0 {
		f.notify()
	}
	f.mu.Lock()
	f.status.Certified += certified
	f.status.Pending = st.Pending
	f.mu.Unlock()
	if err != nil {
		return len(ask), err
	}
	return st.Pending, nil
}

// Poll runs one poll and returns the current epoch: it reads the epoch
// clock (one call); with full, it also reads every recorded Blob object,
// counts orphans, checks leases and the wallet, and warns.
func (f *Follower) Poll(ctx context.Context, full bool) (uint32, error) {
	clock, err := f.chain.Clock(ctx)
	if err != nil {
		f.setErr(err)
		return 0, fmt.Errorf("chainsync: epoch: %w", err)
	}
	if !full {
		f.mu.Lock()
		f.status.Clock, f.status.Polled, f.status.LastErr = clock, time.Now(), nil
		f.mu.Unlock()
		return clock.Epoch, nil
	}
	blobs, err := f.idx.Blobs()
	if err != nil {
		return 0, fmt.Errorf("chainsync: blob records: %w", err)
	}
	st := FollowStatus{Clock: clock, Polled: time.Now()}
	var ask []*index.Blob
	for i := range blobs {
		if blobs[i].ObjectID != "" {
			ask = append(ask, &blobs[i])
		}
	}
	certified, err := f.reconcile(ctx, ask, &st)
	if err != nil {
		f.setErr(err)
		return 0, err
	}
	if certified > 0 {
		f.notify()
	}
	if err := f.countOrphans(ctx, blobs, &st); err != nil {
		f.setErr(err)
		return 0, err
	}
	f.checkLeases(ctx, blobs, &st) // the records as reconcile left them
	f.mu.Lock()
	st.Certified += f.status.Certified
	f.status = st
	f.mu.Unlock()
	return clock.Epoch, nil
}

func (f *Follower) setErr(err error) {
	f.mu.Lock()
	f.status.LastErr = err
	f.mu.Unlock()
}

// reconcile reads the Blob objects of blobs and records what the chain
// says, in the index and in the records given (so a caller holding them
// need not read them again)// says; it returns how many became certified.
func (f *Follower) reconcile(ctx context.Context, blobs []*index.Blob, st *FollowStatus) (int, error) {
	if len(blobs) == 0 {
		return 0, nil
	}
	ids := make([]string, len(blobs))
	for i, b := range blobs {
		ids[i] = b.ObjectID
	}
	objs, err := f.chain.BlobObjects(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("chainsync: read blob objects: %w", err)
	}
	certified := 0
	for i, b := range blobs {
		o := objs[i]
		id := blobstore.ID(b.ID)
		switch {
		case o == nil:
			if b.Referenced() {
				f.log.Error("a referenced blob's object is gone from the chain (deleted or burned elsewhere); its data lives only until its lease ends",
					"blob", id, "object", b.ObjectID, "end_epoch", b.EndEpoch)
			}
			continue
		case o.ID != id:
			f.log.Error("a Blob object holds another blob than the index says; ignoring it", "object", b.ObjectID, "index_blob", id, "object_blob", o.ID)
			continue
		}
		if b.State < index.BlobCertified {
			if !o.Certified {
				st.Pending++
				continue
			}
			certified++
		}
		if _, err := f.idx.RecordChain(b.ID, index.ChainRecord{
			ObjectID: b.ObjectID, Certified: o.Certified, CertifiedEpoch: o.CertifiedEpoch, EndEpoch: o.EndEpoch, Deletable: o.Deletable,
		}); err != nil {
			return certified, fmt.Errorf("chainsync: record %s: %w", id, err)
		}
		if o.Certified && b.State < index.BlobCertified {
			b.State, b.CertifiedEpoch = index.BlobCertified, o.CertifiedEpoch
		}
		b.EndEpoch = o.EndEpoch
	}
	st.Certified += certified
	return certified, nil
}

// countOrphans counts owned Blob objects whose blob the index does not
// know.
func (f *Follower) countOrphans(ctx context.Context, blobs []index.Blob, st *FollowStatus) error {
	known := make(map[blobstore.ID]bool, len(blobs))
	for _, b := range blobs {
		known[b.ID] = true
	}
	err := f.chain.OwnedBlobs(ctx, func(info blobstore.Info) error {
		if !known[info.ID] {
			st.Orphans++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chainsync: list owned blobs: %w", err)
	}
	if st.Orphans > 0 {
		f.log.Info("Blob objects owned by this address are not in the index (left by interrupted uploads)", "objects", st.Orphans)
	}
	return nil
}

// checkLeases counts referenced blobs near or past their end and warns
// (once per epoch: full polls), with calendar dates.
func (f *Follower) checkLeases(ctx context.Context, blobs []index.Blob, st *FollowStatus) {
	now := st.Clock.Epoch
	for _, b := range blobs {
		if !b.Referenced() || b.State < index.BlobCertified {
			continue
		}
		switch {
		case b.EndEpoch <= now:
			st.Expired++
		case b.EndEpoch-now <= f.cfg.RenewBefore:
			st.EndingSoon++
			if st.FirstEnd == 0 || b.EndEpoch < st.FirstEnd {
				st.FirstEnd = b.EndEpoch
			}
			st.RenewalCost += (b.EncodedSize + 1<<20 - 1) >> 20 * st.Clock.StoragePrice
		}
	}
	wal, err := f.chain.WAL(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		f.log.Debug("reading the WAL balance", "err", err)
	}
	st.WAL = wal
	if st.Expired > 0 {
		f.log.Error("referenced blobs have outlived their lease; their files can no longer be read from Walrus", "blobs", st.Expired, "epoch", now)
	}
	if st.EndingSoon > 0 {
		f.log.Warn("referenced blobs end soon and are not renewed yet", "blobs", st.EndingSoon,
			"first_end_epoch", st.FirstEnd, "first_end_date", st.Clock.EpochTime(st.FirstEnd).Format(time.DateOnly))
	}
	if st.RenewalCost > 0 && wal < st.RenewalCost {
		f.log.Warn("the wallet cannot pay the next renewal pass; fund the address with WAL", "needs_frost_per_epoch", st.RenewalCost, "holds_frost", wal)
	}
}
