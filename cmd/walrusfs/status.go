package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// controlClient talks to a running mount's control socket.
type controlClient struct {
	socket string
	http   *http.Client
}

// findControl returns the control socket of the mount at mnt, or of the
// volume in stateDir when mnt is empty, with an error a person can act on
// when there is none or it is not theirs.
func findControl(mnt, stateDir string) (*controlClient, error) {
	if mnt != "" {
		abs, err := filepath.Abs(mnt)
		if err != nil {
			return nil, err
		}
		if err := checkWalrusMount(abs); err != nil {
			return nil, err
		}
		_, source, err := mountEntry(abs)
		if err != nil {
			return nil, fmt.Errorf("reading the mount table: %w", err)
		}
		if !filepath.IsAbs(source) {
			return nil, fmt.Errorf("the mount at %s does not name its state directory (mounted by an older walrusfs); give --state-dir", abs)
		}
		stateDir = source
	}
	sock := filepath.Join(stateDir, controlSocketName)
	st, err := os.Stat(sock)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no walrusfs mount is running on state directory %s (it has no %s)", stateDir, controlSocketName)
	}
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() && os.Geteuid() != 0 {
		return nil, fmt.Errorf("the control socket %s belongs to uid %d; run this as that user (or root)", sock, sys.Uid)
	}
	return &controlClient{socket: sock, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}}, nil
}

func (c *controlClient) get(ctx context.Context, path string, v any) error {
	return c.do(ctx, http.MethodGet, path, v)
}

func (c *controlClient) do(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://walrusfs"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the mount does not answer on %s: %w", c.socket, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the mount answered %s: %s", resp.Status, b)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func statusCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "status [--json] [--wait [--timeout D]] [MOUNTPOINT | --state-dir DIR]",
		short: "show a running mount's uploads, staging, blobs, cache and chain sync (--wait: until all is certified)",
		long: `Shows a running mount's uploads, staging, blobs, cache and chain sync. With
--wait it asks the mount to seal and send everything now and blocks until
nothing is pending and every blob is certified (a progress bar on a
terminal; exit status 1 after --timeout).`,
		args: atMostOneArg("MOUNTPOINT"),
		setup: func(fl *pflag.FlagSet) runFunc {
			var o statusOptions
			fl.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "the mount's state directory (when no MOUNTPOINT is given)")
			fl.BoolVar(&o.asJSON, "json", false, "print JSON (schema in the README)")
			fl.BoolVar(&o.wait, "wait", false, "wait until nothing is pending and every blob is certified")
			fl.DurationVar(&o.timeout, "timeout", 0, "with --wait, give up after this long (exit status 1); 0 waits for ever")
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) == 1 {
					o.mountpoint = args[0]
				}
				return runStatus(ctx, o, stdout)
			}
		},
	})
}

// statusOptions are the flags of `walrusfs status`.
type statusOptions struct {
	mountpoint, stateDir string
	asJSON, wait         bool
	timeout              time.Duration
}

func runStatus(ctx context.Context, o statusOptions, stdout io.Writer) error {
	c, err := findControl(o.mountpoint, o.stateDir)
	if err != nil {
		return err
	}
	var s statusReport
	if !o.wait {
		if err := c.get(ctx, "/v1/status", &s); err != nil {
			return err
		}
		return printStatus(stdout, s, o.asJSON)
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var bar *progress
	if !o.asJSON {
		bar = newProgress(stdout, 0, true, "uploading")
	}
	// Written chunks wait for --upload-delay before they are queued: ask
	// the mount to seal and send everything now.
	if err := c.do(ctx, http.MethodPost, "/v1/flush", nil); err != nil {
		return err
	}
	var first uint64
	for {
		if err := c.get(ctx, "/v1/status", &s); err != nil {
			bar.stop()
			if ctx.Err() != nil {
				return fmt.Errorf("gave up after %v: %d chunks (%s) still pending, %d blobs not yet certified", o.timeout, s.Pending.Chunks, humanSize(s.Pending.Bytes), s.Blobs.Stored)
			}
			return err
		}
		first = max(first, s.Pending.Bytes)
		bar.describe(progressLine(s))
		bar.set(int64(first-s.Pending.Bytes), int64(first))
		if s.Pending.Chunks == 0 && s.Pending.Unsealed == 0 && s.Blobs.Stored == 0 {
			bar.finish()
			if o.asJSON {
				return printStatus(stdout, s, true)
			}
			fmt.Fprintln(stdout, "everything is uploaded and certified")
			return nil
		}
		select {
		case <-ctx.Done():
			bar.stop()
			return fmt.Errorf("gave up after %v: %d chunks (%s) still pending, %d blobs not yet certified", o.timeout, s.Pending.Chunks, humanSize(s.Pending.Bytes), s.Blobs.Stored)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// progressLine is the one line --wait redraws on a terminal.
func progressLine(s statusReport) string {
	return fmt.Sprintf("%d chunks in %d files pending, %d not yet sealed, %d blobs awaiting certification", s.Pending.Chunks, s.Pending.Files, s.Pending.Unsealed, s.Blobs.Stored)
}

func printStatus(w io.Writer, s statusReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(w, "mount        %s (state %s)\n", s.Mountpoint, s.StateDir)
	fmt.Fprintf(w, "backend      %s\n", s.Backend)
	fmt.Fprintf(w, "pending      %d chunks (%s) in %d files; %d written chunks not yet sealed (--upload-delay)\n", s.Pending.Chunks, humanSize(s.Pending.Bytes), s.Pending.Files, s.Pending.Unsealed)
	fmt.Fprintf(w, "staging      %s of %s\n", humanSize(uint64(s.StagedBytes)), humanSize(uint64(s.Budget)))
	up := fmt.Sprintf("%s uploaded, %s/s", humanSize(s.Upload.BytesTotal), humanSize(uint64(s.Upload.Rate)))
	if s.Upload.ETASeconds != nil {
		up += fmt.Sprintf(", about %v left", time.Duration(*s.Upload.ETASeconds*float64(time.Second)).Round(time.Second))
	}
	fmt.Fprintf(w, "uploads      %s\n", up)
	fmt.Fprintf(w, "blobs        %d certified, %d waiting for certification\n", s.Blobs.Certified, s.Blobs.Stored)
	fmt.Fprintf(w, "local copies %d chunks (%s)\n", s.LocalCopies.Chunks, humanSize(uint64(s.LocalCopies.Bytes)))
	fmt.Fprintf(w, "cache        %s in memory, %s on disk; %.0f%% hits (%d memory, %d disk, %d fetched)\n",
		humanSize(uint64(s.Cache.MemoryBytes)), humanSize(uint64(s.Cache.DiskBytes)), 100*s.Cache.HitRate, s.Cache.MemoryHits, s.Cache.DiskHits, s.Cache.Fetches)
	if e := s.LastError; e != nil {
		state := "recovered"
		if e.Retrying {
			state = "retrying"
		}
		fmt.Fprintf(w, "last error   %s (%s, %s)\n", e.Message, e.At.Local().Format(time.DateTime), state)
	}
	if c := s.Chain; c != nil {
		fmt.Fprintf(w, "chain        %s, epoch %d until %s; %d blobs waiting for certification, %d ending soon, %d expired\n",
			c.Network, c.Epoch, c.EpochEnds.Local().Format(time.DateTime), c.Pending, c.EndSoon, c.Expired)
		if c.LastPass != nil {
			fmt.Fprintf(w, "renewal      last pass %s: %d extended, %d failed\n", c.LastPass.Local().Format(time.DateTime), c.Extended, c.Failed)
		}
		if c.Error != "" {
			fmt.Fprintf(w, "chain error  %s\n", c.Error)
		}
	}
	return nil
}
