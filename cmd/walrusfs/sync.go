package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// runSync makes everything written to a mount durable. Linux does not pass
// sync(2) or syncfs(2) to FUSE daemons, but it does pass fsync of a
// directory, which walrusfs treats as a full barrier.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("sync", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: walrusfs sync MOUNTPOINT")
		fmt.Fprintln(stderr, "\nMakes everything written to the mount so far durable on local disk.")
	}
	if help, err := parseArgs(fl, args, 1, "MOUNTPOINT"); help || err != nil {
		return err
	}
	mnt, err := filepath.Abs(fl.Arg(0))
	if err != nil {
		return err
	}
	// The fsync below would flush any filesystem; a path that is not a
	// walrusfs mount is a mistake worth saying so.
	if err := checkWalrusMount(mnt); err != nil {
		return err
	}
	d, err := os.Open(mnt)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", fl.Arg(0), err)
	}
	return nil
}
