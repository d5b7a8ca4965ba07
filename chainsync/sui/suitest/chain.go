package suitest

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cloudflare/circl/sign/bls"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Config describes a new chain. Zero fields take the DefaultConfig values.
type Config struct {
	// NShards is the Walrus shard count (1000 on Mainnet; 10 keeps tests
	// fast, the encoded lengths small and the committee small).
	NShards uint16
	// CommitteeSize is the number of storage nodes; shards are dealt to
	// them round robin, so weights differ by at most one.
	CommitteeSize int
	// Seed derives the committee's BLS keys and the chain's IDs.
	Seed string
	// ChainID is the genesis checkpoint digest clients put in ValidDuring
	// expirations; zero derives one from Seed.
	ChainID Digest
	// StoragePrice and WritePrice are in FROST per 1 MiB unit.
	StoragePrice uint64
	WritePrice   uint64
	// TotalCapacity is the Walrus capacity in bytes.
	TotalCapacity uint64
	// EpochDurationMs is the Walrus epoch length in milliseconds.
	EpochDurationMs uint64
	// GenesisTimeMs is the start of Walrus epoch 0 (and of Sui epoch 0).
	GenesisTimeMs uint64
	// MaxEpochsAhead bounds storage purchases (53 on Mainnet).
	MaxEpochsAhead uint32
	// ReferenceGasPrice is Sui's gas price in MIST per unit.
	ReferenceGasPrice uint64
	// Port is the port Serve listens on at 127.0.0.1; 0 picks a free one.
	Port int
	// NodeAddresses are the storage nodes' network addresses ("host:port")
	// in their StakingPool objects; missing ones are 127.0.0.1:9185+i.
	// This chain runs no storage nodes.
	NodeAddresses []string
	// StateFile, when set, keeps the chain across restarts: New loads it
	// when it exists (then only Port is taken from this Config), and every
	// commit rewrites it atomically.
	StateFile string
}

// DefaultConfig is a Testnet-shaped chain: 1000 shards, 4 nodes, prices
// of 100 000 FROST (storage) and 20 000 FROST (write) per unit, 1 PB,
// one-day epochs.
func DefaultConfig() Config {
	return Config{
		NShards:           1000,
		CommitteeSize:     4,
		Seed:              "suitest",
		StoragePrice:      100_000,
		WritePrice:        20_000,
		TotalCapacity:     1 << 50,
		EpochDurationMs:   24 * 3600 * 1000,
		GenesisTimeMs:     1_767_225_600_000, // 2026-01-01T00:00:00Z
		MaxEpochsAhead:    53,
		ReferenceGasPrice: 1000,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.NShards == 0 {
		c.NShards = d.NShards
	}
	if c.CommitteeSize == 0 {
		c.CommitteeSize = d.CommitteeSize
	}
	if c.Seed == "" {
		c.Seed = d.Seed
	}
	if c.StoragePrice == 0 {
		c.StoragePrice = d.StoragePrice
	}
	if c.WritePrice == 0 {
		c.WritePrice = d.WritePrice
	}
	if c.TotalCapacity == 0 {
		c.TotalCapacity = d.TotalCapacity
	}
	if c.EpochDurationMs == 0 {
		c.EpochDurationMs = d.EpochDurationMs
	}
	if c.GenesisTimeMs == 0 {
		c.GenesisTimeMs = d.GenesisTimeMs
	}
	if c.MaxEpochsAhead == 0 {
		c.MaxEpochsAhead = d.MaxEpochsAhead
	}
	if c.ReferenceGasPrice == 0 {
		c.ReferenceGasPrice = d.ReferenceGasPrice
	}
	return c
}

// ids are the fixed objects and packages of a chain.
type ids struct {
	ChainID         Digest
	System          Address
	SystemISV       uint64
	SystemInner     Address
	Staking         Address
	StakingISV      uint64
	StakingInner    Address
	WalrusOriginal  Address // type package: blob::Blob, events::*
	WalrusPublished Address // the package to call
	WALPackage      Address
}

// state is one version of the chain. Objects in a committed state are
// never changed in place: a transaction replaces the pointer, so states
// can share objects and snapshots for read lag are cheap.
type state struct {
	Objects  map[Address]*Object
	Balances map[string]uint64 // balanceKey(owner, coin type) → address balance
	Walrus   *walrusState
	SuiEpoch uint64
	Locks    map[Address]uint64 // object → the Sui epoch it is locked in
	Seq      uint64             // committed transactions and knob changes
	// Burned holds, for each certified blob whose object was burned, the
	// latest end epoch a burned object had: burn drops the object, but
	// the storage nodes keep the data until then.
	Burned map[Address]uint32
}

func (s *state) clone() *state {
	c := &state{
		Objects:  make(map[Address]*Object, len(s.Objects)),
		Balances: make(map[string]uint64, len(s.Balances)),
		Walrus:   s.Walrus.clone(),
		SuiEpoch: s.SuiEpoch,
		Locks:    make(map[Address]uint64, len(s.Locks)),
		Seq:      s.Seq,
		Burned:   make(map[Address]uint32, len(s.Burned)),
	}
	for k, v := range s.Burned {
		c.Burned[k] = v
	}
	for k, v := range s.Objects {
		c.Objects[k] = v
	}
	for k, v := range s.Balances {
		c.Balances[k] = v
	}
	for k, v := range s.Locks {
		c.Locks[k] = v
	}
	return c
}

func balanceKey(owner Address, coin TypeTag) string { return owner.String() + "|" + coin.String() }

// maxHistory bounds the snapshots kept for SetReadLag.
const maxHistory = 64

// maxTxRecords bounds the executed transactions kept for GetTransaction
// (and in the state file); older ones are NotFound, as on a pruning node.
const maxTxRecords = 1000

// Chain is an in-memory Sui chain holding Walrus objects, served over
// gRPC. All methods are safe for concurrent use.
type Chain struct {
	cfg  Config
	ids  ids
	keys []*bls.PrivateKey[bls.KeyG1SigG2]

	mu       sync.Mutex
	st       *state
	history  []*state // committed states, oldest first, ending with st
	txs      map[Digest]*txRecord
	txOrder  []Digest
	readLag  int
	failCode codes.Code
	failN    int
	lostCode codes.Code
	lostN    int

	srv  *grpc.Server
	lis  net.Listener
	done chan struct{}
}

// New builds a chain: the Walrus System and Staking objects with their
// inner state at version 1, epoch 0 and a committee from cfg.Seed. With a
// StateFile that exists, it loads that chain instead.
func New(cfg Config) (*Chain, error) {
	cfg = cfg.withDefaults()
	if cfg.CommitteeSize < 1 || cfg.CommitteeSize > int(cfg.NShards) {
		return nil, fmt.Errorf("suitest: committee size %d must be between 1 and the %d shards", cfg.CommitteeSize, cfg.NShards)
	}
	if cfg.NShards < 4 {
		return nil, fmt.Errorf("suitest: %d shards: RS2 needs at least 4", cfg.NShards)
	}
	if cfg.MaxEpochsAhead > 1000 {
		return nil, fmt.Errorf("suitest: MaxEpochsAhead %d: Walrus allows at most 1000", cfg.MaxEpochsAhead)
	}
	c := &Chain{cfg: cfg, txs: map[Digest]*txRecord{}, done: make(chan struct{})}
	if cfg.StateFile != "" {
		ok, err := c.load()
		if err != nil {
			return nil, err
		}
		if ok {
			return c, c.deriveKeys()
		}
	}
	if err := c.genesis(); err != nil {
		return nil, err
	}
	if err := c.deriveKeys(); err != nil {
		return nil, err
	}
	return c, c.persist()
}

func (c *Chain) deriveKeys() error {
	c.keys = c.keys[:0]
	for i := range c.st.Walrus.Members {
		k, err := committeeKey([]byte(c.cfg.Seed), i)
		if err != nil {
			return fmt.Errorf("suitest: committee key %d: %w", i, err)
		}
		c.keys = append(c.keys, k)
	}
	return nil
}

func (c *Chain) seedID(label string) Address {
	return Address(sha256.Sum256([]byte(c.cfg.Seed + "\x00" + label)))
}

func (c *Chain) genesis() error {
	cfg := c.cfg
	c.ids = ids{
		ChainID:         cfg.ChainID,
		System:          c.seedID("system"),
		SystemISV:       1,
		Staking:         c.seedID("staking"),
		StakingISV:      1,
		WalrusOriginal:  c.seedID("walrus v1"),
		WalrusPublished: c.seedID("walrus v3"),
		WALPackage:      c.seedID("wal"),
	}
	if c.ids.ChainID == (Digest{}) {
		c.ids.ChainID = Digest(c.seedID("genesis checkpoint"))
	}
	const innerVersion = 3 // the deployed package version
	key := binaryU64(innerVersion)
	c.ids.SystemInner = DynamicFieldID(c.ids.System, u64Type, key)
	c.ids.StakingInner = DynamicFieldID(c.ids.Staking, u64Type, key)
	members, total, err := newCommittee([]byte(cfg.Seed), cfg.CommitteeSize, cfg.NShards)
	if err != nil {
		return fmt.Errorf("suitest: committee: %w", err)
	}
	ws := &walrusState{
		NShards:        cfg.NShards,
		Members:        members,
		TotalKey:       total,
		TotalCapacity:  cfg.TotalCapacity,
		StoragePrice:   cfg.StoragePrice,
		WritePrice:     cfg.WritePrice,
		EpochDuration:  cfg.EpochDurationMs,
		GenesisTime:    cfg.GenesisTimeMs,
		FirstEpochTime: cfg.GenesisTimeMs + cfg.EpochDurationMs,
		DenyListID:     c.seedID("deny list sizes"),
		PoolsID:        c.seedID("pools"),
		ActiveSetID:    c.seedID("active set"),
		NextKeysID:     c.seedID("next epoch public keys"),
	}
	ws.Ring = make([]FutureAccounting, cfg.MaxEpochsAhead)
	for i := range ws.Ring {
		ws.Ring[i].Epoch = uint32(i)
	}
	st := &state{Objects: map[Address]*Object{}, Balances: map[string]uint64{}, Walrus: ws, Locks: map[Address]uint64{}}
	genesisTx := Digest(c.seedID("genesis transaction"))
	put := func(o *Object) {
		o.PrevTx = genesisTx
		o.StorageRebate = storageCost(o)
		st.Objects[o.ID] = o
	}
	put(&Object{ID: c.ids.System, Version: 1, Owner: Owner{Kind: OwnerShared, InitialSharedVersion: 1},
		Type:     structType(c.ids.WalrusOriginal, "system", "System"),
		Contents: VersionedFields{ID: c.ids.System, Version: innerVersion, PackageID: c.ids.WalrusPublished}.BCS()})
	put(&Object{ID: c.ids.Staking, Version: 1, Owner: Owner{Kind: OwnerShared, InitialSharedVersion: 1},
		Type:     structType(c.ids.WalrusOriginal, "staking", "Staking"),
		Contents: VersionedFields{ID: c.ids.Staking, Version: innerVersion, PackageID: c.ids.WalrusPublished}.BCS()})
	put(&Object{ID: c.ids.SystemInner, Version: 1, Owner: Owner{Kind: OwnerObject, Address: c.ids.System},
		Type:     c.fieldType("system_state_inner", "SystemStateInnerV1"),
		Contents: fieldContents(c.ids.SystemInner, innerVersion, ws.systemInnerBCS())})
	put(&Object{ID: c.ids.StakingInner, Version: 1, Owner: Owner{Kind: OwnerObject, Address: c.ids.Staking},
		Type:     c.fieldType("staking_inner", "StakingInnerV1"),
		Contents: fieldContents(c.ids.StakingInner, innerVersion, ws.stakingInnerBCS())})
	for i, m := range members {
		addr := fmt.Sprintf("127.0.0.1:%d", 9185+i)
		if i < len(cfg.NodeAddresses) {
			addr = cfg.NodeAddresses[i]
		}
		netKey, err := networkKey(cfg.Seed, i)
		if err != nil {
			return err
		}
		pool := StakingPoolFields{
			ID: m.NodeID, State: PoolActive, StoragePrice: cfg.StoragePrice, WritePrice: cfg.WritePrice, NodeCapacity: cfg.TotalCapacity,
			Node: StorageNodeInfo{Name: fmt.Sprintf("suitest-node-%d", i), NodeID: m.NodeID, NetworkAddress: addr,
				PublicKey: m.PublicKey, NetworkPublicKey: netKey, MetadataID: c.seedID(fmt.Sprintf("node %d metadata", i))},
			ExchangeRatesID:      c.seedID(fmt.Sprintf("node %d exchange rates", i)),
			CommissionReceiver:   Authorized{Address: m.NodeID},
			GovernanceAuthorized: Authorized{Address: m.NodeID},
			ExtraFieldsID:        c.seedID(fmt.Sprintf("node %d extra fields", i)),
		}
		put(&Object{ID: m.NodeID, Version: 1, Owner: Owner{Kind: OwnerObject, Address: ws.PoolsID},
			Type: structType(c.ids.WalrusOriginal, "staking_pool", "StakingPool"), PublicTransfer: true, Contents: pool.BCS()})
	}
	c.st = st
	c.history = []*state{st}
	return nil
}

// networkKey is node i's TLS public key: a compressed P-256 point.
func networkKey(seed string, i int) ([]byte, error) {
	k := sha256.Sum256([]byte(fmt.Sprintf("%s\x00network key %d", seed, i)))
	priv, err := ecdh.P256().NewPrivateKey(k[:])
	if err != nil {
		return nil, fmt.Errorf("suitest: node %d network key: %w", i, err)
	}
	pub := priv.PublicKey().Bytes() // 0x04 || X || Y
	return append([]byte{2 | pub[64]&1}, pub[1:33]...), nil
}

func (c *Chain) fieldType(module, name string) TypeTag {
	return structType(addrTwo, "dynamic_field", "Field", u64Type, structType(c.ids.WalrusOriginal, module, name))
}

func binaryU64(v uint64) []byte { w := &writer{}; w.u64(v); return w.b }

// Accessors.

// SystemObject returns the shared System object's ID and initial shared version.
func (c *Chain) SystemObject() (Address, uint64) { return c.ids.System, c.ids.SystemISV }

// StakingObject returns the shared Staking object's ID and initial shared version.
func (c *Chain) StakingObject() (Address, uint64) { return c.ids.Staking, c.ids.StakingISV }

// WalrusPackage is the package to call (System.package_id).
func (c *Chain) WalrusPackage() Address { return c.ids.WalrusPublished }

// WalrusTypePackage is the original package ID, which names the types
// (blob::Blob) and events.
func (c *Chain) WalrusTypePackage() Address { return c.ids.WalrusOriginal }

// WALType is the WAL coin type, "<package>::wal::WAL".
func (c *Chain) WALType() string { return c.walType().String() }

func (c *Chain) walType() TypeTag { return structType(c.ids.WALPackage, "wal", "WAL") }

// ChainID is the genesis checkpoint digest; GetServiceInfo reports it in base58.
func (c *Chain) ChainID() Digest { return c.ids.ChainID }

// NShards is the Walrus shard count.
func (c *Chain) NShards() uint16 { return c.cfg.NShards }

// Epoch is the current Walrus epoch.
func (c *Chain) Epoch() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Walrus.Epoch
}

// SuiEpoch is the current Sui epoch; AdvanceEpoch moves it with the
// Walrus epoch.
func (c *Chain) SuiEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.SuiEpoch
}

// Prices returns the current storage and write prices (FROST per unit).
func (c *Chain) Prices() (storage, write uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Walrus.StoragePrice, c.st.Walrus.WritePrice
}

// Object returns a copy of the latest version of an object.
func (c *Chain) Object(id Address) (*Object, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.st.Objects[id]
	if !ok {
		return nil, false
	}
	return o.clone(), true
}

// AddressBalance is owner's SIP-58 address balance of coinType.
func (c *Chain) AddressBalance(owner Address, coinType string) (uint64, error) {
	t, err := ParseType(coinType)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Balances[balanceKey(owner, t)], nil
}

// Knobs. Each one is a system change: it commits a new state like a
// transaction does (and counts for SetReadLag).

// commitSystem applies f to a copy of the state, bumps the changed system
// objects and commits. Callers hold c.mu.
func (c *Chain) commitSystem(f func(w *work) error) error {
	w := c.newWork(c.st, Digest(sha256.Sum256(binaryU64(c.st.Seq+1))))
	if err := f(w); err != nil {
		return err
	}
	w.renderWalrus()
	var lamport uint64
	for id := range w.dirty {
		if o, ok := c.st.Objects[id]; ok {
			lamport = max(lamport, o.Version)
		}
	}
	for id := range w.dirty {
		if o, ok := w.st.Objects[id]; ok {
			o.Version = lamport + 1
			o.PrevTx = w.digest
			o.StorageRebate = storageCost(o) // as if its storage had been paid
		}
	}
	return c.commit(w.st, nil)
}

// AdvanceEpoch moves the Walrus epoch, and the Sui epoch with it, n
// epochs forward: the ring buffer of future accounting pops, used
// capacity carries over, the committee stays, and locks taken with
// LockObject end.
func (c *Chain) AdvanceEpoch(n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitSystem(func(w *work) error {
		for range n {
			w.st.Walrus.advance(c.cfg.TotalCapacity)
			w.st.SuiEpoch++
		}
		w.st.Locks = map[Address]uint64{}
		w.walrusDirty, w.stakingDirty = true, true
		return nil
	})
}

// SetPrices changes the storage and write prices at once, mid-epoch, as
// staking::update_prices does after node votes.
func (c *Chain) SetPrices(storage, write uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitSystem(func(w *work) error {
		w.st.Walrus.StoragePrice, w.st.Walrus.WritePrice = storage, write
		w.walrusDirty = true
		return nil
	})
}

// SetCapacity changes the total capacity in bytes (future epochs keep it).
func (c *Chain) SetCapacity(total uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.TotalCapacity = total
	return c.commitSystem(func(w *work) error {
		w.st.Walrus.TotalCapacity = total
		w.walrusDirty = true
		return nil
	})
}

// SetReadLag makes reads (GetObject, BatchGetObjects, ListOwnedObjects,
// GetBalance, ListBalances) see the state as of n commits ago, while
// execution uses the latest state, like a lagging full node. At most
// 63 commits are kept.
func (c *Chain) SetReadLag(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readLag = max(n, 0)
}

// FailNext makes the next n RPCs, of any method, fail with code.
func (c *Chain) FailNext(code codes.Code, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failCode, c.failN = code, n
}

// FailUnavailable is FailNext with UNAVAILABLE, the status of a node
// restarting or overloaded, for callers that do not speak gRPC.
func (c *Chain) FailUnavailable(n int) { c.FailNext(codes.Unavailable, n) }

// FailAfterExecute makes the next n ExecuteTransaction calls execute and
// commit the transaction, then fail with code as if the reply had been
// lost: the client cannot tell whether it ran, and must look (by digest,
// GetTransaction) or resubmit (the same bytes return the first result).
func (c *Chain) FailAfterExecute(code codes.Code, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lostCode, c.lostN = code, n
}

// LockObject equivocates object id: until the next Sui epoch, every
// transaction using it as an input is rejected as Sui rejects one whose
// objects another transaction holds.
func (c *Chain) LockObject(id Address) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitSystem(func(w *work) error {
		w.st.Locks[id] = w.st.SuiEpoch
		return nil
	})
}

// Mint creates a Coin<coinType> of amount owned by owner.
func (c *Chain) Mint(owner Address, coinType string, amount uint64) (ObjectRef, error) {
	t, err := ParseType(coinType)
	if err != nil {
		return ObjectRef{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ref ObjectRef
	err = c.commitSystem(func(w *work) error {
		o := w.newObject(coinOf(t), Owner{Kind: OwnerAddress, Address: owner}, func(id Address) []byte { return coinContents(id, amount) })
		w.st.Objects[o.ID] = o
		w.dirty[o.ID] = true
		ref.ID = o.ID
		return nil
	})
	if err != nil {
		return ObjectRef{}, err
	}
	return c.st.Objects[ref.ID].Ref(), nil
}

// Fund gives owner one WAL coin and one SUI coin of whole tokens (10⁹
// base units each); a zero amount mints nothing.
func (c *Chain) Fund(owner Address, wal, sui uint64) error {
	if wal > 0 {
		if _, err := c.Mint(owner, c.WALType(), wal*1_000_000_000); err != nil {
			return err
		}
	}
	if sui > 0 {
		if _, err := c.Mint(owner, suiType.String(), sui*1_000_000_000); err != nil {
			return err
		}
	}
	return nil
}

// Deposit adds amount to owner's address balance of coinType, as
// coin::send_funds does.
func (c *Chain) Deposit(owner Address, coinType string, amount uint64) error {
	t, err := ParseType(coinType)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitSystem(func(w *work) error {
		w.st.Balances[balanceKey(owner, t)] += amount
		return nil
	})
}

// CreateBlob creates a Blob object owned by owner, as a publisher's
// reserve_space + register_blob (+ certify_blob) would, without payment:
// its Storage covers the RS2 encoded length of size from the current
// epoch to epochsAhead later.
func (c *Chain) CreateBlob(owner Address, blobID [32]byte, size uint64, epochsAhead uint32, deletable, certified bool) (Address, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var id Address
	err := c.commitSystem(func(w *work) error {
		ws := w.st.Walrus
		if epochsAhead == 0 || epochsAhead > ws.maxEpochsAhead() {
			return fmt.Errorf("suitest: CreateBlob: %d epochs ahead, want 1 to %d", epochsAhead, ws.maxEpochsAhead())
		}
		enc := EncodedLength(size, ws.NShards)
		for i := range epochsAhead {
			ws.ring(i).Used += enc
		}
		ws.UsedCapacity = ws.ring(0).Used
		w.walrusDirty = true
		sid := createdID(w.digest, w.created)
		w.created++
		bf := BlobFields{RegisteredEpoch: ws.Epoch, BlobID: blobID, Size: size, EncodingType: 1, Deletable: deletable,
			Storage: StorageFields{ID: sid, StartEpoch: ws.Epoch, EndEpoch: ws.Epoch + epochsAhead, Size: enc}}
		if certified {
			e := ws.Epoch
			bf.CertifiedEpoch = &e
		}
		o := w.newObject(c.blobType(), Owner{Kind: OwnerAddress, Address: owner}, func(oid Address) []byte { bf.ID = oid; return bf.BCS() })
		w.st.Objects[o.ID] = o
		w.dirty[o.ID] = true
		id = o.ID
		return nil
	})
	return id, err
}

// CertifyBlob marks a Blob object certified in the current epoch without a
// certificate, as a publisher's certify_blob would.
func (c *Chain) CertifyBlob(objectID Address) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitSystem(func(w *work) error {
		o, ok := w.st.Objects[objectID]
		if !ok || !sameType(o.Type, c.blobType()) {
			return fmt.Errorf("suitest: CertifyBlob: no Blob object %s", objectID)
		}
		bf, err := decodeBlob(o.Contents)
		if err != nil {
			return err
		}
		if bf.CertifiedEpoch != nil {
			return fmt.Errorf("suitest: CertifyBlob: blob object %s is already certified", objectID)
		}
		e := w.st.Walrus.Epoch
		bf.CertifiedEpoch = &e
		w.mut(objectID).Contents = bf.BCS()
		return nil
	})
}

// BlobLive reports whether blobID is stored: some Blob object holds it
// certified and unexpired, or a burned one did until an end epoch still
// ahead (burning lets go of the object, not of the data). It returns the
// latest such end epoch.
func (c *Chain) BlobLive(blobID [32]byte) (endEpoch uint32, live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.st.Walrus.Epoch
	if end, ok := c.st.Burned[Address(blobID)]; ok && now < end {
		endEpoch, live = end, true
	}
	bt := c.blobType()
	for _, o := range c.st.Objects {
		if !sameType(o.Type, bt) {
			continue
		}
		bf, err := decodeBlob(o.Contents)
		if err != nil || bf.BlobID != blobID || bf.CertifiedEpoch == nil || now >= bf.Storage.EndEpoch {
			continue
		}
		endEpoch, live = max(endEpoch, bf.Storage.EndEpoch), true
	}
	return endEpoch, live
}

// Blob returns the fields of Blob object id, if it exists.
func (c *Chain) Blob(id Address) (BlobFields, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.st.Objects[id]
	if !ok || !sameType(o.Type, c.blobType()) {
		return BlobFields{}, false
	}
	bf, err := decodeBlob(o.Contents)
	return bf, err == nil
}

// BlobObjects returns owner's Blob objects, sorted by object ID.
func (c *Chain) BlobObjects(owner Address) []BlobFields {
	c.mu.Lock()
	defer c.mu.Unlock()
	bt := c.blobType()
	var out []BlobFields
	for _, o := range c.st.Objects {
		if o.Owner.Kind != OwnerAddress || o.Owner.Address != owner || !sameType(o.Type, bt) {
			continue
		}
		if bf, err := decodeBlob(o.Contents); err == nil {
			out = append(out, bf)
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].ID[:]) < string(out[j].ID[:]) })
	return out
}

func (c *Chain) blobType() TypeTag { return structType(c.ids.WalrusOriginal, "blob", "Blob") }
func (c *Chain) storageType() TypeTag {
	return structType(c.ids.WalrusOriginal, "storage_resource", "Storage")
}

// Certificate signs the confirmation message for blobID in the current
// epoch with the given committee members (indices into the committee) and
// returns what certify_blob takes: the aggregate signature, the signers
// bitmap and the message. deletableObject is nil for a permanent blob.
func (c *Chain) Certificate(blobID [32]byte, deletableObject *Address, signers []int) (sig, bitmap, msg []byte, err error) {
	c.mu.Lock()
	epoch := c.st.Walrus.Epoch
	n := len(c.st.Walrus.Members)
	c.mu.Unlock()
	return c.CertificateFor(ConfirmationMessage(epoch, blobID, deletableObject), signers, n)
}

// CertificateFor signs msg with the given members; n is the committee size
// (the bitmap has ceil(n/8) bytes).
func (c *Chain) CertificateFor(msg []byte, signers []int, n int) (sig, bitmap, out []byte, err error) {
	bitmap = make([]byte, (n+7)/8)
	var sigs []bls.Signature
	for _, i := range signers {
		if i < 0 || i >= len(c.keys) {
			return nil, nil, nil, fmt.Errorf("suitest: no committee member %d", i)
		}
		bitmap[i/8] |= 1 << (i % 8)
		sigs = append(sigs, bls.Sign(c.keys[i], msg))
	}
	sig, err = bls.Aggregate(bls.G1{}, sigs)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("suitest: aggregate: %w", err)
	}
	return sig, bitmap, msg, nil
}

// commit makes next the latest state, records the transaction (if any)
// and persists. Callers hold c.mu.
func (c *Chain) commit(next *state, rec *txRecord) error {
	next.Seq = c.st.Seq + 1
	prev, prevHist := c.st, c.history
	c.st = next
	c.history = append(c.history, next)
	if len(c.history) > maxHistory {
		c.history = c.history[len(c.history)-maxHistory:]
	}
	var dropped *txRecord
	if rec != nil {
		c.txs[rec.Digest] = rec
		c.txOrder = append(c.txOrder, rec.Digest)
		if len(c.txOrder) > maxTxRecords {
			dropped = c.txs[c.txOrder[0]]
			delete(c.txs, c.txOrder[0])
			c.txOrder = c.txOrder[1:]
		}
	}
	if err := c.persist(); err != nil {
		c.st, c.history = prev, prevHist
		if rec != nil {
			delete(c.txs, rec.Digest)
			c.txOrder = c.txOrder[:len(c.txOrder)-1]
			if dropped != nil {
				c.txs[dropped.Digest] = dropped
				c.txOrder = append([]Digest{dropped.Digest}, c.txOrder...)
			}
		}
		return err
	}
	return nil
}

// readState is the state reads see under SetReadLag. Callers hold c.mu.
func (c *Chain) readState() *state {
	i := len(c.history) - 1 - c.readLag
	return c.history[max(i, 0)]
}

// The state file.

type stateFile struct {
	Format  int
	Config  Config
	IDs     ids
	State   *state
	Txs     []*txRecord
	History int
}

const stateFormat = 1

func (c *Chain) persist() error {
	if c.cfg.StateFile == "" {
		return nil
	}
	f := stateFile{Format: stateFormat, Config: c.cfg, IDs: c.ids, State: c.st}
	for _, d := range c.txOrder {
		f.Txs = append(f.Txs, c.txs[d])
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("suitest: encode state: %w", err)
	}
	return writeAtomic(c.cfg.StateFile, b)
}

// writeAtomic replaces path with b: a temporary file in the same
// directory, fsync, rename, fsync of the directory.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("suitest: write state: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // fails harmlessly once renamed
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("suitest: write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("suitest: sync state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("suitest: write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("suitest: install state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("suitest: sync state directory: %w", err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("suitest: sync state directory: %w", err)
	}
	return d.Close()
}

func (c *Chain) load() (bool, error) {
	b, err := os.ReadFile(c.cfg.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("suitest: read state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return false, fmt.Errorf("suitest: state file %s: %w", c.cfg.StateFile, err)
	}
	if f.Format != stateFormat || f.State == nil || f.State.Walrus == nil {
		return false, fmt.Errorf("suitest: state file %s: format %d, want %d", c.cfg.StateFile, f.Format, stateFormat)
	}
	path, port := c.cfg.StateFile, c.cfg.Port
	c.cfg = f.Config
	c.cfg.StateFile, c.cfg.Port = path, port
	c.ids = f.IDs
	c.st = f.State
	if c.st.Balances == nil {
		c.st.Balances = map[string]uint64{}
	}
	if c.st.Locks == nil {
		c.st.Locks = map[Address]uint64{}
	}
	if c.st.Burned == nil {
		c.st.Burned = map[Address]uint32{}
	}
	if c.st.Objects == nil {
		c.st.Objects = map[Address]*Object{}
	}
	c.history = []*state{c.st}
	for _, r := range f.Txs {
		c.txs[r.Digest] = r
		c.txOrder = append(c.txOrder, r.Digest)
	}
	return true, nil
}

func msTime(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }
