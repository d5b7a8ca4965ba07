package suitest

import (
	"fmt"

	pb "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
)

// Gas constants. Computation is deterministic: gas price × (1000 + 1000 per
// command) units. Storage is charged per byte of each written object's BCS
// (plus 100 bytes of overhead) at 7600 MIST a byte, as Sui's 76 storage
// units × 100 do; deleting or rewriting an object rebates 99% of what it
// was charged.
const (
	computationBase       = 1000
	computationPerCommand = 1000
	storageOverhead       = 100
	storagePerByte        = 7600
	minBudgetUnits        = 1000
	maxBudget             = 50_000_000_000
)

func storageCost(o *Object) uint64 { return uint64(len(o.BCS())+storageOverhead) * storagePerByte }

// abortErr is a Move abort: module, code and what the code means here.
type abortErr struct {
	Package  Address
	Module   string
	Function string
	Code     uint64
	Msg      string
}

func abort(module string, code uint64, format string, args ...any) *abortErr {
	return &abortErr{Module: module, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// execError is a failed execution as effects report it.
type execError struct {
	Kind        pb.ExecutionError_ExecutionErrorKind
	Description string
	Command     *uint64
	Abort       *abortErr
}

func (e *execError) Error() string { return e.Description }

func argError(format string, args ...any) *execError {
	return &execError{Kind: pb.ExecutionError_COMMAND_ARGUMENT_ERROR, Description: fmt.Sprintf(format, args...)}
}

// eventRec is one emitted event.
type eventRec struct {
	Package  Address
	Module   string
	Sender   Address
	Type     string
	Contents []byte
}

// changedObj is one entry of effects.changed_objects.
type changedObj struct {
	ID            Address
	InputExists   bool
	InputVersion  uint64
	InputDigest   Digest
	InputOwner    Owner
	OutputExists  bool
	OutputVersion uint64
	OutputDigest  Digest
	OutputOwner   Owner
	IDOp          pb.ChangedObject_IdOperation
	Type          string
}

// effects are a transaction's results.
type effects struct {
	Success       bool
	Error         *execError
	Computation   uint64
	Storage       uint64
	Rebate        uint64
	NonRefundable uint64
	Changed       []changedObj
	GasObject     *Address
	Lamport       uint64
	Epoch         uint64
	Unchanged     []ObjectRef // shared objects read, not written
}

// txRecord is an executed transaction, kept for GetTransaction.
type txRecord struct {
	Digest      Digest
	TxBytes     []byte
	Signatures  [][]byte
	Sender      Address
	Effects     effects
	Events      []eventRec
	Balances    []balanceChange
	TimestampMs uint64
	Checkpoint  uint64
}

// balanceChange is one owner's net change of one coin type, coins and
// address balance together, as a signed decimal.
type balanceChange struct {
	Address  Address
	CoinType string
	Amount   string
}

// work is a transaction in progress: a copy of the state with
// copy-on-write objects.
type work struct {
	c            *Chain
	st           *state
	digest       Digest
	created      uint64
	dirty        map[Address]bool // written objects
	deleted      map[Address]bool // removed from the state
	wrapped      map[Address]bool // went into another object's contents
	unwrapped    map[Address]bool // came out of another object's contents
	walrusDirty  bool
	stakingDirty bool
	events       []eventRec
	sender       Address
}

func (c *Chain) newWork(base *state, digest Digest) *work {
	return &work{c: c, st: base.clone(), digest: digest, dirty: map[Address]bool{}, deleted: map[Address]bool{},
		wrapped: map[Address]bool{}, unwrapped: map[Address]bool{}}
}

// mut returns a private copy of a state object for writing.
func (w *work) mut(id Address) *Object {
	o := w.st.Objects[id]
	if o == nil {
		return nil
	}
	if !w.dirty[id] {
		o = o.clone()
		w.st.Objects[id] = o
		w.dirty[id] = true
	}
	return o
}

// newObject makes a fresh object; it joins the state only when placed.
func (w *work) newObject(t TypeTag, owner Owner, contents func(Address) []byte) *Object {
	id := createdID(w.digest, w.created)
	w.created++
	return &Object{ID: id, Owner: owner, Type: t, PublicTransfer: true, Contents: contents(id), PrevTx: w.digest}
}

// place puts an object into the state with an owner.
func (w *work) place(o *Object, owner Owner) {
	o = o.clone()
	o.Owner = owner
	w.st.Objects[o.ID] = o
	w.dirty[o.ID] = true
	delete(w.deleted, o.ID)
}

// remove takes an object out of the state.
func (w *work) remove(id Address) *Object {
	o := w.st.Objects[id]
	delete(w.st.Objects, id)
	delete(w.dirty, id)
	w.deleted[id] = true
	return o
}

// renderWalrus rewrites the inner System and Staking objects after the
// Walrus state changed.
func (w *work) renderWalrus() {
	ws := w.st.Walrus
	if w.walrusDirty {
		o := w.mut(w.c.ids.SystemInner)
		o.Contents = fieldContents(w.c.ids.SystemInner, 3, ws.systemInnerBCS())
		w.mut(w.c.ids.System)
	}
	if w.stakingDirty {
		o := w.mut(w.c.ids.StakingInner)
		o.Contents = fieldContents(w.c.ids.StakingInner, 3, ws.stakingInnerBCS())
		w.mut(w.c.ids.Staking)
	}
}

func (w *work) emit(pkg Address, module, name string, contents []byte) {
	w.events = append(w.events, eventRec{
		Package: pkg, Module: module, Sender: w.sender,
		Type: structType(w.c.ids.WalrusOriginal, "events", name).String(), Contents: contents,
	})
}

// Value kinds in a programmable transaction.
const (
	vPure = iota
	vObject
	vBalance
	vWithdrawal
)

// slot is one value: an input, the gas coin or a command result.
type slot struct {
	kind      int
	id        Address // vObject in the state
	held      *Object // vObject not in the state (a result)
	input     bool
	mutable   bool
	shared    bool
	gas       bool
	pure      []byte
	coin      TypeTag // vBalance
	amount    uint64  // vBalance
	wd        *FundsWithdrawal
	moved     bool
	fromInput int
}

func (w *work) obj(s *slot) *Object {
	if s.held != nil {
		return s.held
	}
	return w.st.Objects[s.id]
}

func (w *work) mutObj(s *slot) *Object {
	if s.held != nil {
		return s.held
	}
	return w.mut(s.id)
}

// ptb runs the commands of one transaction.
type ptb struct {
	w       *work
	tx      *Transaction
	inputs  []*slot
	gas     *slot
	results [][]*slot
	cmd     int
}

func (p *ptb) resolve(a Argument) (*slot, *execError) {
	switch a.Kind {
	case ArgGasCoin:
		if p.gas == nil {
			return nil, argError("GasCoin used, but gas is paid from the address balance")
		}
		return p.gas, nil
	case ArgInput:
		if int(a.Index) >= len(p.inputs) {
			return nil, argError("%s: the transaction has %d inputs", a, len(p.inputs))
		}
		return p.inputs[a.Index], nil
	case ArgResult, ArgNestedResult:
		if int(a.Index) >= p.cmd {
			return nil, argError("%s: command %d cannot use the result of command %d", a, p.cmd, a.Index)
		}
		rs := p.results[a.Index]
		sub := int(a.Sub)
		if a.Kind == ArgResult {
			if len(rs) != 1 {
				return nil, argError("%s: command %d returned %d values, Result needs exactly one", a, a.Index, len(rs))
			}
			sub = 0
		}
		if sub >= len(rs) {
			return nil, argError("%s: command %d returned %d values", a, a.Index, len(rs))
		}
		return rs[sub], nil
	}
	return nil, argError("argument kind %d", a.Kind)
}

// objRef resolves an object argument passed by reference and checks its
// type; mut says the parameter is &mut.
func (p *ptb) objRef(a Argument, want TypeTag, mut bool) (*slot, *Object, *execError) {
	s, err := p.resolve(a)
	if err != nil {
		return nil, nil, err
	}
	if s.kind != vObject || s.moved {
		return nil, nil, argError("%s: not an object value (or already moved)", a)
	}
	o := p.w.obj(s)
	if o == nil {
		return nil, nil, argError("%s: object is gone", a)
	}
	if !sameType(o.Type, want) {
		return nil, nil, argError("%s: type mismatch: got %s, want %s", a, o.Type, want)
	}
	if mut && s.input && !s.mutable {
		return nil, nil, argError("%s: InvalidObjectByMutRef: object %s was given immutably but the function takes &mut", a, s.id)
	}
	if mut {
		o = p.w.mutObj(s)
	}
	return s, o, nil
}

// objVal takes an object argument by value.
func (p *ptb) objVal(a Argument, want TypeTag) (*Object, *execError) {
	s, o, err := p.objRef(a, want, false)
	if err != nil {
		return nil, err
	}
	if s.shared {
		return nil, argError("%s: a shared object cannot be taken by value", a)
	}
	if s.gas {
		return nil, argError("%s: the gas coin can only be taken by value in TransferObjects", a)
	}
	if s.input && !s.mutable {
		return nil, argError("%s: an immutable object cannot be taken by value", a)
	}
	s.moved = true
	if s.held == nil {
		o = p.w.remove(s.id).clone()
	}
	return o, nil
}

// pureArg returns the bytes of a pure argument of exactly n bytes (n < 0:
// a vector<u8>, whose contents are returned).
func (p *ptb) pureArg(a Argument, n int, what string) ([]byte, *execError) {
	s, err := p.resolve(a)
	if err != nil {
		return nil, err
	}
	if s.kind != vPure {
		return nil, argError("%s: %s expected, got a non-pure value", a, what)
	}
	if n >= 0 {
		if len(s.pure) != n {
			return nil, argError("%s: InvalidBCSBytes: %s takes %d bytes, got %d", a, what, n, len(s.pure))
		}
		return s.pure, nil
	}
	r := &reader{b: s.pure}
	v := r.bytes()
	if err := r.done(); err != nil {
		return nil, argError("%s: InvalidBCSBytes: %s: %v", a, what, err)
	}
	return v, nil
}

func (p *ptb) u64Arg(a Argument) (uint64, *execError) {
	b, err := p.pureArg(a, 8, "u64")
	if err != nil {
		return 0, err
	}
	r := &reader{b: b}
	return r.u64(), nil
}

func (p *ptb) u32Arg(a Argument) (uint32, *execError) {
	b, err := p.pureArg(a, 4, "u32")
	if err != nil {
		return 0, err
	}
	r := &reader{b: b}
	return r.u32(), nil
}

func (p *ptb) u8Arg(a Argument) (uint8, *execError) {
	b, err := p.pureArg(a, 1, "u8")
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (p *ptb) boolArg(a Argument) (bool, *execError) {
	b, err := p.pureArg(a, 1, "bool")
	if err != nil {
		return false, err
	}
	if b[0] > 1 {
		return false, argError("%s: InvalidBCSBytes: bool byte %d", a, b[0])
	}
	return b[0] == 1, nil
}

func (p *ptb) u256Arg(a Argument) ([32]byte, *execError) {
	var v [32]byte
	b, err := p.pureArg(a, 32, "u256")
	if err != nil {
		return v, err
	}
	copy(v[:], b)
	return v, nil
}

func (p *ptb) addrArg(a Argument) (Address, *execError) {
	var v Address
	b, err := p.pureArg(a, 32, "address")
	if err != nil {
		return v, err
	}
	copy(v[:], b)
	return v, nil
}

func objSlot(o *Object) *slot { return &slot{kind: vObject, id: o.ID, held: o} }

// run executes every command; the first failure stops it.
func (p *ptb) run() *execError {
	for i, c := range p.tx.Commands {
		p.cmd = i
		res, err := p.command(c)
		if err != nil {
			ci := uint64(i)
			err.Command = &ci
			return err
		}
		p.results = append(p.results, res)
	}
	for i, rs := range p.results {
		for j, s := range rs {
			if s.moved {
				continue
			}
			if s.kind == vObject || (s.kind == vBalance) {
				return &execError{Kind: pb.ExecutionError_UNUSED_VALUE_WITHOUT_DROP,
					Description: fmt.Sprintf("UnusedValueWithoutDrop: result %d of command %d (a %s) was neither used by value nor transferred", j, i, p.describe(s))}
			}
		}
	}
	return nil
}

func (p *ptb) describe(s *slot) string {
	if s.kind == vBalance {
		return balanceOf(s.coin).String()
	}
	if o := p.w.obj(s); o != nil {
		return o.Type.String()
	}
	return "value"
}

func (p *ptb) command(c Command) ([]*slot, *execError) {
	switch c.Kind {
	case CmdSplitCoins:
		return p.splitCoins(c)
	case CmdMergeCoins:
		return nil, p.mergeCoins(c)
	case CmdTransferObjects:
		return nil, p.transfer(c)
	case CmdMoveCall:
		return p.moveCall(c.Call)
	}
	return nil, &execError{Kind: pb.ExecutionError_FEATURE_NOT_YET_SUPPORTED, Description: fmt.Sprintf("command kind %d is not supported", c.Kind)}
}

// coinRef resolves a Coin<T> of any T by mutable reference.
func (p *ptb) coinRef(a Argument) (*Object, TypeTag, *execError) {
	s, err := p.resolve(a)
	if err != nil {
		return nil, TypeTag{}, err
	}
	if s.kind != vObject || s.moved {
		return nil, TypeTag{}, argError("%s: not a coin (or already moved)", a)
	}
	o := p.w.obj(s)
	ct, ok := o.coinType()
	if !ok {
		return nil, TypeTag{}, argError("%s: type mismatch: %s is not a coin", a, o.Type)
	}
	if s.input && !s.mutable {
		return nil, TypeTag{}, argError("%s: InvalidObjectByMutRef: coin %s was given immutably", a, s.id)
	}
	return p.w.mutObj(s), ct, nil
}

func (p *ptb) splitCoins(c Command) ([]*slot, *execError) {
	coin, ct, err := p.coinRef(c.Coin)
	if err != nil {
		return nil, err
	}
	var out []*slot
	for _, a := range c.Amounts {
		amt, err := p.u64Arg(a)
		if err != nil {
			return nil, err
		}
		have, _ := coinValue(coin)
		if have < amt {
			return nil, &execError{Kind: pb.ExecutionError_INSUFFICIENT_COIN_BALANCE,
				Description: fmt.Sprintf("InsufficientCoinBalance: coin %s holds %d, cannot split %d", coin.ID, have, amt)}
		}
		setCoinValue(coin, have-amt)
		n := p.w.newObject(coinOf(ct), Owner{}, func(id Address) []byte { return coinContents(id, amt) })
		out = append(out, objSlot(n))
	}
	return out, nil
}

func (p *ptb) mergeCoins(c Command) *execError {
	dst, ct, err := p.coinRef(c.Coin)
	if err != nil {
		return err
	}
	total, _ := coinValue(dst)
	for _, a := range c.Amounts {
		s, err := p.resolve(a)
		if err != nil {
			return err
		}
		if s == p.gas {
			return argError("%s: the gas coin cannot be merged into another coin", a)
		}
		src, err := p.objVal(a, coinOf(ct))
		if err != nil {
			return err
		}
		if src.ID == dst.ID {
			return argError("%s: a coin cannot be merged into itself", a)
		}
		v, _ := coinValue(src)
		if total+v < total {
			return &execError{Kind: pb.ExecutionError_COIN_BALANCE_OVERFLOW, Description: "CoinBalanceOverflow"}
		}
		total += v
	}
	setCoinValue(dst, total)
	return nil
}

func (p *ptb) transfer(c Command) *execError {
	to, err := p.addrArg(c.Receiver)
	if err != nil {
		return err
	}
	for _, a := range c.Objects {
		s, err := p.resolve(a)
		if err != nil {
			return err
		}
		if s.kind != vObject || s.moved {
			return argError("%s: not an object (or already moved)", a)
		}
		o := p.w.obj(s)
		if !o.PublicTransfer {
			return &execError{Kind: pb.ExecutionError_INVALID_TRANSFER_OBJECT, Description: fmt.Sprintf("InvalidTransferObject: %s has no store ability", o.Type)}
		}
		if s.shared || (s.input && !s.mutable) {
			return argError("%s: only owned objects can be transferred", a)
		}
		if s.gas {
			p.w.mut(s.id).Owner = Owner{Kind: OwnerAddress, Address: to}
			continue
		}
		s.moved = true
		if s.held == nil {
			o = p.w.remove(s.id)
		}
		p.w.place(o, Owner{Kind: OwnerAddress, Address: to})
	}
	return nil
}
