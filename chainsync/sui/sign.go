package sui

import (
	"crypto/ed25519"
	"encoding/base64"

	"golang.org/x/crypto/blake2b"
)

// Signature scheme flags: the first byte of a serialized signature, a
// keystore entry and the preimage of an address.
const flagEd25519 = 0x00

// TransactionDigest is the transaction's ID: BLAKE2b-256 over
// "TransactionData::" and the transaction's BCS bytes.
func TransactionDigest(txBytes []byte) Digest {
	h, _ := blake2b.New256(nil)
	h.Write([]byte("TransactionData::"))
	h.Write(txBytes)
	var d Digest
	h.Sum(d[:0])
	return d
}

// SigningDigest is what a sender signs: BLAKE2b-256 over the intent
// (scope TransactionData, version 0, app Sui: three zero bytes) and the
// transaction's BCS bytes.
func SigningDigest(txBytes []byte) [32]byte {
	h, _ := blake2b.New256(nil)
	h.Write([]byte{0, 0, 0})
	h.Write(txBytes)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// Signer is an ed25519 key that signs transactions for its address. Its
// String and log forms name only the address: the private key never
// leaves it in a printable form.
type Signer struct {
	key     ed25519.PrivateKey
	address Address
}

// NewSigner makes a signer from a 32-byte ed25519 seed.
func NewSigner(seed []byte) *Signer {
	key := ed25519.NewKeyFromSeed(seed)
	return &Signer{key: key, address: addressOf(key.Public().(ed25519.PublicKey))}
}

// addressOf is BLAKE2b-256 over the scheme flag and the public key.
func addressOf(pub ed25519.PublicKey) Address {
	h, _ := blake2b.New256(nil)
	h.Write([]byte{flagEd25519})
	h.Write(pub)
	var a Address
	h.Sum(a[:0])
	return a
}

// Address is the account the key controls.
func (s *Signer) Address() Address { return s.address }

// PublicKey returns the 32-byte ed25519 public key.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign signs transaction bytes and returns the serialized signature the
// API takes: flag, 64-byte signature, 32-byte public key (97 bytes).
func (s *Signer) Sign(txBytes []byte) []byte {
	d := SigningDigest(txBytes)
	sig := ed25519.Sign(s.key, d[:])
	out := make([]byte, 0, 1+ed25519.SignatureSize+ed25519.PublicKeySize)
	out = append(out, flagEd25519)
	out = append(out, sig...)
	return append(out, s.PublicKey()...)
}

// SignBase64 is Sign in the base64 form JSON and logs of signatures use.
func (s *Signer) SignBase64(txBytes []byte) string {
	return base64.StdEncoding.EncodeToString(s.Sign(txBytes))
}

// String names the signer by its address only.
func (s *Signer) String() string { return "sui key for " + s.address.String() }

// GoString keeps %#v from printing the key.
func (s *Signer) GoString() string { return s.String() }

// VerifySignature checks a serialized ed25519 signature over txBytes and
// returns the address that signed.
func VerifySignature(txBytes, serialized []byte) (Address, bool) {
	if len(serialized) != 1+ed25519.SignatureSize+ed25519.PublicKeySize || serialized[0] != flagEd25519 {
		return Address{}, false
	}
	sig := serialized[1 : 1+ed25519.SignatureSize]
	pub := ed25519.PublicKey(serialized[1+ed25519.SignatureSize:])
	d := SigningDigest(txBytes)
	if !ed25519.Verify(pub, d[:], sig) {
		return Address{}, false
	}
	return addressOf(pub), true
}
