package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// manCommand is `walrusfs man --dir DIR`, which `make man` runs: one
// roff page per command, generated from the same definitions as -h.
func manCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:    "man --dir DIR",
		short:  "write the man pages of every command into a directory",
		args:   exactArgs(0, ""),
		hidden: true,
		setup: func(fl *pflag.FlagSet) runFunc {
			dir := fl.String("dir", "man", "directory to write walrusfs.1, walrusfs-mount.1, … into")
			return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
				if err := os.MkdirAll(*dir, 0o755); err != nil {
					return err
				}
				root := rootCommand()
				root.DisableAutoGenTag = true
				header := &doc.GenManHeader{Title: "WALRUSFS", Section: "1", Source: "walrusfs " + version, Manual: "walrusfs manual"}
				if err := doc.GenManTree(root, header, *dir); err != nil {
					return fmt.Errorf("writing man pages: %w", err)
				}
				fmt.Fprintf(stdout, "man pages written to %s\n", *dir)
				return nil
			}
		},
	})
}
