package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/chainsync/sui"
	"github.com/walrusfs/walrusfs/index"
)

// ownedAsReferenced is the renewer's view of a volume whose index is not
// at hand: every certified Blob object the address owns counts as
// referenced. It only answers reads; a dry run writes nothing.
type ownedAsReferenced struct{ blobs []index.Blob }

func (o ownedAsReferenced) Blobs() ([]index.Blob, error)            { return o.blobs, nil }
func (ownedAsReferenced) SetBlobEnd([32]byte, uint32) (bool, error) { return false, nil }
func (ownedAsReferenced) DropBlob([32]byte) (bool, error)           { return false, nil }
func (ownedAsReferenced) MarkUnreferenced([32]byte, uint32) (index.Blob, bool, error) {
	return index.Blob{}, false, nil
}

// plannedJSON is one transaction of a dry run, in the documented schema.
type plannedJSON struct {
	TxData    string   `json:"tx_data"` // base64 BCS TransactionData
	Digest    string   `json:"digest"`
	Summary   string   `json:"summary"`
	Objects   []string `json:"objects"`
	MaxWAL    string   `json:"max_wal,omitempty"`
	GasBudget uint64   `json:"gas_budget_mist"`
}

type dryRunJSON struct {
	Epoch        uint32        `json:"epoch"`
	Transactions []plannedJSON `json:"transactions"`
	Skipped      []skippedJSON `json:"skipped"`
}

type skippedJSON struct {
	Blob   string `json:"blob,omitempty"`
	Object string `json:"object,omitempty"`
	Reason string `json:"reason"`
}

func plannedOut(ps []sui.Planned) []plannedJSON {
	out := []plannedJSON{}
	for _, p := range ps {
		j := plannedJSON{TxData: base64.StdEncoding.EncodeToString(p.Tx.Bytes), Digest: p.Tx.Digest.String(), Summary: p.Summary, Objects: p.Objects, GasBudget: p.GasBudget}
		if p.MaxWAL > 0 {
			j.MaxWAL = sui.FormatWAL(p.MaxWAL)
		}
		out = append(out, j)
	}
	return out
}

func printDryRun(w io.Writer, asJSON bool, d dryRunJSON) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	if len(d.Transactions) == 0 {
		fmt.Fprintf(w, "epoch %d: nothing to send\n", d.Epoch)
	}
	for _, t := range d.Transactions {
		fmt.Fprintf(w, "%s  %s (gas at most %d MIST)\n", t.Digest, t.Summary, t.GasBudget)
	}
	for _, s := range d.Skipped {
		fmt.Fprintf(w, "skipped %s%s: %s\n", s.Blob, s.Object, s.Reason)
	}
	return nil
}

// planFlags opens what a dry run needs: the chain, with a key, and the
// volume's index when --state-dir is given (the volume must not be
// mounted: its index is locked while it is).
func openPlanner(ctx context.Context, c *chainCommandFlags, stateDir string) (*chainPlane, *chainsync.Renewer, func(), error) {
	if c.chain.keyFile == "" {
		return nil, nil, nil, fmt.Errorf("--sui-key is needed: transactions are built for the key's address: %w", errUsage)
	}
	tmp, err := os.MkdirTemp("", "walrusfs-chain-")
	if err != nil {
		return nil, nil, nil, err
	}
	cp, err := c.chain.build(ctx, tmp, nil)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, nil, nil, err
	}
	closeAll := func() { cp.closeRPC(); _ = os.RemoveAll(tmp) }
	var idx chainsync.Index
	if stateDir != "" {
		x, err := index.Open(ctx, stateDir, index.DefaultConfig(), nil)
		if err != nil {
			closeAll()
			return nil, nil, nil, fmt.Errorf("%w (a mounted volume's index is locked: unmount it, or leave out --state-dir to count every owned blob as referenced)", err)
		}
		prev := closeAll
		closeAll = func() { _ = x.Close(); prev() }
		idx = x
	} else {
		var owned []index.Blob
		if _, err := cp.ledger.Clock(ctx); err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		err := cp.ledger.OwnedBlobs(ctx, func(b blobstore.Info) error {
			if b.Certified {
				owned = append(owned, index.Blob{ID: b.ID, ObjectID: b.ObjectID, EndEpoch: b.EndEpoch, Refs: 1, LiveBytes: 1, State: index.BlobCertified})
			}
			return nil
		})
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		idx = ownedAsReferenced{blobs: owned}
	}
	r, err := chainsync.NewRenewer(cp.ledger, idx, cp.renew, nil)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return cp, r, closeAll, nil
}

// prepareDryRun is prepare for a command that only shows what a pass
// would send: without --dry-run it says that the mount does it (what).
func (c *chainCommandFlags) prepareDryRun(dry bool, what string) error {
	if err := c.prepare(); err != nil {
		return err
	}
	if !dry {
		return fmt.Errorf("only --dry-run: a running mount %s itself: %w", what, errUsage)
	}
	return nil
}

func chainRenewCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "renew --dry-run [--json] [--state-dir DIR] --config FILE --sui-key FILE",
		short: "show the lease extensions a renewal pass would send now (--dry-run)",
		args:  exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			c := newChainCommandFlags(fl)
			dry := c.fl.Bool("dry-run", false, "show the transactions a renewal pass would send now, and send nothing (the mount renews by itself)")
			asJSON := c.fl.Bool("json", false, "print JSON (schema in the README)")
			stateDir := c.fl.String("state-dir", "", "the volume's state directory, to renew only blobs its files reference (the volume must not be mounted)")
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				if err := c.prepareDryRun(*dry, "renews its blobs"); err != nil {
					return err
				}
				cp, r, closeAll, err := openPlanner(ctx, c, absOrEmpty(*stateDir))
				if err != nil {
					return err
				}
				defer closeAll()
				plan, err := r.Plan(ctx)
				if err != nil {
					return err
				}
				planned, results, err := cp.ledger.PlanExtensions(ctx, plan.Due)
				if err != nil {
					return err
				}
				out := dryRunJSON{Epoch: plan.Epoch, Transactions: plannedOut(planned), Skipped: []skippedJSON{}}
				for _, d := range plan.Expired {
					out.Skipped = append(out.Skipped, skippedJSON{Blob: d.ID.String(), Reason: fmt.Sprintf("its lease ended at epoch %d", d.EndEpoch)})
				}
				for i, res := range results {
					if res.Err != nil {
						out.Skipped = append(out.Skipped, skippedJSON{Blob: plan.Due[i].ID.String(), Reason: res.Err.Error()})
					}
				}
				return printDryRun(stdout, *asJSON, out)
			}
		},
	})
}

func chainGCCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "gc --dry-run [--json] --state-dir DIR --config FILE --sui-key FILE",
		short: "show the deletions and burns of unreferenced blobs a pass would send now (--dry-run)",
		args:  exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			c := newChainCommandFlags(fl)
			dry := c.fl.Bool("dry-run", false, "show the delete and burn transactions a pass would send now, and send nothing (the mount collects by itself)")
			asJSON := c.fl.Bool("json", false, "print JSON (schema in the README)")
			stateDir := c.fl.String("state-dir", "", "the volume's state directory: which blobs its files still reference (the volume must not be mounted)")
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				if err := c.prepareDryRun(*dry, "collects its garbage"); err != nil {
					return err
				}
				if *stateDir == "" {
					return fmt.Errorf("--state-dir is needed: garbage is what the volume's files no longer reference: %w", errUsage)
				}
				cp, r, closeAll, err := openPlanner(ctx, c, absOrEmpty(*stateDir))
				if err != nil {
					return err
				}
				defer closeAll()
				plan, err := r.Plan(ctx)
				if err != nil {
					return err
				}
				planned, errs := cp.ledger.PlanDiscard(ctx, plan.Garbage)
				out := dryRunJSON{Epoch: plan.Epoch, Transactions: plannedOut(planned), Skipped: []skippedJSON{}}
				for i, err := range errs {
					if err != nil {
						out.Skipped = append(out.Skipped, skippedJSON{Object: plan.Garbage[i].ObjectID, Reason: err.Error()})
					}
				}
				return printDryRun(stdout, *asJSON, out)
			}
		},
	})
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
