package sui

import "errors"

// Calls builds the Move calls walrusfs makes on one Walrus deployment.
// Package is the package to call (the System object's package_id, which
// moves on upgrades); System is the shared System object.
type Calls struct {
	Package Address
	System  SharedObject
	WALType TypeTag
}

// WALSource says where a transaction's WAL comes from: coin objects the
// sender owns (merged into the first), or the sender's address balance.
type WALSource struct {
	Coins       []ObjectRef
	FromBalance bool
}

// Extension extends one Blob object by Epochs epochs.
type Extension struct {
	Blob   ObjectRef
	Epochs uint32
}

// payment takes up to max WAL from src and returns the coin to pay from,
// and a function that hands back what is left. It never destroys an
// exactly computed remainder: prices can change within an epoch, so the
// transaction pays from a capped coin and returns the rest.
func (c Calls) payment(b *Builder, src WALSource, max uint64, sender Address) (Argument, func()) {
	if src.FromBalance {
		w := b.Withdrawal(max, c.WALType)
		coin := b.MoveCall(FrameworkAddress, "coin", "redeem_funds", []TypeTag{c.WALType}, w)
		return coin, func() {
			b.MoveCall(FrameworkAddress, "coin", "send_funds", []TypeTag{c.WALType}, coin, b.AddressArg(sender))
		}
	}
	if len(src.Coins) == 0 {
		b.fail(errors.New("sui: no WAL to pay with"))
		return Argument{}, func() {}
	}
	primary := b.Owned(src.Coins[0])
	if len(src.Coins) > 1 {
		rest := make([]Argument, 0, len(src.Coins)-1)
		for _, r := range src.Coins[1:] {
			rest = append(rest, b.Owned(r))
		}
		b.MergeCoins(primary, rest...)
	}
	pay := b.SplitCoins(primary, b.U64(max)).Nested(0)
	return pay, func() { b.MergeCoins(primary, pay) }
}

// Extend adds, to b, the extension of every blob in exts, paid from src
// with at most maxWAL FROST. Each blob must be certified and unexpired and
// end within 53 epochs of now afterwards, or the whole transaction aborts.
func (c Calls) Extend(b *Builder, sender Address, src WALSource, maxWAL uint64, exts []Extension) {
	pay, giveBack := c.payment(b, src, maxWAL, sender)
	for _, e := range exts {
		b.MoveCall(c.Package, "system", "extend_blob", nil,
			b.Shared(c.System, true), b.Owned(e.Blob), b.U32(e.Epochs), pay)
	}
	giveBack()
}

// Delete adds the deletion of deletable blobs: delete_blob returns the
// blob's Storage, which is then destroyed (its unused epochs are not
// refunded, and walrusfs has no use for reserved space).
func (c Calls) Delete(b *Builder, blobs []ObjectRef) {
	for _, blob := range blobs {
		storage := b.MoveCall(c.Package, "system", "delete_blob", nil, b.Shared(c.System, false), b.Owned(blob))
		b.MoveCall(c.Package, "storage_resource", "destroy", nil, storage)
	}
}

// Burn adds the burning of blob objects: the objects go, the data stays
// until the lease ends. It is how a permanent or expired blob is let go.
func (c Calls) Burn(b *Builder, blobs []ObjectRef) {
	for _, blob := range blobs {
		b.MoveCall(c.Package, "blob", "burn", nil, b.Owned(blob))
	}
}

// MergeCoins adds the merge of coins into the first one.
func MergeCoins(b *Builder, coins []ObjectRef) {
	if len(coins) < 2 {
		b.fail(errors.New("sui: merging needs at least two coins"))
		return
	}
	dst := b.Owned(coins[0])
	src := make([]Argument, 0, len(coins)-1)
	for _, r := range coins[1:] {
		src = append(src, b.Owned(r))
	}
	b.MergeCoins(dst, src...)
}

// Transfer adds the transfer of amount from coin (GasCoin for SUI, or a
// coin input) to recipient.
func Transfer(b *Builder, coin Argument, amount uint64, recipient Address) {
	part := b.SplitCoins(coin, b.U64(amount)).Nested(0)
	b.TransferObjects([]Argument{part}, b.AddressArg(recipient))
}
