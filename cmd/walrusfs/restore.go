package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	treesnap "github.com/walrusfs/walrusfs/fs/snapshot"
	"github.com/walrusfs/walrusfs/index"
)

// restoreOptions are walrusfs restore's flags.
type restoreOptions struct {
	id, keyFile, stateDir string
	data                  dataFlags
}

func restoreCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "restore --snapshot ID [--key FILE] --state-dir DIR (--store DIR[,DIR…] | --publisher URL --aggregator URL)",
		short: "build a new state directory from a snapshot (walrusfs restore --snapshot ID --key FILE --state-dir DIR)",
		long: `Builds a new state directory DIR from a snapshot in the store, on any machine
that reaches the store; mounting it gives back the tree as it was (a progress
bar on a terminal). A DIR that holds an index is refused, and a failed
restore changes nothing on disk.`,
		args: exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			var o restoreOptions
			fl.StringVar(&o.id, "snapshot", "", "the snapshot ID walrusfs snapshot printed")
			fl.StringVar(&o.keyFile, "key", "", "the volume's key file (needed when the volume is encrypted); copied into DIR")
			fl.StringVar(&o.stateDir, "state-dir", "", "the state directory to build (new, or without an index)")
			registerStoreFlags(fl, &o.data)
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				return runRestore(ctx, &o, stdout, stderr)
			}
		},
	})
}

// runRestore builds a new state directory from a snapshot.
func runRestore(ctx context.Context, o *restoreOptions, stdout, stderr io.Writer) error {
	if o.id == "" || o.stateDir == "" {
		return fmt.Errorf("--snapshot and --state-dir are required: %w", errUsage)
	}
	dir, err := filepath.Abs(o.stateDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, index.FileName)); err == nil {
		return fmt.Errorf("%s already holds an index; restore into a new state directory (nothing was changed)", dir)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, closeStore, err := openSnapshot(ctx, o.id, o.keyFile, &o.data, log)
	if err != nil {
		return err
	}
	defer closeStore()
	if o.keyFile != "" {
		if b, err := os.ReadFile(filepath.Join(dir, keyFileName)); err == nil {
			if k, _ := os.ReadFile(o.keyFile); string(k) != string(b) {
				return fmt.Errorf("%s holds another key file than %s; remove it or give that key (nothing was changed)", filepath.Join(dir, keyFileName), o.keyFile)
			}
		}
	}
	bar := newProgress(stderr, int64(s.Manifest.Bytes), true, phaseWords["restore"])
	st, err := s.RestoreTo(ctx, dir, index.DefaultConfig(), func(p treesnap.Progress) { showProgress(bar, p) })
	if err != nil {
		bar.stop()
		return fmt.Errorf("restore failed, nothing was changed: %w", err)
	}
	bar.finish()
	if o.keyFile != "" {
		if err := copyKeyFile(o.keyFile, dir); err != nil {
			return fmt.Errorf("the index is restored in %s, but the key file could not be copied there: %w; copy it to %s by hand", dir, err, filepath.Join(dir, keyFileName))
		}
	}
	m := s.Manifest
	fmt.Fprintf(stdout, "restored snapshot %s of %s (%d inodes, %d blobs) into %s\n", s.ID, m.Created.Format("2006-01-02 15:04:05 MST"), st.Inodes, st.Blobs, dir)
	return nil
}

// openSnapshot opens the store the data flags name and reads snapshot id's
// root with the key in keyFile ("" for none). A local store must be named
// (--store): its default lies in a state directory, which a restore has not
// got yet. The store is opened read-mostly: nothing is written to it.
func openSnapshot(ctx context.Context, id, keyFile string, data *dataFlags, log *slog.Logger) (*treesnap.Snapshot, func(), error) {
	sid, err := blobstore.ParseID(id)
	if err != nil {
		return nil, nil, fmt.Errorf("--snapshot %q is not a snapshot ID (43 characters, as walrusfs snapshot prints it): %w", id, errUsage)
	}
	var key *blockcrypt.Key
	if keyFile != "" {
		k, err := blockcrypt.LoadKey(keyFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("--key %s: no such file", keyFile)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("--key %s: %w", keyFile, err)
		}
		key = &k
	}
	if !data.network() && data.store == "" {
		return nil, nil, fmt.Errorf("name the store that holds the snapshot: --store DIR[,DIR…] (the local store's directories) or --publisher URL --aggregator URL: %w", errUsage)
	}
	if !data.network() {
		for _, d := range strings.Split(data.store, ",") {
			if _, err := os.Stat(d); err != nil {
				return nil, nil, fmt.Errorf("--store %s: %w", d, err)
			}
		}
	}
	p := &dataPlane{}
	store, err := data.openStore(ctx, "", log, p)
	if err != nil {
		p.close()
		return nil, nil, err
	}
	s, err := treesnap.Open(ctx, store, sid, key)
	if err != nil {
		p.close()
		return nil, nil, err
	}
	return s, p.close, nil
}

// storeFlagNames are the data flags that name and reach a store: all a
// restore needs of them.
var storeFlagNames = []string{"store", "shards", "publisher", "aggregator", "network-shards", "jwt-file"}

// registerStoreFlags adds the store flags of d to fl, with the mount's
// defaults and help.
func registerStoreFlags(fl *pflag.FlagSet, d *dataFlags) {
	all := pflag.NewFlagSet("data", pflag.ContinueOnError)
	d.register(all)
	addFlagGroup(fl, groupData, func(g *pflag.FlagSet) {
		for _, name := range storeFlagNames {
			f := all.Lookup(name)
			g.Var(f.Value, name, f.Usage)
		}
	})
}
