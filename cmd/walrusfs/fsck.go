package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/walrusfs/walrusfs/fs/fsck"
)

// fsckReport is the documented `walrusfs fsck --json` schema.
type fsckReport struct {
	// Volume is the mountpoint, or the state directory offline.
	Volume string `json:"volume"`
	// Mountpoint is set when a mount checked itself; findings' paths are
	// inside it.
	Mountpoint string `json:"mountpoint,omitempty"`
	// Clean is true when no problem remains (after repairs).
	Clean bool `json:"clean"`
	// Unrepaired counts the problems that remain.
	Unrepaired int `json:"unrepaired"`
	fsck.Report
}

func newFsckReport(volume string, r *fsck.Report) *fsckReport {
	return &fsckReport{Volume: volume, Clean: r.Clean(), Unrepaired: r.Problems - r.Repaired, Report: *r}
}

func fsckCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "fsck [--verify-data] [--repair] [--json] (MOUNTPOINT | --state-dir DIR [store flags])",
		short: "check a volume's index, blobs and (--verify-data) every block; --repair fixes what it can",
		long: `Checks a volume: the index's invariants, that every blob and quilt patch its
files use is in the store, and with --verify-data that every stored block
still has the hash recorded at upload (a progress bar on a terminal).
Problems are reported by path. --repair fixes counters and uploads again
chunks whose local copies are whole; it deletes nothing, and names the
files it cannot repair.

With a MOUNTPOINT the running mount checks itself. With --state-dir the
volume must not be mounted, and the store flags (or --config) are the
mount's.

Exit status: 0 clean, 1 when problems remain (or fsck failed), 2 usage.`,
		args: atMostOneArg("MOUNTPOINT"),
		setup: func(fl *pflag.FlagSet) runFunc {
			verify := fl.Bool("verify-data", false, "read every stored block and check its hash")
			repair := fl.Bool("repair", false, "repair what can be repaired (nothing is ever deleted)")
			asJSON := fl.Bool("json", false, "print JSON (schema in the README)")
			vf := registerVolumeFlags(fl)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				mnt := ""
				if len(args) == 1 {
					mnt = args[0]
				}
				return runFsck(ctx, mnt, vf, *verify, *repair, *asJSON, stdout, stderr)
			}
		},
	})
}

func runFsck(ctx context.Context, mnt string, vf *volumeFlags, verify, repair, asJSON bool, stdout, stderr io.Writer) error {
	var bar *progress
	onProgress := func(done, total int64) {
		if !verify || total == 0 {
			return
		}
		if bar == nil {
			bar = newProgress(stderr, total, true, "verifying")
		}
		bar.set(done, total)
	}
	var rep *fsckReport
	var err error
	if mnt != "" {
		if rep, err = fsckOnline(ctx, mnt, verify, repair, onProgress); err != nil {
			bar.stop()
			return err
		}
	} else {
		v, err := vf.open(ctx, "fsck")
		if err != nil {
			return err
		}
		defer v.close()
		cfg := fsck.DefaultConfig()
		cfg.VerifyData, cfg.Repair = verify, repair
		parts := fsck.Parts{Index: v.idx, Store: v.store, StagingDir: v.stagingDir(), Progress: onProgress}
		if v.engine != nil {
			parts.Restore = v.engine.RestoreFromCache
		}
		r, err := fsck.Run(ctx, cfg, parts)
		if err != nil {
			bar.stop()
			return err
		}
		rep = newFsckReport(v.dir, r)
	}
	bar.finish()
	if err := printFsck(stdout, rep, asJSON); err != nil {
		return err
	}
	if !rep.Clean {
		return fmt.Errorf("%d of %d problems remain (listed above)", rep.Unrepaired, rep.Problems)
	}
	return nil
}

// fsckOnline asks the mount at mnt to check itself and follows its
// progress.
func fsckOnline(ctx context.Context, mnt string, verify, repair bool, progress func(done, total int64)) (*fsckReport, error) {
	c, err := findControl(mnt, "")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if verify {
		q.Set("verify_data", "1")
	}
	if repair {
		q.Set("repair", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://walrusfs/v1/fsck?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.longClient().http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the mount does not answer on %s: %w", c.socket, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("the mount answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var l fsckLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("the mount's fsck reply: %w", err)
		}
		switch {
		case l.Error != "":
			return nil, errors.New(l.Error)
		case l.Progress != nil:
			progress(l.Progress.Done, l.Progress.Total)
		case l.Report != nil:
			return l.Report, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("the mount's fsck reply: %w", err)
	}
	return nil, errors.New("the mount ended its fsck reply without a report (did it stop?)")
}

func printFsck(w io.Writer, r *fsckReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	for _, f := range r.Findings {
		where := f.Path
		if where != "" && r.Mountpoint != "" {
			where = filepath.Join(r.Mountpoint, where)
		}
		if where == "" && f.Ino != 0 {
			where = fmt.Sprintf("inode %d (no name)", f.Ino)
		}
		if where == "" {
			where = "index"
		}
		line := fmt.Sprintf("%s: %s: %s", where, f.Kind, f.Detail)
		if f.Action != "" {
			line += " [" + f.Action + "]"
		}
		fmt.Fprintln(w, line)
	}
	if r.Truncated {
		fmt.Fprintf(w, "(only the first %d problems are listed)\n", len(r.Findings))
	}
	checked := fmt.Sprintf("%d chunks (%d stored), %d blobs", r.Chunks, r.StoredChunks, r.Blobs)
	if r.BlocksVerified > 0 {
		checked += fmt.Sprintf(", %d blocks (%s) verified", r.BlocksVerified, humanSize(uint64(r.BytesVerified)))
	}
	if r.Problems == 0 {
		fmt.Fprintf(w, "%s: clean; checked %s\n", r.Volume, checked)
	} else {
		fmt.Fprintf(w, "%s: %d problems, %d repaired, %d remain; checked %s\n", r.Volume, r.Problems, r.Repaired, r.Unrepaired, checked)
	}
	return nil
}
