package sui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync"
)

// LedgerConfig tunes a [Ledger].
type LedgerConfig struct {
	// Owner is the address whose Blob objects walrusfs keeps alive (the
	// daemon's address, named as send_object_to in uploads).
	Owner Address
	// WALType is the WAL coin type of the network.
	WALType TypeTag
	// MaxWALPerEpoch caps what renewals may spend in one Walrus epoch, in
	// FROST; 0 means no cap.
	MaxWALPerEpoch uint64
	// BatchSize is how many blobs one transaction extends.
	BatchSize int
	// SpendFile records what was spent in the current epoch, so a restart
	// does not reset the cap.
	SpendFile string
}

// DefaultBatchSize keeps an extension transaction far below Sui's size and
// gas limits (each blob adds about 120 bytes and one Move call).
const DefaultBatchSize = 200

// paymentMargin is added to a batch's computed price: prices can rise
// within an epoch, and what is not spent returns to the wallet.
const paymentMargin = 10 // percent

// Ledger is Walrus on Sui as the renewer sees it: the current epoch, the
// Blob objects an address owns, and (with a Sender) extensions paid in
// batched transactions. It implements chainsync.Ledger,
// chainsync.BatchExtender and chainsync.PassStarter.
type Ledger struct {
	w      *Walrus
	sender *Sender // nil: read only
	cfg    LedgerConfig
	log    *slog.Logger

	mu       sync.Mutex
	state    State
	owned    map[blobstore.ID][]BlobObject // from the last StartPass
	byObject map[string]BlobObject         // the same, by object ID
}

var (
	_ chainsync.Ledger        = (*Ledger)(nil)
	_ chainsync.BatchExtender = (*Ledger)(nil)
	_ chainsync.PassStarter   = (*Ledger)(nil)
)

// NewLedger returns a ledger over w; sender may be nil, and then every
// extension fails with ErrNoKey.
func NewLedger(w *Walrus, sender *Sender, cfg LedgerConfig, log *slog.Logger) *Ledger {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ledger{w: w, sender: sender, cfg: cfg, log: log, owned: map[blobstore.ID][]BlobObject{}}
}

// ErrNotOwned means a blob has no certified Blob object the ledger's
// address owns, so walrusfs cannot extend it.
var ErrNotOwned = errors.New("sui: blob not owned")

// ErrNoKey means an operation needs to sign a transaction and no key was
// given.
var ErrNoKey = errors.New("sui: no key to sign with (--sui-key)")

// CurrentEpoch reads the Walrus epoch.
func (l *Ledger) CurrentEpoch(ctx context.Context) (uint32, error) {
	c, err := l.Clock(ctx)
	return c.Epoch, err
}

// knownState returns the state last read, reading it first if none was.
func (l *Ledger) knownState(ctx context.Context) (State, error) {
	l.mu.Lock()
	s := l.state
	l.mu.Unlock()
	if !s.TypePackage.IsZero() {
		return s, nil
	}
	if _, err := l.Clock(ctx); err != nil {
		return State{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state, nil
}

// StartPass lists the Blob objects the owner holds.
func (l *Ledger) StartPass(ctx context.Context) error {
	s, err := l.knownState(ctx)
	if err != nil {
		return err
	}
	owned := map[blobstore.ID][]BlobObject{}
	byObject := map[string]BlobObject{}
	err = l.w.OwnedBlobs(ctx, l.cfg.Owner, s.BlobType(), func(b BlobObject) error {
		owned[b.BlobID] = append(owned[b.BlobID], b)
		byObject[b.Ref.ID.String()] = b
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.owned, l.byObject = owned, byObject
	l.mu.Unlock()
	return nil
}

// best is the owned object that keeps blob id stored longest: certified,
// with the latest end epoch.
func (l *Ledger) best(id blobstore.ID) (BlobObject, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best BlobObject
	found := false
	for _, b := range l.owned[id] {
		if b.Certified() && (!found || b.EndEpoch() > best.EndEpoch()) {
			best, found = b, true
		}
	}
	return best, found
}

// Stat answers from the objects listed at the start of the pass.
func (l *Ledger) Stat(_ context.Context, id blobstore.ID) (blobstore.Info, error) {
	b, ok := l.best(id)
	if !ok {
		return blobstore.Info{}, fmt.Errorf("%w: %s has no certified Blob object owned by %s", blobstore.ErrNotFound, id, l.cfg.Owner)
	}
	return blobInfo(b), nil
}

func blobInfo(b BlobObject) blobstore.Info {
	info := blobstore.Info{
		ID: b.BlobID, Size: int64(b.Size), EncodedSize: int64(b.Storage.StorageSize), ObjectID: b.Ref.ID.String(),
		RegisteredEpoch: b.RegisteredEpoch, EndEpoch: b.EndEpoch(), Deletable: b.Deletable,
	}
	if b.CertifiedEpoch != nil {
		info.Certified, info.CertifiedEpoch = true, *b.CertifiedEpoch
	}
	return info
}

// Extend extends one blob.
func (l *Ledger) Extend(ctx context.Context, id blobstore.ID, epochs uint32) (blobstore.Info, error) {
	res, err := l.ExtendBatch(ctx, []chainsync.Due{{ID: id, Epochs: epochs}})
	if err != nil {
		return blobstore.Info{}, err
	}
	return res[0].Info, res[0].Err
}

// units is the number of 1 MiB storage units a blob of encoded size n pays
// for.
func units(n uint64) uint64 { return (n + 1<<20 - 1) >> 20 }

// ExtendBatch extends the due blobs in transactions of up to BatchSize
// blobs, within the spending cap. Blobs that cannot be extended (no
// certified object owned, lease ended) fail alone; a batch whose
// transaction fails fails as a whole and is retried at the next pass.
func (l *Ledger) ExtendBatch(ctx context.Context, due []chainsync.Due) ([]chainsync.Extended, error) {
	out, _, err := l.extend(ctx, due, false)
	return out, err
}

// Planned is a transaction a dry run would send.
type Planned struct {
	Tx      *Transaction
	Summary string
	Objects []string // the Blob objects it touches
	// MaxWAL is the most WAL it may spend (FROST); GasBudget the most gas
	// (MIST).
	MaxWAL    uint64
	GasBudget uint64
}

// PlanExtensions returns the transactions ExtendBatch would send now for
// due, without signing or sending them, and without counting against the
// spending cap.
func (l *Ledger) PlanExtensions(ctx context.Context, due []chainsync.Due) ([]Planned, []chainsync.Extended, error) {
	out, planned, err := l.extend(ctx, due, true)
	return planned, out, err
}

func (l *Ledger) extend(ctx context.Context, due []chainsync.Due, dry bool) ([]chainsync.Extended, []Planned, error) {
	if l.sender == nil {
		return nil, nil, ErrNoKey
	}
	var planned []Planned
	l.mu.Lock()
	state := l.state
	l.mu.Unlock()
	out := make([]chainsync.Extended, len(due))
	type item struct {
		i   int
		obj BlobObject
		by  uint32
	}
	var todo []item
	for i, d := range due {
		b, ok := l.best(d.ID)
		switch {
		case !ok:
			// Not necessarily gone: another address's object may keep it
			// (a blob stored before this key, or by someone else), and
			// only its owner can extend it.
			out[i].Err = fmt.Errorf("%w: %s has no certified Blob object owned by %s", ErrNotOwned, d.ID, l.cfg.Owner)
		case b.EndEpoch() <= state.Epoch:
			out[i].Err = fmt.Errorf("%w: %s expired at epoch %d", blobstore.ErrNotFound, d.ID, b.EndEpoch())
		default:
			// Extend from the object's own end: the chain is the truth.
			target := d.EndEpoch + d.Epochs
			if target <= b.EndEpoch() {
				out[i].Info = blobInfo(b)
				continue
			}
			by := min(target-b.EndEpoch(), state.Epoch+blobstore.MaxEpochsAhead-b.EndEpoch())
			if by == 0 {
				out[i].Info = blobInfo(b)
				continue
			}
			todo = append(todo, item{i: i, obj: b, by: by})
		}
	}
	for start := 0; start < len(todo); start += l.cfg.BatchSize {
		batch := todo[start:min(start+l.cfg.BatchSize, len(todo))]
		var cost uint64
		for _, it := range batch {
			cost += units(it.obj.Storage.StorageSize) * state.StoragePrice * uint64(it.by)
		}
		reserve := l.reserveSpend
		if dry {
			reserve = l.checkSpend
		}
		if err := reserve(state.Epoch, cost); err != nil {
			for _, it := range batch {
				out[it.i].Err = err
			}
			for _, it := range todo[start+len(batch):] {
				out[it.i].Err = err
			}
			if !dry {
				l.log.Error("lease renewal stopped: the spending cap would be exceeded", "err", err)
			}
			return out, planned, nil
		}
		payCap := cost + cost*paymentMargin/100
		what := fmt.Sprintf("extend %d blobs", len(batch))
		// The sender composes twice (a probe for the gas budget, then the
		// transaction): the coins are listed once.
		var src *WALSource
		compose := func(ctx context.Context, b *Builder) error {
			if src == nil {
				s, err := l.walSource(ctx, payCap)
				if err != nil {
					return err
				}
				src = &s
			}
			pay := *src
			pay.Coins = make([]ObjectRef, len(src.Coins))
			for j, c := range src.Coins {
				pay.Coins[j] = l.sender.Fresh(c)
			}
			exts := make([]Extension, len(batch))
			for j, it := range batch {
				exts[j] = Extension{Blob: l.sender.Fresh(it.obj.Ref), Epochs: it.by}
			}
			state.Calls.Extend(b, l.sender.Address(), pay, payCap, exts)
			return nil
		}
		if dry {
			tx, err := l.sender.Build(ctx, what, compose)
			if err != nil {
				for _, it := range batch {
					out[it.i].Err = err
				}
				continue
			}
			p := Planned{Tx: tx, MaxWAL: payCap, GasBudget: tx.Gas.Budget}
			var minBy, maxBy uint32 = ^uint32(0), 0
			for _, it := range batch {
				p.Objects = append(p.Objects, it.obj.Ref.ID.String())
				minBy, maxBy = min(minBy, it.by), max(maxBy, it.by)
			}
			p.Summary = fmt.Sprintf("extend %d blobs by %d to %d epochs, paying at most %s WAL (%s at the current price)",
				len(batch), minBy, maxBy, FormatWAL(payCap), FormatWAL(cost))
			planned = append(planned, p)
			continue
		}
		fx, err := l.sender.Send(ctx, what, compose)
		if err == nil && !fx.Success {
			err = fx.Failure
		}
		if err != nil {
			l.releaseSpend(state.Epoch, cost)
			for _, it := range batch {
				out[it.i].Err = err
			}
			continue
		}
		for _, it := range batch {
			obj := it.obj
			obj.Storage.EndEpoch += it.by
			out[it.i].Info = blobInfo(obj)
		}
	}
	return out, planned, nil
}

// walSource picks where a payment of amount FROST comes from: the WAL
// coins when they hold enough, else the address balance.
func (l *Ledger) walSource(ctx context.Context, amount uint64) (WALSource, error) {
	coins, err := l.w.Coins(ctx, l.cfg.Owner, l.cfg.WALType)
	if err != nil {
		return WALSource{}, err
	}
	var inCoins uint64
	var refs []ObjectRef
	for _, c := range coins {
		if len(refs) < 100 {
			refs = append(refs, l.sender.Fresh(c.Ref))
			inCoins += c.Balance
		}
	}
	if inCoins >= amount {
		return WALSource{Coins: refs}, nil
	}
	total, err := l.w.c.Balance(ctx, l.cfg.Owner, l.cfg.WALType)
	if err != nil {
		return WALSource{}, err
	}
	if total-min(total, inCoins) >= amount {
		return WALSource{FromBalance: true}, nil
	}
	return WALSource{}, fmt.Errorf("%w: renewal needs %s WAL, %s holds %s", ErrInsufficientWAL, FormatWAL(amount), l.cfg.Owner, FormatWAL(total))
}

// ErrInsufficientWAL means the wallet cannot pay.
var ErrInsufficientWAL = errors.New("sui: not enough WAL")

// FormatWAL writes FROST as whole WAL with up to 9 decimals.
func FormatWAL(frost uint64) string {
	whole, frac := frost/1e9, frost%1e9
	if frac == 0 {
		return fmt.Sprintf("%d", whole)
	}
	s := fmt.Sprintf("%d.%09d", whole, frac)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}

// spendRecord is what renewals spent in one epoch.
type spendRecord struct {
	Epoch uint32 `json:"epoch"`
	Frost uint64 `json:"frost"`
}

// ErrSpendCap means a payment would exceed MaxWALPerEpoch.
var ErrSpendCap = errors.New("sui: the WAL spending cap for this epoch would be exceeded")

func (l *Ledger) reserveSpend(epoch uint32, cost uint64) error {
	if l.cfg.MaxWALPerEpoch == 0 {
		return nil
	}
	rec, err := l.spendFor(epoch, cost)
	if err != nil {
		return err
	}
	rec.Frost += cost
	return l.writeSpend(rec)
}

// checkSpend is reserveSpend without recording anything.
func (l *Ledger) checkSpend(epoch uint32, cost uint64) error {
	if l.cfg.MaxWALPerEpoch == 0 {
		return nil
	}
	_, err := l.spendFor(epoch, cost)
	return err
}

// spendFor reads what epoch has spent and fails if cost more would pass
// the cap.
func (l *Ledger) spendFor(epoch uint32, cost uint64) (spendRecord, error) {
	rec := l.readSpend(epoch)
	if rec.Frost+cost > l.cfg.MaxWALPerEpoch {
		return rec, fmt.Errorf("%w: renewing needs %s WAL, %s of the %s WAL allowed in epoch %d is spent (raise --max-wal-per-epoch)",
			ErrSpendCap, FormatWAL(cost), FormatWAL(rec.Frost), FormatWAL(l.cfg.MaxWALPerEpoch), epoch)
	}
	return rec, nil
}

func (l *Ledger) releaseSpend(epoch uint32, cost uint64) {
	if l.cfg.MaxWALPerEpoch == 0 {
		return
	}
	rec := l.readSpend(epoch)
	rec.Frost -= min(rec.Frost, cost)
	if err := l.writeSpend(rec); err != nil {
		l.log.Warn("recording WAL spending", "err", err)
	}
}

func (l *Ledger) readSpend(epoch uint32) spendRecord {
	rec := spendRecord{Epoch: epoch}
	if l.cfg.SpendFile == "" {
		return rec
	}
	b, err := os.ReadFile(l.cfg.SpendFile)
	if err != nil {
		return rec
	}
	var got spendRecord
	if json.Unmarshal(b, &got) == nil && got.Epoch == epoch {
		return got
	}
	return rec
}

func (l *Ledger) writeSpend(rec spendRecord) error {
	if l.cfg.SpendFile == "" {
		return nil
	}
	b, _ := json.Marshal(rec)
	tmp := l.cfg.SpendFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.cfg.SpendFile)
}

var _ chainsync.Chain = (*Ledger)(nil)

// Clock reads the Walrus epoch clock and prices.
func (l *Ledger) Clock(ctx context.Context) (chainsync.Clock, error) {
	s, err := l.w.State(ctx, l.cfg.WALType)
	if err != nil {
		return chainsync.Clock{}, err
	}
	l.mu.Lock()
	l.state = s
	l.mu.Unlock()
	return chainsync.Clock{
		Epoch: s.Epoch, EpochStart: s.EpochStart, EpochDuration: s.EpochDuration,
		StoragePrice: s.StoragePrice, WritePrice: s.WritePrice, NShards: s.NShards,
	}, nil
}

// BlobObjects reads Blob objects by ID.
func (l *Ledger) BlobObjects(ctx context.Context, objectIDs []string) ([]*blobstore.Info, error) {
	ids := make([]Address, len(objectIDs))
	for i, s := range objectIDs {
		a, err := ParseAddress(s)
		if err != nil {
			return nil, err
		}
		ids[i] = a
	}
	objs, err := l.w.Blobs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*blobstore.Info, len(objs))
	for i, o := range objs {
		if o != nil {
			info := blobInfo(*o)
			out[i] = &info
		}
	}
	return out, nil
}

// OwnedBlobs lists the owner's Blob objects.
func (l *Ledger) OwnedBlobs(ctx context.Context, fn func(blobstore.Info) error) error {
	if l.cfg.Owner.IsZero() {
		return nil
	}
	s, err := l.knownState(ctx)
	if err != nil {
		return err
	}
	return l.w.OwnedBlobs(ctx, l.cfg.Owner, s.BlobType(), func(b BlobObject) error { return fn(blobInfo(b)) })
}

// WAL returns the owner's WAL (coins and address balance).
func (l *Ledger) WAL(ctx context.Context) (uint64, error) {
	if l.cfg.Owner.IsZero() {
		return 0, nil
	}
	return l.w.c.Balance(ctx, l.cfg.Owner, l.cfg.WALType)
}

var _ chainsync.Discarder = (*Ledger)(nil)

// Owned returns the Blob objects listed at the start of the pass.
func (l *Ledger) Owned() []blobstore.Info {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []blobstore.Info
	for _, objs := range l.owned {
		for _, o := range objs {
			out = append(out, blobInfo(o))
		}
	}
	return out
}

// ownedObject finds a listed object by ID.
func (l *Ledger) ownedObject(id string) (BlobObject, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.byObject[id]
	return o, ok
}

// Discard deletes the deletable, unexpired objects (delete_blob, then the
// Storage destroyed) and burns the others, in batched transactions.
func (l *Ledger) Discard(ctx context.Context, objects []blobstore.Info) []error {
	errs, _ := l.discard(ctx, objects, false)
	return errs
}

// PlanDiscard returns the transactions Discard would send now.
func (l *Ledger) PlanDiscard(ctx context.Context, objects []blobstore.Info) ([]Planned, []error) {
	errs, planned := l.discard(ctx, objects, true)
	return planned, errs
}

func (l *Ledger) discard(ctx context.Context, objects []blobstore.Info, dry bool) ([]error, []Planned) {
	var planned []Planned
	errs := make([]error, len(objects))
	if l.sender == nil {
		for i := range errs {
			errs[i] = ErrNoKey
		}
		return errs, nil
	}
	l.mu.Lock()
	state := l.state
	l.mu.Unlock()
	type item struct {
		i   int
		obj BlobObject
	}
	var del, burn []item
	for i, info := range objects {
		o, ok := l.ownedObject(info.ObjectID)
		if !ok {
			errs[i] = fmt.Errorf("%w: object %s is not among the owned Blob objects", blobstore.ErrNotFound, info.ObjectID)
			continue
		}
		if o.Deletable && o.EndEpoch() > state.Epoch {
			del = append(del, item{i, o})
		} else {
			burn = append(burn, item{i, o})
		}
	}
	send := func(items []item, what string, add func(b *Builder, refs []ObjectRef)) {
		for start := 0; start < len(items); start += l.cfg.BatchSize {
			batch := items[start:min(start+l.cfg.BatchSize, len(items))]
			summary := fmt.Sprintf("%s %d blobs", what, len(batch))
			compose := func(ctx context.Context, b *Builder) error {
				refs := make([]ObjectRef, len(batch))
				for j, it := range batch {
					refs[j] = l.sender.Fresh(it.obj.Ref)
				}
				add(b, refs)
				return nil
			}
			if dry {
				tx, err := l.sender.Build(ctx, summary, compose)
				if err != nil {
					for _, it := range batch {
						errs[it.i] = err
					}
					continue
				}
				p := Planned{Tx: tx, Summary: summary, GasBudget: tx.Gas.Budget}
				for _, it := range batch {
					p.Objects = append(p.Objects, it.obj.Ref.ID.String())
				}
				planned = append(planned, p)
				continue
			}
			fx, err := l.sender.Send(ctx, summary, compose)
			if err == nil && !fx.Success {
				err = fx.Failure
			}
			for _, it := range batch {
				errs[it.i] = err
			}
		}
	}
	send(del, "delete", func(b *Builder, refs []ObjectRef) { state.Calls.Delete(b, refs) })
	send(burn, "burn", func(b *Builder, refs []ObjectRef) { state.Calls.Burn(b, refs) })
	return errs, planned
}

// SUI returns the owner's SUI (coins and address balance), in MIST.
func (l *Ledger) SUI(ctx context.Context) (uint64, error) {
	if l.cfg.Owner.IsZero() {
		return 0, nil
	}
	return l.w.c.Balance(ctx, l.cfg.Owner, MustTypeTag("0x2::sui::SUI"))
}

// CoinTotal is what the owner's coin objects of coinType hold (the rest
// of its balance is in its address balance).
func (l *Ledger) CoinTotal(ctx context.Context, coinType TypeTag) (uint64, error) {
	if l.cfg.Owner.IsZero() {
		return 0, nil
	}
	coins, err := l.w.Coins(ctx, l.cfg.Owner, coinType)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, c := range coins {
		total += c.Balance
	}
	return total, nil
}
