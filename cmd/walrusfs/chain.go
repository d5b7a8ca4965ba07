package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/chainsync/sui"
)

// chainFlags are the flags that connect walrusfs to Walrus on Sui: which
// network, which full node, which key, and how leases are kept.
type chainFlags struct {
	network     string
	rpc         string
	system      string
	staking     string
	walType     string
	keyFile     string
	renewBefore uint
	renewTarget uint
	maxWAL      string
	gcGrace     uint
	poll        time.Duration
}

func (c *chainFlags) register(fl *pflag.FlagSet) {
	def := chainsync.DefaultConfig()
	fl.StringVar(&c.network, "network", "", "Walrus network to follow on Sui: mainnet, testnet or local (walrusfs serve --chain); enables chain sync")
	fl.StringVar(&c.rpc, "sui-rpc", "", "Sui full node gRPC URL (default: the network's public full node; http:// only for 127.0.0.1)")
	fl.StringVar(&c.system, "system-object", "", "Walrus System object ID (required with --network local)")
	fl.StringVar(&c.staking, "staking-object", "", "Walrus Staking object ID (required with --network local)")
	fl.StringVar(&c.walType, "wal-type", "", "WAL coin type, 0x…::wal::WAL (required with --network local)")
	fl.StringVar(&c.keyFile, "sui-key", "", "file with the Sui key (one suiprivkey1… line or sui.keystore entry, mode 0600) that owns, renews and deletes the Blob objects")
	fl.UintVar(&c.renewBefore, "renew-before", uint(def.MinEpochsAhead), "extend a referenced blob's lease when it ends within this many epochs")
	fl.UintVar(&c.renewTarget, "renew-target", uint(def.TargetEpochsAhead), "extend leases to end this many epochs ahead (at most 53)")
	fl.StringVar(&c.maxWAL, "max-wal-per-epoch", "", "most WAL renewals may spend in one Walrus epoch, e.g. 5 or 0.25 (default: no cap)")
	fl.UintVar(&c.gcGrace, "gc-grace", uint(def.GCGrace), "epochs a blob no file references is kept before it is deleted on Sui")
	fl.DurationVar(&c.poll, "chain-poll", chainsync.DefaultFollowConfig().Interval, "how often the Walrus epoch is read (renewal passes run at every epoch change and hourly)")
}

func (c *chainFlags) enabled() bool { return c.network != "" }

// parseWAL reads an amount of WAL with up to 9 decimals, in FROST.
func parseWAL(text string) (uint64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(text), ".")
	if len(frac) > 9 {
		return 0, fmt.Errorf("WAL amount %q: at most 9 decimals", text)
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > (1<<63)/1_000_000_000 {
		return 0, fmt.Errorf("WAL amount %q: want a number such as 5 or 0.25", text)
	}
	f := uint64(0)
	if frac != "" {
		f, err = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("WAL amount %q: want a number such as 5 or 0.25", text)
		}
	}
	return w*1e9 + f, nil
}

// chainPlane is chain sync as the mount runs it.
type chainPlane struct {
	ledger   *sui.Ledger
	key      *sui.Signer // nil without --sui-key
	renew    chainsync.Config
	follow   chainsync.FollowConfig
	network  sui.Network
	closeRPC func()
}

// localNetwork describes a network served by walrusfs serve --chain: its
// objects come from flags, its WAL type from the System object's package.
func (c *chainFlags) networkConfig() (sui.Network, error) {
	if c.network != "local" {
		n, err := sui.LookupNetwork(c.network)
		if err != nil {
			return n, fmt.Errorf("--network: %w: %w", err, errUsage)
		}
		if c.system != "" || c.staking != "" || c.walType != "" {
			return n, fmt.Errorf("--system-object, --staking-object and --wal-type are for --network local; %s's are built in: %w", n.Name, errUsage)
		}
		if c.rpc != "" {
			n.RPC = c.rpc
		}
		return n, nil
	}
	n := sui.Network{Name: "local", RPC: c.rpc}
	var err error
	if c.rpc == "" || c.system == "" || c.staking == "" || c.walType == "" {
		return n, fmt.Errorf("--network local needs --sui-rpc, --system-object, --staking-object and --wal-type (walrusfs serve --chain writes them to client.toml): %w", errUsage)
	}
	if n.WALType, err = sui.ParseTypeTag(c.walType); err != nil {
		return n, fmt.Errorf("--wal-type: %w: %w", err, errUsage)
	}
	if n.System, err = sui.ParseAddress(c.system); err != nil {
		return n, fmt.Errorf("--system-object: %w: %w", err, errUsage)
	}
	if n.Staking, err = sui.ParseAddress(c.staking); err != nil {
		return n, fmt.Errorf("--staking-object: %w: %w", err, errUsage)
	}
	return n, nil
}

// build connects to the full node, checks it serves the network asked
// for, and prepares the ledger.
func (c *chainFlags) build(ctx context.Context, stateDir string, log *slog.Logger) (*chainPlane, error) {
	n, err := c.networkConfig()
	if err != nil {
		return nil, err
	}
	cp := &chainPlane{network: n, renew: chainsync.DefaultConfig(), follow: chainsync.DefaultFollowConfig()}
	cp.renew.MinEpochsAhead, cp.renew.TargetEpochsAhead, cp.renew.GCGrace = uint32(c.renewBefore), uint32(c.renewTarget), uint32(c.gcGrace)
	cp.follow.RenewBefore = uint32(c.renewBefore)
	if c.poll <= 0 {
		return nil, fmt.Errorf("--chain-poll must be positive: %w", errUsage)
	}
	cp.follow.Interval = c.poll
	if err := cp.renew.Validate(); err != nil {
		return nil, fmt.Errorf("--renew-before/--renew-target: %w: %w", err, errUsage)
	}
	var maxWAL uint64
	if c.maxWAL != "" {
		if maxWAL, err = parseWAL(c.maxWAL); err != nil {
			return nil, fmt.Errorf("--max-wal-per-epoch: %w: %w", err, errUsage)
		}
	}
	if c.keyFile != "" {
		if cp.key, err = sui.LoadKeyFile(c.keyFile); err != nil {
			return nil, fmt.Errorf("--sui-key: %w", err)
		}
	}
	conn, err := sui.Dial(n.RPC, sui.DefaultDialConfig())
	if err != nil {
		return nil, fmt.Errorf("--sui-rpc: %w: %w", err, errUsage)
	}
	cp.closeRPC = func() { _ = conn.Close() }
	client := sui.NewClient(conn)
	info, err := client.ServiceInfo(ctx)
	if err != nil {
		cp.closeRPC()
		return nil, fmt.Errorf("the Sui full node at %s does not answer: %w", n.RPC, err)
	}
	if n.ChainID != "" && info.ShortChainID() != n.ChainID {
		cp.closeRPC()
		return nil, fmt.Errorf("the Sui full node at %s serves chain %s, not %s (%s): check --network and --sui-rpc",
			n.RPC, info.ShortChainID(), n.Name, n.ChainID)
	}
	w := sui.NewWalrus(client, n.System, n.Staking)
	lcfg := sui.LedgerConfig{WALType: n.WALType, MaxWALPerEpoch: maxWAL, SpendFile: filepath.Join(stateDir, "chain-spend.json")}
	var sender *sui.Sender
	if cp.key != nil {
		lcfg.Owner = cp.key.Address()
		sender = sui.NewSender(client, cp.key, filepath.Join(stateDir, "chain-pending.json"), log)
	}
	cp.ledger = sui.NewLedger(w, sender, lcfg, log)
	if _, err := cp.ledger.Clock(ctx); err != nil {
		cp.closeRPC()
		return nil, fmt.Errorf("reading Walrus on %s: %w", n.Name, err)
	}
	return cp, nil
}

// owner is the address uploads name as send_object_to ("" without a key).
func (cp *chainPlane) owner() string {
	if cp.key == nil {
		return ""
	}
	return cp.key.Address().String()
}
