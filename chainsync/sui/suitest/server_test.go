package suitest

import (
	"testing"

	pb "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// TestGetObjectMasks: the default read mask, and contents/bcs/owner/balance
// when asked.
func TestGetObjectMasks(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	r, err := e.ledger.GetObject(t.Context(), &pb.GetObjectRequest{ObjectId: ptr(e.wal.String())})
	if err != nil {
		t.Fatal(err)
	}
	o := r.GetObject()
	ref := e.ref(e.wal)
	if o.GetObjectId() != e.wal.String() || o.GetVersion() != ref.Version || o.GetDigest() != ref.Digest.String() || o.Owner != nil || o.Contents != nil {
		t.Fatalf("default mask gave %v", o)
	}
	r, err = e.ledger.GetObject(t.Context(), &pb.GetObjectRequest{ObjectId: ptr(e.wal.String()),
		ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"owner", "object_type", "contents", "bcs", "balance", "previous_transaction"}}})
	if err != nil {
		t.Fatal(err)
	}
	o = r.GetObject()
	full, _ := e.c.Object(e.wal)
	if o.GetOwner().GetKind() != pb.Owner_ADDRESS || o.GetOwner().GetAddress() != e.addr.String() ||
		o.GetBalance() != 100_000_000_000 || string(o.GetContents().GetValue()) != string(full.Contents) ||
		string(o.GetBcs().GetValue()) != string(full.BCS()) || o.GetObjectType() != coinOf(e.c.walType()).String() {
		t.Fatalf("masked object %v", o)
	}
	if _, err := e.ledger.GetObject(t.Context(), &pb.GetObjectRequest{ObjectId: ptr(Address{7}.String())}); status.Code(err) != codes.NotFound {
		t.Fatalf("missing object: %v", err)
	}
	// The System object and its inner state, as walrusfs reads them.
	sys, isv := e.c.SystemObject()
	br, err := e.ledger.BatchGetObjects(t.Context(), &pb.BatchGetObjectsRequest{
		Requests: []*pb.GetObjectRequest{{ObjectId: ptr(sys.String())}, {ObjectId: ptr(e.c.ids.SystemInner.String())}, {ObjectId: ptr(Address{7}.String())}},
		ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"object_id", "owner", "contents", "object_type"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	res := br.GetObjects()
	if len(res) != 3 || res[2].GetError() == nil || res[0].GetObject().GetOwner().GetVersion() != isv {
		t.Fatalf("batch %v", res)
	}
	sysC := res[0].GetObject().GetContents().GetValue()
	r2 := &reader{b: sysC}
	if r2.addr() != sys || r2.u64() != 3 || r2.addr() != e.c.WalrusPackage() {
		t.Fatal("System contents do not name version 3 and the package to call")
	}
	inner := res[1].GetObject().GetContents().GetValue()
	if want := fieldContents(e.c.ids.SystemInner, 3, e.c.st.Walrus.systemInnerBCS()); string(inner) != string(want) {
		t.Fatal("inner System contents differ from the state")
	}
	if DynamicFieldID(sys, u64Type, binaryU64(3)).String() != res[1].GetObject().GetObjectId() {
		t.Fatal("inner System ID is not the dynamic field of version 3")
	}
}

// TestEffects checks versions, digests and ID operations of a register
// transaction: the Storage it reserves is wrapped at once and never
// appears; the Blob is created; System, its inner field, the coins move to
// the Lamport version.
func TestEffects(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	gasBefore, walBefore := e.ref(e.gas), e.ref(e.wal)
	sys, _ := e.c.SystemObject()
	sysBefore := e.ref(sys)
	obj, _ := e.register(1000, 2, true)
	blob := e.ref(obj)
	lamport := max(gasBefore.Version, walBefore.Version, sysBefore.Version) + 1
	for _, id := range []Address{e.gas, e.wal, sys, e.c.ids.SystemInner, obj} {
		if v := e.ref(id).Version; v != lamport {
			t.Errorf("%s at version %d, want %d", id, v, lamport)
		}
	}
	// Delete: the Blob is deleted, its Storage unwrapped then deleted.
	b := e.build()
	st := b.walrus("system", "delete_blob", b.system(false), b.obj(obj))
	b.walrus("storage_resource", "destroy", st)
	tx := b.ok()
	ops := map[string]pb.ChangedObject_IdOperation{}
	for _, ch := range tx.GetEffects().GetChangedObjects() {
		ops[ch.GetObjectId()] = ch.GetIdOperation()
		if ch.GetObjectId() == obj.String() && (ch.GetInputVersion() != blob.Version || ch.GetInputDigest() != blob.Digest.String() || ch.GetOutputState() != pb.ChangedObject_OUTPUT_OBJECT_STATE_DOES_NOT_EXIST) {
			t.Errorf("blob change %v", ch)
		}
	}
	if ops[obj.String()] != pb.ChangedObject_DELETED || len(ops) != 3 { // gas, blob, storage
		t.Fatalf("changed objects %v", ops)
	}
	if g := tx.GetEffects().GetGasObject(); g.GetObjectId() != e.gas.String() || g.GetOutputVersion() != e.ref(e.gas).Version {
		t.Fatalf("gas object %v", g)
	}
	if u := tx.GetEffects().GetUnchangedConsensusObjects(); len(u) != 1 || u[0].GetObjectId() != sys.String() {
		t.Fatalf("unchanged consensus objects %v", u)
	}
	if gu := tx.GetEffects().GetGasUsed(); gu.GetStorageRebate() == 0 {
		t.Fatalf("no rebate for deleting a blob: %v", gu)
	}
}

// TestSimulate executes without committing and without a signature.
func TestSimulate(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	before := e.ref(e.wal)
	b := e.build()
	st := b.walrus("system", "reserve_space", b.system(true), b.u64(1<<20), b.u32(2), b.obj(e.wal))
	b.transfer(e.addr, st)
	r, err := e.exec.SimulateTransaction(t.Context(), &pb.SimulateTransactionRequest{Transaction: &pb.Transaction{Bcs: &pb.Bcs{Value: b.tx.Encode()}}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.GetTransaction().GetEffects().GetStatus().GetSuccess() || len(e.created(r.GetTransaction(), e.c.storageType())) != 1 {
		t.Fatalf("simulation %v", r.GetTransaction().GetEffects())
	}
	if e.ref(e.wal) != before {
		t.Fatal("simulation changed the WAL coin")
	}
	if _, err := e.ledger.GetTransaction(t.Context(), &pb.GetTransactionRequest{Digest: r.GetTransaction().Digest}); status.Code(err) != codes.NotFound {
		t.Fatalf("simulated transaction recorded: %v", err)
	}
}

// TestEpochAndPrices: GetEpoch, AdvanceEpoch's effect on the inner
// objects, and SetPrices mid-epoch.
func TestEpochAndPrices(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	ep, err := e.ledger.GetEpoch(t.Context(), &pb.GetEpochRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.GetEpoch().GetEpoch() != 0 || ep.GetEpoch().GetReferenceGasPrice() != 1000 {
		t.Fatalf("epoch %v", ep.GetEpoch())
	}
	e.advance(3)
	if e.c.Epoch() != 3 || e.c.SuiEpoch() != 3 {
		t.Fatalf("epochs %d / %d", e.c.Epoch(), e.c.SuiEpoch())
	}
	o, _ := e.c.Object(e.c.ids.StakingInner)
	// Field<u64, StakingInnerV1>: the epoch at byte 98 (CHAIN.md §2).
	if got := uint32(o.Contents[98]) | uint32(o.Contents[99])<<8; got != 3 {
		t.Fatalf("staking epoch %d", got)
	}
	if epoch, _, _ := systemHead(t, e.c); epoch != 3 {
		t.Fatalf("system committee epoch %d", epoch)
	}
	if err := e.c.SetPrices(7, 11); err != nil {
		t.Fatal(err)
	}
	if _, sp, wp := systemHead(t, e.c); sp != 7 || wp != 11 {
		t.Fatalf("prices %d %d in the System object", sp, wp)
	}
	walBefore := e.coin(e.wal)
	e.register(1000, 1, false)
	units := storageUnits(EncodedLength(1000, 10))
	if got := walBefore - e.coin(e.wal); got != units*7+units*11 {
		t.Fatalf("paid %d at the new prices, want %d", got, units*18)
	}
}

// systemHead parses the inner System object as far as the prices.
func systemHead(t *testing.T, c *Chain) (epoch uint32, storagePrice, writePrice uint64) {
	t.Helper()
	o, _ := c.Object(c.ids.SystemInner)
	r := &reader{b: o.Contents[40:]} // after the field's ID and u64 name
	n := r.length()
	for range n {
		r.bytes()
		r.u16()
		r.addr()
	}
	r.u16()
	epoch = r.u32()
	r.bytes()
	r.u64()
	r.u64()
	storagePrice, writePrice = r.u64(), r.u64()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return epoch, storagePrice, writePrice
}

// TestSimulateGasSelection: the chain picks gas coins, price and budget.
func TestSimulateGasSelection(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	b := e.build()
	b.tx.Gas = GasData{Owner: e.addr}
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
	r, err := e.exec.SimulateTransaction(t.Context(), &pb.SimulateTransactionRequest{
		Transaction: &pb.Transaction{Bcs: &pb.Bcs{Value: b.tx.Encode()}}, DoGasSelection: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTransaction(r.GetTransaction().GetTransaction().GetBcs().GetValue())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Gas.Payment) != 1 || got.Gas.Payment[0] != e.ref(e.gas) || got.Gas.Price != 1000 || got.Gas.Budget != maxBudget {
		t.Fatalf("selected gas %+v", got.Gas)
	}
	if !r.GetTransaction().GetEffects().GetStatus().GetSuccess() {
		t.Fatalf("simulation failed: %v", r.GetTransaction().GetEffects().GetStatus())
	}
}

// TestSDKMasks uses the read masks sui-go-sdk's gRPC client sends.
func TestSDKMasks(t *testing.T) {
	e := newEnv(t, testConfig()).fund()
	b := e.build()
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)))
	r, err := e.exec.SimulateTransaction(t.Context(), &pb.SimulateTransactionRequest{
		Transaction: &pb.Transaction{Bcs: &pb.Bcs{Value: b.tx.Encode()}},
		ReadMask:    &fieldmaskpb.FieldMask{Paths: []string{"transaction.effects.status", "transaction.effects.gas_used", "transaction.balance_changes"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tx := r.GetTransaction()
	if !tx.GetEffects().GetStatus().GetSuccess() || tx.GetEffects().GetGasUsed().GetComputationCost() == 0 || len(tx.GetBalanceChanges()) != 3 || tx.GetEffects().ChangedObjects != nil {
		t.Fatalf("simulation under the SDK's mask: %v", tx)
	}
	sys, _ := e.c.SystemObject()
	lf, err := e.state.ListDynamicFields(t.Context(), &pb.ListDynamicFieldsRequest{Parent: ptr(sys.String()),
		ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"field_id", "name", "value_type", "kind", "child_id", "field_object"}}})
	if err != nil {
		t.Fatal(err)
	}
	fs := lf.GetDynamicFields()
	if len(fs) != 1 || fs[0].GetFieldId() != e.c.ids.SystemInner.String() || string(fs[0].GetName().GetValue()) != string(binaryU64(3)) ||
		fs[0].GetValueType() != structType(e.c.WalrusTypePackage(), "system_state_inner", "SystemStateInnerV1").String() ||
		fs[0].GetFieldObject().GetObjectId() != e.c.ids.SystemInner.String() {
		t.Fatalf("dynamic fields of System: %v", fs)
	}
}
