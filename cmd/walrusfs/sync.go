package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runSync makes everything written to a mount durable. Linux does not pass
// sync(2) or syncfs(2) to FUSE daemons, but it does pass fsync of a
// directory, which walrusfs treats as a full barrier.
func syncCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "sync MOUNTPOINT",
		short: "make everything written to a mount durable on local disk",
		long: `Makes everything written to the mount so far durable on local disk (it
fsyncs the mount's root, which walrusfs treats as a full barrier). A path
that is not a walrusfs mount is refused.`,
		args:  exactArgs(1, "MOUNTPOINT"),
		setup: func(*pflag.FlagSet) runFunc { return runSync },
	})
}

func runSync(_ context.Context, args []string, _, _ io.Writer) error {
	mnt, err := filepath.Abs(args[0])
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
		return fmt.Errorf("syncing %s: %w", args[0], err)
	}
	return nil
}
