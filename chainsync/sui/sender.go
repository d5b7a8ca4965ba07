package sui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Sender sends one address's transactions, one at a time. Sui locks an
// owned object for the rest of the Sui epoch (about a day) when two
// unfinished transactions use the same version of it, so the sender never
// signs a transaction while an earlier one may still execute:
//
//  1. Before signing, it writes the transaction's bytes and signature to a
//     journal file (fsynced).
//  2. It submits, and waits for the effects, which give the new versions
//     of every object the transaction touched; later transactions use
//     those, even if the node's reads still lag behind.
//  3. When the outcome is unknown (a timeout, a dropped connection, a
//     crash), the journal entry stays. The next Send first settles it: it
//     looks the digest up and, if the node does not know it, submits the
//     very same bytes again, until the node executes or rejects them, or
//     the transaction's expiration epoch has passed.
//
// So a transaction is paid for at most once, and a crash at any point
// leaves either the old state or the new one on chain.
type Sender struct {
	c       *Client
	key     *Signer
	journal string
	log     *slog.Logger
	// MaxGas bounds the gas budget of any one transaction, in MIST.
	MaxGas uint64

	// sendMu makes transactions one at a time; mu guards known, and is
	// never held across a call.
	sendMu sync.Mutex
	mu     sync.Mutex
	known  map[Address]ObjectRef // newest references seen in effects
	chain  *Digest               // the genesis digest, for ValidDuring
}

// DefaultMaxGas is the most gas one transaction may use: 2 SUI.
const DefaultMaxGas = 2_000_000_000

// NewSender sends transactions signed by key through c; journal is the
// path of its journal file (in the daemon's state directory).
func NewSender(c *Client, key *Signer, journal string, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{c: c, key: key, journal: journal, log: log, MaxGas: DefaultMaxGas, known: make(map[Address]ObjectRef)}
}

// Address is the sender's address.
func (s *Sender) Address() Address { return s.key.Address() }

// Fresh returns the newer of ref and the version this sender last saw in
// its own transactions' effects.
func (s *Sender) Fresh(ref ObjectRef) ObjectRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.known[ref.ID]; ok && k.Version > ref.Version {
		return k
	}
	return ref
}

// journalEntry is a transaction that was signed and may have been sent.
type journalEntry struct {
	Digest    string `json:"digest"`
	TxBytes   []byte `json:"tx_bytes"`
	Signature []byte `json:"signature"`
	// ExpiresAfter is the last Sui epoch in which it can execute.
	ExpiresAfter uint64 `json:"expires_after_sui_epoch"`
	What         string `json:"what"`
}

// ErrUnsettled means an earlier transaction's outcome is still unknown;
// nothing new is sent until it is settled.
var ErrUnsettled = errors.New("sui: an earlier transaction's outcome is not known yet")

// ErrNoGas means the sender has no SUI to pay for gas.
var ErrNoGas = errors.New("sui: no SUI to pay for gas")

// Compose adds a transaction's commands to b. It runs under the sender's
// lock, after any earlier transaction is settled, so object references it
// reads (through Fresh) are current.
type Compose func(ctx context.Context, b *Builder) error

// Send settles any earlier transaction, then builds, simulates, signs and
// executes a new one described by what (for logs). It returns the
// effects of a transaction that executed, even when it failed on chain
// (Effects.Success false, Effects.Failure says why; its gas was charged).
func (s *Sender) Send(ctx context.Context, what string, compose Compose) (Effects, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.settle(ctx); err != nil {
		return Effects{}, err
	}
	tx, expires, err := s.prepare(ctx, what, compose)
	if err != nil {
		return Effects{}, err
	}
	entry := journalEntry{Digest: tx.Digest.String(), TxBytes: tx.Bytes, Signature: s.key.Sign(tx.Bytes), ExpiresAfter: expires, What: what}
	if err := s.writeJournal(&entry); err != nil {
		return Effects{}, err
	}
	fx, err := s.submit(ctx, entry)
	if err != nil {
		return Effects{}, err
	}
	if fx.Failure != nil {
		s.log.Warn("a transaction failed on chain; its gas was charged", "what", what, "digest", fx.Digest, "err", fx.Failure)
	}
	return fx, nil
}

// Build builds the transaction Send would send now, with its gas budget
// from a simulation, and neither signs nor sends it (dry runs).
func (s *Sender) Build(ctx context.Context, what string, compose Compose) (*Transaction, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	tx, _, err := s.prepare(ctx, what, compose)
	return tx, err
}

// prepare builds a transaction: gas coins and price from the node, the
// budget from a simulation. It returns the last Sui epoch in which the
// transaction can execute.
func (s *Sender) prepare(ctx context.Context, what string, compose Compose) (*Transaction, uint64, error) {
	price, suiEpoch, err := s.c.ReferenceGasPrice(ctx)
	if err != nil {
		return nil, 0, err
	}
	gas, err := s.gasCoins(ctx)
	if err != nil {
		return nil, 0, err
	}
	build := func(budget uint64) (*Transaction, error) {
		b := NewBuilder()
		if err := compose(ctx, b); err != nil {
			return nil, err
		}
		gd := GasData{Payment: gas, Owner: s.key.Address(), Price: price, Budget: budget}
		exp := Expiration{Kind: ExpireEpoch, Epoch: suiEpoch + 1}
		if len(gas) == 0 {
			chain, err := s.chainDigest(ctx)
			if err != nil {
				return nil, err
			}
			lo, hi := suiEpoch, suiEpoch+1
			exp = Expiration{Kind: ExpireValidDuring, ValidDuring: ValidDuring{MinEpoch: &lo, MaxEpoch: &hi, Chain: chain, Nonce: rand.Uint32()}}
		}
		return b.Build(s.key.Address(), gd, exp)
	}
	probe, err := build(s.MaxGas)
	if err != nil {
		return nil, 0, err
	}
	sim, err := s.c.Simulate(ctx, probe.Bytes)
	if err != nil {
		return nil, 0, err
	}
	if !sim.Success {
		return nil, 0, fmt.Errorf("%s: simulation: %w", what, sim.Failure)
	}
	budget := gasBudget(sim.Gas, price)
	if budget > s.MaxGas {
		return nil, 0, fmt.Errorf("%s: needs %d MIST of gas, above the %d allowed per transaction", what, budget, s.MaxGas)
	}
	tx, err := build(budget)
	if err != nil {
		return nil, 0, err
	}
	return tx, suiEpoch + 1, nil
}

// gasBudget is the simulated gross cost with room for the price and
// storage to move between simulation and execution.
func gasBudget(g GasCost, price uint64) uint64 {
	gross := g.Computation + g.Storage
	return gross + gross/5 + 1000*price
}

// gasCoins picks the sender's SUI coins to pay gas with: the largest
// ones, up to MaxGas, at most MaxGasObjects. None means gas comes from the
// address balance.
func (s *Sender) gasCoins(ctx context.Context) ([]ObjectRef, error) {
	var coins []CoinObject
	err := s.c.OwnedObjects(ctx, s.key.Address(), "0x2::coin::Coin<0x2::sui::SUI>", func(o Object) error {
		c, err := ParseCoin(o.Contents)
		if err != nil {
			return fmt.Errorf("gas coin %s: %w", o.Ref.ID, err)
		}
		coins = append(coins, CoinObject{Ref: s.Fresh(o.Ref), Balance: c.Balance})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(coins) == 0 {
		bal, err := s.c.Balance(ctx, s.key.Address(), MustTypeTag("0x2::sui::SUI"))
		if err != nil {
			return nil, err
		}
		if bal == 0 {
			return nil, fmt.Errorf("%w: fund %s with SUI", ErrNoGas, s.key.Address())
		}
		return nil, nil
	}
	sort.Slice(coins, func(i, j int) bool { return coins[i].Balance > coins[j].Balance })
	var out []ObjectRef
	var total uint64
	for _, c := range coins {
		if total >= s.MaxGas || len(out) == MaxGasObjects {
			break
		}
		out = append(out, c.Ref)
		total += c.Balance
	}
	return out, nil
}

func (s *Sender) chainDigest(ctx context.Context) (Digest, error) {
	if s.chain != nil {
		return *s.chain, nil
	}
	info, err := s.c.ServiceInfo(ctx)
	if err != nil {
		return Digest{}, err
	}
	s.chain = &info.ChainID
	return info.ChainID, nil
}

// submit sends a journalled transaction and waits for its outcome: the
// same bytes go out again while the node does not answer, for as long as
// ctx allows. The journal entry is cleared once the outcome is known.
func (s *Sender) submit(ctx context.Context, e journalEntry) (Effects, error) {
	d, err := ParseDigest(e.Digest)
	if err != nil {
		return Effects{}, fmt.Errorf("sui: journal: %w", err)
	}
	backoff := 500 * time.Millisecond
	for {
		fx, err := s.c.Execute(ctx, e.TxBytes, e.Signature)
		if err == nil {
			s.learn(fx)
			return fx, s.clearJournal()
		}
		if errors.Is(err, ErrRejected) {
			// Rejected without executing: but a retry of a transaction
			// that did execute is rejected too (its inputs are spent), so
			// ask for it by digest before calling it not done.
			if fx, found, lerr := s.c.Transaction(ctx, d); lerr == nil && found {
				s.learn(fx)
				return fx, s.clearJournal()
			}
			if cerr := s.clearJournal(); cerr != nil {
				return Effects{}, cerr
			}
			return Effects{}, fmt.Errorf("%s: %w", e.What, err)
		}
		if fx, found, lerr := s.c.Transaction(ctx, d); lerr == nil && found {
			s.learn(fx)
			return fx, s.clearJournal()
		}
		s.log.Debug("transaction outcome unknown; sending the same bytes again", "digest", e.Digest, "err", err)
		select {
		case <-ctx.Done():
			return Effects{}, fmt.Errorf("%s (transaction %s): %w: %w", e.What, e.Digest, ErrUnsettled, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// settle resolves a transaction left in the journal by an earlier run.
func (s *Sender) settle(ctx context.Context) error {
	b, err := os.ReadFile(s.journal)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sui: transaction journal: %w", err)
	}
	var e journalEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("sui: transaction journal %s is damaged (%w); check the address's recent transactions, then remove it", s.journal, err)
	}
	d, err := ParseDigest(e.Digest)
	if err != nil || TransactionDigest(e.TxBytes) != d {
		return fmt.Errorf("sui: transaction journal %s does not match its digest; check the address's recent transactions, then remove it", s.journal)
	}
	if fx, found, err := s.c.Transaction(ctx, d); err != nil {
		return err
	} else if found {
		s.learn(fx)
		s.log.Info("an earlier transaction had executed", "what", e.What, "digest", e.Digest, "success", fx.Success)
		return s.clearJournal()
	}
	info, err := s.c.ServiceInfo(ctx)
	if err != nil {
		return err
	}
	if info.Epoch > e.ExpiresAfter {
		// Expired before it executed: it never can now.
		s.log.Info("an earlier transaction expired without executing", "what", e.What, "digest", e.Digest)
		return s.clearJournal()
	}
	s.log.Info("settling an earlier transaction by sending it again", "what", e.What, "digest", e.Digest)
	_, err = s.submit(ctx, e)
	if errors.Is(err, ErrRejected) {
		return nil // it can never execute; the journal is clear
	}
	return err
}

// learn records the new references in a transaction's effects.
func (s *Sender) learn(fx Effects) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range fx.Changed {
		if ch.Deleted {
			delete(s.known, ch.Ref.ID)
			continue
		}
		s.known[ch.Ref.ID] = ch.Ref
	}
	if fx.GasObject.Version > 0 {
		s.known[fx.GasObject.ID] = fx.GasObject
	}
}

func (s *Sender) writeJournal(e *journalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp := s.journal + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sui: transaction journal: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.journal)
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.journal))
	}
	if err != nil {
		return fmt.Errorf("sui: transaction journal: %w", err)
	}
	return nil
}

func (s *Sender) clearJournal() error {
	if err := os.Remove(s.journal); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sui: transaction journal: %w", err)
	}
	return syncDir(filepath.Dir(s.journal))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
