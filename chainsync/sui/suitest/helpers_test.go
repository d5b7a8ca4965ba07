package suitest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	pb "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// env is a served test chain with one funded account and gRPC clients.
type env struct {
	t      testing.TB
	c      *Chain
	ledger pb.LedgerServiceClient
	state  pb.StateServiceClient
	exec   pb.TransactionExecutionServiceClient
	key    ed25519.PrivateKey
	addr   Address
	gas    Address // the account's SUI coin
	wal    Address // the account's WAL coin
	roots  uint64
}

// testConfig is a small chain: 10 shards over 4 nodes.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.NShards = 10
	cfg.CommitteeSize = 4
	return cfg
}

func newEnv(t *testing.T, cfg Config) *env { return newEnvTB(t, cfg) }

func newEnvTB(t testing.TB, cfg Config) *env {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveEnv(t, c)
}

func serveEnv(t testing.TB, c *Chain) *env {
	t.Helper()
	if err := c.Serve(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	conn, err := grpc.NewClient(c.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e := &env{t: t, c: c, ledger: pb.NewLedgerServiceClient(conn), state: pb.NewStateServiceClient(conn),
		exec: pb.NewTransactionExecutionServiceClient(conn)}
	e.key = ed25519.NewKeyFromSeed(make([]byte, 32))
	e.addr = Ed25519Address(e.key.Public().(ed25519.PublicKey))
	return e
}

// fund gives the account 100 WAL and 100 SUI in one coin each.
func (e *env) fund() *env {
	e.t.Helper()
	w, err := e.c.Mint(e.addr, e.c.WALType(), 100_000_000_000)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := e.c.Mint(e.addr, "0x2::sui::SUI", 100_000_000_000)
	if err != nil {
		e.t.Fatal(err)
	}
	e.wal, e.gas = w.ID, s.ID
	return e
}

func (e *env) ref(id Address) ObjectRef {
	e.t.Helper()
	o, ok := e.c.Object(id)
	if !ok {
		e.t.Fatalf("object %s does not exist", id)
	}
	return o.Ref()
}

func (e *env) coin(id Address) uint64 {
	e.t.Helper()
	o, ok := e.c.Object(id)
	if !ok {
		e.t.Fatalf("coin %s does not exist", id)
	}
	v, err := coinValue(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// txb builds a programmable transaction.
type txb struct {
	e  *env
	tx Transaction
}

func (e *env) build() *txb {
	b := &txb{e: e}
	b.tx.Sender = e.addr
	b.tx.Gas = GasData{Payment: []ObjectRef{e.ref(e.gas)}, Owner: e.addr, Price: 1000, Budget: 50_000_000}
	return b
}

func (b *txb) input(a CallArg) Argument {
	b.tx.Inputs = append(b.tx.Inputs, a)
	return Argument{Kind: ArgInput, Index: uint16(len(b.tx.Inputs) - 1)}
}

func (b *txb) pure(p []byte) Argument { return b.input(CallArg{Kind: ArgPure, Pure: p}) }
func (b *txb) u64(v uint64) Argument  { return b.pure(binaryU64(v)) }
func (b *txb) u32(v uint32) Argument  { return b.pure(binary.LittleEndian.AppendUint32(nil, v)) }
func (b *txb) u8(v uint8) Argument    { return b.pure([]byte{v}) }
func (b *txb) addr(a Address) Argument {
	return b.pure(a[:])
}
func (b *txb) boolean(v bool) Argument {
	if v {
		return b.pure([]byte{1})
	}
	return b.pure([]byte{0})
}
func (b *txb) bytesArg(p []byte) Argument {
	w := &writer{}
	w.bytes(p)
	return b.pure(w.b)
}
func (b *txb) u256(v [32]byte) Argument { return b.pure(v[:]) }

// obj adds an owned object input, once per object as sui-ts does.
func (b *txb) obj(id Address) Argument {
	for i, in := range b.tx.Inputs {
		if in.Kind == ArgObject && in.Object.Ref.ID == id {
			return Argument{Kind: ArgInput, Index: uint16(i)}
		}
	}
	return b.input(CallArg{Kind: ArgObject, Object: ObjectArg{Kind: ObjImmOrOwned, Ref: b.e.ref(id)}})
}

func (b *txb) system(mutable bool) Argument {
	id, isv := b.e.c.SystemObject()
	for i, in := range b.tx.Inputs {
		if in.Kind == ArgObject && in.Object.Ref.ID == id {
			b.tx.Inputs[i].Object.Mutable = in.Object.Mutable || mutable
			return Argument{Kind: ArgInput, Index: uint16(i)}
		}
	}
	return b.input(CallArg{Kind: ArgObject, Object: ObjectArg{Kind: ObjShared, Ref: ObjectRef{ID: id}, InitialSharedVersion: isv, Mutable: mutable}})
}

func (b *txb) cmd(c Command) Argument {
	b.tx.Commands = append(b.tx.Commands, c)
	return Argument{Kind: ArgResult, Index: uint16(len(b.tx.Commands) - 1)}
}

func (b *txb) call(pkg Address, module, fn string, typeArgs []TypeTag, args ...Argument) Argument {
	return b.cmd(Command{Kind: CmdMoveCall, Call: &MoveCall{Package: pkg, Module: module, Function: fn, TypeArgs: typeArgs, Args: args}})
}

func (b *txb) walrus(module, fn string, args ...Argument) Argument {
	return b.call(b.e.c.WalrusPackage(), module, fn, nil, args...)
}

func (b *txb) split(coin Argument, amounts ...Argument) Argument {
	return b.cmd(Command{Kind: CmdSplitCoins, Coin: coin, Amounts: amounts})
}

func (b *txb) transfer(to Address, objs ...Argument) {
	r := b.addr(to)
	b.cmd(Command{Kind: CmdTransferObjects, Objects: objs, Receiver: r})
}

func nested(a Argument, i uint16) Argument {
	return Argument{Kind: ArgNestedResult, Index: a.Index, Sub: i}
}

var fullMask = &fieldmaskpb.FieldMask{Paths: []string{"digest", "effects", "events", "checkpoint", "balance_changes"}}

// run signs and executes the transaction.
func (b *txb) run() (*pb.ExecutedTransaction, error) {
	bs := b.tx.Encode()
	sig := SignTransaction(b.e.key, bs)
	resp, err := b.e.exec.ExecuteTransaction(b.e.t.Context(), &pb.ExecuteTransactionRequest{
		Transaction: &pb.Transaction{Bcs: &pb.Bcs{Value: bs}},
		Signatures:  []*pb.UserSignature{{Bcs: &pb.Bcs{Value: sig}}},
		ReadMask:    fullMask,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetTransaction(), nil
}

// ok runs the transaction and fails the test unless it succeeds.
func (b *txb) ok() *pb.ExecutedTransaction {
	b.e.t.Helper()
	tx, err := b.run()
	if err != nil {
		b.e.t.Fatalf("execute: %v", err)
	}
	if !tx.GetEffects().GetStatus().GetSuccess() {
		b.e.t.Fatalf("execution failed: %v", tx.GetEffects().GetStatus().GetError())
	}
	return tx
}

// created returns the IDs of the objects of type t the transaction created.
func (e *env) created(tx *pb.ExecutedTransaction, t TypeTag) []Address {
	e.t.Helper()
	var out []Address
	for _, ch := range tx.GetEffects().GetChangedObjects() {
		if ch.GetIdOperation() != pb.ChangedObject_CREATED || ch.GetObjectType() != t.String() {
			continue
		}
		id, err := ParseAddress(ch.GetObjectId())
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// newRoot returns a fresh root hash.
func (e *env) newRoot() [32]byte {
	e.roots++
	return sha256.Sum256(binaryU64(e.roots))
}

// register reserves storage for size bytes over epochs and registers a blob
// in it, paid from the account's WAL coin; it returns the Blob object and
// blob ID.
func (e *env) register(size uint64, epochs uint32, deletable bool) (Address, [32]byte) {
	e.t.Helper()
	root := e.newRoot()
	blobID := DeriveBlobID(root, 1, size)
	b := e.build()
	sys := b.system(true)
	wal := b.obj(e.wal)
	st := b.walrus("system", "reserve_space", sys, b.u64(EncodedLength(size, e.c.NShards())), b.u32(epochs), wal)
	blob := b.walrus("system", "register_blob", sys, st, b.u256(blobID), b.u256(root), b.u64(size), b.u8(1), b.boolean(deletable), wal)
	b.transfer(e.addr, blob)
	ids := e.created(b.ok(), e.c.blobType())
	if len(ids) != 1 {
		e.t.Fatalf("register created %d blobs", len(ids))
	}
	return ids[0], blobID
}

// certifyTx builds a certify_blob transaction with a certificate from the
// given signers.
func (e *env) certifyTx(obj Address, sig, bitmap, msg []byte) *txb {
	b := e.build()
	b.walrus("system", "certify_blob", b.system(false), b.obj(obj), b.bytesArg(sig), b.bytesArg(bitmap), b.bytesArg(msg))
	return b
}

func (e *env) certify(obj Address, blobID [32]byte, deletable bool) {
	e.t.Helper()
	var del *Address
	if deletable {
		del = &obj
	}
	sig, bitmap, msg, err := e.c.Certificate(blobID, del, []int{0, 1, 2, 3})
	if err != nil {
		e.t.Fatal(err)
	}
	e.certifyTx(obj, sig, bitmap, msg).ok()
}
