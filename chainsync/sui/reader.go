package sui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Walrus reads one Walrus deployment's state from a full node: the System
// and Staking objects and their versioned inner state, and Blob objects.
// It remembers the objects' versions, so a poll of the epoch costs one
// call. It is safe for concurrent use.
type Walrus struct {
	c       *Client
	system  Address
	staking Address

	mu    sync.Mutex
	outer *outerState // nil until read; dropped when a version moves
}

// outerState is what changes only on a Walrus package upgrade.
type outerState struct {
	system, staking       Versioned
	systemShared          SharedObject
	typePackage           Address // the original package ID: Blob's type
	systemInner, stakeInn Address
}

// NewWalrus reads the deployment whose System and Staking objects are
// given, through c.
func NewWalrus(c *Client, system, staking Address) *Walrus {
	return &Walrus{c: c, system: system, staking: staking}
}

// State is a snapshot of a Walrus deployment.
type State struct {
	Epoch         uint32
	EpochStart    time.Time // estimated when the epoch change is in progress
	EpochDuration time.Duration
	Phase         EpochPhase
	NShards       uint16
	// StoragePrice is FROST per MiB unit per epoch; WritePrice FROST per
	// unit once, at registration.
	StoragePrice, WritePrice    uint64
	TotalCapacity, UsedCapacity uint64
	// Calls is what transactions need to call the Walrus package.
	Calls Calls
	// TypePackage names Blob objects' type: <TypePackage>::blob::Blob.
	TypePackage Address
	Committee   []CommitteeMember
}

// EpochTime is when epoch e starts (estimated from the epoch length).
func (s State) EpochTime(e uint32) time.Time {
	return s.EpochStart.Add(time.Duration(int64(e)-int64(s.Epoch)) * s.EpochDuration)
}

// BlobType is the Move type of Blob objects, for listings.
func (s State) BlobType() string { return s.TypePackage.String() + "::blob::Blob" }

// ErrWrongType means an object is not of the type the caller expected:
// a wrong object ID in the configuration, or a node that is lying.
var ErrWrongType = errors.New("sui: object has the wrong type")

// State reads the current Walrus state.
func (w *Walrus) State(ctx context.Context, wal TypeTag) (State, error) {
	for attempt := 0; ; attempt++ {
		outer, err := w.outerState(ctx)
		if err != nil {
			return State{}, err
		}
		objs, err := w.c.Objects(ctx, []Address{outer.systemInner, outer.stakeInn})
		if err != nil {
			return State{}, err
		}
		if (objs[0] == nil || objs[1] == nil) && attempt == 0 {
			// An upgrade moved the state to a new version's field.
			w.forget()
			continue
		}
		if objs[0] == nil || objs[1] == nil {
			return State{}, fmt.Errorf("%w: the Walrus state fields of %s and %s", ErrObjectNotFound, w.system, w.staking)
		}
		sys, err := ParseSystemInner(objs[0].Contents, outer.system.Version)
		if err != nil {
			return State{}, fmt.Errorf("walrus system state %s: %w", outer.systemInner, err)
		}
		stk, err := ParseStakingInner(objs[1].Contents, outer.staking.Version)
		if err != nil {
			return State{}, fmt.Errorf("walrus staking state %s: %w", outer.stakeInn, err)
		}
		s := State{
			Epoch: sys.Epoch, EpochDuration: stk.EpochDuration, Phase: stk.Phase, NShards: sys.NShards,
			StoragePrice: sys.StoragePricePerUnit, WritePrice: sys.WritePricePerUnit,
			TotalCapacity: sys.TotalCapacity, UsedCapacity: sys.UsedCapacity,
			Calls:       Calls{Package: outer.system.PackageID, System: outer.systemShared, WALType: wal},
			TypePackage: outer.typePackage, Committee: sys.Members,
		}
		s.EpochStart = stk.EpochStartTime(sys.Epoch)
		return s, nil
	}
}

func (w *Walrus) forget() {
	w.mu.Lock()
	w.outer = nil
	w.mu.Unlock()
}

func (w *Walrus) outerState(ctx context.Context) (*outerState, error) {
	w.mu.Lock()
	o := w.outer
	w.mu.Unlock()
	if o != nil {
		return o, nil
	}
	objs, err := w.c.Objects(ctx, []Address{w.system, w.staking})
	if err != nil {
		return nil, err
	}
	for i, id := range []Address{w.system, w.staking} {
		if objs[i] == nil {
			return nil, fmt.Errorf("%w: %s (is the System/Staking object ID right for this network?)", ErrObjectNotFound, id)
		}
	}
	sysType, err := ParseTypeTag(objs[0].Type)
	if err != nil || sysType.Kind != KindStruct || sysType.Struct.Module != "system" || sysType.Struct.Name != "System" {
		return nil, fmt.Errorf("%w: %s is %q, not a Walrus System object", ErrWrongType, w.system, objs[0].Type)
	}
	if !strings.HasSuffix(objs[1].Type, "::staking::Staking") {
		return nil, fmt.Errorf("%w: %s is %q, not a Walrus Staking object", ErrWrongType, w.staking, objs[1].Type)
	}
	if objs[0].Owner.Kind != OwnerShared {
		return nil, fmt.Errorf("%w: the System object %s is not shared", ErrWrongType, w.system)
	}
	sys, err := ParseSystem(objs[0].Contents)
	if err != nil {
		return nil, err
	}
	stk, err := ParseStaking(objs[1].Contents)
	if err != nil {
		return nil, err
	}
	o = &outerState{
		system: sys, staking: stk,
		systemShared: SharedObject{ID: w.system, InitialVersion: objs[0].Owner.InitialSharedVersion},
		typePackage:  sysType.Struct.Address,
		systemInner:  InnerStateID(w.system, sys.Version),
		stakeInn:     InnerStateID(w.staking, stk.Version),
	}
	w.mu.Lock()
	w.outer = o
	w.mu.Unlock()
	return o, nil
}

// BlobObject is a Blob object and the reference a transaction needs.
type BlobObject struct {
	Ref   ObjectRef
	Owner Owner
	Blob
}

// Blobs reads Blob objects by ID; the result holds nil for objects that
// no longer exist (deleted or burned).
func (w *Walrus) Blobs(ctx context.Context, ids []Address) ([]*BlobObject, error) {
	objs, err := w.c.Objects(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*BlobObject, len(objs))
	for i, o := range objs {
		if o == nil {
			continue
		}
		b, err := w.blobObject(*o)
		if err != nil {
			return nil, err
		}
		out[i] = &b
	}
	return out, nil
}

func (w *Walrus) blobObject(o Object) (BlobObject, error) {
	if !strings.HasSuffix(o.Type, "::blob::Blob") {
		return BlobObject{}, fmt.Errorf("%w: %s is %q, not a Walrus Blob", ErrWrongType, o.Ref.ID, o.Type)
	}
	b, err := ParseBlob(o.Contents)
	if err != nil {
		return BlobObject{}, fmt.Errorf("blob object %s: %w", o.Ref.ID, err)
	}
	if b.ID != o.Ref.ID {
		return BlobObject{}, fmt.Errorf("blob object %s: its contents name %s", o.Ref.ID, b.ID)
	}
	return BlobObject{Ref: o.Ref, Owner: o.Owner, Blob: b}, nil
}

// OwnedBlobs calls fn for every Blob object owner holds.
func (w *Walrus) OwnedBlobs(ctx context.Context, owner Address, blobType string, fn func(BlobObject) error) error {
	return w.c.OwnedObjects(ctx, owner, blobType, func(o Object) error {
		b, err := w.blobObject(o)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// Coins lists owner's coins of coinType with their balances.
func (w *Walrus) Coins(ctx context.Context, owner Address, coinType TypeTag) ([]CoinObject, error) {
	var out []CoinObject
	err := w.c.OwnedObjects(ctx, owner, "0x2::coin::Coin<"+coinType.String()+">", func(o Object) error {
		c, err := ParseCoin(o.Contents)
		if err != nil {
			return fmt.Errorf("coin %s: %w", o.Ref.ID, err)
		}
		out = append(out, CoinObject{Ref: o.Ref, Balance: c.Balance})
		return nil
	})
	return out, err
}

// CoinObject is a coin and the reference a transaction needs.
type CoinObject struct {
	Ref     ObjectRef
	Balance uint64
}
