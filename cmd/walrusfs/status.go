package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
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

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: walrusfs status [--json] [--wait [--timeout D]] [MOUNTPOINT | --state-dir DIR]")
		fmt.Fprintln(stderr, "\nShows a running mount's uploads, staging, blobs, cache and chain sync.")
		fmt.Fprintln(stderr, "\nFlags:")
		fl.PrintDefaults()
	}
	stateDir := fl.String("state-dir", defaultStateDir(), "the mount's state directory (when no MOUNTPOINT is given)")
	asJSON := fl.Bool("json", false, "print JSON (schema in the README)")
	wait := fl.Bool("wait", false, "wait until nothing is pending and every blob is certified")
	timeout := fl.Duration("timeout", 0, "with --wait, give up after this long (exit status 1); 0 waits for ever")
	mnt, help, err := parseOptionalArg(fl, args)
	if help || err != nil {
		return err
	}
	c, err := findControl(mnt, *stateDir)
	if err != nil {
		return err
	}
	var s statusReport
	if !*wait {
		if err := c.get(ctx, "/v1/status", &s); err != nil {
			return err
		}
		return printStatus(stdout, s, *asJSON)
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	term := isTerminal(stdout) && !*asJSON
	// Written chunks wait for --upload-delay before they are queued: ask
	// the mount to seal and send everything now.
	if err := c.do(ctx, http.MethodPost, "/v1/flush", nil); err != nil {
		return err
	}
	for {
		if err := c.get(ctx, "/v1/status", &s); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("gave up after %v: %d chunks (%s) still pending, %d blobs not yet certified", *timeout, s.Pending.Chunks, humanSize(s.Pending.Bytes), s.Blobs.Stored)
			}
			return err
		}
		done := s.Pending.Chunks == 0 && s.Pending.Unsealed == 0 && s.Blobs.Stored == 0
		if term {
			fmt.Fprintf(stdout, "\r\033[K%s", progressLine(s))
		}
		if done {
			if term {
				fmt.Fprintln(stdout)
			}
			if *asJSON {
				return printStatus(stdout, s, true)
			}
			fmt.Fprintln(stdout, "everything is uploaded and certified")
			return nil
		}
		select {
		case <-ctx.Done():
			if term {
				fmt.Fprintln(stdout)
			}
			return fmt.Errorf("gave up after %v: %d chunks (%s) still pending, %d blobs not yet certified", *timeout, s.Pending.Chunks, humanSize(s.Pending.Bytes), s.Blobs.Stored)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// progressLine is the one line --wait redraws on a terminal.
func progressLine(s statusReport) string {
	line := fmt.Sprintf("pending: %d chunks (%s) in %d files, %d not yet sealed; %d blobs waiting for certification", s.Pending.Chunks, humanSize(s.Pending.Bytes), s.Pending.Files, s.Pending.Unsealed, s.Blobs.Stored)
	if s.Upload.Rate > 0 {
		line += fmt.Sprintf("; %s/s", humanSize(uint64(s.Upload.Rate)))
	}
	if s.Upload.ETASeconds != nil {
		line += fmt.Sprintf(", about %v left", time.Duration(*s.Upload.ETASeconds*float64(time.Second)).Round(time.Second))
	}
	return line
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

// parseOptionalArg parses flags around at most one positional argument
// (flags may come before or after it) and returns the argument, "" when
// there is none.
func parseOptionalArg(fl *flag.FlagSet, args []string) (arg string, help bool, err error) {
	if help, err := parseFlagsQuietly(fl, args); help || err != nil {
		return "", help, err
	}
	if fl.NArg() == 0 {
		return "", false, nil
	}
	arg = fl.Arg(0)
	if help, err := parseFlagsQuietly(fl, fl.Args()[1:]); help || err != nil {
		return "", help, err
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return "", false, fmt.Errorf("unexpected arguments %q: %w", fl.Args(), errUsage)
	}
	return arg, false, nil
}
