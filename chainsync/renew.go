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

// Ledger is what the renewer needs from the chain.
type Ledger interface {
	// CurrentEpoch returns the current epoch.
	CurrentEpoch(ctx context.Context) (uint32, error)
	// Stat returns what the chain knows of blob id, its end epoch above
	// all (an error wrapping blobstore.ErrNotFound when it holds none).
	Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error)
	// Extend adds epochs to blob id's lease and returns the blob's info
	// with its new end epoch. A blob whose lease has ended fails with an
	// error wrapping blobstore.ErrNotFound.
	Extend(ctx context.Context, id blobstore.ID, epochs uint32) (blobstore.Info, error)
}

// Collector is a Ledger that must be told to drop a blob whose lease has
// ended (the local store; on Walrus expired blobs go by themselves).
type Collector interface {
	// DeleteExpired removes blob id if its lease has ended and reports
	// whether it did; a blob it does not hold is blobstore.ErrNotFound.
	// The check and the delete are one step, so a blob whose lease a new
	// upload of the same bytes extends is kept.
	DeleteExpired(ctx context.Context, id blobstore.ID) (bool, error)
}

// Due is one referenced blob whose lease a pass extends.
type Due struct {
	ID       blobstore.ID
	EndEpoch uint32 // its current end
	Epochs   uint32 // how many epochs to add
}

// Extended is the outcome of extending one [Due] blob: its new info, or why
// it was not extended (an error wrapping blobstore.ErrNotFound when its
// lease had already ended).
type Extended struct {
	Info blobstore.Info
	Err  error
}

// BatchExtender is a Ledger that extends many blobs in one call (on Sui,
// one transaction pays for a batch). The result has one entry per due
// blob, in order; an error return means none was extended.
type BatchExtender interface {
	ExtendBatch(ctx context.Context, due []Due) ([]Extended, error)
}

// PassStarter is a Ledger that reads the chain once at the start of each
// pass (on Sui, the Blob objects the daemon owns), so that Stat answers
// from one consistent view.
type PassStarter interface {
	StartPass(ctx context.Context) error
}

// Index is what the renewer needs from the index (*index.Index).
type Index interface {
	Blobs() ([]index.Blob, error)
	SetBlobEnd(id [32]byte, end uint32) (bool, error)
	DropBlob(id [32]byte) (bool, error)
	MarkUnreferenced(id [32]byte, now uint32) (index.Blob, bool, error)
}

// Config tunes a [Renewer].
type Config struct {
	// MinEpochsAhead: a referenced blob ending within this many epochs of
	// the current one is extended. At least 1.
	MinEpochsAhead uint32
	// TargetEpochsAhead is where an extension moves the end: this many
	// epochs past the current one. At least MinEpochsAhead + 1 and at
	// most blobstore.MaxEpochsAhead.
	TargetEpochsAhead uint32
	// Interval is the time between passes.
	Interval time.Duration
	// GCGrace is how many epochs a blob no file references keeps its Blob
	// object before a Discarder ledger deletes or burns it.
	GCGrace uint32
}

// DefaultConfig extends blobs ending within 2 epochs to 12 epochs ahead, and
// looks every hour (a Walrus epoch is a day on Testnet, two weeks on
// Mainnet).
func DefaultConfig() Config {
	return Config{MinEpochsAhead: 2, TargetEpochsAhead: 12, Interval: time.Hour, GCGrace: 2}
}

// Validate reports a configuration a Renewer cannot use.
func (c Config) Validate() error {
	switch {
	case c.MinEpochsAhead < 1:
		return errors.New("chainsync: MinEpochsAhead must be at least 1")
	case c.TargetEpochsAhead <= c.MinEpochsAhead:
		return fmt.Errorf("chainsync: TargetEpochsAhead %d must exceed MinEpochsAhead %d", c.TargetEpochsAhead, c.MinEpochsAhead)
	case c.TargetEpochsAhead > blobstore.MaxEpochsAhead:
		return fmt.Errorf("chainsync: TargetEpochsAhead %d: Walrus stores at most %d epochs ahead", c.TargetEpochsAhead, blobstore.MaxEpochsAhead)
	case c.Interval <= 0:
		return errors.New("chainsync: Interval must be positive")
	case c.GCGrace < 1:
		return errors.New("chainsync: GCGrace must be at least 1 epoch: an upload in flight owns an object the index does not know yet")
	}
	return nil
}

// Renewer keeps the leases of referenced blobs ahead of the current epoch.
type Renewer struct {
	ledger Ledger
	idx    Index
	cfg    Config
	log    *slog.Logger
	kick   chan struct{}

	mu      sync.Mutex
	last    Pass
	lastAt  time.Time
	lastErr error
	totals  Pass
}

// Totals returns the sums of every pass Run made (Epoch and Checked are
// the last pass's).
func (r *Renewer) Totals() Pass {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.totals
}

// Last returns the last pass Run made, when, and its error.
func (r *Renewer) Last() (Pass, time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.lastAt, r.lastErr
}

// NewRenewer returns a renewer; a nil logger discards logs.
func NewRenewer(ledger Ledger, idx Index, cfg Config, log *slog.Logger) (*Renewer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Renewer{ledger: ledger, idx: idx, cfg: cfg, log: log, kick: make(chan struct{}, 1)}, nil
}

// Kick asks for a pass now (the follower saw the epoch change).
func (r *Renewer) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Pass is what one renewal pass did.
type Pass struct {
	Epoch    uint32 // the current epoch
	Checked  int    // referenced blobs looked at
	Extended int    // leases extended
	Expired  int    // referenced blobs whose lease had already ended
	Failed   int    // extensions that failed for another reason (retried next pass)
	// Collected counts unreferenced blobs whose lease had ended, dropped
	// from the store (a Collector) and the index.
	Collected int
	// Discarded counts Blob objects deleted or burned as garbage (a
	// Discarder), and DiscardFailed those that could not be.
	Discarded, DiscardFailed int
}

// Run renews at once, then every Config.Interval and whenever kicked,
// until ctx ends. A pass that fails is logged and retried at the next
// interval.
func (r *Renewer) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		p, err := r.RenewOnce(ctx)
		r.mu.Lock()
		r.last, r.lastAt, r.lastErr = p, time.Now(), err
		sum := &r.totals
		sum.Epoch, sum.Checked = p.Epoch, p.Checked
		sum.Extended += p.Extended
		sum.Expired += p.Expired
		sum.Failed += p.Failed
		sum.Collected += p.Collected
		sum.Discarded += p.Discarded
		sum.DiscardFailed += p.DiscardFailed
		r.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Error("lease renewal failed; retrying later", "retry_in", r.cfg.Interval, "err", err)
		} else if p.Extended == 0 && p.Expired == 0 && p.Failed == 0 && p.Collected == 0 && p.Discarded == 0 && p.DiscardFailed == 0 {
			r.log.Debug("lease renewal: nothing due", "epoch", p.Epoch, "referenced_blobs", p.Checked)
		} else {
			r.log.Info("lease renewal", "epoch", p.Epoch, "referenced_blobs", p.Checked, "extended", p.Extended,
				"expired", p.Expired, "failed", p.Failed, "collected", p.Collected, "discarded", p.Discarded, "discard_failed", p.DiscardFailed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// Plan is what a pass does, decided from one read of the index and the
// chain.
type Plan struct {
	Epoch   uint32
	Checked int   // referenced blobs looked at
	Due     []Due // referenced blobs to extend
	// Expired are referenced blobs whose lease has ended: nothing can
	// extend them.
	Expired []Due
	// ChainEnds are records whose end the chain has moved past the
	// recorded one (an extension whose record a crash lost).
	ChainEnds map[blobstore.ID]uint32
	// Garbage are Blob objects to delete or burn (a Discarder's).
	Garbage []blobstore.Info
}

// Plan reads the epoch, the chain and the index and returns what a pass
// would do now, changing nothing: the dry run of RenewOnce. Blobs that
// lost their last reference since the last pass count as unreferenced
// from now.
func (r *Renewer) Plan(ctx context.Context) (Plan, error) {
	plan, _, err := r.plan(ctx, false)
	return plan, err
}

// plan reads and decides; with mark it first records which blobs have no
// references (index.Index.MarkUnreferenced), as a pass does.
func (r *Renewer) plan(ctx context.Context, mark bool) (Plan, []index.Blob, error) {
	now, err := r.ledger.CurrentEpoch(ctx)
	if err != nil {
		return Plan{}, nil, fmt.Errorf("chainsync: current epoch: %w", err)
	}
	if ps, ok := r.ledger.(PassStarter); ok {
		if err := ps.StartPass(ctx); err != nil {
			return Plan{}, nil, fmt.Errorf("chainsync: read the chain: %w", err)
		}
	}
	blobs, err := r.idx.Blobs()
	if err != nil {
		return Plan{}, nil, fmt.Errorf("chainsync: blob records: %w", err)
	}
	plan := Plan{Epoch: now, ChainEnds: map[blobstore.ID]uint32{}}
	ahead := func(end uint32) bool { return end > now && end-now > r.cfg.MinEpochsAhead }
	for _, b := range blobs {
		if !b.Referenced() {
			continue
		}
		plan.Checked++
		if ahead(b.EndEpoch) {
			continue
		}
		id := blobstore.ID(b.ID)
		// The chain is the truth: an extension whose end the index did
		// not record (a crash in between) must not be paid twice.
		if info, err := r.ledger.Stat(ctx, id); err == nil && info.EndEpoch > b.EndEpoch {
			plan.ChainEnds[id] = info.EndEpoch
			b.EndEpoch = info.EndEpoch
			if ahead(b.EndEpoch) {
				continue
			}
		}
		d := Due{ID: id, EndEpoch: b.EndEpoch, Epochs: now + r.cfg.TargetEpochsAhead - b.EndEpoch}
		if b.EndEpoch <= now {
			plan.Expired = append(plan.Expired, d)
			continue
		}
		plan.Due = append(plan.Due, d)
	}
	if d, ok := r.ledger.(Discarder); ok {
		if mark {
			if blobs, err = r.markUnreferenced(blobs, now); err != nil {
				return plan, nil, err
			}
		}
		plan.Garbage = planGarbage(now, r.cfg.GCGrace, blobs, d.Owned())
	}
	return plan, blobs, nil
}

// RenewOnce runs one pass: every referenced blob ending within
// MinEpochsAhead epochs is extended to TargetEpochsAhead epochs from now,
// and its new end recorded in the index; unreferenced blobs whose lease
// has ended are collected (see [Collector]), and a [Discarder]'s garbage
// is deleted or burned. It returns an error when the epoch or the blob
// records cannot be read or the index cannot be updated; failures of
// single extensions are counted and logged.
func (r *Renewer) RenewOnce(ctx context.Context) (Pass, error) {
	plan, blobs, err := r.plan(ctx, true)
	if err != nil {
		return Pass{}, err
	}
	now := plan.Epoch
	p := Pass{Epoch: now, Checked: plan.Checked, Expired: len(plan.Expired)}
	for id, end := range plan.ChainEnds {
		if _, err := r.idx.SetBlobEnd(id, end); err != nil {
			return p, fmt.Errorf("chainsync: record the end of %s: %w", id, err)
		}
	}
	for _, b := range blobs {
		// Unreferenced blobs are left to expire; once they have, a
		// Collector drops them.
		if !b.Referenced() && b.EndEpoch <= now {
			if err := r.collect(ctx, &p, b); err != nil {
				return p, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	results, err := r.extend(ctx, plan.Due)
	if err != nil {
		p.Failed += len(plan.Due)
		r.log.Warn("extending leases failed; retrying at the next pass", "blobs", len(plan.Due), "err", err)
		results = nil
	}
	expired, failed := plan.Expired, []Due(nil)
	var firstFailure error
	for i, res := range results {
		d := plan.Due[i]
		switch {
		case errors.Is(res.Err, blobstore.ErrNotFound):
			p.Expired++
			expired = append(expired, d)
		case res.Err != nil:
			p.Failed++
			failed = append(failed, d)
			if firstFailure == nil {
				firstFailure = res.Err
			}
		default:
			if _, err := r.idx.SetBlobEnd(d.ID, res.Info.EndEpoch); err != nil {
				return p, fmt.Errorf("chainsync: record the new end of %s: %w", d.ID, err)
			}
			p.Extended++
		}
	}
	if len(expired) > 0 {
		r.log.Error("referenced blobs' leases have ended and cannot be extended; files that use them may no longer be readable from the store",
			"blobs", len(expired), "first", expired[0].ID, "first_end_epoch", expired[0].EndEpoch, "epoch", now)
	}
	if len(failed) > 0 {
		r.log.Warn("extending leases failed; retrying at the next pass", "blobs", len(failed), "first", failed[0].ID,
			"first_end_epoch", failed[0].EndEpoch, "epoch", now, "err", firstFailure)
	}
	if d, ok := r.ledger.(Discarder); ok {
		if err := r.discard(ctx, d, plan, blobs, &p); err != nil {
			return p, err
		}
	}
	return p, nil
}

// extend extends the due blobs in one batch when the ledger can, one by
// one otherwise.
func (r *Renewer) extend(ctx context.Context, due []Due) ([]Extended, error) {
	if len(due) == 0 {
		return nil, nil
	}
	if be, ok := r.ledger.(BatchExtender); ok {
		res, err := be.ExtendBatch(ctx, due)
		if err == nil && len(res) != len(due) {
			err = fmt.Errorf("chainsync: the ledger answered %d of %d extensions", len(res), len(due))
		}
		return res, err
	}
	out := make([]Extended, len(due))
	for i, d := range due {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i].Info, out[i].Err = r.ledger.Extend(ctx, d.ID, d.Epochs)
	}
	return out, nil
}

// collect drops unreferenced blob b, whose recorded lease has ended, from
// the store when the ledger is a Collector, and then its index record.
func (r *Renewer) collect(ctx context.Context, p *Pass, b index.Blob) error {
	c, ok := r.ledger.(Collector)
	if !ok {
		return nil
	}
	id := blobstore.ID(b.ID)
	deleted, err := c.DeleteExpired(ctx, id)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		// Gone already (a crash after the delete): only the record is left.
	case err != nil:
		r.log.Warn("dropping an expired unreferenced blob failed; retrying at the next pass", "blob", id, "err", err)
		return nil
	case !deleted:
		return nil // its lease was extended meanwhile (the same bytes stored again)
	}
	if _, err := r.idx.DropBlob(b.ID); err != nil {
		return fmt.Errorf("chainsync: drop the record of %s: %w", id, err)
	}
	p.Collected++
	return nil
}
