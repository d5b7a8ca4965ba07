package suitest

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/blake2b"
)

// Owner kinds, in the BCS variant order of sui-types Owner.
const (
	OwnerAddress = iota
	OwnerObject
	OwnerShared
	OwnerImmutable
)

// Owner says who owns an object.
type Owner struct {
	Kind                 uint8
	Address              Address // OwnerAddress, OwnerObject
	InitialSharedVersion uint64  // OwnerShared
}

// Object is one Move object in its on-chain form.
type Object struct {
	ID             Address
	Version        uint64
	Owner          Owner
	Type           TypeTag // always a struct
	PublicTransfer bool    // the type has store
	Contents       []byte  // the Move struct's BCS, starting with the ID
	PrevTx         Digest
	StorageRebate  uint64
}

func (o *Object) clone() *Object {
	c := *o
	c.Contents = append([]byte{}, o.Contents...)
	return &c
}

// Ref is the object's current reference.
func (o *Object) Ref() ObjectRef { return ObjectRef{ID: o.ID, Version: o.Version, Digest: o.Digest()} }

// coinType returns T when the object is a 0x2::coin::Coin<T>.
func (o *Object) coinType() (TypeTag, bool) { return coinParam(o.Type) }

func coinParam(t TypeTag) (TypeTag, bool) {
	if t.Kind != tagStruct || t.Struct.Address != addrTwo || t.Struct.Module != "coin" || t.Struct.Name != "Coin" || len(t.Struct.Params) != 1 {
		return TypeTag{}, false
	}
	return t.Struct.Params[0], true
}

// BCS is the object's bytes in the layout of sui-types Object
// (sui-ts bcs.ObjectInner): Data::Move(MoveObject), owner, previous
// transaction and storage rebate.
func (o *Object) BCS() []byte {
	w := &writer{}
	w.uleb(0) // Data::Move
	if ct, ok := o.coinType(); ok {
		if sameType(ct, suiType) {
			w.uleb(1) // MoveObjectType::GasCoin
		} else {
			w.uleb(3) // MoveObjectType::Coin(T)
			encodeTypeTag(w, ct)
		}
	} else {
		w.uleb(0) // MoveObjectType::Other(StructTag)
		st := o.Type.Struct
		w.addr(st.Address)
		w.str(st.Module)
		w.str(st.Name)
		w.uleb(uint32(len(st.Params)))
		for _, p := range st.Params {
			encodeTypeTag(w, p)
		}
	}
	w.bool(o.PublicTransfer)
	w.u64(o.Version)
	w.bytes(o.Contents)
	encodeOwner(w, o.Owner)
	w.bytes(o.PrevTx[:])
	w.u64(o.StorageRebate)
	return w.b
}

func encodeOwner(w *writer, ow Owner) {
	w.uleb(uint32(ow.Kind))
	switch ow.Kind {
	case OwnerAddress, OwnerObject:
		w.addr(ow.Address)
	case OwnerShared:
		w.u64(ow.InitialSharedVersion)
	}
}

// Digest is BLAKE2b-256 of "Object::" and the object's BCS, as
// sui-types hashes a BcsSignable value named Object.
func (o *Object) Digest() Digest {
	h, _ := blake2b.New256(nil)
	h.Write([]byte("Object::"))
	h.Write(o.BCS())
	var d Digest
	copy(d[:], h.Sum(nil))
	return d
}

// DynamicFieldID derives the ID of the dynamic field of parent with the
// given key (its BCS bytes) of type keyType: BLAKE2b-256 over 0xf0, the
// parent, the key length as a u64, the key and the key type's BCS
// TypeTag (sui-ts deriveDynamicFieldID).
func DynamicFieldID(parent Address, keyType TypeTag, key []byte) Address {
	w := &writer{}
	w.u8(0xf0)
	w.addr(parent)
	w.u64(uint64(len(key)))
	w.raw(key)
	encodeTypeTag(w, keyType)
	return Address(blake2b.Sum256(w.b))
}

// createdID derives the ID of the n-th object a transaction creates:
// BLAKE2b-256 over 0xf1, the transaction digest and n as a u64.
func createdID(tx Digest, n uint64) Address {
	var b [1 + 32 + 8]byte
	b[0] = 0xf1
	copy(b[1:], tx[:])
	binary.LittleEndian.PutUint64(b[33:], n)
	return Address(blake2b.Sum256(b[:]))
}

// Framework types.
var (
	suiType = structType(addrTwo, "sui", "SUI")
	u64Type = TypeTag{Kind: tagU64}
)

func coinOf(t TypeTag) TypeTag    { return structType(addrTwo, "coin", "Coin", t) }
func balanceOf(t TypeTag) TypeTag { return structType(addrTwo, "balance", "Balance", t) }

// coinContents is the BCS of a Coin<T>: its ID and balance.
func coinContents(id Address, value uint64) []byte {
	w := &writer{}
	w.addr(id)
	w.u64(value)
	return w.b
}

func coinValue(o *Object) (uint64, error) {
	if len(o.Contents) != 40 {
		return 0, fmt.Errorf("coin %s has %d content bytes, want 40", o.ID, len(o.Contents))
	}
	return binary.LittleEndian.Uint64(o.Contents[32:]), nil
}

func setCoinValue(o *Object, v uint64) {
	binary.LittleEndian.PutUint64(o.Contents[32:], v)
}

// StorageFields is walrus storage_resource::Storage.
type StorageFields struct {
	ID         Address
	StartEpoch uint32 // inclusive
	EndEpoch   uint32 // exclusive
	Size       uint64
}

func (s StorageFields) encode(w *writer) {
	w.addr(s.ID)
	w.u32(s.StartEpoch)
	w.u32(s.EndEpoch)
	w.u64(s.Size)
}

// BCS is the struct's 48 bytes.
func (s StorageFields) BCS() []byte { w := &writer{}; s.encode(w); return w.b }

func decodeStorage(r *reader) StorageFields {
	return StorageFields{ID: r.addr(), StartEpoch: r.u32(), EndEpoch: r.u32(), Size: r.u64()}
}

// BlobFields is walrus blob::Blob. BlobID and the root hash travel as u256,
// that is as 32 little-endian bytes, which are the blob ID's own bytes.
type BlobFields struct {
	ID              Address
	RegisteredEpoch uint32
	BlobID          [32]byte
	Size            uint64
	EncodingType    uint8
	CertifiedEpoch  *uint32
	Storage         StorageFields
	Deletable       bool
}

// BCS is the struct's bytes: 127 uncertified, 131 certified.
func (b BlobFields) BCS() []byte {
	w := &writer{}
	w.addr(b.ID)
	w.u32(b.RegisteredEpoch)
	w.u256(b.BlobID)
	w.u64(b.Size)
	w.u8(b.EncodingType)
	w.optU32(b.CertifiedEpoch)
	b.Storage.encode(w)
	w.bool(b.Deletable)
	return w.b
}

func decodeBlob(p []byte) (BlobFields, error) {
	r := &reader{b: p}
	b := BlobFields{ID: r.addr(), RegisteredEpoch: r.u32()}
	copy(b.BlobID[:], r.take(32))
	b.Size = r.u64()
	b.EncodingType = r.u8()
	switch r.u8() {
	case 0:
	case 1:
		e := r.u32()
		b.CertifiedEpoch = &e
	default:
		r.failf("option tag is neither 0 nor 1")
	}
	b.Storage = decodeStorage(r)
	b.Deletable = r.bool()
	if err := r.done(); err != nil {
		return b, fmt.Errorf("blob contents: %w", err)
	}
	return b, nil
}

func decodeStorageContents(p []byte) (StorageFields, error) {
	r := &reader{b: p}
	s := decodeStorage(r)
	if err := r.done(); err != nil {
		return s, fmt.Errorf("storage contents: %w", err)
	}
	return s, nil
}

// VersionedFields is the outer walrus system::System and staking::Staking.
type VersionedFields struct {
	ID           Address
	Version      uint64
	PackageID    Address
	NewPackageID *Address
}

// BCS is the struct's bytes.
func (v VersionedFields) BCS() []byte {
	w := &writer{}
	w.addr(v.ID)
	w.u64(v.Version)
	w.addr(v.PackageID)
	if v.NewPackageID == nil {
		w.u8(0)
	} else {
		w.u8(1)
		w.addr(*v.NewPackageID)
	}
	return w.b
}

// fieldContents is the BCS of a 0x2::dynamic_field::Field<u64, V>.
func fieldContents(id Address, name uint64, value []byte) []byte {
	w := &writer{}
	w.addr(id)
	w.u64(name)
	w.raw(value)
	return w.b
}

// Walrus events, in the field order of walrus events.move.

// BlobRegistered is walrus events::BlobRegistered.
type BlobRegistered struct {
	Epoch        uint32
	BlobID       [32]byte
	Size         uint64
	EncodingType uint8
	EndEpoch     uint32
	Deletable    bool
	ObjectID     Address
}

// BCS is the event's bytes.
func (e BlobRegistered) BCS() []byte {
	w := &writer{}
	w.u32(e.Epoch)
	w.u256(e.BlobID)
	w.u64(e.Size)
	w.u8(e.EncodingType)
	w.u32(e.EndEpoch)
	w.bool(e.Deletable)
	w.addr(e.ObjectID)
	return w.b
}

// BlobCertified is walrus events::BlobCertified.
type BlobCertified struct {
	Epoch       uint32
	BlobID      [32]byte
	EndEpoch    uint32
	Deletable   bool
	ObjectID    Address
	IsExtension bool
}

// BCS is the event's bytes.
func (e BlobCertified) BCS() []byte {
	w := &writer{}
	w.u32(e.Epoch)
	w.u256(e.BlobID)
	w.u32(e.EndEpoch)
	w.bool(e.Deletable)
	w.addr(e.ObjectID)
	w.bool(e.IsExtension)
	return w.b
}

// BlobDeleted is walrus events::BlobDeleted.
type BlobDeleted struct {
	Epoch        uint32
	BlobID       [32]byte
	EndEpoch     uint32
	ObjectID     Address
	WasCertified bool
}

// BCS is the event's bytes.
func (e BlobDeleted) BCS() []byte {
	w := &writer{}
	w.u32(e.Epoch)
	w.u256(e.BlobID)
	w.u32(e.EndEpoch)
	w.addr(e.ObjectID)
	w.bool(e.WasCertified)
	return w.b
}

// PricesUpdated is walrus events::PricesUpdated.
type PricesUpdated struct {
	Epoch        uint32
	StoragePrice uint64
	WritePrice   uint64
}

// BCS is the event's bytes.
func (e PricesUpdated) BCS() []byte {
	w := &writer{}
	w.u32(e.Epoch)
	w.u64(e.StoragePrice)
	w.u64(e.WritePrice)
	return w.b
}

// EpochChangeDoneEvent is walrus events::EpochChangeDone.
type EpochChangeDoneEvent struct{ Epoch uint32 }

// BCS is the event's bytes.
func (e EpochChangeDoneEvent) BCS() []byte { w := &writer{}; w.u32(e.Epoch); return w.b }
