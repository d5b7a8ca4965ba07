package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// defaultShards is the shard count of Walrus Mainnet and Testnet.
const defaultShards = 1000

// blobIDCommand is `walrusfs blob-id [--shards N] [--memory MiB] FILE...`:
// it prints the Walrus blob ID of each file, computed offline, as
// "BLOBID  FILE". Memory stays within the --memory budget whatever the
// file size: a file too large for it is read twice and spills about half
// its size to the temp directory (see rs2.Encoder.MetadataAt). It stops at
// the first file that cannot be read or encoded.
func blobIDCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "blob-id [--shards N] [--memory MiB] FILE...",
		short: "print the Walrus blob ID each file would get, computed offline",
		long:  "Prints the Walrus blob ID of each FILE without uploading it, computed with the exact RS2 encoding.",
		args:  atLeastArgs("FILE"),
		setup: func(fl *pflag.FlagSet) runFunc {
			shards := fl.Int("shards", defaultShards, "number of shards `N` of the Walrus committee")
			stream := rs2.DefaultStreamConfig()
			memory := fl.Int64("memory", stream.MemoryBudget>>20, "memory budget in `MiB` for encoding one file")
			return func(ctx context.Context, files []string, stdout, _ io.Writer) error {
				enc, err := rs2.NewEncoder(*shards)
				if err != nil {
					return fmt.Errorf("%w: --shards %d: %w", errUsage, *shards, err)
				}
				if *memory < 1 {
					return fmt.Errorf("%w: --memory %d: want at least 1 MiB", errUsage, *memory)
				}
				stream.MemoryBudget = *memory << 20
				for _, name := range files {
					id, err := fileBlobID(ctx, enc, stream, name)
					if err != nil {
						return err
					}
					if _, err := fmt.Fprintf(stdout, "%s  %s\n", id, name); err != nil {
						return err
					}
				}
				return nil
			}
		},
	})
}

func fileBlobID(ctx context.Context, enc *rs2.Encoder, cfg rs2.StreamConfig, name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err // *PathError already names the file
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", name)
	}
	id, err := enc.BlobIDAt(ctx, f, fi.Size(), cfg)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return id.String(), nil
}
