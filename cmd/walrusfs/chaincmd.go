package main

import (
	"context"
	"crypto/rand"
	"encoding/json"

	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync/sui"
	"github.com/walrusfs/walrusfs/index"
)

// chainCommand is `walrusfs chain` and its subcommands.
func chainCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "chain",
		short: "Walrus on Sui: keygen, status, renew and gc dry runs, and fund/advance a local network",
		long: `Walrus on Sui: make the daemon's key, show the network and the address's
blobs, show what a renewal or garbage pass would send, and fund or advance a
local network. Every command takes --config FILE and the network flags of
'walrusfs mount'.`,
		subcommands: []*cobra.Command{
			chainKeygenCommand(), chainStatusCommand(), chainFundCommand(),
			chainAdvanceCommand(), chainRenewCommand(), chainGCCommand(),
		},
	})
}

// chainCommandFlags registers what every chain command takes: the config
// file and the network flags. The config file a mount uses works
// unchanged: its other mount settings are passed over, but for the
// publisher, which the local network's controls answer on.
type chainCommandFlags struct {
	fl        *pflag.FlagSet
	config    *string
	chain     chainFlags
	publisher *string
}

func newChainCommandFlags(fl *pflag.FlagSet) *chainCommandFlags {
	c := &chainCommandFlags{fl: fl}
	c.config = fl.String("config", os.Getenv(configEnv), "TOML file with mount settings (client.toml from walrusfs serve --chain works); flags given here win")
	addFlagGroup(fl, groupChain, c.chain.register)
	c.publisher = fl.String("publisher", "", "the local network's publisher URL (walrusfs serve), for fund and advance")
	return c
}

// prepare applies the config file to the parsed flags and checks that a
// network is named.
func (c *chainCommandFlags) prepare() error {
	if *c.config != "" {
		if err := applyConfigFileSkipping(c.fl, *c.config, mountFlagNames()); err != nil {
			return err
		}
	}
	if !c.chain.enabled() {
		return fmt.Errorf("no network: give --network (mainnet, testnet or local) or --config: %w", errUsage)
	}
	return nil
}

func chainKeygenCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "keygen --out FILE",
		short: "make a Sui key file for the daemon (--out FILE) and print its address",
		args:  exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			out := fl.String("out", "", "file to write the new key to (mode 0600; an existing file is never overwritten)")
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				if *out == "" {
					return fmt.Errorf("--out FILE is required: %w", errUsage)
				}
				var seed [32]byte
				if _, err := rand.Read(seed[:]); err != nil {
					return err
				}
				key := sui.NewSigner(seed[:])
				clear(seed[:])
				text, err := key.EncodePrivateKey()
				if err != nil {
					return err
				}
				f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("key file: %w", err)
				}
				_, err = f.WriteString(text + "\n")
				if err == nil {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					_ = os.Remove(*out)
					return fmt.Errorf("key file: %w", err)
				}
				fmt.Fprintln(stdout, key.Address())
				return nil
			}
		},
	})
}

// localControl calls a control of the local network behind the
// publisher named in the flags.
func (c *chainCommandFlags) localControl(ctx context.Context, method, path string, q url.Values) error {
	if c.chain.network != "local" {
		return fmt.Errorf("--network %s: %w", c.chain.network, errNotLocal)
	}
	if *c.publisher == "" {
		return fmt.Errorf("the local network's publisher URL is needed (--publisher, or --config client.toml): %w", errUsage)
	}
	u := strings.TrimRight(*c.publisher, "/") + path + "?" + q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the local network at %s does not answer: %w", *c.publisher, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the local network refused: %s", strings.TrimSpace(string(body)))
	}
	return nil
}

func chainFundCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "fund --config client.toml --address ADDR --wal N --sui N",
		short: "mint test WAL and SUI to an address (local network only)",
		args:  exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			c := newChainCommandFlags(fl)
			addr := c.fl.String("address", "", "address to fund (walrusfs chain keygen prints it)")
			wal := c.fl.Uint("wal", 0, "whole WAL to mint")
			suiAmount := c.fl.Uint("sui", 0, "whole SUI to mint (for gas)")
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				if err := c.prepare(); err != nil {
					return err
				}
				if _, err := sui.ParseAddress(*addr); err != nil {
					return fmt.Errorf("--address: %w: %w", err, errUsage)
				}
				if *wal == 0 && *suiAmount == 0 {
					return fmt.Errorf("give --wal or --sui: %w", errUsage)
				}
				q := url.Values{"address": {*addr}, "wal": {fmt.Sprint(*wal)}, "sui": {fmt.Sprint(*suiAmount)}}
				if err := c.localControl(ctx, http.MethodPost, "/walrusfs/chain/fund", q); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "funded %s with %d WAL and %d SUI\n", *addr, *wal, *suiAmount)
				return nil
			}
		},
	})
}

func chainAdvanceCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "advance --config client.toml --epochs N",
		short: "advance the Walrus epoch (local network only)",
		args:  exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			c := newChainCommandFlags(fl)
			n := c.fl.Uint("epochs", 1, "epochs to advance")
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				if err := c.prepare(); err != nil {
					return err
				}
				if *n == 0 {
					return fmt.Errorf("--epochs must be at least 1: %w", errUsage)
				}
				return c.localControl(ctx, http.MethodPost, "/walrusfs/chain/advance", url.Values{"epochs": {fmt.Sprint(*n)}})
			}
		},
	})
}

// chainStatus is the documented `walrusfs chain status --json` schema.
type chainStatus struct {
	Network     string          `json:"network"`
	ChainID     string          `json:"chain_id"`
	Epoch       epochStatus     `json:"epoch"`
	Prices      priceStatus     `json:"prices"`
	Address     string          `json:"address,omitempty"`
	Balances    *balanceStatus  `json:"balances,omitempty"`
	Blobs       *ownedBlobCount `json:"blobs,omitempty"`
	WALPerEpoch string          `json:"wal_per_epoch,omitempty"`
	Volume      *volumeStatus   `json:"volume,omitempty"`
	Warnings    []string        `json:"warnings"`
}

// volumeStatus is what the volume's index says (with --state-dir).
type volumeStatus struct {
	Referenced   int `json:"referenced"`
	Unreferenced int `json:"unreferenced"`
	// NextRenewal is the epoch in which the next referenced blob becomes
	// due (its end less --renew-before), and its date.
	NextRenewal     uint32     `json:"next_renewal_epoch,omitempty"`
	NextRenewalDate *time.Time `json:"next_renewal_date,omitempty"`
}

type epochStatus struct {
	Number   uint32    `json:"number"`
	Start    time.Time `json:"start"`
	Next     time.Time `json:"next"`
	Duration string    `json:"duration"`
}

type priceStatus struct {
	StorageFrostPerMiBEpoch uint64 `json:"storage_frost_per_mib_epoch"`
	WriteFrostPerMiB        uint64 `json:"write_frost_per_mib"`
}

// balanceStatus gives whole tokens as decimal strings (exact): totals,
// and how much of each sits in coin objects and in the address balance.
type balanceStatus struct {
	WAL               string `json:"wal"`
	SUI               string `json:"sui"`
	WALCoins          string `json:"wal_coins"`
	WALAddressBalance string `json:"wal_address_balance"`
	SUICoins          string `json:"sui_coins"`
	SUIAddressBalance string `json:"sui_address_balance"`
}

type ownedBlobCount struct {
	Owned     int `json:"owned"`
	Certified int `json:"certified"`
	Expired   int `json:"expired"`
}

func chainStatusCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "status [--json] [--state-dir DIR] --config FILE | --network NET [--sui-key FILE]",
		short: "show the network, epoch, prices, the address's balances and Blob objects",
		args:  exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			c := newChainCommandFlags(fl)
			asJSON := c.fl.Bool("json", false, "print JSON (schema in the README)")
			stateDir := c.fl.String("state-dir", "", "the volume's state directory, to count referenced and unreferenced blobs and date the next renewal (the volume must not be mounted)")
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				if err := c.prepare(); err != nil {
					return err
				}
				dir, err := os.MkdirTemp("", "walrusfs-chain-status-")
				if err != nil {
					return err
				}
				defer func() { _ = os.RemoveAll(dir) }()
				cp, err := c.chain.build(ctx, dir, nil)
				if err != nil {
					return err
				}
				defer cp.closeRPC()
				clock, err := cp.ledger.Clock(ctx)
				if err != nil {
					return err
				}
				st := chainStatus{
					Network: cp.network.Name, ChainID: cp.network.ChainID,
					Epoch:    epochStatus{Number: clock.Epoch, Start: clock.EpochStart.UTC(), Next: clock.EpochTime(clock.Epoch + 1).UTC(), Duration: clock.EpochDuration.String()},
					Prices:   priceStatus{StorageFrostPerMiBEpoch: clock.StoragePrice, WriteFrostPerMiB: clock.WritePrice},
					Warnings: []string{},
				}
				if cp.key != nil {
					st.Address = cp.key.Address().String()
					wal, err := cp.ledger.WAL(ctx)
					if err != nil {
						return err
					}
					suiBal, err := cp.ledger.SUI(ctx)
					if err != nil {
						return err
					}
					walCoins, err := cp.ledger.CoinTotal(ctx, cp.network.WALType)
					if err != nil {
						return err
					}
					suiCoins, err := cp.ledger.CoinTotal(ctx, sui.MustTypeTag("0x2::sui::SUI"))
					if err != nil {
						return err
					}
					st.Balances = &balanceStatus{
						WAL: sui.FormatWAL(wal), SUI: sui.FormatWAL(suiBal),
						WALCoins: sui.FormatWAL(walCoins), WALAddressBalance: sui.FormatWAL(wal - min(wal, walCoins)),
						SUICoins: sui.FormatWAL(suiCoins), SUIAddressBalance: sui.FormatWAL(suiBal - min(suiBal, suiCoins)),
					}
					var count ownedBlobCount
					var perEpoch uint64
					err = cp.ledger.OwnedBlobs(ctx, func(b blobstore.Info) error {
						count.Owned++
						switch {
						case b.EndEpoch <= clock.Epoch:
							count.Expired++
						case b.Certified:
							count.Certified++
							perEpoch += (uint64(b.EncodedSize) + 1<<20 - 1) >> 20 * clock.StoragePrice
						}
						return nil
					})
					if err != nil {
						return err
					}
					st.Blobs = &count
					st.WALPerEpoch = sui.FormatWAL(perEpoch)
					if wal < perEpoch {
						st.Warnings = append(st.Warnings, fmt.Sprintf("the address holds %s WAL, less than one epoch of its blobs' storage (%s WAL)", sui.FormatWAL(wal), sui.FormatWAL(perEpoch)))
					}
					if suiBal == 0 {
						st.Warnings = append(st.Warnings, "the address holds no SUI to pay for gas")
					}
				}
				if *stateDir != "" {
					x, err := index.Open(ctx, absOrEmpty(*stateDir), index.DefaultConfig(), nil)
					if err != nil {
						return fmt.Errorf("%w (a mounted volume's index is locked: unmount it, or leave out --state-dir)", err)
					}
					blobs, err := x.Blobs()
					_ = x.Close()
					if err != nil {
						return err
					}
					v := &volumeStatus{}
					for _, b := range blobs {
						if !b.Referenced() {
							v.Unreferenced++
							continue
						}
						v.Referenced++
						due := b.EndEpoch - min(b.EndEpoch, uint32(c.chain.renewBefore))
						if v.NextRenewal == 0 || due < v.NextRenewal {
							v.NextRenewal = due
						}
					}
					if v.Referenced > 0 {
						d := clock.EpochTime(max(v.NextRenewal, clock.Epoch)).UTC()
						v.NextRenewalDate = &d
					}
					st.Volume = v
				}
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(st)
				}
				fmt.Fprintf(stdout, "network   %s\n", st.Network)
				fmt.Fprintf(stdout, "epoch     %d, started %s, next %s (every %s)\n", st.Epoch.Number, st.Epoch.Start.Format(time.DateTime), st.Epoch.Next.Format(time.DateTime), st.Epoch.Duration)
				fmt.Fprintf(stdout, "prices    %d FROST per MiB per epoch, %d FROST per MiB written\n", clock.StoragePrice, clock.WritePrice)
				if st.Address != "" {
					fmt.Fprintf(stdout, "address   %s\n", st.Address)
					fmt.Fprintf(stdout, "balances  %s WAL (%s in coins, %s in the address balance), %s SUI (%s in coins, %s in the address balance)\n",
						st.Balances.WAL, st.Balances.WALCoins, st.Balances.WALAddressBalance, st.Balances.SUI, st.Balances.SUICoins, st.Balances.SUIAddressBalance)
					fmt.Fprintf(stdout, "blobs     %d owned, %d certified, %d expired; %s WAL per epoch to keep them\n", st.Blobs.Owned, st.Blobs.Certified, st.Blobs.Expired, st.WALPerEpoch)
				} else {
					fmt.Fprintln(stdout, "address   none (give --sui-key to see balances and Blob objects)")
				}
				if v := st.Volume; v != nil {
					fmt.Fprintf(stdout, "volume    %d blobs referenced, %d unreferenced", v.Referenced, v.Unreferenced)
					if v.NextRenewalDate != nil {
						fmt.Fprintf(stdout, "; next renewal in epoch %d (%s)", v.NextRenewal, v.NextRenewalDate.Format(time.DateOnly))
					}
					fmt.Fprintln(stdout)
				}
				for _, w := range st.Warnings {
					fmt.Fprintf(stdout, "warning   %s\n", w)
				}
				return nil
			}
		},
	})
}
