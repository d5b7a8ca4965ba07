package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync"
)

// gcReport is the documented `walrusfs gc --json` schema.
type gcReport struct {
	DryRun bool   `json:"dry_run"`
	Epoch  uint32 `json:"epoch"`
	// Unreferenced lists every blob record without references; Keep says
	// why one is not collected now.
	Unreferenced []gcBlob `json:"unreferenced"`
	// Count, Bytes and EncodedBytes sum up the blobs collected now (or,
	// in a dry run, that would be).
	Count        int    `json:"count"`
	Bytes        uint64 `json:"bytes"`
	EncodedBytes uint64 `json:"encoded_bytes"`
	// Objects are the Sui Blob objects deleted or burned (with chain
	// sync), those of unknown blobs included.
	Objects []string `json:"objects"`
	// Miscounted are blobs whose records say unreferenced while files
	// still use them: kept (walrusfs fsck --repair fixes the counts).
	Miscounted []string `json:"miscounted"`
	// Unsupported says why nothing can be collected, when nothing can.
	Unsupported string    `json:"unsupported,omitempty"`
	Collected   *gcResult `json:"collected,omitempty"`
}

type gcBlob struct {
	ID                string `json:"id"`
	Size              uint64 `json:"size"`
	EncodedSize       uint64 `json:"encoded_size"`
	EndEpoch          uint32 `json:"end_epoch"`
	UnreferencedSince uint32 `json:"unreferenced_since,omitempty"`
	Object            string `json:"object,omitempty"`
	Keep              string `json:"keep,omitempty"`
}

type gcResult struct {
	Blobs        int         `json:"blobs"`
	Bytes        uint64      `json:"bytes"`
	EncodedBytes uint64      `json:"encoded_bytes"`
	Objects      int         `json:"objects"`
	Failed       []gcFailure `json:"failed"`
}

type gcFailure struct {
	ID     string `json:"id"`
	Object string `json:"object,omitempty"`
	Error  string `json:"error"`
}

func newGCReport(plan chainsync.CollectPlan, dry bool) gcReport {
	r := gcReport{DryRun: dry, Epoch: plan.Epoch, Unreferenced: []gcBlob{}, Objects: []string{}, Miscounted: []string{}, Unsupported: plan.Unsupported}
	for _, u := range plan.Blobs {
		b := u.Blob
		r.Unreferenced = append(r.Unreferenced, gcBlob{ID: blobstore.ID(b.ID).String(), Size: b.Size, EncodedSize: b.EncodedSize,
			EndEpoch: b.EndEpoch, UnreferencedSince: b.UnreferencedSince, Object: b.ObjectID, Keep: u.Keep})
		if u.Keep == "" {
			r.Count++
			r.Bytes += b.Size
			r.EncodedBytes += b.EncodedSize
		}
	}
	for _, o := range plan.Objects {
		r.Objects = append(r.Objects, o.ObjectID)
	}
	for _, b := range plan.Miscounted {
		r.Miscounted = append(r.Miscounted, blobstore.ID(b.ID).String())
	}
	return r
}

func (r *gcReport) fill(done chainsync.Collected) {
	res := &gcResult{Blobs: done.Blobs, Bytes: done.Bytes, EncodedBytes: done.EncodedBytes, Objects: done.Objects, Failed: []gcFailure{}}
	for _, f := range done.Failed {
		res.Failed = append(res.Failed, gcFailure{ID: f.ID.String(), Object: f.Object, Error: f.Err.Error()})
	}
	r.Collected = res
}

func gcCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "gc [--dry-run] [--json] [--grace EPOCHS] (MOUNTPOINT | --state-dir DIR [store flags])",
		short: "show the blobs no file references and collect them now (--dry-run: only show)",
		long: `Shows the blobs no file references any more (count, size, lease end) and
collects them now: deleted from the local store, or their Blob objects
deleted or burned on Sui with chain sync. Every blob is checked against the
chunk map first; a blob a file still uses is never collected.

With a MOUNTPOINT the running mount does it, holding its uploads meanwhile.
With --state-dir the volume must not be mounted, and the store and chain
flags (or --config) are the mount's.`,
		args: atMostOneArg("MOUNTPOINT"),
		setup: func(fl *pflag.FlagSet) runFunc {
			dry := fl.Bool("dry-run", false, "show what would be collected and change nothing")
			asJSON := fl.Bool("json", false, "print JSON (schema in the README)")
			grace := fl.Uint("grace", 0, "keep blobs unreferenced for fewer than this many epochs (the mount's own passes wait --gc-grace)")
			vf := registerVolumeFlags(fl)
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				mnt := ""
				if len(args) == 1 {
					mnt = args[0]
				}
				return runGC(ctx, mnt, vf, *dry, *asJSON, uint32(*grace), stdout)
			}
		},
	})
}

func runGC(ctx context.Context, mnt string, vf *volumeFlags, dry, asJSON bool, grace uint32, stdout io.Writer) error {
	var rep gcReport
	if mnt != "" {
		c, err := findControl(mnt, "")
		if err != nil {
			return err
		}
		q := url.Values{"grace": {strconv.FormatUint(uint64(grace), 10)}}
		if dry {
			q.Set("dry_run", "1")
		}
		if err := c.longClient().do(ctx, http.MethodPost, "/v1/gc?"+q.Encode(), &rep); err != nil {
			return err
		}
	} else {
		v, err := vf.open(ctx, "gc")
		if err != nil {
			return err
		}
		defer v.close()
		cfg := chainsync.CollectConfig{Grace: grace, InFlightGrace: v.renew.GCGrace}
		if rep, err = runCollect(ctx, v.ledger, v.idx, cfg, dry, nil); err != nil {
			return err
		}
	}
	if err := printGC(stdout, rep, asJSON); err != nil {
		return err
	}
	if rep.Collected != nil && len(rep.Collected.Failed) > 0 {
		return fmt.Errorf("%d blobs or objects could not be collected; they stay for the next run", len(rep.Collected.Failed))
	}
	if rep.Unsupported != "" && len(rep.Unreferenced) > 0 {
		return errors.New("nothing collected: " + rep.Unsupported)
	}
	return nil
}

func printGC(w io.Writer, r gcReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	for _, b := range r.Unreferenced {
		line := fmt.Sprintf("%s  %s (%s encoded), lease ends in epoch %d", b.ID, humanSize(b.Size), humanSize(b.EncodedSize), b.EndEpoch)
		if b.Keep != "" {
			line += "; kept: " + b.Keep
		}
		fmt.Fprintln(w, line)
	}
	for _, id := range r.Miscounted {
		fmt.Fprintf(w, "%s  kept: its record says unreferenced, but files use it (walrusfs fsck --repair fixes the count)\n", id)
	}
	verb := "collected"
	if r.DryRun {
		verb = "would collect"
	}
	switch {
	case r.Unsupported != "":
		var size uint64
		for _, b := range r.Unreferenced {
			size += b.Size
		}
		fmt.Fprintf(w, "%d unreferenced blobs (%s); none can be collected: %s\n", len(r.Unreferenced), humanSize(size), r.Unsupported)
	case r.Collected != nil:
		c := r.Collected
		fmt.Fprintf(w, "epoch %d: %s %d blobs, %s (%s encoded)", r.Epoch, verb, c.Blobs, humanSize(c.Bytes), humanSize(c.EncodedBytes))
		if c.Objects > 0 {
			fmt.Fprintf(w, "; %d Blob objects deleted or burned", c.Objects)
		}
		fmt.Fprintln(w)
		for _, f := range c.Failed {
			fmt.Fprintf(w, "failed: %s %s: %s\n", f.ID, f.Object, f.Error)
		}
	default:
		fmt.Fprintf(w, "epoch %d: %s %d blobs, %s (%s encoded)", r.Epoch, verb, r.Count, humanSize(r.Bytes), humanSize(r.EncodedBytes))
		if len(r.Objects) > 0 {
			fmt.Fprintf(w, "; %d Blob objects to delete or burn", len(r.Objects))
		}
		fmt.Fprintln(w)
	}
	return nil
}
