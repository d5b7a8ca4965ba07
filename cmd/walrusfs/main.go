// Command walrusfs mounts Walrus as a POSIX filesystem and offers the tools
// around it: a local Walrus-compatible HTTP daemon, offline blob-ID
// computation, and unmounting.
//
// This package is the only place that chooses concrete implementations and
// wires them together; every other package receives its collaborators.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
)

// command is one subcommand: run gets the arguments after its name and the
// streams to talk on. A returned error is printed as one line; errors that
// wrap errUsage also print the command's usage.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// errUsage marks an error caused by bad command-line arguments.
var errUsage = errors.New("usage error")

// parseArgs parses a command's flags and checks that exactly nargs
// positional arguments (described by what) follow. help reports that the
// user asked for -h, which the flag set has answered.
func parseArgs(fl *flag.FlagSet, args []string, nargs int, what string) (help bool, err error) {
	if help, err := parseFlagsQuietly(fl, args); help || err != nil {
		return help, err
	}
	if fl.NArg() == nargs {
		return false, nil
	}
	fl.Usage()
	if nargs == 0 {
		return false, fmt.Errorf("unexpected arguments %q: %w", fl.Args(), errUsage)
	}
	return false, fmt.Errorf("expected exactly one %s: %w", what, errUsage)
}

// parseFlagsQuietly parses flags; a bad flag or value is one line that
// names the flag, the value and what it takes, without the flag list,
// which -h prints.
func parseFlagsQuietly(fl *flag.FlagSet, args []string) (help bool, err error) {
	usage, out := fl.Usage, fl.Output()
	fl.Usage = func() {}
	fl.SetOutput(io.Discard)
	err = fl.Parse(args)
	fl.Usage = usage
	fl.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fl.Usage()
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w (run with -h for the flags): %w", err, errUsage)
	}
	return false, nil
}

func commands() map[string]command {
	return map[string]command{
		"version":  {"print the version", runVersion},
		"mount":    {"mount walrusfs on a directory and serve it in the foreground", runMount},
		"umount":   {"unmount a walrusfs mount", runUmount},
		"sync":     {"make everything written to a mount durable on local disk", runSync},
		"serve":    {"serve the Walrus publisher/aggregator HTTP API from a local store", runServe},
		"blob-id":  {"print the Walrus blob ID each file would get, computed offline", runBlobID},
		"key":      {"show the volume's encryption key and fingerprint (key show), to back it up", runKey},
		"chain":    {"Walrus on Sui: keygen, status, and fund/advance a local network", runChain},
		"info":     {"show where each file's data is: state and, per chunk, blob or patch, lease end, local copy", runInfo},
		"snapshot": {"store a snapshot of a mount's tree in its store and print its ID (--list, --retire)", runSnapshot},
		"restore":  {"build a new state directory from a snapshot (walrusfs restore --snapshot ID --key FILE --state-dir DIR)", runRestore},
		"status":   {"show a running mount's uploads, staging, blobs, cache and chain sync (--wait: until all is certified)", runStatus},
	}
}

func main() {
	if filepath.Base(os.Args[0]) == mountHelperName {
		os.Exit(runMountHelper(os.Args[1:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printHelp(stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "walrusfs: unknown command %q; run 'walrusfs help' for the list\n", args[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "walrusfs %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func printHelp(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "walrusfs: Walrus as a POSIX filesystem")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: walrusfs COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'walrusfs COMMAND -h' for a command's flags.")
}
