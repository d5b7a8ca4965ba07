package sui

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/walrusfs/walrusfs/chainsync/sui/suitest"
)

// TestJournalSettledAfterCrash: a transaction signed and journalled by a
// daemon that died before sending it is sent (the same bytes) by the next
// daemon before anything new, so the new transaction never reuses its
// inputs, and each is paid once.
func TestJournalSettledAfterCrash(t *testing.T) {
	ccfg := suitest.DefaultConfig()
	ccfg.NShards = 10
	chain, err := suitest.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Serve(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chain.Close)
	conn, err := Dial("http://"+chain.Addr(), DefaultDialConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := NewClient(conn)
	seed := sha256.Sum256([]byte("journal test key"))
	key := NewSigner(seed[:])
	if err := chain.Fund(suitest.Address(key.Address()), 10, 10); err != nil {
		t.Fatal(err)
	}
	recipient := MustAddress("0xabc")
	journal := filepath.Join(t.TempDir(), "pending.json")
	ctx := t.Context()

	// The first daemon builds and journals a transfer, then dies.
	first := NewSender(client, key, journal, nil)
	price, suiEpoch, err := client.ReferenceGasPrice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gas, err := first.gasCoins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder()
	Transfer(b, GasCoin, 1_000_000, recipient)
	tx, err := b.Build(key.Address(), GasData{Payment: gas, Owner: key.Address(), Price: price, Budget: 50_000_000}, Expiration{Kind: ExpireEpoch, Epoch: suiEpoch + 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.writeJournal(&journalEntry{Digest: tx.Digest.String(), TxBytes: tx.Bytes, Signature: key.Sign(tx.Bytes), ExpiresAfter: suiEpoch + 1, What: "transfer"}); err != nil {
		t.Fatal(err)
	}

	// The next daemon sends a second transfer over the same gas coin.
	second := NewSender(client, key, journal, nil)
	fx, err := second.Send(ctx, "transfer", func(_ context.Context, b *Builder) error {
		Transfer(b, GasCoin, 2_000_000, recipient)
		return nil
	})
	if err != nil || !fx.Success {
		t.Fatalf("send after the crash: %+v, %v", fx, err)
	}
	if _, found, err := client.Transaction(ctx, tx.Digest); err != nil || !found {
		t.Fatalf("the journalled transaction was not sent first: found %v, %v", found, err)
	}
	got, err := client.Balance(ctx, recipient, MustTypeTag("0x2::sui::SUI"))
	if err != nil || got != 3_000_000 {
		t.Fatalf("the recipient holds %d MIST, want 3000000 (each transfer once): %v", got, err)
	}
}
