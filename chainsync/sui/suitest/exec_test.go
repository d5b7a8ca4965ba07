package suitest

import (
	"strings"
	"testing"

	pb "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestAborts submits, for every abort walrusfs can meet (CHAIN.md §3), a
// signed transaction that triggers it, and checks the module and code the
// effects report.
func TestAborts(t *testing.T) {
	const size = 1000
	cases := []struct {
		name   string
		module string
		code   uint64
		build  func(e *env) *txb
	}{
		{"extend_blob of an uncertified blob", "blob", blobENotCertified, func(e *env) *txb {
			obj, _ := e.register(size, 3, false)
			return e.extendTx(obj, 1)
		}},
		{"delete_blob of a permanent blob", "blob", blobENotDeletable, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			e.certify(obj, id, false)
			return e.deleteTx(obj)
		}},
		{"extend_blob of an expired blob", "blob", blobEResourceBounds, func(e *env) *txb {
			obj, id := e.register(size, 1, false)
			e.certify(obj, id, false)
			e.advance(1)
			return e.extendTx(obj, 1)
		}},
		{"register_blob in a storage too small", "blob", blobEResourceSize, func(e *env) *txb {
			root := e.newRoot()
			b := e.build()
			sys, wal := b.system(true), b.obj(e.wal)
			st := b.walrus("system", "reserve_space", sys, b.u64(EncodedLength(size, e.c.NShards())-1), b.u32(2), wal)
			blob := b.walrus("system", "register_blob", sys, st, b.u256(DeriveBlobID(root, 1, size)), b.u256(root), b.u64(size), b.u8(1), b.boolean(false), wal)
			b.transfer(e.addr, blob)
			return b
		}},
		{"certify_blob of a certified blob", "blob", blobEAlreadyCertified, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			e.certify(obj, id, false)
			return e.certTx(obj, id, nil, []int{0, 1, 2, 3})
		}},
		{"register_blob with a blob ID the root hash does not derive", "blob", blobEInvalidBlobID, func(e *env) *txb {
			root := e.newRoot()
			b := e.build()
			sys, wal := b.system(true), b.obj(e.wal)
			st := b.walrus("system", "reserve_space", sys, b.u64(EncodedLength(size, e.c.NShards())), b.u32(2), wal)
			blob := b.walrus("system", "register_blob", sys, st, b.u256(DeriveBlobID(root, 1, size+1)), b.u256(root), b.u64(size), b.u8(1), b.boolean(false), wal)
			b.transfer(e.addr, blob)
			return b
		}},
		{"certify_blob of a permanent blob with a deletable certificate", "blob", blobEInvalidPersistence, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			return e.certTx(obj, id, &obj, []int{0, 1, 2, 3})
		}},
		{"certify_blob of a deletable blob naming another object", "blob", blobEInvalidBlobObject, func(e *env) *txb {
			obj, id := e.register(size, 3, true)
			other := e.gas
			return e.certTx(obj, id, &other, []int{0, 1, 2, 3})
		}},
		{"reserve_space beyond the capacity", "system_state_inner", ssiEStorageExceeded, func(e *env) *txb {
			if err := e.c.SetCapacity(EncodedLength(size, e.c.NShards())); err != nil {
				e.t.Fatal(err)
			}
			return e.reserveTx(EncodedLength(size, e.c.NShards())+1, 1)
		}},
		{"reserve_space for 0 epochs", "system_state_inner", ssiEInvalidEpochsAhead, func(e *env) *txb {
			return e.reserveTx(1<<20, 0)
		}},
		{"reserve_space past the maximum epochs ahead", "system_state_inner", ssiEInvalidEpochsAhead, func(e *env) *txb {
			return e.reserveTx(1<<20, 54)
		}},
		{"extend_blob past the maximum epochs ahead", "system_state_inner", ssiEInvalidEpochsAhead, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			e.certify(obj, id, false)
			return e.extendTx(obj, 51)
		}},
		{"extend_blob beyond the capacity", "system_state_inner", ssiEStorageExceeded, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			e.certify(obj, id, false)
			// The blob's own epochs fit; the two new ones do not.
			if err := e.c.SetCapacity(EncodedLength(size, e.c.NShards()) - 1); err != nil {
				e.t.Fatal(err)
			}
			return e.extendTx(obj, 2)
		}},
		// CHAIN.md §3 lists system_state_inner 3 for a message epoch that
		// is not the current one. In the Move code messages::new_certified_message
		// checks the epoch against the committee's first (messages 1), and the
		// committee epoch is the system epoch, so system_state_inner 3 is
		// unreachable from certify_blob.
		{"certify_blob with a message of another epoch", "messages", msgEIncorrectEpoch, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			e.advance(1)
			sig, bitmap, msg, err := e.c.CertificateFor(ConfirmationMessage(0, id, nil), []int{0, 1, 2, 3}, 4)
			if err != nil {
				e.t.Fatal(err)
			}
			return e.certifyTx(obj, sig, bitmap, msg)
		}},
		{"certify_blob with a bitmap longer than the committee needs", "bls_aggregate", blsEInvalidBitmap, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			sig, bitmap, msg, err := e.c.Certificate(id, nil, []int{0, 1, 2, 3})
			if err != nil {
				e.t.Fatal(err)
			}
			return e.certifyTx(obj, sig, append(bitmap, 0), msg)
		}},
		{"certify_blob with a bit set past the last member", "bls_aggregate", blsEInvalidBitmap, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			sig, bitmap, msg, err := e.c.Certificate(id, nil, []int{0, 1, 2, 3})
			if err != nil {
				e.t.Fatal(err)
			}
			bitmap[0] |= 1 << 5
			return e.certifyTx(obj, sig, bitmap, msg)
		}},
		{"certify_blob with a signature over another message", "bls_aggregate", blsESigVerification, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			sig, bitmap, _, err := e.c.Certificate(id, nil, []int{0, 1, 2, 3})
			if err != nil {
				e.t.Fatal(err)
			}
			other := id
			other[0] ^= 1
			return e.certifyTx(obj, sig, bitmap, ConfirmationMessage(0, other, nil))
		}},
		{"certify_blob signed by less than a quorum of shards", "bls_aggregate", blsENotEnoughStake, func(e *env) *txb {
			obj, id := e.register(size, 3, false)
			return e.certTx(obj, id, nil, []int{0, 1}) // 3 + 3 of 10 shards
		}},
		{"reserve_space paid by a coin too small (balance::split)", "balance", balanceENotEnough, func(e *env) *txb {
			b := e.build()
			small := b.split(b.obj(e.wal), b.u64(1))
			sys := b.system(true)
			st := b.walrus("system", "reserve_space", sys, b.u64(1<<20), b.u32(1), small)
			b.transfer(e.addr, st, small)
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig()).fund()
			tx, err := tc.build(e).run()
			if err != nil {
				t.Fatalf("rejected instead of executed: %v", err)
			}
			st := tx.GetEffects().GetStatus()
			if st.GetSuccess() {
				t.Fatal("succeeded, want an abort")
			}
			xe := st.GetError()
			ab := xe.GetAbort()
			if xe.GetKind() != pb.ExecutionError_MOVE_ABORT || ab == nil {
				t.Fatalf("error %v (%s), want a Move abort", xe.GetKind(), xe.GetDescription())
			}
			if ab.GetLocation().GetModule() != tc.module || ab.GetAbortCode() != tc.code {
				t.Fatalf("abort %s %d (%s), want %s %d", ab.GetLocation().GetModule(), ab.GetAbortCode(), xe.GetDescription(), tc.module, tc.code)
			}
			wantPkg := e.c.WalrusTypePackage().String()
			if tc.module == "balance" {
				wantPkg = addrTwo.String()
			}
			if ab.GetLocation().GetPackage() != wantPkg {
				t.Fatalf("abort package %s, want %s", ab.GetLocation().GetPackage(), wantPkg)
			}
		})
	}
}

func (e *env) advance(n int) {
	e.t.Helper()
	if err := e.c.AdvanceEpoch(n); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) extendTx(obj Address, epochs uint32) *txb {
	b := e.build()
	b.walrus("system", "extend_blob", b.system(true), b.obj(obj), b.u32(epochs), b.obj(e.wal))
	return b
}

func (e *env) deleteTx(obj Address) *txb {
	b := e.build()
	st := b.walrus("system", "delete_blob", b.system(false), b.obj(obj))
	b.walrus("storage_resource", "destroy", st)
	return b
}

func (e *env) reserveTx(bytes uint64, epochs uint32) *txb {
	b := e.build()
	st := b.walrus("system", "reserve_space", b.system(true), b.u64(bytes), b.u32(epochs), b.obj(e.wal))
	b.transfer(e.addr, st)
	return b
}

func (e *env) certTx(obj Address, blobID [32]byte, del *Address, signers []int) *txb {
	e.t.Helper()
	sig, bitmap, msg, err := e.c.Certificate(blobID, del, signers)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.certifyTx(obj, sig, bitmap, msg)
}

// TestBlobLifecycle registers, certifies, extends and deletes a blob over
// gRPC and checks costs, events and liveness at each step.
func TestBlobLifecycle(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	const size = 5000
	enc := EncodedLength(size, e.c.NShards())
	units := storageUnits(enc)
	sp, wp := e.c.Prices()
	walBefore := e.coin(e.wal)
	obj, id := e.register(size, 3, true)
	if got, want := walBefore-e.coin(e.wal), units*sp*3+units*wp; got != want {
		t.Fatalf("register cost %d FROST, want %d (units %d)", got, want, units)
	}
	if _, live := e.c.BlobLive(id); live {
		t.Fatal("live before certification")
	}
	e.certify(obj, id, true)
	if end, live := e.c.BlobLive(id); !live || end != 3 {
		t.Fatalf("BlobLive = %d, %t after certification, want 3, true", end, live)
	}
	walBefore = e.coin(e.wal)
	tx := e.extendTx(obj, 4).ok()
	if got, want := walBefore-e.coin(e.wal), units*sp*4; got != want {
		t.Fatalf("extend cost %d, want %d", got, want)
	}
	evs := tx.GetEvents().GetEvents()
	if len(evs) != 1 || !strings.HasSuffix(evs[0].GetEventType(), "::events::BlobCertified") {
		t.Fatalf("extend events %v", evs)
	}
	want := BlobCertified{Epoch: 0, BlobID: id, EndEpoch: 7, Deletable: true, ObjectID: obj, IsExtension: true}.BCS()
	if string(evs[0].GetContents().GetValue()) != string(want) {
		t.Fatalf("BlobCertified event %x, want %x", evs[0].GetContents().GetValue(), want)
	}
	tx = e.deleteTx(obj).ok()
	if _, live := e.c.BlobLive(id); live {
		t.Fatal("live after delete")
	}
	evs = tx.GetEvents().GetEvents()
	want = BlobDeleted{Epoch: 0, BlobID: id, EndEpoch: 7, ObjectID: obj, WasCertified: true}.BCS()
	if len(evs) != 1 || string(evs[0].GetContents().GetValue()) != string(want) {
		t.Fatalf("delete events %v, want one BlobDeleted %x", evs, want)
	}
	// GetTransaction returns the same record.
	got, err := e.ledger.GetTransaction(t.Context(), &pb.GetTransactionRequest{Digest: tx.Digest, ReadMask: fullMask})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetTransaction().GetEvents().GetEvents()) != 1 || !got.GetTransaction().GetEffects().GetStatus().GetSuccess() {
		t.Fatalf("GetTransaction: %v", got)
	}
}

// TestEpochExpiry: a certified blob stops being live when the epoch
// reaches its end, and an expired blob can be burnt but not deleted.
func TestEpochExpiry(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	var id [32]byte
	id[0] = 7
	obj, err := e.c.CreateBlob(e.addr, id, 100, 2, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if end, live := e.c.BlobLive(id); !live || end != 2 {
		t.Fatalf("BlobLive = %d, %t, want 2, true", end, live)
	}
	e.advance(1)
	if _, live := e.c.BlobLive(id); !live {
		t.Fatal("not live in epoch 1")
	}
	e.advance(1)
	if _, live := e.c.BlobLive(id); live {
		t.Fatal("live in epoch 2, its end epoch")
	}
	tx, err := e.deleteTx(obj).run()
	if err != nil || tx.GetEffects().GetStatus().GetSuccess() {
		t.Fatalf("delete of an expired blob: %v, %v", err, tx.GetEffects().GetStatus())
	}
	b := e.build()
	b.walrus("blob", "burn", b.obj(obj))
	b.ok()
	if len(e.c.BlobObjects(e.addr)) != 0 {
		t.Fatal("blob object still there after burn")
	}
}

// TestRollback: when the third command aborts, the first two leave no
// trace, but gas is charged and the gas coin's version moves.
func TestRollback(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	obj, _ := e.register(1000, 3, false) // uncertified: extend_blob aborts
	other := Address{9}
	walBefore, gasBefore := e.coin(e.wal), e.coin(e.gas)
	blobBefore, innerBefore := e.ref(obj), e.ref(e.c.ids.SystemInner)
	b := e.build()
	part := b.split(b.obj(e.wal), b.u64(5))
	b.transfer(other, part)
	b.walrus("system", "extend_blob", b.system(true), b.obj(obj), b.u32(1), b.obj(e.wal))
	tx, err := b.run()
	if err != nil {
		t.Fatal(err)
	}
	xe := tx.GetEffects().GetStatus().GetError()
	if xe == nil || xe.GetCommand() != 2 || xe.GetAbort().GetAbortCode() != blobENotCertified {
		t.Fatalf("error %v, want blob abort 0 in command 2", xe)
	}
	if e.coin(e.wal) != walBefore {
		t.Fatalf("WAL coin %d, want %d unchanged", e.coin(e.wal), walBefore)
	}
	if r, _ := e.state.GetBalance(t.Context(), &pb.GetBalanceRequest{Owner: ptr(other.String()), CoinType: ptr(e.c.WALType())}); r.GetBalance().GetBalance() != 0 {
		t.Fatalf("the receiver got %d", r.GetBalance().GetBalance())
	}
	if e.ref(e.c.ids.SystemInner) != innerBefore {
		t.Fatal("system inner state changed")
	}
	o, _ := e.c.Object(obj)
	if string(o.Contents) != string(mustObject(t, e.c, blobBefore).Contents) {
		t.Fatal("blob contents changed")
	}
	charged := gasBefore - e.coin(e.gas)
	if gu := tx.GetEffects().GetGasUsed(); charged == 0 || charged != gu.GetComputationCost() {
		t.Fatalf("charged %d, gas used %v", charged, gu)
	}
	if e.ref(e.gas).Version <= b.tx.Gas.Payment[0].Version {
		t.Fatal("gas coin version did not move")
	}
}

func mustObject(t *testing.T, c *Chain, ref ObjectRef) *Object {
	t.Helper()
	o, ok := c.Object(ref.ID)
	if !ok {
		t.Fatalf("no object %s", ref.ID)
	}
	return o
}

// TestStaleVersion: a transaction naming an object version that another
// transaction consumed is rejected, naming the object.
func TestStaleVersion(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	stale := e.build()
	stale.transfer(Address{1}, stale.split(stale.obj(e.wal), stale.u64(1)))
	fresh := e.build()
	fresh.transfer(Address{2}, fresh.split(fresh.obj(e.wal), fresh.u64(1)))
	fresh.ok()
	_, err := stale.run()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), e.gas.String()) && !strings.Contains(err.Error(), e.wal.String()) {
		t.Fatalf("stale transaction: %v, want InvalidArgument naming the object", err)
	}
	if !strings.Contains(err.Error(), "is not available for consumption") {
		t.Fatalf("message %q", err)
	}
	// The same digest again returns the first result.
	if _, err := fresh.run(); err != nil {
		t.Fatalf("re-executing an executed transaction: %v", err)
	}
}

// TestLockObject: an equivocated object blocks transactions until the
// next epoch.
func TestLockObject(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	if err := e.c.LockObject(e.wal); err != nil {
		t.Fatal(err)
	}
	b := e.build()
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
	_, err := b.run()
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "equivocated until the next epoch") {
		t.Fatalf("locked object: %v", err)
	}
	e.advance(1)
	b = e.build()
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
	b.ok()
}

// TestMutableShared: passing System read-only to a &mut parameter fails.
func TestMutableShared(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	b := e.build()
	st := b.walrus("system", "reserve_space", b.system(false), b.u64(1<<20), b.u32(1), b.obj(e.wal))
	b.transfer(e.addr, st)
	tx, err := b.run()
	if err != nil {
		t.Fatal(err)
	}
	if xe := tx.GetEffects().GetStatus().GetError(); xe.GetKind() != pb.ExecutionError_COMMAND_ARGUMENT_ERROR {
		t.Fatalf("error %v, want COMMAND_ARGUMENT_ERROR", xe)
	}
}

// TestReadLag: reads see the state n commits back, execution the latest.
func TestReadLag(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	before := e.ref(e.wal)
	e.c.SetReadLag(1)
	b := e.build()
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
	b.ok()
	get := func() uint64 {
		r, err := e.ledger.GetObject(t.Context(), &pb.GetObjectRequest{ObjectId: ptr(e.wal.String())})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetObject().GetVersion()
	}
	if v := get(); v != before.Version {
		t.Fatalf("lagging read saw version %d, want %d", v, before.Version)
	}
	// Execution uses the latest state: the old ref is stale already.
	b2 := e.build()
	b2.transfer(Address{1}, b2.split(b2.obj(e.wal), b2.u64(1)))
	b2.ok()
	// Balances and listings lag too.
	balance := func() uint64 {
		r, err := e.state.GetBalance(t.Context(), &pb.GetBalanceRequest{Owner: ptr(e.addr.String()), CoinType: ptr(e.c.WALType())})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetBalance().GetBalance()
	}
	coins := func() int {
		r, err := e.state.ListOwnedObjects(t.Context(), &pb.ListOwnedObjectsRequest{Owner: ptr(e.addr.String()), ObjectType: ptr("0x2::coin::Coin")})
		if err != nil {
			t.Fatal(err)
		}
		return len(r.GetObjects())
	}
	walBefore, n := e.coin(e.wal), coins()
	if _, err := e.c.Mint(e.addr, e.c.WALType(), 5); err != nil {
		t.Fatal(err)
	}
	if balance() != walBefore || coins() != n {
		t.Fatal("a lagging read saw the new coin")
	}
	e.c.SetReadLag(0)
	if v := get(); v != e.ref(e.wal).Version {
		t.Fatalf("read saw version %d, want %d", v, e.ref(e.wal).Version)
	}
	if balance() != walBefore+5 || coins() != n+1 {
		t.Fatal("the read without lag misses the new coin")
	}
}

// TestFailNext: injected failures hit the next n RPCs, whatever they are.
func TestFailNext(t *testing.T) {
	e := newEnv(t, testConfig())
	e.c.FailNext(codes.Unavailable, 2)
	for i := range 2 {
		if _, err := e.ledger.GetServiceInfo(t.Context(), &pb.GetServiceInfoRequest{}); status.Code(err) != codes.Unavailable {
			t.Fatalf("call %d: %v, want UNAVAILABLE", i, err)
		}
	}
	info, err := e.ledger.GetServiceInfo(t.Context(), &pb.GetServiceInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetChainId() != e.c.ChainID().String() || info.GetChain() != "localnet" {
		t.Fatalf("service info %v", info)
	}
}

// TestGasBudget covers the gas rejections and INSUFFICIENT_GAS.
func TestGasBudget(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	t.Run("below the minimum", func(t *testing.T) {
		b := e.build()
		b.tx.Gas.Budget = 999_999
		b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
		if _, err := b.run(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "lower than min") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("more than the gas coin holds", func(t *testing.T) {
		small, err := e.c.Mint(e.addr, "0x2::sui::SUI", 1_000_000_000)
		if err != nil {
			t.Fatal(err)
		}
		b := e.build()
		b.tx.Gas.Payment = []ObjectRef{small}
		b.tx.Gas.Budget = 1_000_000_001
		b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
		if _, err := b.run(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "lower than the needed amount") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("a gas coin of someone else", func(t *testing.T) {
		ref, err := e.c.Mint(Address{5}, "0x2::sui::SUI", 1_000_000_000)
		if err != nil {
			t.Fatal(err)
		}
		b := e.build()
		b.tx.Gas.Payment = []ObjectRef{ref}
		b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
		if _, err := b.run(); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%v", err)
		}
	})
	t.Run("too small for the storage", func(t *testing.T) {
		walBefore, gasBefore := e.coin(e.wal), e.coin(e.gas)
		b := e.build()
		b.tx.Gas.Budget = 1_000_000 * 3 // computation is 3000 units × 1000 MIST
		b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
		tx, err := b.run()
		if err != nil {
			t.Fatal(err)
		}
		if xe := tx.GetEffects().GetStatus().GetError(); xe.GetKind() != pb.ExecutionError_INSUFFICIENT_GAS {
			t.Fatalf("error %v, want INSUFFICIENT_GAS", xe)
		}
		if e.coin(e.wal) != walBefore {
			t.Fatal("WAL moved")
		}
		if gasBefore-e.coin(e.gas) != 3_000_000 {
			t.Fatalf("charged %d, want the computation, 3000000", gasBefore-e.coin(e.gas))
		}
	})
}

// TestPersistence: a chain reopened from its state file has the same
// objects, epoch and transactions.
func TestPersistence(t *testing.T) {
	cfg := testConfig()
	cfg.StateFile = t.TempDir() + "/chain.json"
	e := newEnv(t, cfg).fund()
	obj, id := e.register(1000, 5, false)
	e.certify(obj, id, false)
	e.advance(2)
	b := e.build()
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
	tx := b.ok()
	want := e.ref(obj)
	e.c.Close()

	c2, err := New(Config{StateFile: cfg.StateFile})
	if err != nil {
		t.Fatal(err)
	}
	e2 := serveEnv(t, c2)
	e2.gas, e2.wal = e.gas, e.wal
	if c2.Epoch() != 2 || c2.NShards() != 10 {
		t.Fatalf("epoch %d, shards %d after reload", c2.Epoch(), c2.NShards())
	}
	if got := e2.ref(obj); got != want {
		t.Fatalf("blob %v after reload, want %v", got, want)
	}
	if end, live := c2.BlobLive(id); !live || end != 5 {
		t.Fatalf("BlobLive %d %t after reload", end, live)
	}
	if _, err := e2.ledger.GetTransaction(t.Context(), &pb.GetTransactionRequest{Digest: tx.Digest}); err != nil {
		t.Fatal(err)
	}
	// The reloaded chain keeps executing, and certifies with the same keys.
	obj2, id2 := e2.register(2000, 2, false)
	e2.certify(obj2, id2, false)
}

// TestAddressBalance pays gas and WAL from address balances, the way
// sui-ts's coinWithBalance resolves (see the fixture notes): redeem_funds,
// SplitCoins, send_funds of the remainder, the Walrus call, destroy_zero.
func TestAddressBalance(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	obj, id := e.register(1000, 3, false)
	e.certify(obj, id, false)
	if err := e.c.Deposit(e.addr, e.c.WALType(), 10_000_000_000); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Deposit(e.addr, "0x2::sui::SUI", 1_000_000_000); err != nil {
		t.Fatal(err)
	}
	sp, _ := e.c.Prices()
	cost := storageUnits(EncodedLength(1000, 10)) * sp * 2
	walType, _ := ParseType(e.c.WALType())
	b := e.build()
	b.tx.Gas.Payment = nil
	ep := e.c.SuiEpoch()
	next := ep + 1
	b.tx.Expiration = Expiration{Kind: ExpireValidDuring, MinEpoch: &ep, MaxEpoch: &next, Chain: e.c.ChainID(), Nonce: 7}
	wd := b.input(CallArg{Kind: ArgFundsWithdrawal, Withdrawal: FundsWithdrawal{MaxAmount: 5_000_000_000, Type: walType}})
	coin := b.call(addrTwo, "coin", "redeem_funds", []TypeTag{walType}, wd)
	pay := b.split(coin, b.u64(cost))
	b.call(addrTwo, "coin", "send_funds", []TypeTag{walType}, coin, b.addr(e.addr))
	b.walrus("system", "extend_blob", b.system(true), b.obj(obj), b.u32(2), nested(pay, 0))
	b.call(addrTwo, "coin", "destroy_zero", []TypeTag{walType}, nested(pay, 0))
	tx := b.ok()
	if got, _ := e.c.AddressBalance(e.addr, e.c.WALType()); got != 10_000_000_000-cost {
		t.Fatalf("WAL address balance %d, want %d", got, 10_000_000_000-cost)
	}
	gu := tx.GetEffects().GetGasUsed()
	net := gu.GetComputationCost() + gu.GetStorageCost() - gu.GetStorageRebate()
	if got, _ := e.c.AddressBalance(e.addr, "0x2::sui::SUI"); got != 1_000_000_000-net {
		t.Fatalf("SUI address balance %d, want %d", got, 1_000_000_000-net)
	}
	bc := map[string]string{}
	for _, ch := range tx.GetBalanceChanges() {
		if ch.GetAddress() != e.addr.String() {
			t.Fatalf("balance change of %s", ch.GetAddress())
		}
		bc[ch.GetCoinType()] = ch.GetAmount()
	}
	if bc[e.c.WALType()] != "-"+u64s(cost) || bc[suiType.String()] != "-"+u64s(net) || len(bc) != 2 {
		t.Fatalf("balance changes %v, want WAL -%d and SUI -%d", bc, cost, net)
	}
	r, err := e.state.GetBalance(t.Context(), &pb.GetBalanceRequest{Owner: ptr(e.addr.String()), CoinType: ptr(e.c.WALType())})
	if err != nil {
		t.Fatal(err)
	}
	if want := e.coin(e.wal) + 10_000_000_000 - cost; r.GetBalance().GetBalance() != want {
		t.Fatalf("GetBalance %d, want coins + address balance = %d", r.GetBalance().GetBalance(), want)
	}
	lb, err := e.state.ListBalances(t.Context(), &pb.ListBalancesRequest{Owner: ptr(e.addr.String())})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.GetBalances()) != 2 || lb.GetBalances()[1].GetCoinType() != e.c.WALType() || lb.GetBalances()[1].GetBalance() != r.GetBalance().GetBalance() {
		t.Fatalf("ListBalances %v", lb.GetBalances())
	}
	if end, _ := e.c.BlobLive(id); end != 5 {
		t.Fatalf("end epoch %d, want 5", end)
	}
	// Without ValidDuring an empty payment is rejected.
	b = e.build()
	b.tx.Gas.Payment = nil
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
	if _, err := b.run(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty payment without ValidDuring: %v", err)
	}
}

// TestListOwnedObjects covers the type filter and paging.
func TestListOwnedObjects(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	for range 3 {
		if _, err := e.c.Mint(e.addr, e.c.WALType(), 1); err != nil {
			t.Fatal(err)
		}
	}
	list := func(typ string, size uint32, tok []byte) *pb.ListOwnedObjectsResponse {
		r, err := e.state.ListOwnedObjects(t.Context(), &pb.ListOwnedObjectsRequest{Owner: ptr(e.addr.String()), ObjectType: &typ, PageSize: &size, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if n := len(list("0x2::coin::Coin", 50, nil).GetObjects()); n != 5 {
		t.Fatalf("%d coins of any type, want 5", n)
	}
	walCoin := "0x2::coin::Coin<" + e.c.WALType() + ">"
	p1 := list(walCoin, 3, nil)
	p2 := list(walCoin, 3, p1.GetNextPageToken())
	if len(p1.GetObjects()) != 3 || len(p2.GetObjects()) != 1 || p2.NextPageToken != nil {
		t.Fatalf("pages of %d and %d", len(p1.GetObjects()), len(p2.GetObjects()))
	}
	if ty := p1.GetObjects()[0].GetObjectType(); ty != coinOf(e.c.walType()).String() {
		t.Fatalf("object type %q", ty)
	}
}

// TestExecutionErrors covers the failures that are not Move aborts.
func TestExecutionErrors(t *testing.T) {
	cases := []struct {
		name  string
		kind  pb.ExecutionError_ExecutionErrorKind
		build func(e *env) *txb
	}{
		{"SplitCoins of more than the coin holds", pb.ExecutionError_INSUFFICIENT_COIN_BALANCE, func(e *env) *txb {
			b := e.build()
			b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(e.coin(e.wal)+1)))
			return b
		}},
		{"a Storage neither used nor transferred", pb.ExecutionError_UNUSED_VALUE_WITHOUT_DROP, func(e *env) *txb {
			b := e.build()
			b.walrus("system", "reserve_space", b.system(true), b.u64(1<<20), b.u32(1), b.obj(e.wal))
			return b
		}},
		{"a function the package does not have", pb.ExecutionError_FUNCTION_NOT_FOUND, func(e *env) *txb {
			b := e.build()
			b.walrus("system", "no_such_function", b.system(false))
			return b
		}},
		{"a call to the original package ID", pb.ExecutionError_FUNCTION_NOT_FOUND, func(e *env) *txb {
			b := e.build()
			st := b.call(e.c.WalrusTypePackage(), "system", "reserve_space", nil, b.system(true), b.u64(1<<20), b.u32(1), b.obj(e.wal))
			b.transfer(e.addr, st)
			return b
		}},
		{"a SUI coin where WAL is due", pb.ExecutionError_COMMAND_ARGUMENT_ERROR, func(e *env) *txb {
			b := e.build()
			st := b.walrus("system", "reserve_space", b.system(true), b.u64(1<<20), b.u32(1), Argument{Kind: ArgGasCoin})
			b.transfer(e.addr, st)
			return b
		}},
		{"a u32 where a u64 is due", pb.ExecutionError_COMMAND_ARGUMENT_ERROR, func(e *env) *txb {
			b := e.build()
			st := b.walrus("system", "reserve_space", b.system(true), b.u32(1<<20), b.u32(1), b.obj(e.wal))
			b.transfer(e.addr, st)
			return b
		}},
		{"a withdrawal beyond the address balance", pb.ExecutionError_INSUFFICIENT_COIN_BALANCE, func(e *env) *txb {
			walType := e.c.walType()
			b := e.build()
			wd := b.input(CallArg{Kind: ArgFundsWithdrawal, Withdrawal: FundsWithdrawal{MaxAmount: 1, Type: walType}})
			c := b.call(addrTwo, "coin", "redeem_funds", []TypeTag{walType}, wd)
			b.transfer(e.addr, c)
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig()).fund()
			gasBefore := e.coin(e.gas)
			tx, err := tc.build(e).run()
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			xe := tx.GetEffects().GetStatus().GetError()
			if xe.GetKind() != tc.kind {
				t.Fatalf("error %v (%s), want %v", xe.GetKind(), xe.GetDescription(), tc.kind)
			}
			if e.coin(e.gas) >= gasBefore {
				t.Fatal("no gas charged")
			}
		})
	}
}

// TestFailAfterExecute: the transaction runs though the reply is lost; the
// client finds it by digest, and resubmitting returns the same result
// without paying twice.
func TestFailAfterExecute(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	obj, id := e.register(1000, 3, false)
	e.certify(obj, id, false)
	e.c.FailAfterExecute(codes.Unavailable, 1)
	b := e.extendTx(obj, 2)
	if _, err := b.run(); status.Code(err) != codes.Unavailable {
		t.Fatalf("first submission: %v, want UNAVAILABLE", err)
	}
	end, _ := e.c.BlobLive(id)
	if end != 5 {
		t.Fatalf("end epoch %d after the lost reply, want 5: the transaction did not run", end)
	}
	digest := TransactionDigest(b.tx.Encode()).String()
	got, err := e.ledger.GetTransaction(t.Context(), &pb.GetTransactionRequest{Digest: &digest, ReadMask: fullMask})
	if err != nil || !got.GetTransaction().GetEffects().GetStatus().GetSuccess() {
		t.Fatalf("GetTransaction: %v %v", got, err)
	}
	wal := e.coin(e.wal)
	tx, err := b.run()
	if err != nil || tx.GetDigest() != digest {
		t.Fatalf("resubmission: %v %v", tx, err)
	}
	if end, _ := e.c.BlobLive(id); end != 5 || e.coin(e.wal) != wal {
		t.Fatalf("resubmission ran again: end %d, WAL %d → %d", end, wal, e.coin(e.wal))
	}
}
