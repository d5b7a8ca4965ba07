package sui

import (
	"fmt"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

// The parsers below read the BCS contents of Walrus and framework objects
// (gRPC's Object.contents: the Move struct alone, without the object
// header). Field orders follow the deployed Move sources; the fixtures in
// testdata hold the official SDK's encodings of each. Every parser reads
// the whole value and fails on leftover bytes, so an object of another
// type is refused rather than misread.

// Storage is a storage_resource::Storage: space reserved for
// [StartEpoch, EndEpoch).
type Storage struct {
	ID          Address
	StartEpoch  uint32 // inclusive
	EndEpoch    uint32 // exclusive: the blob is gone when this epoch starts
	StorageSize uint64 // bytes of encoded data it holds
}

func (r *bcsReader) storage() Storage {
	return Storage{ID: r.address(), StartEpoch: r.u32(), EndEpoch: r.u32(), StorageSize: r.u64()}
}

// ParseStorage reads a standalone Storage object's contents.
func ParseStorage(contents []byte) (Storage, error) {
	r := newBCSReader(contents)
	s := r.storage()
	return s, r.done("Storage")
}

// Blob is a blob::Blob: the on-chain record of one stored blob and its
// lease. Walrus keeps the data while the current epoch is below
// Storage.EndEpoch.
type Blob struct {
	ID              Address // the Blob object's ID
	RegisteredEpoch uint32
	BlobID          blobstore.ID // u256: the same 32 bytes as the base64url text
	Size            uint64       // unencoded bytes
	EncodingType    uint8        // 1 = RS2
	CertifiedEpoch  *uint32      // nil until certified
	Storage         Storage
	Deletable       bool
}

// Certified reports whether the blob has been certified on chain.
func (b Blob) Certified() bool { return b.CertifiedEpoch != nil }

// EndEpoch is the first epoch in which the blob is no longer stored.
func (b Blob) EndEpoch() uint32 { return b.Storage.EndEpoch }

// Live reports whether the blob is certified and stored in epoch now.
func (b Blob) Live(now uint32) bool { return b.Certified() && now < b.EndEpoch() }

// ParseBlob reads a Blob object's contents.
func ParseBlob(contents []byte) (Blob, error) {
	r := newBCSReader(contents)
	b := Blob{ID: r.address(), RegisteredEpoch: r.u32()}
	copy(b.BlobID[:], r.take(32))
	b.Size = r.u64()
	b.EncodingType = r.u8()
	if r.option() {
		e := r.u32()
		b.CertifiedEpoch = &e
	}
	b.Storage = r.storage()
	b.Deletable = r.boolean()
	return b, r.done("Blob")
}

// Coin is a 0x2::coin::Coin<T>.
type Coin struct {
	ID      Address
	Balance uint64
}

// ParseCoin reads a Coin object's contents (any coin type).
func ParseCoin(contents []byte) (Coin, error) {
	r := newBCSReader(contents)
	c := Coin{ID: r.address(), Balance: r.u64()}
	return c, r.done("Coin")
}

// Versioned is the outer System or Staking object: its state lives in a
// dynamic field keyed by Version (see [InnerStateID]), and PackageID is the
// Walrus package to call.
type Versioned struct {
	ID           Address
	Version      uint64
	PackageID    Address
	NewPackageID *Address // set while an upgrade is pending
}

// ParseSystem reads the System object's contents.
func ParseSystem(contents []byte) (Versioned, error) {
	r := newBCSReader(contents)
	v := Versioned{ID: r.address(), Version: r.u64(), PackageID: r.address()}
	if r.option() {
		a := r.address()
		v.NewPackageID = &a
	}
	return v, r.done("System")
}

// ParseStaking reads the Staking object's contents, which have the
// System object's shape.
func ParseStaking(contents []byte) (Versioned, error) {
	v, err := ParseSystem(contents)
	if err != nil {
		return Versioned{}, fmt.Errorf("sui: decode Staking: %w", err)
	}
	return v, nil
}

// CommitteeMember is one storage node of the current committee.
type CommitteeMember struct {
	PublicKey []byte // BLS12-381 G1 point, uncompressed (96 bytes)
	Weight    uint16 // shards held
	NodeID    Address
}

// SystemState is the part of system_state_inner::SystemStateInnerV1
// walrusfs uses: the Walrus epoch, the committee, capacity and prices.
// Prices are in FROST per storage unit (1 MiB) and epoch (storage) or per
// unit once (write).
type SystemState struct {
	Epoch               uint32 // the current Walrus epoch
	NShards             uint16
	Members             []CommitteeMember
	TotalCapacity       uint64
	UsedCapacity        uint64
	StoragePricePerUnit uint64
	WritePricePerUnit   uint64
	TotalAggregatedKey  []byte
}

// ParseSystemInner reads the dynamic field object that holds the system
// state: 0x2::dynamic_field::Field<u64, SystemStateInnerV1>, whose name
// must be the System object's version.
func ParseSystemInner(fieldContents []byte, version uint64) (SystemState, error) {
	r := newBCSReader(fieldContents)
	r.address() // the field object's own ID
	if name := r.u64(); r.err == nil && name != version {
		return SystemState{}, fmt.Errorf("sui: system state field holds version %d, want %d", name, version)
	}
	var s SystemState
	n := r.length(96 + 2 + 32)
	for range n {
		s.Members = append(s.Members, CommitteeMember{PublicKey: r.bytes(), Weight: r.u16(), NodeID: r.address()})
	}
	s.NShards = r.u16()
	s.Epoch = r.u32()
	s.TotalAggregatedKey = r.bytes()
	s.TotalCapacity = r.u64()
	s.UsedCapacity = r.u64()
	s.StoragePricePerUnit = r.u64()
	s.WritePricePerUnit = r.u64()
	// future_accounting: FutureAccountingRingBuffer
	r.u32() // current_index
	r.u32() // length
	for range r.length(4 + 8 + 8) {
		r.u32() // epoch
		r.u64() // used_capacity
		r.u64() // rewards_to_distribute: Balance<WAL>
	}
	// event_blob_certification_state
	if r.option() { // latest_certified_blob: EventBlob
		r.take(32)
		r.u64()
	}
	for range r.length(32 + 8 + 2) { // aggregate_weight_per_blob: VecMap<EventBlob, u16>
		r.take(32)
		r.u64()
		r.u16()
	}
	r.address() // deny_list_sizes: ExtendedField
	return s, r.done("SystemStateInnerV1")
}

// EpochPhase is where the Walrus epoch change stands (staking_inner's
// EpochState).
type EpochPhase uint8

const (
	// EpochChangeSync: the committee changed and nodes are moving shards;
	// blobs certified before this epoch are read from the previous
	// committee.
	EpochChangeSync EpochPhase = iota
	// EpochChangeDone: the epoch started (EpochStateTime) and is settled.
	EpochChangeDone
	// NextParamsSelected: the next epoch's committee and prices are
	// chosen; EpochStateTime is still the current epoch's start.
	NextParamsSelected
)

// StakingState is the part of staking_inner::StakingInnerV1 walrusfs uses:
// the epoch clock and the shard assignment.
type StakingState struct {
	NShards         uint16
	EpochDuration   time.Duration
	FirstEpochStart time.Time // the start of epoch 1
	Epoch           uint32
	Phase           EpochPhase
	// EpochStart is the current epoch's start when Phase says it (zero
	// during EpochChangeSync).
	EpochStart time.Time
	// Shards maps each node of the current committee to its shards.
	Shards map[Address][]uint16
	// NextParams are the next epoch's capacity and prices, once selected.
	NextParams *EpochParams
}

// EpochParams are an epoch's capacity and prices.
type EpochParams struct {
	TotalCapacity       uint64
	StoragePricePerUnit uint64
	WritePricePerUnit   uint64
}

// EpochStartTime estimates when Walrus epoch e starts (or started): the
// current epoch's recorded start when known, else the first epoch's
// start, moved by whole epoch lengths.
func (s StakingState) EpochStartTime(e uint32) time.Time {
	base, baseEpoch := s.FirstEpochStart, uint32(1)
	if !s.EpochStart.IsZero() {
		base, baseEpoch = s.EpochStart, s.Epoch
	}
	return base.Add(time.Duration(int64(e)-int64(baseEpoch)) * s.EpochDuration)
}

func (r *bcsReader) committee(into map[Address][]uint16) {
	for range r.length(32 + 1) {
		node := r.address()
		n := r.length(2)
		shards := make([]uint16, 0, n)
		for range n {
			shards = append(shards, r.u16())
		}
		if into != nil && r.err == nil {
			into[node] = shards
		}
	}
}

func msTime(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }

// ParseStakingInner reads the dynamic field object that holds the staking
// state: Field<u64, StakingInnerV1>, whose name must be the Staking
// object's version.
func ParseStakingInner(fieldContents []byte, version uint64) (StakingState, error) {
	r := newBCSReader(fieldContents)
	r.address()
	if name := r.u64(); r.err == nil && name != version {
		return StakingState{}, fmt.Errorf("sui: staking state field holds version %d, want %d", name, version)
	}
	s := StakingState{NShards: r.u16(), Shards: make(map[Address][]uint16)}
	s.EpochDuration = time.Duration(r.u64()) * time.Millisecond
	s.FirstEpochStart = msTime(r.u64())
	r.address() // pools: ObjectTable id
	r.u64()     // pools: size
	s.Epoch = r.u32()
	r.address() // active_set: ExtendedField
	if r.option() {
		r.committee(nil) // next_committee
	}
	r.committee(s.Shards)
	r.committee(nil) // previous_committee
	if r.option() {
		s.NextParams = &EpochParams{TotalCapacity: r.u64(), StoragePricePerUnit: r.u64(), WritePricePerUnit: r.u64()}
	}
	s.Phase = EpochPhase(r.variant("EpochState", 3))
	switch s.Phase {
	case EpochChangeSync:
		r.u16() // nodes that finished syncing
	default:
		s.EpochStart = msTime(r.u64())
	}
	r.address() // next_epoch_public_keys: ExtendedField
	return s, r.done("StakingInnerV1")
}

// StakingPool is the part of a staking_pool::StakingPool walrusfs uses:
// the node it stands for and where to reach it.
type StakingPool struct {
	ID               Address // the node ID
	State            PoolState
	WithdrawingEpoch uint32 // for PoolWithdrawing
	StoragePrice     uint64 // the node's vote
	WritePrice       uint64
	NodeCapacity     uint64
	Name             string
	NetworkAddress   string // host:port of its REST API
	PublicKey        []byte // BLS G1, uncompressed
	NetworkPublicKey []byte // P-256, compressed (33 bytes)
	ActivationEpoch  uint32
}

// PoolState says whether a node still takes part.
type PoolState uint8

const (
	PoolActive PoolState = iota
	PoolWithdrawing
	PoolWithdrawn
)

func (r *bcsReader) pendingValues() {
	for range r.length(4 + 8) {
		r.u32()
		r.u64()
	}
}

// ParseStakingPool reads a StakingPool object's contents.
func ParseStakingPool(contents []byte) (StakingPool, error) {
	r := newBCSReader(contents)
	p := StakingPool{ID: r.address()}
	p.State = PoolState(r.variant("PoolState", 3))
	if p.State == PoolWithdrawing {
		p.WithdrawingEpoch = r.u32()
	}
	p.StoragePrice, p.WritePrice, p.NodeCapacity = r.u64(), r.u64(), r.u64()
	p.Name = r.str()
	r.address() // node_info.node_id (equals id)
	p.NetworkAddress = r.str()
	p.PublicKey = r.bytes()
	if r.option() {
		r.bytes() // next_epoch_public_key
	}
	p.NetworkPublicKey = r.bytes()
	r.address() // node_info.metadata: ExtendedField
	p.ActivationEpoch = r.u32()
	r.u32()           // latest_epoch
	r.u64()           // wal_balance
	r.u64()           // num_shares
	r.pendingValues() // pending_shares_withdraw
	r.pendingValues() // pre_active_withdrawals
	r.pendingValues() // pending_commission_rate
	r.u16()           // commission_rate
	r.address()       // exchange_rates: Table id
	r.u64()           // exchange_rates: size
	r.pendingValues() // pending_stake
	r.u64()           // rewards_pool: Balance
	r.u64()           // commission: Balance
	for range 2 {     // commission_receiver, governance_authorized: Authorized
		r.variant("Authorized", 2)
		r.address()
	}
	r.address() // extra_fields: Bag id
	r.u64()     // extra_fields: size
	return p, r.done("StakingPool")
}
