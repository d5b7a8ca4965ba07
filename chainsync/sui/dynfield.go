package sui

import (
	"encoding/binary"

	"golang.org/x/crypto/blake2b"
)

// DynamicFieldID is the object ID of the dynamic field of parent whose
// key has type keyType and BCS bytes key: BLAKE2b-256 over the byte 0xf0,
// the parent ID, the key's length as a u64, the key and the key type's BCS.
// Sui derives it so; reading a field by its ID needs one GetObject instead
// of a listing.
func DynamicFieldID(parent Address, keyType TypeTag, key []byte) Address {
	h, _ := blake2b.New256(nil)
	h.Write([]byte{0xf0})
	h.Write(parent[:])
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(key))))
	h.Write(key)
	var w bcsWriter
	w.typeTag(keyType)
	h.Write(w.buf)
	var id Address
	h.Sum(id[:0])
	return id
}

// InnerStateID is the ID of the field that holds a System or Staking
// object's state at version: both key it by the u64 version.
func InnerStateID(outer Address, version uint64) Address {
	return DynamicFieldID(outer, TypeTag{Kind: KindU64}, binary.LittleEndian.AppendUint64(nil, version))
}
