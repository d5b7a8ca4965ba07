package sui

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// Address is a Sui address or object ID: 32 bytes, written 0x + 64 hex
// digits.
type Address [32]byte

// ParseAddress reads an address in 0x-hex form. Leading zeros may be left
// out ("0x2" is the framework's address), as Sui writes them.
func ParseAddress(s string) (Address, error) {
	var a Address
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "0x")
	if !ok || len(h) == 0 || len(h) > 64 {
		return a, fmt.Errorf("sui: %q is not an address (0x and up to 64 hex digits)", s)
	}
	h = strings.Repeat("0", 64-len(h)) + h
	if _, err := hex.Decode(a[:], []byte(h)); err != nil {
		return a, fmt.Errorf("sui: %q is not an address: %w", s, err)
	}
	return a, nil
}

// MustAddress is ParseAddress for constants; it panics on a bad string.
func MustAddress(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

// String is the full 0x form with 64 hex digits.
func (a Address) String() string { return "0x" + hex.EncodeToString(a[:]) }

// IsZero reports whether a is 0x0.
func (a Address) IsZero() bool { return a == Address{} }

// Digest is an object or transaction digest: 32 bytes, written in base58.
type Digest [32]byte

// ParseDigest reads a base58 digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	b, err := base58.Decode(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("sui: %q is not a 32-byte base58 digest", s)
	}
	copy(d[:], b)
	return d, nil
}

func (d Digest) String() string { return base58.Encode(d[:]) }

// ObjectRef names one version of an owned object, as a transaction input
// or a gas coin must.
type ObjectRef struct {
	ID      Address
	Version uint64
	Digest  Digest
}

func (r ObjectRef) String() string {
	return fmt.Sprintf("%s@%d", r.ID, r.Version)
}

// SharedObject names a shared object (the Walrus System and Staking
// objects) by the version at which it became shared.
type SharedObject struct {
	ID             Address
	InitialVersion uint64
}

// Owner is who an object belongs to.
type Owner struct {
	Kind    OwnerKind
	Address Address // the owner for OwnerAddress and OwnerObject
	// InitialSharedVersion is set for OwnerShared.
	InitialSharedVersion uint64
}

// OwnerKind says how an object is owned.
type OwnerKind int

const (
	OwnerUnknown   OwnerKind = iota
	OwnerAddress             // owned by an account: only it can use the object
	OwnerObject              // owned by another object (dynamic fields)
	OwnerShared              // shared: anyone can use it in a transaction
	OwnerImmutable           // frozen
)
