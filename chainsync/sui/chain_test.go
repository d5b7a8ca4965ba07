package sui_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/chainsync/sui"
	"github.com/walrusfs/walrusfs/chainsync/sui/suitest"
	"google.golang.org/grpc/codes"
)

// testbed is the Sui double on 127.0.0.1 and a client of it with a
// funded key.
type testbed struct {
	t      *testing.T
	chain  *suitest.Chain
	client *sui.Client
	key    *sui.Signer
	walrus *sui.Walrus
	sender *sui.Sender
	ledger *sui.Ledger
	wal    sui.TypeTag
	dir    string
}

func newTestbed(t *testing.T, cfg sui.LedgerConfig) *testbed {
	t.Helper()
	ccfg := suitest.DefaultConfig()
	ccfg.NShards = 10
	chain, err := suitest.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Serve(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chain.Close)
	conn, err := sui.Dial("http://"+chain.Addr(), sui.DefaultDialConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	seed := sha256.Sum256([]byte("walrusfs chain test key"))
	tb := &testbed{t: t, chain: chain, client: sui.NewClient(conn), key: sui.NewSigner(seed[:]), dir: t.TempDir()}
	tb.wal = sui.MustTypeTag(chain.WALType())
	system, _ := chain.SystemObject()
	staking, _ := chain.StakingObject()
	tb.walrus = sui.NewWalrus(tb.client, sui.Address(system), sui.Address(staking))
	tb.sender = sui.NewSender(tb.client, tb.key, filepath.Join(tb.dir, "pending.json"), nil)
	cfg.Owner, cfg.WALType = tb.key.Address(), tb.wal
	tb.ledger = sui.NewLedger(tb.walrus, tb.sender, cfg, nil)
	return tb
}

func (tb *testbed) fund(wal, sui uint64) {
	if err := tb.chain.Fund(suitest.Address(tb.key.Address()), wal, sui); err != nil {
		tb.t.Fatal(err)
	}
}

// blob creates a certified Blob object owned by the key's address.
func (tb *testbed) blob(name string, size uint64, epochs uint32, deletable bool) (blobstore.ID, sui.Address) {
	id := blobstore.ID(sha256.Sum256([]byte(name)))
	obj, err := tb.chain.CreateBlob(suitest.Address(tb.key.Address()), id, size, epochs, deletable, true)
	if err != nil {
		tb.t.Fatal(err)
	}
	return id, sui.Address(obj)
}

func (tb *testbed) blobObject(id sui.Address) *sui.BlobObject {
	objs, err := tb.walrus.Blobs(tb.t.Context(), []sui.Address{id})
	if err != nil {
		tb.t.Fatal(err)
	}
	return objs[0]
}

func (tb *testbed) walBalance() uint64 {
	b, err := tb.client.Balance(tb.t.Context(), tb.key.Address(), tb.wal)
	if err != nil {
		tb.t.Fatal(err)
	}
	return b
}

func TestStateReadsTheDouble(t *testing.T) {
	tb := newTestbed(t, sui.LedgerConfig{})
	if err := tb.chain.AdvanceEpoch(3); err != nil {
		t.Fatal(err)
	}
	s, err := tb.walrus.State(t.Context(), tb.wal)
	if err != nil {
		t.Fatal(err)
	}
	storage, write := tb.chain.Prices()
	if s.Epoch != tb.chain.Epoch() || s.NShards != 10 || s.StoragePrice != storage || s.WritePrice != write {
		t.Fatalf("state %+v; chain epoch %d, prices %d/%d", s, tb.chain.Epoch(), storage, write)
	}
	if s.Calls.Package != sui.Address(tb.chain.WalrusPackage()) || s.TypePackage != sui.Address(tb.chain.WalrusTypePackage()) {
		t.Fatalf("packages %s / %s", s.Calls.Package, s.TypePackage)
	}
	if next := s.EpochTime(s.Epoch + 1); !next.After(s.EpochStart) || next.Sub(s.EpochStart) != s.EpochDuration {
		t.Fatalf("epoch dates: start %v, next %v, length %v", s.EpochStart, next, s.EpochDuration)
	}
	info, err := tb.client.ServiceInfo(t.Context())
	if err != nil || info.ChainID != sui.Digest(tb.chain.ChainID()) {
		t.Fatalf("service info %+v, %v", info, err)
	}
}

// TestRenewalOnChain: due blobs are extended in batched transactions paid
// from WAL coins, the chain shows the new ends, the price charged is what
// Walrus charges, and the remainder of the capped payment comes back.
func TestRenewalOnChain(t *testing.T) {
	tb := newTestbed(t, sui.LedgerConfig{BatchSize: 2})
	tb.fund(100, 10)
	var due []chainsync.Due
	var objs []sui.Address
	for i := range 5 {
		id, obj := tb.blob(fmt.Sprint("renew ", i), 3<<20, 3, true)
		due = append(due, chainsync.Due{ID: id, EndEpoch: tb.chain.Epoch() + 3, Epochs: 7})
		objs = append(objs, obj)
	}
	ctx := t.Context()
	now, err := tb.ledger.CurrentEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.ledger.StartPass(ctx); err != nil {
		t.Fatal(err)
	}
	before := tb.walBalance()
	res, err := tb.ledger.ExtendBatch(ctx, due)
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	storagePrice, _ := tb.chain.Prices()
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("blob %d: %v", i, r.Err)
		}
		o := tb.blobObject(objs[i])
		if o.EndEpoch() != now+10 || r.Info.EndEpoch != now+10 {
			t.Fatalf("blob %d ends at %d (reported %d), want %d", i, o.EndEpoch(), r.Info.EndEpoch, now+10)
		}
		want += (o.Storage.StorageSize + 1<<20 - 1) >> 20 * storagePrice * 7
	}
	if paid := before - tb.walBalance(); paid != want {
		t.Fatalf("paid %d FROST, want %d", paid, want)
	}
}

// TestRenewalRespectsTheCap: a pass that would exceed --max-wal-per-epoch
// sends nothing and says how much it needed.
func TestRenewalRespectsTheCap(t *testing.T) {
	tb := newTestbed(t, sui.LedgerConfig{MaxWALPerEpoch: 1000, SpendFile: filepath.Join(t.TempDir(), "spend.json")})
	tb.fund(100, 10)
	id, obj := tb.blob("capped", 3<<20, 3, true)
	ctx := t.Context()
	if _, err := tb.ledger.CurrentEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.ledger.StartPass(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := tb.ledger.ExtendBatch(ctx, []chainsync.Due{{ID: id, EndEpoch: tb.chain.Epoch() + 3, Epochs: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, sui.ErrSpendCap) {
		t.Fatalf("over the cap: %v", res[0].Err)
	}
	if o := tb.blobObject(obj); o.EndEpoch() != tb.chain.Epoch()+3 {
		t.Fatalf("extended past the cap: ends at %d", o.EndEpoch())
	}
}

// TestSenderRetriesUnavailable: a burst of UNAVAILABLE answers is
// retried, and the transaction is paid once.
func TestSenderRetriesUnavailable(t *testing.T) {
	tb := newTestbed(t, sui.LedgerConfig{})
	tb.fund(100, 10)
	_, obj := tb.blob("flaky", 1<<20, 3, true)
	ctx := t.Context()
	s, err := tb.walrus.State(ctx, tb.wal)
	if err != nil {
		t.Fatal(err)
	}
	before := tb.walBalance()
	coins := tb.walCoins(ctx)
	ref := tb.blobObject(obj).Ref
	tb.chain.FailNext(codes.Unavailable, 4)
	fx, err := tb.sender.Send(ctx, "extend", func(ctx context.Context, b *sui.Builder) error {
		s.Calls.Extend(b, tb.key.Address(), sui.WALSource{Coins: coins}, 1e9, []sui.Extension{{Blob: tb.sender.Fresh(ref), Epochs: 2}})
		return nil
	})
	if err != nil || !fx.Success {
		t.Fatalf("send: %+v, %v", fx, err)
	}
	if o := tb.blobObject(obj); o.EndEpoch() != s.Epoch+5 {
		t.Fatalf("ends at %d, want %d (extended once)", o.EndEpoch(), s.Epoch+5)
	}
	storage, _ := tb.chain.Prices()
	if paid := before - tb.walBalance(); paid != (tb.blobObject(obj).Storage.StorageSize+1<<20-1)>>20*storage*2 {
		t.Fatalf("paid %d", paid)
	}
}

func (tb *testbed) walCoins(ctx context.Context) []sui.ObjectRef {
	coins, err := tb.walrus.Coins(ctx, tb.key.Address(), tb.wal)
	if err != nil {
		tb.t.Fatal(err)
	}
	var refs []sui.ObjectRef
	for _, c := range coins {
		refs = append(refs, tb.sender.Fresh(c.Ref))
	}
	return refs
}

// TestDiscardDeletesAndBurns: deletable unexpired blobs are deleted,
// permanent ones burned; their objects are gone afterwards.
func TestDiscardDeletesAndBurns(t *testing.T) {
	tb := newTestbed(t, sui.LedgerConfig{})
	tb.fund(10, 10)
	_, del := tb.blob("deletable", 1<<20, 5, true)
	_, perm := tb.blob("permanent", 1<<20, 5, false)
	ctx := t.Context()
	if _, err := tb.ledger.CurrentEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.ledger.StartPass(ctx); err != nil {
		t.Fatal(err)
	}
	owned := tb.ledger.Owned()
	if len(owned) != 2 {
		t.Fatalf("%d owned objects, want 2", len(owned))
	}
	for i, err := range tb.ledger.Discard(ctx, owned) {
		if err != nil {
			t.Fatalf("discard %s: %v", owned[i].ObjectID, err)
		}
	}
	for _, obj := range []sui.Address{del, perm} {
		if o := tb.blobObject(obj); o != nil {
			t.Fatalf("object %s still exists", obj)
		}
	}
	if _, live := tb.chain.BlobLive(sha256.Sum256([]byte("deletable"))); live {
		t.Fatal("a deleted blob is still live")
	}
	if _, live := tb.chain.BlobLive(sha256.Sum256([]byte("permanent"))); !live {
		t.Fatal("a burned blob's data went before its lease ended")
	}
}

// TestSenderLostReplies: the node executes but its replies are lost; the
// sender learns the outcome (by digest or by sending the same bytes
// again) and the extension is paid once.
func TestSenderLostReplies(t *testing.T) {
	tb := newTestbed(t, sui.LedgerConfig{})
	tb.fund(100, 10)
	_, obj := tb.blob("lost reply", 1<<20, 3, true)
	ctx := t.Context()
	s, err := tb.walrus.State(ctx, tb.wal)
	if err != nil {
		t.Fatal(err)
	}
	before := tb.walBalance()
	coins := tb.walCoins(ctx)
	ref := tb.blobObject(obj).Ref
	tb.chain.FailAfterExecute(codes.Unavailable, 7)
	fx, err := tb.sender.Send(ctx, "extend", func(ctx context.Context, b *sui.Builder) error {
		s.Calls.Extend(b, tb.key.Address(), sui.WALSource{Coins: coins}, 1e9, []sui.Extension{{Blob: ref, Epochs: 4}})
		return nil
	})
	if err != nil || !fx.Success {
		t.Fatalf("send: %+v, %v", fx, err)
	}
	o := tb.blobObject(obj)
	if o.EndEpoch() != s.Epoch+7 {
		t.Fatalf("ends at %d, want %d", o.EndEpoch(), s.Epoch+7)
	}
	storage, _ := tb.chain.Prices()
	if paid := before - tb.walBalance(); paid != (o.Storage.StorageSize+1<<20-1)>>20*storage*4 {
		t.Fatalf("paid %d FROST: more than one extension", paid)
	}
	// The sender learned the new versions: a second extension builds on
	// them without reading the chain.
	fx, err = tb.sender.Send(ctx, "extend again", func(ctx context.Context, b *sui.Builder) error {
		var fresh []sui.ObjectRef
		for _, c := range coins {
			fresh = append(fresh, tb.sender.Fresh(c))
		}
		s.Calls.Extend(b, tb.key.Address(), sui.WALSource{Coins: fresh}, 1e9, []sui.Extension{{Blob: tb.sender.Fresh(ref), Epochs: 1}})
		return nil
	})
	if err != nil || !fx.Success {
		t.Fatalf("second send: %+v, %v", fx, err)
	}
}
