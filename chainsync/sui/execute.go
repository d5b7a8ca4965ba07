package sui

import (
	"context"
	"errors"
	"fmt"

	rpc "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Effects is what executing (or simulating) a transaction did.
type Effects struct {
	Digest  Digest
	Success bool
	// Failure says why a transaction that executed failed; its gas was
	// still charged, and nothing else changed.
	Failure *ExecutionError
	Gas     GasCost
	// Changed lists every object the transaction wrote, created or
	// deleted, with its new reference.
	Changed []ChangedObject
	// GasObject is the gas coin after the transaction.
	GasObject ObjectRef
	// Checkpoint is the checkpoint that holds the transaction, once known.
	Checkpoint uint64
}

// GasCost is a transaction's gas in MIST.
type GasCost struct {
	Computation, Storage, Rebate uint64
}

// Net is what the sender paid: computation plus storage, less the rebate
// (which can exceed the rest when objects are deleted).
func (g GasCost) Net() int64 {
	return int64(g.Computation) + int64(g.Storage) - int64(g.Rebate)
}

// ChangedObject is one object a transaction touched.
type ChangedObject struct {
	Ref     ObjectRef // the new version (for a deleted object, the old ID)
	Owner   Owner
	Type    string
	Created bool
	Deleted bool
}

// ExecutionError is why a transaction failed on chain.
type ExecutionError struct {
	Kind        string // the node's error kind, such as "MOVE_ABORT"
	Command     uint64 // the failing command's index
	Description string
	// Module, Function and AbortCode locate a Move abort.
	Module    string
	Function  string
	AbortCode uint64
	IsAbort   bool
}

func (e *ExecutionError) Error() string {
	if e.IsAbort {
		return fmt.Sprintf("transaction aborted in %s::%s with code %d (command %d)", e.Module, e.Function, e.AbortCode, e.Command)
	}
	if e.Description != "" {
		return fmt.Sprintf("transaction failed: %s (command %d): %s", e.Kind, e.Command, e.Description)
	}
	return fmt.Sprintf("transaction failed: %s (command %d)", e.Kind, e.Command)
}

// Abort reports whether e is the Move abort module/code.
func (e *ExecutionError) Abort(module string, code uint64) bool {
	return e != nil && e.IsAbort && e.Module == module && e.AbortCode == code
}

// effectsMask asks ExecuteTransaction and GetTransaction, whose masks
// name fields of the ExecutedTransaction, for what Effects holds.
var effectsMask = &fieldmaskpb.FieldMask{Paths: []string{"digest", "effects", "checkpoint"}}

// simulateMask is relative to the SimulateTransactionResponse. A simulated
// transaction has no digest or checkpoint, and a node answers a request
// for them with no transaction at all.
var simulateMask = &fieldmaskpb.FieldMask{Paths: []string{"transaction.effects"}}

// Simulate runs a transaction without committing it: its gas use and
// whether it would succeed. No signature is needed.
func (c *Client) Simulate(ctx context.Context, txBytes []byte) (Effects, error) {
	resp, err := c.exec.SimulateTransaction(ctx, &rpc.SimulateTransactionRequest{
		Transaction: &rpc.Transaction{Bcs: &rpc.Bcs{Value: txBytes}},
		ReadMask:    simulateMask,
	})
	if err != nil {
		return Effects{}, fmt.Errorf("sui rpc: simulate: %w", err)
	}
	fx, err := convertExecuted(resp.GetTransaction(), false)
	if err == nil && fx.Digest == (Digest{}) {
		fx.Digest = TransactionDigest(txBytes)
	}
	return fx, err
}

// ErrRejected means the node refused a transaction without executing it
// (a stale object version, a locked object, a bad signature, too little
// gas to start): nothing was charged.
var ErrRejected = errors.New("sui: transaction rejected")

// Execute submits a signed transaction and waits for its effects. An
// error wrapping ErrRejected means it was not executed; any other error
// leaves it unknown whether it was, and the caller must find out with
// [Client.Transaction] before building anything over the same inputs.
func (c *Client) Execute(ctx context.Context, txBytes, signature []byte) (Effects, error) {
	resp, err := c.exec.ExecuteTransaction(ctx, &rpc.ExecuteTransactionRequest{
		Transaction: &rpc.Transaction{Bcs: &rpc.Bcs{Value: txBytes}},
		Signatures:  []*rpc.UserSignature{{Bcs: &rpc.Bcs{Value: signature}}},
		ReadMask:    effectsMask,
	})
	if err != nil {
		switch status.Code(err) {
		case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied:
			return Effects{}, fmt.Errorf("%w: %s", ErrRejected, status.Convert(err).Message())
		}
		return Effects{}, fmt.Errorf("sui rpc: execute: %w", err)
	}
	fx, err := convertExecuted(resp.GetTransaction(), true)
	if err == nil && fx.Digest != TransactionDigest(txBytes) {
		return Effects{}, fmt.Errorf("sui rpc: execute: the node answered for transaction %s, not %s", fx.Digest, TransactionDigest(txBytes))
	}
	return fx, err
}

// Transaction looks up an executed transaction's effects; found is false
// when the node does not know it (not executed, or not yet visible).
func (c *Client) Transaction(ctx context.Context, digest Digest) (e Effects, found bool, err error) {
	resp, err := c.ledger.GetTransaction(ctx, &rpc.GetTransactionRequest{Digest: proto.String(digest.String()), ReadMask: effectsMask})
	if status.Code(err) == codes.NotFound {
		return Effects{}, false, nil
	}
	if err != nil {
		return Effects{}, false, fmt.Errorf("sui rpc: transaction %s: %w", digest, err)
	}
	e, err = convertExecuted(resp.GetTransaction(), true)
	if err == nil && e.Digest != digest {
		return Effects{}, false, fmt.Errorf("sui rpc: asked for transaction %s, got %s", digest, e.Digest)
	}
	return e, err == nil, err
}

func convertExecuted(t *rpc.ExecutedTransaction, needDigest bool) (Effects, error) {
	fx := t.GetEffects()
	if fx == nil || fx.GetStatus() == nil {
		return Effects{}, errors.New("sui rpc: answer carries no effects")
	}
	var e Effects
	var err error
	if e.Digest, err = ParseDigest(t.GetDigest()); err != nil {
		if e.Digest, err = ParseDigest(fx.GetTransactionDigest()); err != nil && needDigest {
			return Effects{}, fmt.Errorf("sui rpc: effects: transaction digest: %w", err)
		}
	}
	e.Checkpoint = t.GetCheckpoint()
	e.Success = fx.GetStatus().GetSuccess()
	if !e.Success {
		e.Failure = convertFailure(fx.GetStatus().GetError())
	}
	g := fx.GetGasUsed()
	e.Gas = GasCost{Computation: g.GetComputationCost(), Storage: g.GetStorageCost(), Rebate: g.GetStorageRebate()}
	for _, ch := range fx.GetChangedObjects() {
		co, err := convertChanged(ch)
		if err != nil {
			return Effects{}, err
		}
		e.Changed = append(e.Changed, co)
	}
	if gas := fx.GetGasObject(); gas != nil {
		co, err := convertChanged(gas)
		if err != nil {
			return Effects{}, err
		}
		e.GasObject = co.Ref
	}
	return e, nil
}

func convertChanged(ch *rpc.ChangedObject) (ChangedObject, error) {
	id, err := ParseAddress(ch.GetObjectId())
	if err != nil {
		return ChangedObject{}, fmt.Errorf("sui rpc: effects: object id: %w", err)
	}
	co := ChangedObject{
		Ref:     ObjectRef{ID: id, Version: ch.GetOutputVersion()},
		Type:    ch.GetObjectType(),
		Created: ch.GetIdOperation() == rpc.ChangedObject_CREATED,
		Deleted: ch.GetIdOperation() == rpc.ChangedObject_DELETED ||
			ch.GetOutputState() == rpc.ChangedObject_OUTPUT_OBJECT_STATE_DOES_NOT_EXIST,
	}
	if !co.Deleted {
		if co.Ref.Digest, err = ParseDigest(ch.GetOutputDigest()); err != nil {
			return ChangedObject{}, fmt.Errorf("sui rpc: effects: object %s: %w", id, err)
		}
		if ow := ch.GetOutputOwner(); ow != nil {
			if co.Owner, err = convertOwner(ow); err != nil {
				return ChangedObject{}, fmt.Errorf("sui rpc: effects: object %s: %w", id, err)
			}
		}
	}
	return co, nil
}

func convertFailure(pe *rpc.ExecutionError) *ExecutionError {
	e := &ExecutionError{Kind: pe.GetKind().String(), Command: pe.GetCommand(), Description: pe.GetDescription()}
	if a := pe.GetAbort(); a != nil {
		e.IsAbort = true
		e.AbortCode = a.GetAbortCode()
		e.Module = a.GetLocation().GetModule()
		e.Function = a.GetLocation().GetFunctionName()
	}
	return e
}
