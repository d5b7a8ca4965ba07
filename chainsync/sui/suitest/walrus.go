package suitest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	GG "github.com/cloudflare/circl/ecc/bls12381"
	"github.com/cloudflare/circl/sign/bls"
	"golang.org/x/crypto/blake2b"
)

// BytesPerUnit is Walrus's storage unit: 1 MiB.
const BytesPerUnit = 1 << 20

// storageUnits is ceil(bytes / 1 MiB).
func storageUnits(size uint64) uint64 { return size/BytesPerUnit + min(size%BytesPerUnit, 1) }

// EncodedLength is the RS2 encoded length of a blob of size bytes on nShards
// shards (WALRUS.md §2.7): n·(kp+ks)·S + n·(64n+32), where f = (n−1)/3,
// kp = n−2f, ks = n−f and S = ceil(max(size,1) / (kp·ks)) rounded up to
// an even number. This is the storage a Blob's Storage must cover.
func EncodedLength(size uint64, nShards uint16) uint64 {
	n := uint64(nShards)
	f := (n - 1) / 3
	kp, ks := n-2*f, n-f
	src := kp * ks
	s := (max(size, 1) + src - 1) / src
	s += s % 2
	return n*(kp+ks)*s + n*(64*n+32)
}

// DeriveBlobID is walrus blob::derive_blob_id: BLAKE2b-256 over the BCS of
// {encoding_type u8, size u64, root_hash u256}. Root hash and result are
// u256 values as 32 little-endian bytes, which are the blob ID bytes.
func DeriveBlobID(rootHash [32]byte, encodingType uint8, size uint64) [32]byte {
	var b [1 + 8 + 32]byte
	b[0] = encodingType
	binary.LittleEndian.PutUint64(b[1:], size)
	copy(b[9:], rootHash[:])
	return blake2b.Sum256(b[:])
}

// member is one committee member: a storage node with its BLS key, its
// weight (shard count) and the shards it holds.
type member struct {
	NodeID    Address
	PublicKey []byte // uncompressed G1, 96 bytes
	Weight    uint16
	Shards    []uint16
}

// FutureAccounting is storage_accounting::FutureAccounting: one epoch's
// entry of the ring buffer (its rewards Balance<WAL> as a value).
type FutureAccounting struct {
	Epoch   uint32
	Used    uint64
	Rewards uint64
}

// walrusState is the Walrus system and staking state in structured form;
// the inner dynamic-field objects are rendered from it.
type walrusState struct {
	Epoch          uint32
	NShards        uint16
	Members        []member
	TotalKey       []byte // compressed G1 sum of all member keys, 48 bytes
	TotalCapacity  uint64
	UsedCapacity   uint64
	StoragePrice   uint64
	WritePrice     uint64
	RingIndex      uint32
	Ring           []FutureAccounting
	EpochDuration  uint64 // ms
	FirstEpochTime uint64 // ms, the start of epoch 1
	GenesisTime    uint64 // ms, the start of epoch 0
	DenyListID     Address
	PoolsID        Address
	ActiveSetID    Address
	NextKeysID     Address
	PrevMembers    []member
}

func (s *walrusState) clone() *walrusState {
	c := *s
	c.Ring = append([]FutureAccounting{}, s.Ring...)
	c.Members = append([]member{}, s.Members...)
	c.PrevMembers = append([]member{}, s.PrevMembers...)
	return &c
}

// ring returns the accounting entry i epochs ahead of the current one.
func (s *walrusState) ring(i uint32) *FutureAccounting {
	return &s.Ring[(s.RingIndex+i)%uint32(len(s.Ring))]
}

func (s *walrusState) maxEpochsAhead() uint32 { return uint32(len(s.Ring)) }

// epochStart is when Walrus epoch e starts, in ms.
func (s *walrusState) epochStart(e uint32) uint64 {
	if e == 0 {
		return s.GenesisTime
	}
	return s.FirstEpochTime + uint64(e-1)*s.EpochDuration
}

// advance moves to the next epoch as system_state_inner::advance_epoch
// does: pop the ring, carry the used capacity, keep the prices. The
// rewards of the ended epoch would go to the nodes, which this chain does
// not model.
func (s *walrusState) advance(capacity uint64) {
	old := s.ring(0)
	*old = FutureAccounting{Epoch: old.Epoch + uint32(len(s.Ring))}
	s.RingIndex = (s.RingIndex + 1) % uint32(len(s.Ring))
	s.Epoch++
	s.UsedCapacity = s.ring(0).Used
	s.TotalCapacity = max(capacity, s.UsedCapacity)
	s.PrevMembers = append([]member{}, s.Members...)
}

func committeeEntries(ms []member) []CommitteeEntry {
	out := make([]CommitteeEntry, len(ms))
	for i, m := range ms {
		out[i] = CommitteeEntry{NodeID: m.NodeID, Shards: m.Shards}
	}
	return out
}

// systemInner is the SystemStateInnerV1 this state stands for.
func (s *walrusState) systemInner() SystemStateInner {
	in := SystemStateInner{NShards: s.NShards, Epoch: s.Epoch, TotalKey: s.TotalKey,
		TotalCapacity: s.TotalCapacity, UsedCapacity: s.UsedCapacity, StoragePrice: s.StoragePrice, WritePrice: s.WritePrice,
		RingIndex: s.RingIndex, RingLength: uint32(len(s.Ring)), Ring: s.Ring, DenyListID: s.DenyListID}
	for _, m := range s.Members {
		in.Members = append(in.Members, BlsMember{PublicKey: m.PublicKey, Weight: m.Weight, NodeID: m.NodeID})
	}
	return in
}

// stakingInner is the StakingInnerV1 this state stands for.
func (s *walrusState) stakingInner() StakingInner {
	return StakingInner{NShards: s.NShards, EpochDuration: s.EpochDuration, FirstEpochStart: s.FirstEpochTime,
		PoolsID: s.PoolsID, PoolsSize: uint64(len(s.Members)), Epoch: s.Epoch, ActiveSetID: s.ActiveSetID,
		Committee: committeeEntries(s.Members), PreviousCommittee: committeeEntries(s.PrevMembers),
		EpochState: EpochState{Kind: EpochChangeDone, Value: s.epochStart(s.Epoch)}, NextKeysID: s.NextKeysID}
}

func (s *walrusState) systemInnerBCS() []byte  { return s.systemInner().BCS() }
func (s *walrusState) stakingInnerBCS() []byte { return s.stakingInner().BCS() }

// BlsMember is walrus bls_aggregate::BlsCommitteeMember.
type BlsMember struct {
	PublicKey []byte // Element<UncompressedG1>: 96 bytes
	Weight    uint16
	NodeID    Address
}

// EventBlob is walrus event_blob::EventBlob.
type EventBlob struct {
	BlobID           [32]byte
	EndingCheckpoint uint64
}

// EventBlobWeight is one entry of the aggregate_weight_per_blob VecMap.
type EventBlobWeight struct {
	Blob   EventBlob
	Weight uint16
}

// SystemStateInner is walrus system_state_inner::SystemStateInnerV1 with
// its nested structs flattened in field order.
type SystemStateInner struct {
	Members          []BlsMember
	NShards          uint16
	Epoch            uint32
	TotalKey         []byte // Element<G1>: 48 bytes
	TotalCapacity    uint64
	UsedCapacity     uint64
	StoragePrice     uint64
	WritePrice       uint64
	RingIndex        uint32
	RingLength       uint32
	Ring             []FutureAccounting
	LatestEventBlob  *EventBlob
	EventBlobWeights []EventBlobWeight
	DenyListID       Address // ExtendedField<VecMap<ID, u64>>
}

// BCS is the struct's bytes.
func (s SystemStateInner) BCS() []byte {
	w := &writer{}
	w.uleb(uint32(len(s.Members)))
	for _, m := range s.Members {
		w.bytes(m.PublicKey)
		w.u16(m.Weight)
		w.addr(m.NodeID)
	}
	w.u16(s.NShards)
	w.u32(s.Epoch)
	w.bytes(s.TotalKey)
	w.u64(s.TotalCapacity)
	w.u64(s.UsedCapacity)
	w.u64(s.StoragePrice)
	w.u64(s.WritePrice)
	w.u32(s.RingIndex)
	w.u32(s.RingLength)
	w.uleb(uint32(len(s.Ring)))
	for _, a := range s.Ring {
		w.u32(a.Epoch)
		w.u64(a.Used)
		w.u64(a.Rewards) // Balance<WAL> is its value
	}
	if s.LatestEventBlob == nil {
		w.u8(0)
	} else {
		w.u8(1)
		w.u256(s.LatestEventBlob.BlobID)
		w.u64(s.LatestEventBlob.EndingCheckpoint)
	}
	w.uleb(uint32(len(s.EventBlobWeights)))
	for _, e := range s.EventBlobWeights {
		w.u256(e.Blob.BlobID)
		w.u64(e.Blob.EndingCheckpoint)
		w.u16(e.Weight)
	}
	w.addr(s.DenyListID)
	return w.b
}

// CommitteeEntry is one entry of walrus committee::Committee, a VecMap
// from node ID to shard indices.
type CommitteeEntry struct {
	NodeID Address
	Shards []uint16
}

// EpochState kinds, in the variant order of staking_inner::EpochState.
const (
	EpochChangeSync = iota
	EpochChangeDone
	NextParamsSelected
)

// EpochState is staking_inner::EpochState: EpochChangeSync(u16),
// EpochChangeDone(u64 ms) or NextParamsSelected(u64 ms).
type EpochState struct {
	Kind  uint8
	Value uint64
}

// EpochParams is walrus epoch_parameters::EpochParams.
type EpochParams struct {
	TotalCapacity uint64
	StoragePrice  uint64
	WritePrice    uint64
}

// StakingInner is walrus staking_inner::StakingInnerV1.
type StakingInner struct {
	NShards           uint16
	EpochDuration     uint64
	FirstEpochStart   uint64
	PoolsID           Address // ObjectTable {id, size}
	PoolsSize         uint64
	Epoch             uint32
	ActiveSetID       Address
	HasNextCommittee  bool             // false: next_committee is None
	NextCommittee     []CommitteeEntry // when HasNextCommittee
	Committee         []CommitteeEntry
	PreviousCommittee []CommitteeEntry
	NextEpochParams   *EpochParams
	EpochState        EpochState
	NextKeysID        Address
}

func encodeCommittee(w *writer, es []CommitteeEntry) {
	w.uleb(uint32(len(es)))
	for _, e := range es {
		w.addr(e.NodeID)
		w.uleb(uint32(len(e.Shards)))
		for _, sh := range e.Shards {
			w.u16(sh)
		}
	}
}

// BCS is the struct's bytes.
func (s StakingInner) BCS() []byte {
	w := &writer{}
	w.u16(s.NShards)
	w.u64(s.EpochDuration)
	w.u64(s.FirstEpochStart)
	w.addr(s.PoolsID)
	w.u64(s.PoolsSize)
	w.u32(s.Epoch)
	w.addr(s.ActiveSetID)
	if s.HasNextCommittee {
		w.u8(1)
		encodeCommittee(w, s.NextCommittee)
	} else {
		w.u8(0)
	}
	encodeCommittee(w, s.Committee)
	encodeCommittee(w, s.PreviousCommittee)
	if s.NextEpochParams == nil {
		w.u8(0)
	} else {
		w.u8(1)
		w.u64(s.NextEpochParams.TotalCapacity)
		w.u64(s.NextEpochParams.StoragePrice)
		w.u64(s.NextEpochParams.WritePrice)
	}
	w.uleb(uint32(s.EpochState.Kind))
	if s.EpochState.Kind == EpochChangeSync {
		w.u16(uint16(s.EpochState.Value))
	} else {
		w.u64(s.EpochState.Value)
	}
	w.addr(s.NextKeysID)
	return w.b
}

// committeeKey derives member i's BLS key from the chain's seed.
func committeeKey(seed []byte, i int) (*bls.PrivateKey[bls.KeyG1SigG2], error) {
	h := sha256.New()
	h.Write([]byte("suitest committee member"))
	h.Write(seed)
	h.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
	return bls.KeyGen[bls.KeyG1SigG2](h.Sum(nil), nil, nil)
}

// newCommittee builds members with keys from seed and shards dealt round
// robin, and the compressed sum of their keys.
func newCommittee(seed []byte, size int, nShards uint16) ([]member, []byte, error) {
	var sum GG.G1
	sum.SetIdentity()
	ms := make([]member, size)
	for i := range ms {
		k, err := committeeKey(seed, i)
		if err != nil {
			return nil, nil, fmt.Errorf("member %d key: %w", i, err)
		}
		comp, err := k.PublicKey().MarshalBinary()
		if err != nil {
			return nil, nil, err
		}
		var p GG.G1
		if err := p.SetBytes(comp); err != nil {
			return nil, nil, err
		}
		sum.Add(&sum, &p)
		id := blake2b.Sum256(append([]byte("suitest node"), comp...))
		ms[i] = member{NodeID: id, PublicKey: p.Bytes()}
	}
	for sh := range nShards {
		m := &ms[int(sh)%size]
		m.Shards = append(m.Shards, sh)
		m.Weight++
	}
	return ms, sum.BytesCompressed(), nil
}

// Walrus module abort codes (see CHAIN.md §3).
const (
	blobENotCertified          = 0
	blobENotDeletable          = 1
	blobEResourceBounds        = 2
	blobEResourceSize          = 3
	blobEAlreadyCertified      = 5
	blobEInvalidBlobID         = 6
	blobEInvalidPersistence    = 9
	blobEInvalidBlobObject     = 10
	ssiEStorageExceeded        = 1
	ssiEInvalidEpochsAhead     = 2
	ssiEInvalidIDEpoch         = 3
	ssiEInvalidResourceSize    = 11
	blsEInvalidBitmap          = 0
	blsESigVerification        = 1
	blsENotEnoughStake         = 2
	msgEIncorrectAppID         = 0
	msgEIncorrectEpoch         = 1
	msgEInvalidMsgType         = 2
	msgEIncorrectIntentVersion = 3
	msgEInvalidPersistenceType = 4
	bcsEOutOfRange             = 0
	balanceENotEnough          = 2
	balanceENonZero            = 0
)

// verifyCertificate is bls_aggregate::verify_certificate_and_weight with
// the quorum rule: bitmap shape, then weight, then the BLS signature
// against the total key minus the non-signers' keys.
func (s *walrusState) verifyCertificate(sig, bitmap, msg []byte) *abortErr {
	n := len(s.Members)
	maxLen := (n + 7) / 8
	if len(bitmap) > maxLen {
		return abort("bls_aggregate", blsEInvalidBitmap, "signers bitmap is %d bytes, at most %d for %d members", len(bitmap), maxLen, n)
	}
	var nonWeight uint64
	var nonKeys []*GG.G1
	for i := range maxLen * 8 {
		var byt byte
		if i/8 < len(bitmap) {
			byt = bitmap[i/8]
		}
		signer := byt>>(i%8)&1 == 1
		if i >= n {
			if signer {
				return abort("bls_aggregate", blsEInvalidBitmap, "signers bitmap sets bit %d past the last member", i)
			}
			continue
		}
		if !signer {
			nonWeight += uint64(s.Members[i].Weight)
			var p GG.G1
			if err := p.SetBytes(s.Members[i].PublicKey); err != nil {
				return abort("bls_aggregate", blsESigVerification, "member %d key: %v", i, err)
			}
			nonKeys = append(nonKeys, &p)
		}
	}
	weight := uint64(s.NShards) - nonWeight
	if 3*weight < 2*uint64(s.NShards)+1 {
		return abort("bls_aggregate", blsENotEnoughStake, "signers hold %d of %d shards, below a quorum", weight, s.NShards)
	}
	var key GG.G1
	if err := key.SetBytes(s.TotalKey); err != nil {
		return abort("bls_aggregate", blsESigVerification, "total key: %v", err)
	}
	for _, p := range nonKeys {
		q := *p
		q.Neg()
		key.Add(&key, &q)
	}
	var pub bls.PublicKey[bls.KeyG1SigG2]
	if err := pub.UnmarshalBinary(key.BytesCompressed()); err != nil || !bls.Verify(&pub, msg, sig) {
		return abort("bls_aggregate", blsESigVerification, "the aggregate BLS signature does not verify")
	}
	return nil
}

// certMessage is a parsed blob-certification message.
type certMessage struct {
	epoch     uint32
	blobID    [32]byte
	deletable bool
	objectID  Address
}

// parseCertMessage is messages::new_certified_message followed by the
// system epoch check and certify_blob_message, in the Move order.
func (s *walrusState) parseCertMessage(msg []byte) (certMessage, *abortErr) {
	var m certMessage
	r := &reader{b: msg}
	intent, version, app := r.u8(), r.u8(), r.u8()
	if r.err == nil && version != 0 {
		return m, abort("messages", msgEIncorrectIntentVersion, "intent version %d, want 0", version)
	}
	if r.err == nil && app != 3 {
		return m, abort("messages", msgEIncorrectAppID, "app ID %d, want 3", app)
	}
	m.epoch = r.u32()
	if r.err != nil {
		return m, abort("bcs", bcsEOutOfRange, "message header truncated")
	}
	if m.epoch != s.Epoch {
		return m, abort("messages", msgEIncorrectEpoch, "message epoch %d, committee epoch %d", m.epoch, s.Epoch)
	}
	if m.epoch != s.Epoch { // system_state_inner::certify_blob, unreachable after the check above
		return m, abort("system_state_inner", ssiEInvalidIDEpoch, "message epoch %d, current epoch %d", m.epoch, s.Epoch)
	}
	if intent != 1 {
		return m, abort("messages", msgEInvalidMsgType, "intent type %d is not a blob certification (1)", intent)
	}
	copy(m.blobID[:], r.take(32))
	pt := r.u8()
	if r.err != nil {
		return m, abort("bcs", bcsEOutOfRange, "message body truncated")
	}
	switch pt {
	case 0:
	case 1:
		m.deletable = true
		m.objectID = r.addr()
		if r.err != nil {
			return m, abort("bcs", bcsEOutOfRange, "message object ID truncated")
		}
	default:
		return m, abort("messages", msgEInvalidPersistenceType, "persistence type %d", pt)
	}
	return m, nil
}

// ConfirmationMessage builds the message storage nodes sign to confirm a
// blob: intent (1, 0, 3), the epoch, the blob ID, then 0 for permanent or
// 1 and the object ID for deletable.
func ConfirmationMessage(epoch uint32, blobID [32]byte, deletableObject *Address) []byte {
	w := &writer{}
	w.u8(1)
	w.u8(0)
	w.u8(3)
	w.u32(epoch)
	w.raw(blobID[:])
	if deletableObject == nil {
		w.u8(0)
	} else {
		w.u8(1)
		w.addr(*deletableObject)
	}
	return w.b
}
