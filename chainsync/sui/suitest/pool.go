package suitest

// Pool states, in the variant order of staking_pool::PoolState.
const (
	PoolActive = iota
	PoolWithdrawing
	PoolWithdrawn
)

// StorageNodeInfo is walrus storage_node::StorageNodeInfo.
type StorageNodeInfo struct {
	Name               string
	NodeID             Address
	NetworkAddress     string // "host:port"
	PublicKey          []byte // Element<UncompressedG1>: 96 bytes
	NextEpochPublicKey []byte // nil: None
	NetworkPublicKey   []byte // 33 bytes, compressed P-256
	MetadataID         Address
}

// PendingEntry is one entry of a PendingValues VecMap<u32, u64>.
type PendingEntry struct {
	Epoch uint32
	Value uint64
}

// Authorized is walrus auth::Authorized: an address or an object ID.
type Authorized struct {
	IsObject bool
	Address  Address
}

// StakingPoolFields is walrus staking_pool::StakingPool. The pool's ID is
// its node's ID, so clients fetch it by node ID.
type StakingPoolFields struct {
	ID                    Address
	State                 uint8
	WithdrawingEpoch      uint32 // PoolWithdrawing
	StoragePrice          uint64
	WritePrice            uint64
	NodeCapacity          uint64
	Node                  StorageNodeInfo
	ActivationEpoch       uint32
	LatestEpoch           uint32
	WALBalance            uint64
	NumShares             uint64
	PendingSharesWithdraw []PendingEntry
	PreActiveWithdrawals  []PendingEntry
	PendingCommissionRate []PendingEntry
	CommissionRate        uint16
	ExchangeRatesID       Address // Table {id, size}
	ExchangeRatesSize     uint64
	PendingStake          []PendingEntry
	RewardsPool           uint64
	Commission            uint64
	CommissionReceiver    Authorized
	GovernanceAuthorized  Authorized
	ExtraFieldsID         Address // Bag {id, size}
	ExtraFieldsSize       uint64
}

func encodePending(w *writer, es []PendingEntry) {
	w.uleb(uint32(len(es)))
	for _, e := range es {
		w.u32(e.Epoch)
		w.u64(e.Value)
	}
}

func encodeAuthorized(w *writer, a Authorized) {
	if a.IsObject {
		w.uleb(1)
	} else {
		w.uleb(0)
	}
	w.addr(a.Address)
}

// BCS is the struct's bytes.
func (p StakingPoolFields) BCS() []byte {
	w := &writer{}
	w.addr(p.ID)
	w.uleb(uint32(p.State))
	if p.State == PoolWithdrawing {
		w.u32(p.WithdrawingEpoch)
	}
	w.u64(p.StoragePrice)
	w.u64(p.WritePrice)
	w.u64(p.NodeCapacity)
	n := p.Node
	w.str(n.Name)
	w.addr(n.NodeID)
	w.str(n.NetworkAddress)
	w.bytes(n.PublicKey)
	if n.NextEpochPublicKey == nil {
		w.u8(0)
	} else {
		w.u8(1)
		w.bytes(n.NextEpochPublicKey)
	}
	w.bytes(n.NetworkPublicKey)
	w.addr(n.MetadataID)
	w.u32(p.ActivationEpoch)
	w.u32(p.LatestEpoch)
	w.u64(p.WALBalance)
	w.u64(p.NumShares)
	encodePending(w, p.PendingSharesWithdraw)
	encodePending(w, p.PreActiveWithdrawals)
	encodePending(w, p.PendingCommissionRate)
	w.u16(p.CommissionRate)
	w.addr(p.ExchangeRatesID)
	w.u64(p.ExchangeRatesSize)
	encodePending(w, p.PendingStake)
	w.u64(p.RewardsPool)
	w.u64(p.Commission)
	encodeAuthorized(w, p.CommissionReceiver)
	encodeAuthorized(w, p.GovernanceAuthorized)
	w.addr(p.ExtraFieldsID)
	w.u64(p.ExtraFieldsSize)
	return w.b
}

// MetadataPair is one key and value of walrus metadata::Metadata.
type MetadataPair struct{ Key, Value string }

// MetadataFieldBCS is the BCS of the Field<vector<u8>, Metadata> a Blob
// carries under the name b"metadata": its ID, the name and the VecMap.
func MetadataFieldBCS(id Address, pairs []MetadataPair) []byte {
	w := &writer{}
	w.addr(id)
	w.str("metadata")
	w.uleb(uint32(len(pairs)))
	for _, p := range pairs {
		w.str(p.Key)
		w.str(p.Value)
	}
	return w.b
}

// MetadataFieldID is the object ID of blob's metadata field.
func MetadataFieldID(blob Address) Address {
	w := &writer{}
	w.str("metadata")
	return DynamicFieldID(blob, TypeTag{Kind: tagVector, Elem: &TypeTag{Kind: tagU8}}, w.b)
}
