package suitest

import (
	"fmt"

	pb "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
)

// moveCall runs one of the Move functions this chain knows. Aborts carry
// the module they happen in; their location's function is the called
// entry function.
func (p *ptb) moveCall(mc *MoveCall) ([]*slot, *execError) {
	ids := p.w.c.ids
	var out []*slot
	var ab *abortErr
	var err *execError
	name := mc.Module + "::" + mc.Function
	switch mc.Package {
	case ids.WalrusPublished:
		if len(mc.TypeArgs) != 0 {
			return nil, &execError{Kind: pb.ExecutionError_TYPE_ARITY_MISMATCH, Description: fmt.Sprintf("%s takes no type arguments", name)}
		}
		f, ok := walrusFuncs[name]
		if !ok {
			return nil, &execError{Kind: pb.ExecutionError_FUNCTION_NOT_FOUND, Description: fmt.Sprintf("FunctionNotFound: %s::%s is not modelled by this chain", mc.Package, name)}
		}
		if len(mc.Args) != f.arity {
			return nil, &execError{Kind: pb.ExecutionError_ARITY_MISMATCH, Description: fmt.Sprintf("%s takes %d arguments, got %d", name, f.arity, len(mc.Args))}
		}
		out, ab, err = f.run(p, mc.Args)
	case addrTwo:
		f, ok := frameworkFuncs[name]
		if !ok {
			return nil, &execError{Kind: pb.ExecutionError_FUNCTION_NOT_FOUND, Description: fmt.Sprintf("FunctionNotFound: 0x2::%s is not modelled by this chain", name)}
		}
		if len(mc.TypeArgs) != 1 {
			return nil, &execError{Kind: pb.ExecutionError_TYPE_ARITY_MISMATCH, Description: fmt.Sprintf("0x2::%s takes one type argument", name)}
		}
		if len(mc.Args) != f.arity {
			return nil, &execError{Kind: pb.ExecutionError_ARITY_MISMATCH, Description: fmt.Sprintf("0x2::%s takes %d arguments, got %d", name, f.arity, len(mc.Args))}
		}
		out, ab, err = f.run(p, mc.TypeArgs[0], mc.Args)
	case ids.WalrusOriginal:
		return nil, &execError{Kind: pb.ExecutionError_FUNCTION_NOT_FOUND,
			Description: fmt.Sprintf("%s is the walrus package's original ID, an old version whose calls the System's version check rejects; call %s", mc.Package, ids.WalrusPublished)}
	default:
		return nil, &execError{Kind: pb.ExecutionError_FUNCTION_NOT_FOUND, Description: fmt.Sprintf("package %s is not on this chain", mc.Package)}
	}
	if err != nil {
		return nil, err
	}
	if ab != nil {
		if ab.Package == (Address{}) {
			ab.Package = ids.WalrusOriginal
		}
		ab.Function = mc.Function
		return nil, &execError{Kind: pb.ExecutionError_MOVE_ABORT, Abort: ab,
			Description: fmt.Sprintf("MoveAbort in %s::%s with code %d: %s", ab.Package, ab.Module, ab.Code, ab.Msg)}
	}
	return out, nil
}

type walrusFunc struct {
	arity int
	run   func(p *ptb, args []Argument) ([]*slot, *abortErr, *execError)
}

type frameworkFunc struct {
	arity int
	run   func(p *ptb, t TypeTag, args []Argument) ([]*slot, *abortErr, *execError)
}

// walrusFuncs are the walrus functions this chain runs, by module::function.
var walrusFuncs = map[string]walrusFunc{
	"system::reserve_space":     {4, (*ptb).reserveSpace},
	"system::register_blob":     {8, (*ptb).registerBlob},
	"system::certify_blob":      {5, (*ptb).certifyBlob},
	"system::extend_blob":       {4, (*ptb).extendBlob},
	"system::delete_blob":       {2, (*ptb).deleteBlob},
	"storage_resource::destroy": {1, (*ptb).destroyStorage},
	"blob::burn":                {1, (*ptb).burnBlob},
}

// frameworkFuncs are the 0x2 functions this chain runs, each with one type
// argument: the coin type.
var frameworkFuncs = map[string]frameworkFunc{
	"coin::redeem_funds":    {1, (*ptb).redeemCoin},
	"balance::redeem_funds": {1, (*ptb).redeemBalance},
	"coin::send_funds":      {2, (*ptb).sendCoinFunds},
	"balance::send_funds":   {2, (*ptb).sendBalanceFunds},
	"coin::into_balance":    {1, (*ptb).intoBalance},
	"coin::from_balance":    {1, (*ptb).fromBalance},
	"coin::destroy_zero":    {1, (*ptb).destroyZero},
	"coin::value":           {1, (*ptb).coinValueCall},
	"coin::zero":            {0, (*ptb).zeroCoin},
}

// frameworkAbort is an abort in a 0x2 module.
func frameworkAbort(module string, code uint64, format string, args ...any) *abortErr {
	a := abort(module, code, format, args...)
	a.Package = addrTwo
	return a
}

func (p *ptb) system(a Argument, mut bool) (*slot, *execError) {
	s, _, err := p.objRef(a, structType(p.w.c.ids.WalrusOriginal, "system", "System"), mut)
	return s, err
}

// payFrom splits amount off a &mut Coin<WAL>, as balance::split does.
func (p *ptb) payFrom(coin *Object, amount uint64) *abortErr {
	have, _ := coinValue(coin)
	if have < amount {
		return frameworkAbort("balance", balanceENotEnough, "balance::split: the WAL coin holds %d FROST, %d due", have, amount)
	}
	setCoinValue(coin, have-amount)
	return nil
}

func (p *ptb) walCoin(a Argument) (*Object, *execError) {
	_, o, err := p.objRef(a, coinOf(p.w.c.walType()), true)
	return o, err
}

// processStoragePayments charges units(size) × storage price for each
// epoch offset in [start, end) and books it into the future accounting.
func (p *ptb) processStoragePayments(size uint64, start, end uint32, coin *Object) *abortErr {
	ws := p.w.st.Walrus
	due := ws.StoragePrice * storageUnits(size)
	for i := start; i < end; i++ {
		if ab := p.payFrom(coin, due); ab != nil {
			return ab
		}
		ws.ring(i).Rewards += due
	}
	return nil
}

// reserveSpace is system::reserve_space(&mut System, u64, u32, &mut Coin<WAL>) → Storage.
func (p *ptb) reserveSpace(args []Argument) ([]*slot, *abortErr, *execError) {
	if _, err := p.system(args[0], true); err != nil {
		return nil, nil, err
	}
	size, err := p.u64Arg(args[1])
	if err != nil {
		return nil, nil, err
	}
	ahead, err := p.u32Arg(args[2])
	if err != nil {
		return nil, nil, err
	}
	coin, err := p.walCoin(args[3])
	if err != nil {
		return nil, nil, err
	}
	ws := p.w.st.Walrus
	p.w.walrusDirty = true
	if ahead == 0 || ahead > ws.maxEpochsAhead() {
		return nil, abort("system_state_inner", ssiEInvalidEpochsAhead, "epochs_ahead %d is not within 1..%d", ahead, ws.maxEpochsAhead()), nil
	}
	if ab := p.processStoragePayments(size, 0, ahead, coin); ab != nil {
		return nil, ab, nil
	}
	if size == 0 {
		return nil, abort("system_state_inner", ssiEInvalidResourceSize, "storage amount is 0"), nil
	}
	for i := range ahead {
		a := ws.ring(i)
		a.Used += size
		if i == 0 {
			ws.UsedCapacity = a.Used
		}
		if a.Used > ws.TotalCapacity {
			return nil, abort("system_state_inner", ssiEStorageExceeded, "epoch %d would use %d of %d bytes", a.Epoch, a.Used, ws.TotalCapacity), nil
		}
	}
	sf := StorageFields{StartEpoch: ws.Epoch, EndEpoch: ws.Epoch + ahead, Size: size}
	o := p.w.newObject(p.w.c.storageType(), Owner{}, func(id Address) []byte { sf.ID = id; return sf.BCS() })
	return []*slot{objSlot(o)}, nil, nil
}

// registerBlob is system::register_blob(&mut System, Storage, u256, u256, u64, u8, bool, &mut Coin<WAL>) → Blob.
func (p *ptb) registerBlob(args []Argument) ([]*slot, *abortErr, *execError) {
	if _, err := p.system(args[0], true); err != nil {
		return nil, nil, err
	}
	stObj, err := p.objVal(args[1], p.w.c.storageType())
	if err != nil {
		return nil, nil, err
	}
	blobID, err := p.u256Arg(args[2])
	if err != nil {
		return nil, nil, err
	}
	root, err := p.u256Arg(args[3])
	if err != nil {
		return nil, nil, err
	}
	size, err := p.u64Arg(args[4])
	if err != nil {
		return nil, nil, err
	}
	enc, err := p.u8Arg(args[5])
	if err != nil {
		return nil, nil, err
	}
	deletable, err := p.boolArg(args[6])
	if err != nil {
		return nil, nil, err
	}
	coin, err := p.walCoin(args[7])
	if err != nil {
		return nil, nil, err
	}
	st, derr := decodeStorageContents(stObj.Contents)
	if derr != nil {
		return nil, nil, &execError{Kind: pb.ExecutionError_INVARIANT_VIOLATION, Description: derr.Error()}
	}
	p.w.wrapped[st.ID] = true
	ws := p.w.st.Walrus
	p.w.walrusDirty = true
	cur := ws.Epoch
	if cur < st.StartEpoch || cur >= st.EndEpoch {
		return nil, abort("blob", blobEResourceBounds, "registration epoch %d is outside the storage's [%d, %d)", cur, st.StartEpoch, st.EndEpoch), nil
	}
	if enc != 1 {
		return nil, abort("encoding", 0, "encoding type %d is not RS2 (1)", enc), nil
	}
	encoded := EncodedLength(size, ws.NShards)
	if encoded > st.Size {
		return nil, abort("blob", blobEResourceSize, "encoded length %d exceeds the storage's %d bytes", encoded, st.Size), nil
	}
	if DeriveBlobID(root, enc, size) != blobID {
		return nil, abort("blob", blobEInvalidBlobID, "blob ID does not derive from the root hash, encoding type and size"), nil
	}
	bf := BlobFields{RegisteredEpoch: cur, BlobID: blobID, Size: size, EncodingType: enc, Storage: st, Deletable: deletable}
	o := p.w.newObject(p.w.c.blobType(), Owner{}, func(id Address) []byte { bf.ID = id; return bf.BCS() })
	p.w.emit(p.w.c.ids.WalrusPublished, "system", "BlobRegistered", BlobRegistered{
		Epoch: cur, BlobID: blobID, Size: size, EncodingType: enc, EndEpoch: st.EndEpoch, Deletable: deletable, ObjectID: o.ID}.BCS())
	fee := ws.WritePrice * storageUnits(encoded)
	if ab := p.payFrom(coin, fee); ab != nil {
		return nil, ab, nil
	}
	ws.ring(0).Rewards += fee
	return []*slot{objSlot(o)}, nil, nil
}

func (p *ptb) blobMut(a Argument) (*Object, BlobFields, *execError) {
	_, o, err := p.objRef(a, p.w.c.blobType(), true)
	if err != nil {
		return nil, BlobFields{}, err
	}
	bf, derr := decodeBlob(o.Contents)
	if derr != nil {
		return nil, bf, &execError{Kind: pb.ExecutionError_INVARIANT_VIOLATION, Description: derr.Error()}
	}
	return o, bf, nil
}

// certifyBlob is system::certify_blob(&System, &mut Blob, vector<u8>, vector<u8>, vector<u8>).
func (p *ptb) certifyBlob(args []Argument) ([]*slot, *abortErr, *execError) {
	if _, err := p.system(args[0], false); err != nil {
		return nil, nil, err
	}
	o, bf, err := p.blobMut(args[1])
	if err != nil {
		return nil, nil, err
	}
	sig, err := p.pureArg(args[2], -1, "vector<u8>")
	if err != nil {
		return nil, nil, err
	}
	bitmap, err := p.pureArg(args[3], -1, "vector<u8>")
	if err != nil {
		return nil, nil, err
	}
	msg, err := p.pureArg(args[4], -1, "vector<u8>")
	if err != nil {
		return nil, nil, err
	}
	ws := p.w.st.Walrus
	if ab := ws.verifyCertificate(sig, bitmap, msg); ab != nil {
		return nil, ab, nil
	}
	m, ab := ws.parseCertMessage(msg)
	if ab != nil {
		return nil, ab, nil
	}
	switch {
	case m.blobID != bf.BlobID:
		return nil, abort("blob", blobEInvalidBlobID, "the certificate is for another blob ID"), nil
	case bf.CertifiedEpoch != nil:
		return nil, abort("blob", blobEAlreadyCertified, "blob object %s was certified in epoch %d", bf.ID, *bf.CertifiedEpoch), nil
	case ws.Epoch >= bf.Storage.EndEpoch:
		return nil, abort("blob", blobEResourceBounds, "blob expired at epoch %d (now %d)", bf.Storage.EndEpoch, ws.Epoch), nil
	case m.deletable != bf.Deletable:
		return nil, abort("blob", blobEInvalidPersistence, "certificate deletable=%t, blob deletable=%t", m.deletable, bf.Deletable), nil
	case bf.Deletable && m.objectID != bf.ID:
		return nil, abort("blob", blobEInvalidBlobObject, "certificate names object %s, blob is %s", m.objectID, bf.ID), nil
	}
	e := ws.Epoch
	bf.CertifiedEpoch = &e
	o.Contents = bf.BCS()
	p.w.emit(p.w.c.ids.WalrusPublished, "system", "BlobCertified", BlobCertified{
		Epoch: e, BlobID: bf.BlobID, EndEpoch: bf.Storage.EndEpoch, Deletable: bf.Deletable, ObjectID: bf.ID}.BCS())
	return nil, nil, nil
}

// extendBlob is system::extend_blob(&mut System, &mut Blob, u32, &mut Coin<WAL>).
func (p *ptb) extendBlob(args []Argument) ([]*slot, *abortErr, *execError) {
	if _, err := p.system(args[0], true); err != nil {
		return nil, nil, err
	}
	o, bf, err := p.blobMut(args[1])
	if err != nil {
		return nil, nil, err
	}
	ext, err := p.u32Arg(args[2])
	if err != nil {
		return nil, nil, err
	}
	coin, err := p.walCoin(args[3])
	if err != nil {
		return nil, nil, err
	}
	ws := p.w.st.Walrus
	p.w.walrusDirty = true
	if bf.CertifiedEpoch == nil {
		return nil, abort("blob", blobENotCertified, "blob object %s is not certified", bf.ID), nil
	}
	if ws.Epoch >= bf.Storage.EndEpoch {
		return nil, abort("blob", blobEResourceBounds, "blob expired at epoch %d (now %d)", bf.Storage.EndEpoch, ws.Epoch), nil
	}
	start := bf.Storage.EndEpoch - ws.Epoch
	end := uint64(start) + uint64(ext)
	if ext == 0 || end > uint64(ws.maxEpochsAhead()) {
		return nil, abort("system_state_inner", ssiEInvalidEpochsAhead, "extending by %d epochs ends %d epochs ahead, the limit is %d", ext, end, ws.maxEpochsAhead()), nil
	}
	size := bf.Storage.Size
	if ab := p.processStoragePayments(size, start, uint32(end), coin); ab != nil {
		return nil, ab, nil
	}
	for i := start; i < uint32(end); i++ {
		a := ws.ring(i)
		a.Used += size
		if a.Used > ws.TotalCapacity {
			return nil, abort("system_state_inner", ssiEStorageExceeded, "epoch %d would use %d of %d bytes", a.Epoch, a.Used, ws.TotalCapacity), nil
		}
	}
	bf.Storage.EndEpoch += ext
	o.Contents = bf.BCS()
	p.w.emit(p.w.c.ids.WalrusPublished, "system", "BlobCertified", BlobCertified{
		Epoch: *bf.CertifiedEpoch, BlobID: bf.BlobID, EndEpoch: bf.Storage.EndEpoch, Deletable: bf.Deletable, ObjectID: bf.ID, IsExtension: true}.BCS())
	return nil, nil, nil
}

// deleteBlob is system::delete_blob(&System, Blob) → Storage.
func (p *ptb) deleteBlob(args []Argument) ([]*slot, *abortErr, *execError) {
	if _, err := p.system(args[0], false); err != nil {
		return nil, nil, err
	}
	o, err := p.objVal(args[1], p.w.c.blobType())
	if err != nil {
		return nil, nil, err
	}
	bf, derr := decodeBlob(o.Contents)
	if derr != nil {
		return nil, nil, &execError{Kind: pb.ExecutionError_INVARIANT_VIOLATION, Description: derr.Error()}
	}
	ws := p.w.st.Walrus
	if !bf.Deletable {
		return nil, abort("blob", blobENotDeletable, "blob object %s is not deletable", bf.ID), nil
	}
	if bf.Storage.EndEpoch <= ws.Epoch {
		return nil, abort("blob", blobEResourceBounds, "blob expired at epoch %d (now %d)", bf.Storage.EndEpoch, ws.Epoch), nil
	}
	p.w.emit(p.w.c.ids.WalrusPublished, "system", "BlobDeleted", BlobDeleted{
		Epoch: ws.Epoch, BlobID: bf.BlobID, EndEpoch: bf.Storage.EndEpoch, ObjectID: bf.ID, WasCertified: bf.CertifiedEpoch != nil}.BCS())
	st := &Object{ID: bf.Storage.ID, Type: p.w.c.storageType(), PublicTransfer: true, Contents: bf.Storage.BCS(), PrevTx: p.w.digest}
	p.w.unwrapped[st.ID] = true
	return []*slot{objSlot(st)}, nil, nil
}

// destroyStorage is storage_resource::destroy(Storage).
func (p *ptb) destroyStorage(args []Argument) ([]*slot, *abortErr, *execError) {
	_, err := p.objVal(args[0], p.w.c.storageType())
	return nil, nil, err
}

// burnBlob is blob::burn(Blob): the blob and its storage go.
func (p *ptb) burnBlob(args []Argument) ([]*slot, *abortErr, *execError) {
	o, err := p.objVal(args[0], p.w.c.blobType())
	if err != nil {
		return nil, nil, err
	}
	bf, derr := decodeBlob(o.Contents)
	if derr != nil {
		return nil, nil, &execError{Kind: pb.ExecutionError_INVARIANT_VIOLATION, Description: derr.Error()}
	}
	p.w.unwrapped[bf.Storage.ID] = true
	if bf.CertifiedEpoch != nil {
		if p.w.st.Burned == nil {
			p.w.st.Burned = map[Address]uint32{}
		}
		id := Address(bf.BlobID)
		p.w.st.Burned[id] = max(p.w.st.Burned[id], bf.Storage.EndEpoch)
	}
	return nil, nil, nil
}

// Framework functions.

func (p *ptb) withdrawal(a Argument, t TypeTag) (*slot, *execError) {
	s, err := p.resolve(a)
	if err != nil {
		return nil, err
	}
	if s.kind != vWithdrawal || s.moved {
		return nil, argError("%s: a FundsWithdrawal input expected", a)
	}
	if !sameType(s.wd.Type, t) {
		return nil, argError("%s: type mismatch: the withdrawal is of Balance<%s>, the call wants Balance<%s>", a, s.wd.Type, t)
	}
	s.moved = true
	return s, nil
}

// redeem takes a withdrawal's whole reservation out of the sender's
// address balance.
func (p *ptb) redeem(a Argument, t TypeTag) (uint64, *execError) {
	s, err := p.withdrawal(a, t)
	if err != nil {
		return 0, err
	}
	k := balanceKey(p.w.sender, t)
	have := p.w.st.Balances[k]
	if have < s.wd.MaxAmount {
		return 0, &execError{Kind: pb.ExecutionError_INSUFFICIENT_COIN_BALANCE,
			Description: fmt.Sprintf("InsufficientFundsForWithdraw: address balance of %s is %d, the withdrawal reserves %d", t, have, s.wd.MaxAmount)}
	}
	p.w.st.Balances[k] = have - s.wd.MaxAmount
	return s.wd.MaxAmount, nil
}

func (p *ptb) redeemCoin(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	amt, err := p.redeem(args[0], t)
	if err != nil {
		return nil, nil, err
	}
	o := p.w.newObject(coinOf(t), Owner{}, func(id Address) []byte { return coinContents(id, amt) })
	return []*slot{objSlot(o)}, nil, nil
}

func (p *ptb) redeemBalance(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	amt, err := p.redeem(args[0], t)
	if err != nil {
		return nil, nil, err
	}
	return []*slot{{kind: vBalance, coin: t, amount: amt}}, nil, nil
}

func (p *ptb) balanceVal(a Argument, t TypeTag) (uint64, *execError) {
	s, err := p.resolve(a)
	if err != nil {
		return 0, err
	}
	if s.kind != vBalance || s.moved || !sameType(s.coin, t) {
		return 0, argError("%s: a Balance<%s> expected", a, t)
	}
	s.moved = true
	return s.amount, nil
}

func (p *ptb) sendCoinFunds(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	o, err := p.objVal(args[0], coinOf(t))
	if err != nil {
		return nil, nil, err
	}
	to, err := p.addrArg(args[1])
	if err != nil {
		return nil, nil, err
	}
	v, _ := coinValue(o)
	p.w.st.Balances[balanceKey(to, t)] += v
	return nil, nil, nil
}

func (p *ptb) sendBalanceFunds(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	v, err := p.balanceVal(args[0], t)
	if err != nil {
		return nil, nil, err
	}
	to, err := p.addrArg(args[1])
	if err != nil {
		return nil, nil, err
	}
	p.w.st.Balances[balanceKey(to, t)] += v
	return nil, nil, nil
}

func (p *ptb) intoBalance(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	o, err := p.objVal(args[0], coinOf(t))
	if err != nil {
		return nil, nil, err
	}
	v, _ := coinValue(o)
	return []*slot{{kind: vBalance, coin: t, amount: v}}, nil, nil
}

func (p *ptb) fromBalance(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	v, err := p.balanceVal(args[0], t)
	if err != nil {
		return nil, nil, err
	}
	o := p.w.newObject(coinOf(t), Owner{}, func(id Address) []byte { return coinContents(id, v) })
	return []*slot{objSlot(o)}, nil, nil
}

func (p *ptb) destroyZero(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	o, err := p.objVal(args[0], coinOf(t))
	if err != nil {
		return nil, nil, err
	}
	if v, _ := coinValue(o); v != 0 {
		return nil, frameworkAbort("balance", balanceENonZero, "balance::destroy_zero: the coin holds %d", v), nil
	}
	return nil, nil, nil
}

func (p *ptb) coinValueCall(t TypeTag, args []Argument) ([]*slot, *abortErr, *execError) {
	_, o, err := p.objRef(args[0], coinOf(t), false)
	if err != nil {
		return nil, nil, err
	}
	v, _ := coinValue(o)
	return []*slot{{kind: vPure, pure: binaryU64(v)}}, nil, nil
}

func (p *ptb) zeroCoin(t TypeTag, _ []Argument) ([]*slot, *abortErr, *execError) {
	o := p.w.newObject(coinOf(t), Owner{}, func(id Address) []byte { return coinContents(id, 0) })
	return []*slot{objSlot(o)}, nil, nil
}
