package suitest

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	pb "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rejectf is a transaction refused before execution, as a gRPC status.
func rejectf(code codes.Code, format string, args ...any) error {
	return status.Errorf(code, format, args...)
}

// inputError is a rejection for a bad input object or gas, worded as Sui
// words them (UserInputError under the validators' summary line).
func inputError(format string, args ...any) error {
	return rejectf(codes.InvalidArgument, "Transaction validator signing failed due to issues with transaction inputs, please review the errors and try again:\n- "+format, args...)
}

// executeSigned checks, executes and commits a signed transaction (only
// checks and executes it when simulating) and returns its record. An error
// is a rejection (nothing executed, nothing charged) as a gRPC status; a
// failed execution is a record whose effects report the failure.
// Executing a digest twice returns the first record, as Sui does.
func (c *Chain) executeSigned(txBytes []byte, sigs [][]byte, simulate bool) (*txRecord, error) {
	digest := TransactionDigest(txBytes)
	tx, err := DecodeTransaction(txBytes)
	if err != nil {
		return nil, rejectf(codes.InvalidArgument, "invalid transaction: %v", err)
	}
	if !simulate {
		if len(sigs) != 1 {
			return nil, rejectf(codes.InvalidArgument, "expected 1 signature for the sender, got %d", len(sigs))
		}
		signer, err := VerifySignature(txBytes, sigs[0])
		if err != nil {
			return nil, rejectf(codes.InvalidArgument, "%v", err)
		}
		if signer != tx.Sender {
			return nil, rejectf(codes.InvalidArgument, "signer %s is not the sender %s", signer, tx.Sender)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec, ok := c.txs[digest]; ok && !simulate {
		return rec, nil
	}
	if err := c.check(tx); err != nil {
		return nil, err
	}
	next, rec := c.execute(tx, digest)
	rec.TxBytes = txBytes
	rec.Signatures = sigs
	if simulate {
		return rec, nil
	}
	if err := c.commit(next, rec); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return rec, nil
}

// check is what validators check before signing: expiration, gas and
// every input object's version, ownership and locks.
func (c *Chain) check(tx *Transaction) error {
	st := c.st
	if tx.Gas.Owner != tx.Sender {
		return rejectf(codes.InvalidArgument, "sponsored transactions are not supported: gas owner %s is not the sender %s", tx.Gas.Owner, tx.Sender)
	}
	e := tx.Expiration
	switch e.Kind {
	case ExpireEpoch:
		if st.SuiEpoch > e.Epoch {
			return rejectf(codes.InvalidArgument, "Transaction Expired: it was valid until epoch %d, the current epoch is %d", e.Epoch, st.SuiEpoch)
		}
	case ExpireValidDuring, ExpireValidity:
		if e.Chain != c.ids.ChainID {
			return rejectf(codes.InvalidArgument, "transaction is for chain %s, this is %s", e.Chain, c.ids.ChainID)
		}
		if e.MinEpoch == nil || e.MaxEpoch == nil {
			return rejectf(codes.InvalidArgument, "ValidDuring needs both min_epoch and max_epoch")
		}
		if *e.MaxEpoch < *e.MinEpoch || *e.MaxEpoch-*e.MinEpoch > 1 {
			return rejectf(codes.InvalidArgument, "ValidDuring spans epochs %d..%d, at most 2 epochs are allowed", *e.MinEpoch, *e.MaxEpoch)
		}
		if st.SuiEpoch < *e.MinEpoch || st.SuiEpoch > *e.MaxEpoch {
			return rejectf(codes.InvalidArgument, "Transaction Expired: it is valid in epochs %d..%d, the current epoch is %d", *e.MinEpoch, *e.MaxEpoch, st.SuiEpoch)
		}
		now := c.nowMs()
		if (e.MinTimestamp != nil && now < *e.MinTimestamp) || (e.MaxTimestamp != nil && now > *e.MaxTimestamp) {
			return rejectf(codes.InvalidArgument, "Transaction Expired: the chain time %d ms is outside its timestamps", now)
		}
	}
	rgp := c.cfg.ReferenceGasPrice
	if tx.Gas.Price < rgp {
		return rejectf(codes.InvalidArgument, "Gas price %d under reference gas price (RGP) %d", tx.Gas.Price, rgp)
	}
	if minB := tx.Gas.Price * minBudgetUnits; tx.Gas.Budget < minB {
		return rejectf(codes.InvalidArgument, "Gas budget: %d is lower than min: %d", tx.Gas.Budget, minB)
	}
	if tx.Gas.Budget > maxBudget {
		return rejectf(codes.InvalidArgument, "Gas budget: %d is higher than max: %d", tx.Gas.Budget, maxBudget)
	}
	seen := map[Address]bool{}
	useObject := func(id Address) error {
		if seen[id] {
			return rejectf(codes.InvalidArgument, "Mutable object %s cannot appear more than one in one transaction", id)
		}
		seen[id] = true
		if ep, ok := st.Locks[id]; ok && ep == st.SuiEpoch {
			return rejectf(codes.FailedPrecondition, "Failed to sign transaction by a quorum of validators because one or more of its objects is equivocated until the next epoch. Other transactions locking these objects:\n- %s (stake 100.0)", Digest(blakeLock(id)))
		}
		return nil
	}
	for i, in := range tx.Inputs {
		switch in.Kind {
		case ArgObject:
			a := in.Object
			if err := useObject(a.Ref.ID); err != nil {
				return err
			}
			o, ok := st.Objects[a.Ref.ID]
			switch a.Kind {
			case ObjImmOrOwned:
				if !ok {
					return rejectf(codes.InvalidArgument, "Could not find the referenced object %s at version %d", a.Ref.ID, a.Ref.Version)
				}
				if o.Owner.Kind == OwnerShared || o.Owner.Kind == OwnerObject {
					return rejectf(codes.InvalidArgument, "input %d: object %s is not an owned or immutable object", i, a.Ref.ID)
				}
				if o.Version != a.Ref.Version || o.Digest() != a.Ref.Digest {
					return inputError("Object ID %s Version %#x Digest %s is not available for consumption, current version: %#x", a.Ref.ID, a.Ref.Version, a.Ref.Digest, o.Version)
				}
				if o.Owner.Kind == OwnerAddress && o.Owner.Address != tx.Sender {
					return rejectf(codes.InvalidArgument, "Transaction was not signed by the correct sender: object %s is owned by account address %s, but given owner/signer address is %s", o.ID, o.Owner.Address, tx.Sender)
				}
			case ObjShared:
				if !ok {
					return rejectf(codes.InvalidArgument, "Could not find the referenced object %s", a.Ref.ID)
				}
				if o.Owner.Kind != OwnerShared {
					return rejectf(codes.InvalidArgument, "input %d: object %s is not shared", i, a.Ref.ID)
				}
				if o.Owner.InitialSharedVersion != a.InitialSharedVersion {
					return rejectf(codes.InvalidArgument, "Shared object %s initial shared version mismatch: given %d, actual %d", a.Ref.ID, a.InitialSharedVersion, o.Owner.InitialSharedVersion)
				}
			default:
				return rejectf(codes.InvalidArgument, "input %d: Receiving objects are not supported", i)
			}
		case ArgFundsWithdrawal:
			if in.Withdrawal.From == WithdrawFromSenderAllowance {
				return rejectf(codes.InvalidArgument, "input %d: withdrawals from an allowance are not supported", i)
			}
		}
	}
	var gasTotal uint64
	for _, ref := range tx.Gas.Payment {
		if err := useObject(ref.ID); err != nil {
			return err
		}
		o, ok := st.Objects[ref.ID]
		if !ok {
			return rejectf(codes.InvalidArgument, "Could not find the referenced gas object %s at version %d", ref.ID, ref.Version)
		}
		if o.Version != ref.Version || o.Digest() != ref.Digest {
			return inputError("Object ID %s Version %#x Digest %s is not available for consumption, current version: %#x", ref.ID, ref.Version, ref.Digest, o.Version)
		}
		if ct, ok := o.coinType(); !ok || !sameType(ct, suiType) {
			return rejectf(codes.InvalidArgument, "Gas object %s is not a Coin<0x2::sui::SUI>: %s", ref.ID, o.Type)
		}
		if o.Owner.Kind != OwnerAddress || o.Owner.Address != tx.Gas.Owner {
			return rejectf(codes.InvalidArgument, "Gas object %s is not owned by the gas owner %s", ref.ID, tx.Gas.Owner)
		}
		v, _ := coinValue(o)
		gasTotal += v
	}
	if len(tx.Gas.Payment) == 0 {
		if e.Kind != ExpireValidDuring && e.Kind != ExpireValidity {
			return rejectf(codes.InvalidArgument, "gas paid from the address balance (empty gas payment) needs a ValidDuring expiration")
		}
		gasTotal = st.Balances[balanceKey(tx.Gas.Owner, suiType)]
	}
	if gasTotal < tx.Gas.Budget {
		return inputError("Balance of gas object %s is lower than the needed amount: %d (it holds %d)", gasName(tx), tx.Gas.Budget, gasTotal)
	}
	for i, cmd := range tx.Commands {
		if cmd.Kind == CmdMoveCall {
			p := cmd.Call.Package
			if p != addrTwo && p != c.ids.WalrusPublished && p != c.ids.WalrusOriginal {
				return rejectf(codes.InvalidArgument, "command %d: Dependent package not found on-chain: %s", i, p)
			}
		}
	}
	return nil
}

func gasName(tx *Transaction) string {
	if len(tx.Gas.Payment) == 0 {
		return "(address balance)"
	}
	return tx.Gas.Payment[0].ID.String()
}

// blakeLock names the transaction that holds a locked object.
func blakeLock(id Address) [32]byte { return TransactionDigest(append([]byte("lock"), id[:]...)) }

// nowMs is the chain's clock: the start of the current Walrus epoch.
func (c *Chain) nowMs() uint64 { return c.st.Walrus.epochStart(c.st.Walrus.Epoch) }

// execute runs a checked transaction on a copy of the state and returns
// the next state and the record. Callers hold c.mu.
func (c *Chain) execute(tx *Transaction, digest Digest) (*state, *txRecord) {
	base := c.st
	var lamport uint64
	for _, in := range tx.Inputs {
		if in.Kind == ArgObject {
			lamport = max(lamport, base.Objects[in.Object.Ref.ID].Version)
		}
	}
	for _, ref := range tx.Gas.Payment {
		lamport = max(lamport, base.Objects[ref.ID].Version)
	}
	lamport++

	comp := tx.Gas.Price * (computationBase + computationPerCommand*uint64(len(tx.Commands)))
	run := func(execute bool) (*work, *ptb, *execError) {
		w := c.newWork(base, digest)
		w.sender = tx.Sender
		p := &ptb{w: w, tx: tx}
		if len(tx.Gas.Payment) > 0 {
			gasID := tx.Gas.Payment[0].ID
			g := w.mut(gasID)
			total, _ := coinValue(g)
			for _, ref := range tx.Gas.Payment[1:] {
				v, _ := coinValue(w.remove(ref.ID))
				total += v
			}
			setCoinValue(g, total-tx.Gas.Budget)
			p.gas = &slot{kind: vObject, id: gasID, input: true, mutable: true, gas: true}
		} else {
			w.st.Balances[balanceKey(tx.Sender, suiType)] -= tx.Gas.Budget
		}
		for i, in := range tx.Inputs {
			s := &slot{fromInput: i}
			switch in.Kind {
			case ArgPure:
				s.kind, s.pure = vPure, in.Pure
			case ArgObject:
				o := base.Objects[in.Object.Ref.ID]
				s.kind, s.id, s.input = vObject, o.ID, true
				s.shared = in.Object.Kind == ObjShared
				s.mutable = (in.Object.Kind == ObjImmOrOwned && o.Owner.Kind == OwnerAddress) || (s.shared && in.Object.Mutable)
			case ArgFundsWithdrawal:
				wd := in.Withdrawal
				s.kind, s.wd = vWithdrawal, &wd
			}
			p.inputs = append(p.inputs, s)
		}
		if !execute {
			return w, p, nil
		}
		return w, p, p.run()
	}

	w, p, xerr := run(true)
	var storage, rebate uint64
	if xerr == nil {
		w.renderWalrus()
		c.bumpMutableInputs(w, p)
		storage, rebate = c.storageCharges(base, w)
		if comp+storage > tx.Gas.Budget {
			xerr = &execError{Kind: pb.ExecutionError_INSUFFICIENT_GAS,
				Description: fmt.Sprintf("InsufficientGas: computation %d + storage %d exceed the budget %d", comp, storage, tx.Gas.Budget)}
		}
	}
	if xerr != nil {
		w, p, _ = run(false)
		c.bumpMutableInputs(w, p)
		comp = min(comp, tx.Gas.Budget)
		storage, rebate = 0, 0
	}
	refund := rebate * 99 / 100
	net := int64(comp) + int64(storage) - int64(refund)
	back := uint64(int64(tx.Gas.Budget) - net)
	if p.gas != nil {
		g := w.mut(p.gas.id)
		v, _ := coinValue(g)
		setCoinValue(g, v+back)
	} else {
		w.st.Balances[balanceKey(tx.Sender, suiType)] += back
	}
	eff := effects{Success: xerr == nil, Error: xerr, Computation: comp, Storage: storage, Rebate: refund,
		NonRefundable: rebate - refund, Lamport: lamport, Epoch: base.SuiEpoch}
	if p.gas != nil {
		id := p.gas.id
		eff.GasObject = &id
	}
	eff.Changed = c.finish(base, w, lamport, xerr == nil)
	for _, in := range tx.Inputs {
		if in.Kind == ArgObject && in.Object.Kind == ObjShared && !in.Object.Mutable {
			eff.Unchanged = append(eff.Unchanged, base.Objects[in.Object.Ref.ID].Ref())
		}
	}
	rec := &txRecord{Digest: digest, Sender: tx.Sender, Effects: eff, TimestampMs: c.nowMs(), Checkpoint: base.Seq + 1,
		Balances: balanceChanges(base, w)}
	if xerr == nil {
		rec.Events = w.events
	}
	return w.st, rec
}

// bumpMutableInputs writes every mutable input, changed or not: Sui gives
// all of them the new version, also when execution fails.
func (c *Chain) bumpMutableInputs(w *work, p *ptb) {
	for _, s := range p.inputs {
		if s.kind == vObject && s.mutable && !s.moved {
			w.mut(s.id)
		}
	}
}

// storageCharges sums the storage cost of written objects and the rebates
// of the versions they replace or delete.
func (c *Chain) storageCharges(base *state, w *work) (storage, rebate uint64) {
	for id := range w.dirty {
		if o, ok := w.st.Objects[id]; ok {
			storage += storageCost(o)
		}
		if o, ok := base.Objects[id]; ok {
			rebate += o.StorageRebate
		}
	}
	for id := range w.deleted {
		if _, ok := w.dirty[id]; ok {
			continue
		}
		if o, ok := base.Objects[id]; ok {
			rebate += o.StorageRebate
		}
	}
	return storage, rebate
}

// finish stamps written objects with the Lamport version and the
// transaction, and lists the changes in ID order.
func (c *Chain) finish(base *state, w *work, lamport uint64, success bool) []changedObj {
	ids := map[Address]bool{}
	for id := range w.dirty {
		ids[id] = true
	}
	for id := range w.deleted {
		ids[id] = true
	}
	for id := range w.unwrapped {
		if !w.wrapped[id] {
			ids[id] = true
		}
	}
	var out []changedObj
	for id := range ids {
		in, hadIn := base.Objects[id]
		o, has := w.st.Objects[id]
		ch := changedObj{ID: id, InputExists: hadIn, OutputExists: has, IDOp: pb.ChangedObject_NONE}
		if hadIn {
			ch.InputVersion, ch.InputDigest, ch.InputOwner, ch.Type = in.Version, in.Digest(), in.Owner, in.Type.String()
		}
		if has {
			o.Version = lamport
			o.PrevTx = w.digest
			o.StorageRebate = 0
			if success {
				o.StorageRebate = storageCost(o)
			} else if hadIn {
				o.StorageRebate = in.StorageRebate
			}
			ch.OutputVersion, ch.OutputDigest, ch.OutputOwner, ch.Type = o.Version, o.Digest(), o.Owner, o.Type.String()
			if !hadIn && !w.unwrapped[id] {
				ch.IDOp = pb.ChangedObject_CREATED
			}
		} else if (hadIn && !w.wrapped[id]) || (!hadIn && w.unwrapped[id]) {
			// Deleted, or unwrapped then deleted (the Storage of a burnt
			// blob). A wrapped object keeps ID operation NONE.
			ch.IDOp = pb.ChangedObject_DELETED
			if !hadIn {
				ch.Type = w.c.storageType().String()
			}
		}
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].ID[:]) < string(out[j].ID[:]) })
	return out
}

// balanceChanges nets, per owner and coin type, the coins a transaction
// wrote or deleted and the address balances it moved.
func balanceChanges(base *state, w *work) []balanceChange {
	type key struct {
		owner Address
		coin  string
	}
	sum := map[key]*big.Int{}
	add := func(k key, v uint64, sign int) {
		if sum[k] == nil {
			sum[k] = new(big.Int)
		}
		d := new(big.Int).SetUint64(v)
		if sign < 0 {
			d.Neg(d)
		}
		sum[k].Add(sum[k], d)
	}
	coin := func(o *Object, sign int) {
		ct, ok := o.coinType()
		if !ok || o.Owner.Kind != OwnerAddress {
			return
		}
		v, _ := coinValue(o)
		add(key{o.Owner.Address, ct.String()}, v, sign)
	}
	seen := map[Address]bool{}
	for _, set := range []map[Address]bool{w.dirty, w.deleted} {
		for id := range set {
			if seen[id] {
				continue
			}
			seen[id] = true
			if o, ok := base.Objects[id]; ok {
				coin(o, -1)
			}
			if o, ok := w.st.Objects[id]; ok {
				coin(o, +1)
			}
		}
	}
	for k, v := range w.st.Balances {
		if old := base.Balances[k]; old != v {
			owner, ct, _ := strings.Cut(k, "|")
			a, _ := ParseAddress(owner)
			add(key{a, ct}, v, +1)
			add(key{a, ct}, old, -1)
		}
	}
	for k, old := range base.Balances {
		if _, ok := w.st.Balances[k]; !ok && old != 0 {
			owner, ct, _ := strings.Cut(k, "|")
			a, _ := ParseAddress(owner)
			add(key{a, ct}, old, -1)
		}
	}
	var out []balanceChange
	for k, v := range sum {
		if v.Sign() != 0 {
			out = append(out, balanceChange{Address: k.owner, CoinType: k.coin, Amount: v.String()})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Address != out[j].Address {
			return string(out[i].Address[:]) < string(out[j].Address[:])
		}
		return out[i].CoinType < out[j].CoinType
	})
	return out
}

// selectGas fills in what a client left for the node to choose, as
// SimulateTransaction's do_gas_selection does: a zero price becomes the
// reference gas price, a zero budget the sender's SUI up to the maximum,
// and an empty payment (without a ValidDuring expiration, which would
// mean address-balance gas) the sender's largest SUI coins that cover the
// budget. It returns the new transaction bytes.
func (c *Chain) selectGas(txBytes []byte) ([]byte, error) {
	tx, err := DecodeTransaction(txBytes)
	if err != nil {
		return nil, rejectf(codes.InvalidArgument, "invalid transaction: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if tx.Gas.Price == 0 {
		tx.Gas.Price = c.cfg.ReferenceGasPrice
	}
	if tx.Gas.Owner == (Address{}) {
		tx.Gas.Owner = tx.Sender
	}
	if len(tx.Gas.Payment) > 0 || tx.Expiration.Kind == ExpireValidDuring {
		return tx.Encode(), nil
	}
	used := map[Address]bool{}
	for _, in := range tx.Inputs {
		if in.Kind == ArgObject {
			used[in.Object.Ref.ID] = true
		}
	}
	var coins []*Object
	var total uint64
	for _, o := range c.st.Objects {
		ct, ok := o.coinType()
		if ok && sameType(ct, suiType) && o.Owner.Kind == OwnerAddress && o.Owner.Address == tx.Gas.Owner && !used[o.ID] {
			coins = append(coins, o)
			v, _ := coinValue(o)
			total += v
		}
	}
	sort.Slice(coins, func(i, j int) bool {
		a, _ := coinValue(coins[i])
		b, _ := coinValue(coins[j])
		return a > b || a == b && string(coins[i].ID[:]) < string(coins[j].ID[:])
	})
	if tx.Gas.Budget == 0 {
		tx.Gas.Budget = min(total, maxBudget)
	}
	var have uint64
	for _, o := range coins {
		if have >= tx.Gas.Budget && len(tx.Gas.Payment) > 0 {
			break
		}
		tx.Gas.Payment = append(tx.Gas.Payment, o.Ref())
		v, _ := coinValue(o)
		have += v
	}
	if have < tx.Gas.Budget || len(tx.Gas.Payment) == 0 {
		return nil, rejectf(codes.InvalidArgument, "gas selection: %s holds %d MIST in SUI coins, the budget is %d", tx.Gas.Owner, have, tx.Gas.Budget)
	}
	return tx.Encode(), nil
}
