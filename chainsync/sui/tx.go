package sui

import (
	"errors"
	"fmt"
)

// Limits a transaction must respect (Sui protocol config; see the README's
// chain section). The builder refuses to exceed them, so a batch too large
// fails here with a clear error rather than at the full node.
const (
	MaxTxBytes    = 128 << 10
	MaxPureBytes  = 16 << 10
	MaxCommands   = 1024
	MaxInputs     = 2048
	MaxGasObjects = 256
)

// Argument is a command's operand: the gas coin, a transaction input, or
// the result of an earlier command.
type Argument struct {
	kind   argKind
	index  uint16 // input or command index
	nested uint16 // element of a command's result vector, for argNestedResult
}

type argKind uint8

// Argument variants, numbered as BCS numbers them.
const (
	argGasCoin argKind = iota
	argInput
	argResult
	argNestedResult
)

// GasCoin is the transaction's gas coin (after its payment coins are
// merged into the first).
var GasCoin = Argument{kind: argGasCoin}

// Nested returns element i of the vector a command returned (SplitCoins
// returns one coin per amount).
func (a Argument) Nested(i uint16) Argument {
	return Argument{kind: argNestedResult, index: a.index, nested: i}
}

func (w *bcsWriter) argument(a Argument) {
	w.u8(uint8(a.kind))
	switch a.kind {
	case argInput, argResult:
		w.u16(a.index)
	case argNestedResult:
		w.u16(a.index)
		w.u16(a.nested)
	}
}

// callArg is one transaction input.
type callArg struct {
	kind       callArgKind
	pure       []byte
	owned      ObjectRef
	shared     SharedObject
	mutable    bool
	withdrawal fundsWithdrawal
}

type callArgKind uint8

// CallArg variants (BCS order is Pure, Object, FundsWithdrawal; an Object
// is ImmOrOwned or Shared).
const (
	inputPure callArgKind = iota
	inputOwned
	inputShared
	inputWithdrawal
)

// fundsWithdrawal takes up to Max of a coin type from the sender's address
// balance (SIP-58); 0x2::coin::redeem_funds turns it into a Coin.
type fundsWithdrawal struct {
	Max      uint64
	CoinType TypeTag
}

func (w *bcsWriter) callArg(c callArg) {
	switch c.kind {
	case inputPure:
		w.uleb128(0)
		w.bytes(c.pure)
	case inputOwned:
		w.uleb128(1)
		w.uleb128(0) // ObjectArg::ImmOrOwnedObject
		w.objectRef(c.owned)
	case inputShared:
		w.uleb128(1)
		w.uleb128(1) // ObjectArg::SharedObject
		w.fixed(c.shared.ID[:])
		w.u64(c.shared.InitialVersion)
		w.boolean(c.mutable)
	case inputWithdrawal:
		w.uleb128(2)
		w.uleb128(0) // Reservation::MaxAmountU64
		w.u64(c.withdrawal.Max)
		w.uleb128(0) // WithdrawalType::Balance
		w.typeTag(c.withdrawal.CoinType)
		w.uleb128(0) // WithdrawFrom::Sender
	}
}

func (w *bcsWriter) objectRef(r ObjectRef) {
	w.fixed(r.ID[:])
	w.u64(r.Version)
	w.bytes(r.Digest[:])
}

// command is one step of a programmable transaction.
type command struct {
	kind   commandKind
	call   moveCall
	args   []Argument // TransferObjects objects, SplitCoins amounts, MergeCoins sources
	target Argument   // TransferObjects recipient, SplitCoins coin, MergeCoins destination
}

type commandKind uint8

// Command variants used here, numbered as BCS numbers them.
const (
	cmdMoveCall       commandKind = 0
	cmdTransferObject commandKind = 1
	cmdSplitCoins     commandKind = 2
	cmdMergeCoins     commandKind = 3
)

type moveCall struct {
	Package  Address
	Module   string
	Function string
	TypeArgs []TypeTag
	Args     []Argument
}

func (w *bcsWriter) command(c command) {
	w.uleb128(uint64(c.kind))
	switch c.kind {
	case cmdMoveCall:
		w.fixed(c.call.Package[:])
		w.str(c.call.Module)
		w.str(c.call.Function)
		w.uleb128(uint64(len(c.call.TypeArgs)))
		for _, t := range c.call.TypeArgs {
			w.typeTag(t)
		}
		w.arguments(c.call.Args)
	case cmdTransferObject:
		w.arguments(c.args)
		w.argument(c.target)
	case cmdSplitCoins, cmdMergeCoins:
		w.argument(c.target)
		w.arguments(c.args)
	}
}

func (w *bcsWriter) arguments(as []Argument) {
	w.uleb128(uint64(len(as)))
	for _, a := range as {
		w.argument(a)
	}
}

// Builder assembles a programmable transaction. Inputs are numbered in the
// order of first use; an object used twice is one input (a shared object
// used mutably anywhere is a mutable input), while every pure value is an
// input of its own, as the official SDK does. A Builder is not safe for
// concurrent use.
type Builder struct {
	inputs   []callArg
	commands []command
	objects  map[Address]uint16 // object ID → input index
	err      error
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{objects: make(map[Address]uint16)} }

func (b *Builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Builder) addInput(c callArg) Argument {
	if len(b.inputs) >= MaxInputs {
		b.fail(fmt.Errorf("sui: transaction: more than %d inputs", MaxInputs))
		return Argument{}
	}
	b.inputs = append(b.inputs, c)
	return Argument{kind: argInput, index: uint16(len(b.inputs) - 1)}
}

// Pure adds a pure input holding BCS bytes.
func (b *Builder) Pure(bcsValue []byte) Argument {
	if len(bcsValue) > MaxPureBytes {
		b.fail(fmt.Errorf("sui: transaction: pure input of %d bytes exceeds %d", len(bcsValue), MaxPureBytes))
	}
	return b.addInput(callArg{kind: inputPure, pure: append([]byte(nil), bcsValue...)})
}

// U64 adds a pure u64 input.
func (b *Builder) U64(v uint64) Argument {
	var w bcsWriter
	w.u64(v)
	return b.Pure(w.buf)
}

// U32 adds a pure u32 input.
func (b *Builder) U32(v uint32) Argument {
	var w bcsWriter
	w.u32(v)
	return b.Pure(w.buf)
}

// AddressArg adds a pure address input.
func (b *Builder) AddressArg(a Address) Argument { return b.Pure(a[:]) }

// Owned adds an owned object input (or returns the input already added
// for the same object; a different version of it is an error).
func (b *Builder) Owned(ref ObjectRef) Argument {
	if i, ok := b.objects[ref.ID]; ok {
		if in := b.inputs[i]; in.kind != inputOwned || in.owned != ref {
			b.fail(fmt.Errorf("sui: transaction: object %s added twice with different references", ref.ID))
		}
		return Argument{kind: argInput, index: i}
	}
	a := b.addInput(callArg{kind: inputOwned, owned: ref})
	b.objects[ref.ID] = a.index
	return a
}

// Shared adds a shared object input; mutable is whether this use needs
// &mut. One input serves every use, mutable if any use is.
func (b *Builder) Shared(obj SharedObject, mutable bool) Argument {
	if i, ok := b.objects[obj.ID]; ok {
		in := &b.inputs[i]
		if in.kind != inputShared || in.shared != obj {
			b.fail(fmt.Errorf("sui: transaction: object %s added twice with different references", obj.ID))
		}
		in.mutable = in.mutable || mutable
		return Argument{kind: argInput, index: i}
	}
	a := b.addInput(callArg{kind: inputShared, shared: obj, mutable: mutable})
	b.objects[obj.ID] = a.index
	return a
}

// Withdrawal adds an input that withdraws up to max of coinType from the
// sender's address balance; pass it to 0x2::coin::redeem_funds.
func (b *Builder) Withdrawal(max uint64, coinType TypeTag) Argument {
	return b.addInput(callArg{kind: inputWithdrawal, withdrawal: fundsWithdrawal{Max: max, CoinType: coinType}})
}

func (b *Builder) addCommand(c command) Argument {
	if len(b.commands) >= MaxCommands {
		b.fail(fmt.Errorf("sui: transaction: more than %d commands", MaxCommands))
		return Argument{}
	}
	b.commands = append(b.commands, c)
	return Argument{kind: argResult, index: uint16(len(b.commands) - 1)}
}

// MoveCall calls pkg::module::function<typeArgs>(args) and returns its
// result.
func (b *Builder) MoveCall(pkg Address, module, function string, typeArgs []TypeTag, args ...Argument) Argument {
	return b.addCommand(command{kind: cmdMoveCall, call: moveCall{
		Package: pkg, Module: module, Function: function, TypeArgs: typeArgs, Args: args,
	}})
}

// SplitCoins splits one coin per amount off coin; element i of the result
// (Argument.Nested) is the coin of amounts[i].
func (b *Builder) SplitCoins(coin Argument, amounts ...Argument) Argument {
	return b.addCommand(command{kind: cmdSplitCoins, target: coin, args: amounts})
}

// MergeCoins merges sources into dst.
func (b *Builder) MergeCoins(dst Argument, sources ...Argument) {
	b.addCommand(command{kind: cmdMergeCoins, target: dst, args: sources})
}

// TransferObjects sends objects to the address argument to.
func (b *Builder) TransferObjects(objects []Argument, to Argument) {
	b.addCommand(command{kind: cmdTransferObject, target: to, args: objects})
}

// GasData says which coins pay for gas, at what price and up to what
// budget. An empty Payment pays from the sender's SUI address balance
// (which needs an Expiration with ValidDuring).
type GasData struct {
	Payment []ObjectRef
	Owner   Address
	Price   uint64
	Budget  uint64
}

// Expiration bounds when a transaction may execute. The zero value never
// expires.
type Expiration struct {
	Kind ExpirationKind
	// Epoch is the last Sui epoch for ExpireEpoch.
	Epoch uint64
	// ValidDuring is set for ExpireValidDuring.
	ValidDuring ValidDuring
}

// ExpirationKind numbers as BCS does.
type ExpirationKind uint8

const (
	ExpireNone ExpirationKind = iota
	ExpireEpoch
	ExpireValidDuring
)

// ValidDuring limits a transaction to a window of Sui epochs on one chain;
// the nonce makes otherwise identical transactions distinct. Transactions
// that pay gas from an address balance need it, since no gas coin version
// makes them unique.
type ValidDuring struct {
	MinEpoch, MaxEpoch         *uint64
	MinTimestamp, MaxTimestamp *uint64
	Chain                      Digest // the chain's genesis checkpoint digest
	Nonce                      uint32
}

// Transaction is a built transaction: its BCS bytes (TransactionData) and
// what a person needs to read it.
type Transaction struct {
	Bytes  []byte
	Digest Digest
	Sender Address
	Gas    GasData
}

// Build encodes the transaction. It fails if any builder step failed or a
// limit is exceeded.
func (b *Builder) Build(sender Address, gas GasData, exp Expiration) (*Transaction, error) {
	if b.err != nil {
		return nil, b.err
	}
	if len(b.commands) == 0 {
		return nil, errors.New("sui: transaction: no commands")
	}
	if len(gas.Payment) > MaxGasObjects {
		return nil, fmt.Errorf("sui: transaction: %d gas coins exceed %d", len(gas.Payment), MaxGasObjects)
	}
	if len(gas.Payment) == 0 && exp.Kind != ExpireValidDuring {
		return nil, errors.New("sui: transaction: gas from the address balance needs a ValidDuring expiration")
	}
	var w bcsWriter
	w.uleb128(0) // TransactionData::V1
	w.uleb128(0) // TransactionKind::ProgrammableTransaction
	w.uleb128(uint64(len(b.inputs)))
	for _, in := range b.inputs {
		w.callArg(in)
	}
	w.uleb128(uint64(len(b.commands)))
	for _, c := range b.commands {
		w.command(c)
	}
	w.fixed(sender[:])
	w.uleb128(uint64(len(gas.Payment)))
	for _, r := range gas.Payment {
		w.objectRef(r)
	}
	w.fixed(gas.Owner[:])
	w.u64(gas.Price)
	w.u64(gas.Budget)
	w.expiration(exp)
	if len(w.buf) > MaxTxBytes {
		return nil, fmt.Errorf("sui: transaction: %d bytes exceed %d; send a smaller batch", len(w.buf), MaxTxBytes)
	}
	return &Transaction{Bytes: w.buf, Digest: TransactionDigest(w.buf), Sender: sender, Gas: gas}, nil
}

func (w *bcsWriter) expiration(e Expiration) {
	w.uleb128(uint64(e.Kind))
	switch e.Kind {
	case ExpireEpoch:
		w.u64(e.Epoch)
	case ExpireValidDuring:
		v := e.ValidDuring
		for _, o := range []*uint64{v.MinEpoch, v.MaxEpoch, v.MinTimestamp, v.MaxTimestamp} {
			w.boolean(o != nil)
			if o != nil {
				w.u64(*o)
			}
		}
		w.bytes(v.Chain[:])
		w.u32(v.Nonce)
	}
}
