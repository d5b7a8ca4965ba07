package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/chainsync/sui"
	"github.com/walrusfs/walrusfs/chainsync/sui/suitest"
	"github.com/walrusfs/walrusfs/index"
)

// The chain rows measure chain sync (package chainsync over chainsync/sui)
// in this process, against the Sui double (chainsync/sui/suitest) served
// over real gRPC on 127.0.0.1: a renewal pass over many blobs, and what
// the follower costs a full node while nothing happens. They need no
// mount, no walrusfs binary and no root.
//
// Each builds the same world: a chain of 10 shards (small encoded
// lengths; Mainnet has 1000), a key funded with WAL and SUI, n certified
// Blob objects of one 8 MiB chunk each owned by the key, and a real index
// in the run directory whose n blob records point at those objects, each
// referenced by a file's chunk and recorded as certified by
// index.RecordChain, as the follower leaves them. The chain keeps no state
// file (it would rewrite the whole chain as JSON on every transaction).

// chainBlobSize is the size of each blob: one chunk of walrusfs's default
// chunk size.
const chainBlobSize = 8 << 20

// chainShards is the double's shard count.
const chainShards = 10

// chainOpts say where and how big a chain row's world is.
type chainOpts struct {
	dir   string // created; removed at the end unless keep
	keep  bool
	blobs int
}

// chainBed is the world of a chain row.
type chainBed struct {
	opts   chainOpts
	setup  time.Duration // how long building it took
	chain  *suitest.Chain
	calls  *suitest.CallCounter
	conn   io.Closer
	ledger *sui.Ledger
	idx    *index.Index
	owner  sui.Address
}

// newChainBed builds the world with blobs whose leases end epochs from
// epoch 0, the double's first epoch.
func newChainBed(ctx context.Context, o chainOpts, epochs uint32) (_ *chainBed, err error) {
	start := time.Now()
	dir, n := o.dir, o.blobs
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &chainBed{opts: o, calls: &suitest.CallCounter{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.close())
		}
	}()
	cfg := suitest.DefaultConfig()
	cfg.NShards = chainShards
	if b.chain, err = suitest.New(cfg); err != nil {
		return b, err
	}
	if err := b.chain.ServeCounting(ctx, b.calls); err != nil {
		return b, err
	}
	conn, err := sui.Dial("http://"+b.chain.Addr(), sui.DefaultDialConfig())
	if err != nil {
		return b, err
	}
	b.conn = conn
	seed := sha256.Sum256([]byte("walrusfs chain bench key"))
	key := sui.NewSigner(seed[:])
	b.owner = key.Address()
	client := sui.NewClient(conn)
	system, _ := b.chain.SystemObject()
	staking, _ := b.chain.StakingObject()
	w := sui.NewWalrus(client, sui.Address(system), sui.Address(staking))
	sender := sui.NewSender(client, key, filepath.Join(dir, "pending.json"), nil)
	b.ledger = sui.NewLedger(w, sender, sui.LedgerConfig{Owner: b.owner, WALType: sui.MustTypeTag(b.chain.WALType())}, nil)

	// Enough WAL to extend every blob by the 53 epochs Walrus allows,
	// and SUI for the gas.
	storage, _ := b.chain.Prices()
	wal := uint64(n)*chainUnits()*storage*53/1e9 + 1
	if err := b.chain.Fund(suitest.Address(b.owner), wal, 1000); err != nil {
		return b, err
	}
	if b.idx, err = index.Open(ctx, dir, index.DefaultConfig(), nil); err != nil {
		return b, err
	}
	for i := range n {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return b, err
			}
		}
		if err := b.addBlob(i, epochs); err != nil {
			return b, fmt.Errorf("blob %d: %w", i, err)
		}
	}
	b.setup = time.Since(start)
	return b, nil
}

// chainUnits is the number of 1 MiB storage units a blob pays for.
func chainUnits() uint64 {
	return (suitest.EncodedLength(chainBlobSize, chainShards) + suitest.BytesPerUnit - 1) / suitest.BytesPerUnit
}

// addBlob creates blob i's certified Blob object, and a file whose one
// chunk is stored in it, the way an upload and the follower leave them.
func (b *chainBed) addBlob(i int, epochs uint32) error {
	id := blobstore.ID(sha256.Sum256(fmt.Appendf(nil, "chain bench blob %d", i)))
	obj, err := b.chain.CreateBlob(suitest.Address(b.owner), id, chainBlobSize, epochs, true, true)
	if err != nil {
		return err
	}
	x := b.idx
	f, err := x.Create(index.RootIno, fmt.Sprintf("f%07d", i), index.NewNode{Mode: syscall.S_IFREG | 0o644, ChunkSize: chainBlobSize, Now: 1})
	if err != nil {
		return err
	}
	ref, err := x.NewStagedChunk(f.Ino, 0)
	if err != nil {
		return err
	}
	sealed, err := x.Seal([]index.Sealing{{Ino: f.Ino, N: 0, StagingID: ref.StagingID, Size: chainBlobSize}}, 1)
	if err != nil {
		return err
	}
	if len(sealed) != 1 {
		return fmt.Errorf("sealed %d chunks, want 1", len(sealed))
	}
	ups, err := x.Uploads(0, 1)
	if err != nil {
		return err
	}
	if len(ups) != 1 || ups[0].Ino != f.Ino {
		return fmt.Errorf("upload queue holds %v, want the chunk of inode %d", ups, f.Ino)
	}
	enc := suitest.EncodedLength(chainBlobSize, chainShards)
	rec := index.Blob{ID: id, Kind: index.BlobStandalone, State: index.BlobStored, Deletable: true,
		Size: chainBlobSize, EncodedSize: enc, EndEpoch: epochs, ObjectID: sui.Address(obj).String()}
	stored := index.StoredChunk{Length: chainBlobSize, PlainLen: chainBlobSize, BlockSize: 1 << 20, BlockHashes: make([][32]byte, chainBlobSize>>20)}
	if _, err := x.CompleteUploads(rec, []index.UploadResult{{Upload: ups[0], Stored: stored}}); err != nil {
		return err
	}
	ok, err := x.RecordChain(id, index.ChainRecord{ObjectID: rec.ObjectID, Certified: true, EndEpoch: epochs, Deletable: true})
	if err == nil && !ok {
		err = errors.New("RecordChain found no record")
	}
	return err
}

// close stops the double and closes the index, and removes the directory
// unless it is to be kept.
func (b *chainBed) close() error {
	var errs []error
	if b.conn != nil {
		errs = append(errs, b.conn.Close())
	}
	if b.chain != nil {
		b.chain.Close()
	}
	if b.idx != nil {
		errs = append(errs, b.idx.Close())
	}
	if !b.opts.keep {
		errs = append(errs, os.RemoveAll(b.opts.dir))
	}
	return errors.Join(errs...)
}

// callDiff is what after counted beyond before, method by method.
func callDiff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for m, n := range after {
		if d := n - before[m]; d > 0 {
			out[m] = d
		}
	}
	return out
}

func callTotal(calls map[string]int) int {
	total := 0
	for _, n := range calls {
		total += n
	}
	return total
}

// callSummary lists calls by method, short names, most first.
func callSummary(calls map[string]int) string {
	methods := slices.Collect(maps.Keys(calls))
	slices.SortFunc(methods, func(a, b string) int {
		if calls[a] != calls[b] {
			return calls[b] - calls[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(methods))
	for i, m := range methods {
		parts[i] = fmt.Sprintf("%d %s", calls[m], m[strings.LastIndexByte(m, '/')+1:])
	}
	return strings.Join(parts, ", ")
}

// Method names as the double counts them.
const (
	rpcExecute   = "/sui.rpc.v2.TransactionExecutionService/ExecuteTransaction"
	rpcBatchGet  = "/sui.rpc.v2.LedgerService/BatchGetObjects"
	rpcListOwned = "/sui.rpc.v2.StateService/ListOwnedObjects"
	rpcBalance   = "/sui.rpc.v2.StateService/GetBalance"
)

// renewResult is what one renewal pass did and cost.
type renewResult struct {
	setup   time.Duration
	elapsed time.Duration
	pass    chainsync.Pass
	epochs  uint32 // how far each lease was extended
	price   uint64 // the storage price, FROST per unit and epoch
	calls   map[string]int
	gasMIST int64  // SUI spent on gas
	wal     uint64 // WAL paid, FROST
}

// chainRenewEpochs is the lease the renewal row's blobs start with.
const chainRenewEpochs = 5

// chainRenew times one chainsync.Renewer pass, with the default
// configuration, over n blobs that are all due: created ending 5 epochs
// ahead, with the chain then moved 3 epochs on, so each ends within
// MinEpochsAhead (2) epochs. Every blob must be extended, on chain and in
// the index, at Walrus's price.
func chainRenew(ctx context.Context, o chainOpts) (res renewResult, err error) {
	const advance = 3
	n := o.blobs
	b, err := newChainBed(ctx, o, chainRenewEpochs)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, b.close()) }()
	res.setup = b.setup
	if err := b.chain.AdvanceEpoch(advance); err != nil {
		return res, err
	}
	cfg := chainsync.DefaultConfig()
	r, err := chainsync.NewRenewer(b.ledger, b.idx, cfg, nil)
	if err != nil {
		return res, err
	}
	walBefore, suiBefore, err := b.balances(ctx)
	if err != nil {
		return res, err
	}
	callsBefore := b.calls.Calls()

	start := time.Now()
	res.pass, err = r.RenewOnce(ctx)
	res.elapsed = time.Since(start)

	if err != nil {
		return res, fmt.Errorf("renewal pass: %w", err)
	}
	res.calls = callDiff(callsBefore, b.calls.Calls())
	walAfter, suiAfter, err := b.balances(ctx)
	if err != nil {
		return res, err
	}
	res.wal = walBefore - walAfter
	res.gasMIST = int64(suiBefore) - int64(suiAfter)

	p := res.pass
	if p.Extended != n || p.Failed != 0 || p.Expired != 0 {
		return res, fmt.Errorf("the pass extended %d of %d blobs (%d failed, %d expired)", p.Extended, n, p.Failed, p.Expired)
	}
	now := uint32(advance)
	want := now + cfg.TargetEpochsAhead
	onChain := b.chain.BlobObjects(suitest.Address(b.owner))
	if len(onChain) != n {
		return res, fmt.Errorf("%d Blob objects on chain, want %d", len(onChain), n)
	}
	for _, o := range onChain {
		if o.Storage.EndEpoch != want {
			return res, fmt.Errorf("blob %x ends at epoch %d on chain, want %d", o.BlobID[:4], o.Storage.EndEpoch, want)
		}
	}
	recs, err := b.idx.Blobs()
	if err != nil {
		return res, err
	}
	for _, rec := range recs {
		if rec.EndEpoch != want {
			return res, fmt.Errorf("the index says blob %x ends at epoch %d, want %d", rec.ID[:4], rec.EndEpoch, want)
		}
	}
	res.epochs = want - chainRenewEpochs
	res.price, _ = b.chain.Prices()
	if price := uint64(n) * chainUnits() * res.price * uint64(res.epochs); res.wal != price {
		return res, fmt.Errorf("paid %s WAL, Walrus's price is %s", sui.FormatWAL(res.wal), sui.FormatWAL(price))
	}
	return res, nil
}

// balances returns the owner's WAL (FROST) and SUI (MIST).
func (b *chainBed) balances(ctx context.Context) (wal, mist uint64, err error) {
	if wal, err = b.ledger.WAL(ctx); err != nil {
		return 0, 0, err
	}
	mist, err = b.ledger.SUI(ctx)
	return wal, mist, err
}

// followResult is what the follower cost the full node.
type followResult struct {
	setup   time.Duration
	cfg     chainsync.FollowConfig // the scaled configuration it ran with
	speedup int
	polls   int            // poll intervals in the measured window
	steady  map[string]int // calls over the window
	perHour float64        // steady calls per hour of DefaultFollowConfig
	// cpuPerHour is this process's CPU time (the follower, and the double
	// answering it) over the window, per hour of DefaultFollowConfig.
	cpuPerHour time.Duration
	epoch      map[string]int // calls from an epoch change until it was reconciled
	reconcile  time.Duration  // a full reconciliation's wall time, alone
}

// chainFollowIdle runs a chainsync.Follower over n certified, recorded
// blobs, with DefaultFollowConfig's intervals divided by speedup, and
// counts the RPCs the double receives over polls poll intervals in steady
// state (after the first, full, reconciliation); scaled to an hour of the
// default intervals, that is the figure. The window starts half an
// interval after a poll, so it holds exactly polls polls. Then it moves
// the chain one epoch on and counts the calls until the follower has
// reconciled every blob in the new epoch.
func chainFollowIdle(ctx context.Context, o chainOpts, speedup, polls int) (res followResult, err error) {
	b, err := newChainBed(ctx, o, 50)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, b.close()) }()
	res.setup = b.setup

	cfg := chainsync.DefaultFollowConfig()
	cfg.Interval /= time.Duration(speedup)
	cfg.ConfirmInterval /= time.Duration(speedup)
	res.cfg, res.speedup, res.polls = cfg, speedup, polls
	f := chainsync.NewFollower(b.ledger, b.idx, cfg, nil, nil)
	epochSeen := make(chan time.Time, 1)
	f.OnEpoch = func(uint32) {
		select {
		case epochSeen <- f.Status().Polled:
		default:
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(runCtx)
	}()
	defer func() {
		stop()
		<-done
	}()

	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	// polled waits until a poll that ended after t has ended, and
	// returns its end.
	polled := func(t time.Time) (time.Time, error) {
		deadline := time.Now().Add(time.Minute)
		for {
			if st := f.Status(); st.Polled.After(t) {
				return st.Polled, nil
			}
			if time.Now().After(deadline) {
				return time.Time{}, errors.New("no poll ended within a minute")
			}
			if err := sleep(time.Millisecond); err != nil {
				return time.Time{}, err
			}
		}
	}
	first, err := polled(time.Time{})
	if err != nil {
		return res, fmt.Errorf("the first reconciliation: %w", err)
	}
	if st := f.Status(); st.Certified != 0 || st.Pending != 0 || st.Orphans != 0 || st.Expired != 0 || st.EndingSoon != 0 {
		return res, fmt.Errorf("the follower found work in an idle world: %+v", st)
	}
	if _, err := polled(first); err != nil {
		return res, err
	}
	if err := sleep(cfg.Interval / 2); err != nil {
		return res, err
	}

	before, cpu0 := b.calls.Calls(), processCPU()
	if err := sleep(time.Duration(polls) * cfg.Interval); err != nil {
		return res, err
	}
	res.steady = callDiff(before, b.calls.Calls())
	simulated := time.Duration(polls) * chainsync.DefaultFollowConfig().Interval
	res.perHour = float64(callTotal(res.steady)) * float64(time.Hour) / float64(simulated)
	res.cpuPerHour = time.Duration(float64(processCPU()-cpu0) * float64(time.Hour) / float64(simulated))
	if res.steady[rpcListOwned] > 0 {
		return res, fmt.Errorf("idle polls list the owned objects: %s", callSummary(res.steady))
	}

	before = b.calls.Calls()
	if err := b.chain.AdvanceEpoch(1); err != nil {
		return res, err
	}
	var seen time.Time
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case seen = <-epochSeen:
	case <-time.After(time.Minute):
		return res, errors.New("the follower did not see the epoch change within a minute")
	}
	// The poll after the one that saw the change reconciles every blob.
	if _, err := polled(seen); err != nil {
		return res, fmt.Errorf("reconciling after the epoch change: %w", err)
	}
	res.epoch = callDiff(before, b.calls.Calls())
	if st := f.Status(); st.Clock.Epoch != 1 || st.LastErr != nil {
		return res, fmt.Errorf("after the epoch change the follower is at epoch %d (%w)", st.Clock.Epoch, st.LastErr)
	}
	// One BatchGetObjects reads the clock; the reconciliation reads the
	// blobs' objects with more, and lists the owned ones.
	if res.epoch[rpcBatchGet] < 2 || res.epoch[rpcListOwned] < 1 {
		return res, fmt.Errorf("no full reconciliation after the epoch change: %s", callSummary(res.epoch))
	}

	// Its time, measured alone: the same full poll again, with the
	// follower stopped.
	stop()
	<-done
	start := time.Now()
	if _, err := f.Poll(ctx, true); err != nil {
		return res, err
	}
	res.reconcile = time.Since(start)
	return res, nil
}

// processCPU is this process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Rows.

// idleCallsPerHour is the most the follower may cost a full node in an
// hour while nothing happens, whatever the number of blobs: four calls a
// minute. Its design does two per poll (the clock and the WAL balance),
// once a minute; a follower that read every blob while idle would cost
// 200 calls a poll for 10,000 blobs.
const idleCallsPerHour = 240

// The follower row runs DefaultFollowConfig's intervals followSpeedup
// times faster and counts over followPolls polls (config.followSpeedup and
// config.followPolls, when set, take their place).
const (
	followSpeedup = 60
	followPolls   = 10
)

func chainRenewRow(ctx context.Context, s *side) (float64, string, error) {
	return chargeProcess(s, func() (float64, string, error) {
		res, err := chainRenew(ctx, chainOpts{dir: filepath.Join(s.env.dir, "chain-renew"), keep: s.cfg.keep, blobs: s.cfg.chainBlobs})
		if err != nil {
			return 0, "", err
		}
		s.env.logf("chain-renew: %d blobs set up in %.1f s", s.cfg.chainBlobs, res.setup.Seconds())
		return res.elapsed.Seconds(), res.note(s.cfg.chainBlobs), nil
	})
}

func (r renewResult) note(n int) string {
	return fmt.Sprintf("%d transactions, %d RPCs (%s); gas %s SUI (the double's gas schedule, not Sui's); "+
		"%s WAL paid, Walrus's price (%d storage units × %d epochs × %d FROST per blob, blobs of %s at %d shards); extended %d of %d",
		r.calls[rpcExecute], callTotal(r.calls), callSummary(r.calls), formatMIST(r.gasMIST),
		sui.FormatWAL(r.wal), chainUnits(), r.epochs, r.price, sizeString(chainBlobSize), chainShards, r.pass.Extended, n)
}

// formatMIST writes MIST as SUI with two decimals.
func formatMIST(mist int64) string { return fmt.Sprintf("%.2f", float64(mist)/1e9) }

func chainFollowIdleRow(ctx context.Context, s *side) (float64, string, error) {
	return chargeProcess(s, func() (float64, string, error) {
		o := chainOpts{dir: filepath.Join(s.env.dir, "chain-follow"), keep: s.cfg.keep, blobs: s.cfg.chainBlobs}
		res, err := chainFollowIdle(ctx, o, cmp.Or(s.cfg.followSpeedup, followSpeedup), cmp.Or(s.cfg.followPolls, followPolls))
		if err != nil {
			return 0, "", err
		}
		s.env.logf("chain-follow-idle: %d blobs set up in %.1f s", s.cfg.chainBlobs, res.setup.Seconds())
		return res.perHour, res.note(s.cfg.chainBlobs), nil
	})
}

func (r followResult) note(n int) string {
	def := chainsync.DefaultFollowConfig()
	return fmt.Sprintf("DefaultFollowConfig run %d× faster (a poll every %v, a look for uploads every %v), "+
		"counted over %d polls (%.0f min at the default interval) and scaled to an hour: %s; "+
		"an epoch change costs %d calls (%s): the poll that sees it, then a full reconciliation of %d blobs (%.2f s when timed alone); "+
		"this process (follower and double) used %.1f s of CPU per hour",
		r.speedup, r.cfg.Interval, r.cfg.ConfirmInterval.Round(time.Millisecond),
		r.polls, (time.Duration(r.polls) * def.Interval).Minutes(), callSummary(r.steady),
		callTotal(r.epoch), callSummary(r.epoch), n, r.reconcile.Seconds(), r.cpuPerHour.Seconds())
}

// chargeProcess runs a row that works in this process and charges what the
// process used meanwhile to the measurement, in place of a daemon's
// figures: CPU time, and the peak resident size (Linux resets the
// high-water mark on a write of 5 to clear_refs; where it cannot, the
// peak is the process's over its life).
func chargeProcess(s *side, fn func() (float64, string, error)) (float64, string, error) {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	cpu0 := processCPU()
	v, note, err := fn()
	u := usage{cpu: processCPU() - cpu0}
	if m, err := readProcMem(os.Getpid()); err == nil {
		u.peak = max(m.Peak, m.RSS)
	}
	s.own = &u
	return v, note, err
}
