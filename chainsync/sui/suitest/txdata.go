package suitest

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"golang.org/x/crypto/blake2b"
)

// CallArg kinds, in BCS variant order.
const (
	ArgPure = iota
	ArgObject
	ArgFundsWithdrawal
)

// ObjectArg kinds, in BCS variant order.
const (
	ObjImmOrOwned = iota
	ObjShared
	ObjReceiving
)

// Argument kinds, in BCS variant order.
const (
	ArgGasCoin = iota
	ArgInput
	ArgResult
	ArgNestedResult
)

// Command kinds, in BCS variant order. Only the first four are executed.
const (
	CmdMoveCall = iota
	CmdTransferObjects
	CmdSplitCoins
	CmdMergeCoins
	CmdPublish
	CmdMakeMoveVec
	CmdUpgrade
)

var commandNames = [...]string{"MoveCall", "TransferObjects", "SplitCoins", "MergeCoins", "Publish", "MakeMoveVec", "Upgrade"}

// WithdrawFrom kinds, in BCS variant order.
const (
	WithdrawFromSender = iota
	WithdrawFromSponsor
	WithdrawFromSenderAllowance
)

// Expiration kinds, in BCS variant order.
const (
	ExpireNone = iota
	ExpireEpoch
	ExpireValidDuring
	ExpireValidity
)

// ObjectRef names one version of an object.
type ObjectRef struct {
	ID      Address
	Version uint64
	Digest  Digest
}

// ObjectArg is an object input.
type ObjectArg struct {
	Kind                 uint8
	Ref                  ObjectRef // ImmOrOwned and Receiving
	InitialSharedVersion uint64    // Shared
	Mutable              bool      // Shared
}

// FundsWithdrawal is a SIP-58 address-balance input: at most MaxAmount of
// Balance<Type> from the sender, the sponsor, or an allowance.
type FundsWithdrawal struct {
	MaxAmount uint64
	Type      TypeTag // T of Balance<T>
	From      uint8
	Funder    Address // SenderAllowance
	Allowance Address // SenderAllowance
}

// CallArg is one transaction input.
type CallArg struct {
	Kind       uint8
	Pure       []byte
	Object     ObjectArg
	Withdrawal FundsWithdrawal
}

// Argument refers to a value in a programmable transaction.
type Argument struct {
	Kind  uint8
	Index uint16 // Input, Result, NestedResult
	Sub   uint16 // NestedResult
}

func (a Argument) String() string {
	switch a.Kind {
	case ArgGasCoin:
		return "GasCoin"
	case ArgInput:
		return fmt.Sprintf("Input(%d)", a.Index)
	case ArgResult:
		return fmt.Sprintf("Result(%d)", a.Index)
	default:
		return fmt.Sprintf("NestedResult(%d,%d)", a.Index, a.Sub)
	}
}

// MoveCall is a call of a public Move function.
type MoveCall struct {
	Package  Address
	Module   string
	Function string
	TypeArgs []TypeTag
	Args     []Argument
}

// Command is one programmable-transaction command. Which fields are set
// depends on Kind.
type Command struct {
	Kind     uint8
	Call     *MoveCall  // MoveCall
	Objects  []Argument // TransferObjects
	Receiver Argument   // TransferObjects
	Coin     Argument   // SplitCoins, and the destination of MergeCoins
	Amounts  []Argument // SplitCoins; the sources of MergeCoins
}

// GasData says who pays for gas, with which coins, at which price and up
// to which budget. An empty Payment pays from the owner's SUI address
// balance.
type GasData struct {
	Payment []ObjectRef
	Owner   Address
	Price   uint64
	Budget  uint64
}

// Expiration bounds when a transaction may execute.
type Expiration struct {
	Kind         uint8
	Epoch        uint64 // Epoch
	MinEpoch     *uint64
	MaxEpoch     *uint64
	MinTimestamp *uint64
	MaxTimestamp *uint64
	Chain        Digest // ValidDuring, Validity: the chain identifier
	Nonce        uint32
	// Validity only: Some(AllowedProposers).
	ProposersEpoch *uint64
	Proposers      []uint32
}

// Transaction is a decoded TransactionData V1 with a programmable
// transaction kind.
type Transaction struct {
	Sender     Address
	Inputs     []CallArg
	Commands   []Command
	Gas        GasData
	Expiration Expiration
}

// Decoding limits, close to the protocol's.
const (
	maxTxBytes  = 128 << 10
	maxCommands = 1024
	maxInputs   = 2048
	maxArgs     = 512
)

// DecodeTransaction decodes the BCS bytes of a TransactionData. It accepts
// V1 programmable transactions with the commands MoveCall,
// TransferObjects, SplitCoins and MergeCoins and rejects anything else,
// bad variants, truncation and trailing bytes. It never panics.
func DecodeTransaction(b []byte) (*Transaction, error) {
	if len(b) > maxTxBytes {
		return nil, fmt.Errorf("suitest: transaction is %d bytes, more than %d", len(b), maxTxBytes)
	}
	r := &reader{b: b}
	tx := &Transaction{}
	if v := r.uleb(); r.err == nil && v != 0 {
		return nil, fmt.Errorf("suitest: TransactionData variant %d: only V1 (0) exists", v)
	}
	if k := r.uleb(); r.err == nil && k != 0 {
		return nil, fmt.Errorf("suitest: TransactionKind variant %d: only ProgrammableTransaction (0) is accepted", k)
	}
	n := r.length()
	if n > maxInputs {
		r.failf("%d inputs, more than %d", n, maxInputs)
	}
	for i := 0; i < n && r.err == nil; i++ {
		tx.Inputs = append(tx.Inputs, decodeCallArg(r))
	}
	n = r.length()
	if n > maxCommands {
		r.failf("%d commands, more than %d", n, maxCommands)
	}
	for i := 0; i < n && r.err == nil; i++ {
		c, err := decodeCommand(r)
		if err != nil {
			return nil, fmt.Errorf("suitest: command %d: %w", i, err)
		}
		tx.Commands = append(tx.Commands, c)
	}
	tx.Sender = r.addr()
	m := r.length()
	for i := 0; i < m && r.err == nil; i++ {
		tx.Gas.Payment = append(tx.Gas.Payment, decodeObjectRef(r))
	}
	tx.Gas.Owner = r.addr()
	tx.Gas.Price = r.u64()
	tx.Gas.Budget = r.u64()
	tx.Expiration = decodeExpiration(r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("suitest: transaction: %w", err)
	}
	return tx, nil
}

func decodeObjectRef(r *reader) ObjectRef {
	ref := ObjectRef{ID: r.addr(), Version: r.u64()}
	d := r.bytes()
	if r.err == nil && len(d) != 32 {
		r.failf("object digest is %d bytes, want 32", len(d))
	}
	copy(ref.Digest[:], d)
	return ref
}

func decodeCallArg(r *reader) CallArg {
	a := CallArg{Kind: uint8(r.variant("CallArg", 3))}
	switch a.Kind {
	case ArgPure:
		a.Pure = r.bytes()
	case ArgObject:
		a.Object.Kind = uint8(r.variant("ObjectArg", 3))
		switch a.Object.Kind {
		case ObjImmOrOwned, ObjReceiving:
			a.Object.Ref = decodeObjectRef(r)
		case ObjShared:
			a.Object.Ref.ID = r.addr()
			a.Object.InitialSharedVersion = r.u64()
			a.Object.Mutable = r.bool()
		}
	case ArgFundsWithdrawal:
		w := &a.Withdrawal
		r.variant("Reservation", 1)
		w.MaxAmount = r.u64()
		r.variant("WithdrawalType", 1)
		w.Type = decodeTypeTag(r, 0)
		w.From = uint8(r.variant("WithdrawFrom", 3))
		if w.From == WithdrawFromSenderAllowance {
			w.Funder = r.addr()
			w.Allowance = r.addr()
		}
	}
	return a
}

func decodeArgument(r *reader) Argument {
	a := Argument{Kind: uint8(r.variant("Argument", 4))}
	switch a.Kind {
	case ArgInput, ArgResult:
		a.Index = r.u16()
	case ArgNestedResult:
		a.Index = r.u16()
		a.Sub = r.u16()
	}
	return a
}

func decodeArguments(r *reader) []Argument {
	n := r.length()
	if n > maxArgs {
		r.failf("%d arguments, more than %d", n, maxArgs)
	}
	var out []Argument
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, decodeArgument(r))
	}
	return out
}

func decodeCommand(r *reader) (Command, error) {
	k := r.uleb()
	if r.err != nil {
		return Command{}, r.err
	}
	c := Command{Kind: uint8(k)}
	switch k {
	case CmdMoveCall:
		mc := &MoveCall{Package: r.addr(), Module: r.str(), Function: r.str()}
		n := r.length()
		for i := 0; i < n && r.err == nil; i++ {
			mc.TypeArgs = append(mc.TypeArgs, decodeTypeTag(r, 0))
		}
		mc.Args = decodeArguments(r)
		c.Call = mc
	case CmdTransferObjects:
		c.Objects = decodeArguments(r)
		c.Receiver = decodeArgument(r)
	case CmdSplitCoins:
		c.Coin = decodeArgument(r)
		c.Amounts = decodeArguments(r)
	case CmdMergeCoins:
		c.Coin = decodeArgument(r)
		c.Amounts = decodeArguments(r)
	case CmdPublish, CmdMakeMoveVec, CmdUpgrade:
		return c, fmt.Errorf("%s is not supported by this test chain", commandNames[k])
	default:
		return c, fmt.Errorf("Command variant %d does not exist", k)
	}
	return c, r.err
}

func decodeExpiration(r *reader) Expiration {
	e := Expiration{Kind: uint8(r.variant("TransactionExpiration", 4))}
	switch e.Kind {
	case ExpireEpoch:
		e.Epoch = r.u64()
	case ExpireValidDuring, ExpireValidity:
		e.MinEpoch = r.optU64()
		e.MaxEpoch = r.optU64()
		e.MinTimestamp = r.optU64()
		e.MaxTimestamp = r.optU64()
		d := r.bytes()
		if r.err == nil && len(d) != 32 {
			r.failf("chain digest is %d bytes, want 32", len(d))
		}
		copy(e.Chain[:], d)
		e.Nonce = r.u32()
		if e.Kind == ExpireValidity {
			switch r.u8() {
			case 0:
			case 1:
				ep := r.u64()
				e.ProposersEpoch = &ep
				n := r.length()
				if r.err == nil && n == 0 {
					r.failf("allowed proposers must not be empty")
				}
				for i := 0; i < n && r.err == nil; i++ {
					e.Proposers = append(e.Proposers, r.u32())
				}
			default:
				r.failf("option tag is neither 0 nor 1")
			}
		}
	}
	return e
}

// TransactionDigest is BLAKE2b-256 of "TransactionData::" and the BCS bytes.
func TransactionDigest(txBytes []byte) Digest {
	h, _ := blake2b.New256(nil)
	h.Write([]byte("TransactionData::"))
	h.Write(txBytes)
	var d Digest
	copy(d[:], h.Sum(nil))
	return d
}

// Ed25519Address is the Sui address of an ed25519 public key:
// BLAKE2b-256 of the flag 0x00 and the key.
func Ed25519Address(pub ed25519.PublicKey) Address {
	return Address(blake2b.Sum256(append([]byte{0}, pub...)))
}

// signingDigest is what an ed25519 transaction signature signs: BLAKE2b-256
// of the intent 00 00 00 (TransactionData, V0, Sui) and the bytes.
func signingDigest(txBytes []byte) []byte {
	h, _ := blake2b.New256(nil)
	h.Write([]byte{0, 0, 0})
	h.Write(txBytes)
	return h.Sum(nil)
}

// ErrBadSignature is wrapped by VerifySignature's errors.
var ErrBadSignature = errors.New("invalid transaction signature")

// VerifySignature checks a serialized ed25519 signature (flag 0x00, 64
// bytes of signature, 32 bytes of public key) over txBytes and returns the
// signer's address.
func VerifySignature(txBytes, sig []byte) (Address, error) {
	if len(sig) != 1+64+32 {
		return Address{}, fmt.Errorf("%w: %d bytes, want 97 (only ed25519 is supported)", ErrBadSignature, len(sig))
	}
	if sig[0] != 0 {
		return Address{}, fmt.Errorf("%w: scheme flag %#x, only ed25519 (0x00) is supported", ErrBadSignature, sig[0])
	}
	pub := ed25519.PublicKey(sig[65:])
	if !ed25519.Verify(pub, signingDigest(txBytes), sig[1:65]) {
		return Address{}, fmt.Errorf("%w: ed25519 verification failed", ErrBadSignature)
	}
	return Ed25519Address(pub), nil
}

// SignTransaction signs txBytes with key and returns the 97-byte
// serialized signature. Tests use it to play the client.
func SignTransaction(key ed25519.PrivateKey, txBytes []byte) []byte {
	sig := ed25519.Sign(key, signingDigest(txBytes))
	out := append([]byte{0}, sig...)
	return append(out, key.Public().(ed25519.PublicKey)...)
}

// Encode is the inverse of DecodeTransaction: the BCS bytes of tx.
func (tx *Transaction) Encode() []byte {
	w := &writer{}
	w.uleb(0) // V1
	w.uleb(0) // ProgrammableTransaction
	w.uleb(uint32(len(tx.Inputs)))
	for _, a := range tx.Inputs {
		w.uleb(uint32(a.Kind))
		switch a.Kind {
		case ArgPure:
			w.bytes(a.Pure)
		case ArgObject:
			w.uleb(uint32(a.Object.Kind))
			if a.Object.Kind == ObjShared {
				w.addr(a.Object.Ref.ID)
				w.u64(a.Object.InitialSharedVersion)
				w.bool(a.Object.Mutable)
			} else {
				encodeObjectRef(w, a.Object.Ref)
			}
		case ArgFundsWithdrawal:
			w.uleb(0)
			w.u64(a.Withdrawal.MaxAmount)
			w.uleb(0)
			encodeTypeTag(w, a.Withdrawal.Type)
			w.uleb(uint32(a.Withdrawal.From))
			if a.Withdrawal.From == WithdrawFromSenderAllowance {
				w.addr(a.Withdrawal.Funder)
				w.addr(a.Withdrawal.Allowance)
			}
		}
	}
	w.uleb(uint32(len(tx.Commands)))
	for _, c := range tx.Commands {
		w.uleb(uint32(c.Kind))
		switch c.Kind {
		case CmdMoveCall:
			w.addr(c.Call.Package)
			w.str(c.Call.Module)
			w.str(c.Call.Function)
			w.uleb(uint32(len(c.Call.TypeArgs)))
			for _, t := range c.Call.TypeArgs {
				encodeTypeTag(w, t)
			}
			encodeArguments(w, c.Call.Args)
		case CmdTransferObjects:
			encodeArguments(w, c.Objects)
			encodeArgument(w, c.Receiver)
		case CmdSplitCoins, CmdMergeCoins:
			encodeArgument(w, c.Coin)
			encodeArguments(w, c.Amounts)
		}
	}
	w.addr(tx.Sender)
	w.uleb(uint32(len(tx.Gas.Payment)))
	for _, p := range tx.Gas.Payment {
		encodeObjectRef(w, p)
	}
	w.addr(tx.Gas.Owner)
	w.u64(tx.Gas.Price)
	w.u64(tx.Gas.Budget)
	e := tx.Expiration
	w.uleb(uint32(e.Kind))
	switch e.Kind {
	case ExpireEpoch:
		w.u64(e.Epoch)
	case ExpireValidDuring, ExpireValidity:
		w.optU64(e.MinEpoch)
		w.optU64(e.MaxEpoch)
		w.optU64(e.MinTimestamp)
		w.optU64(e.MaxTimestamp)
		w.bytes(e.Chain[:])
		w.u32(e.Nonce)
		if e.Kind == ExpireValidity {
			if e.ProposersEpoch == nil {
				w.u8(0)
			} else {
				w.u8(1)
				w.u64(*e.ProposersEpoch)
				w.uleb(uint32(len(e.Proposers)))
				for _, p := range e.Proposers {
					w.u32(p)
				}
			}
		}
	}
	return w.b
}

func encodeObjectRef(w *writer, r ObjectRef) {
	w.addr(r.ID)
	w.u64(r.Version)
	w.bytes(r.Digest[:])
}

func encodeArgument(w *writer, a Argument) {
	w.uleb(uint32(a.Kind))
	switch a.Kind {
	case ArgInput, ArgResult:
		w.u16(a.Index)
	case ArgNestedResult:
		w.u16(a.Index)
		w.u16(a.Sub)
	}
}

func encodeArguments(w *writer, as []Argument) {
	w.uleb(uint32(len(as)))
	for _, a := range as {
		encodeArgument(w, a)
	}
}
