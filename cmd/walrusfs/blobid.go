package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// defaultShards is the shard count of Walrus Mainnet and Testnet.
const defaultShards = 1000

// runBlobID implements `walrusfs blob-id [--shards N] [--memory MiB] FILE...`:
// it prints the Walrus blob ID of each file, computed offline, as
// "BLOBID  FILE". Memory stays within the --memory budget whatever the
// file size: a file too large for it is read twice and spills about half
// its size to the temp directory (see rs2.Encoder.MetadataAt). It stops at
// the first file that cannot be read or encoded.
func runBlobID(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("blob-id", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shards := fs.Int("shards", defaultShards, "number of shards `N` of the Walrus committee")
	stream := rs2.DefaultStreamConfig()
	memory := fs.Int64("memory", stream.MemoryBudget>>20, "memory budget in `MiB` for encoding one file")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: walrusfs blob-id [--shards N] [--memory MiB] FILE...")
		fmt.Fprintln(fs.Output(), "Prints the Walrus blob ID of each FILE without uploading it.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no FILE given", errUsage)
	}
	enc, err := rs2.NewEncoder(*shards)
	if err != nil {
		return fmt.Errorf("%w: --shards %d: %w", errUsage, *shards, err)
	}
	if *memory < 1 {
		return fmt.Errorf("%w: --memory %d: want at least 1 MiB", errUsage, *memory)
	}
	stream.MemoryBudget = *memory << 20
	for _, name := range fs.Args() {
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
