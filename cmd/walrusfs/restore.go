package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	treesnap "github.com/walrusfs/walrusfs/fs/snapshot"
	"github.com/walrusfs/walrusfs/index"
)

// runRestore builds a new state directory from a snapshot.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("restore", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: walrusfs restore --snapshot ID [--key FILE] --state-dir DIR (--store DIR | --publisher URL --aggregator URL)")
		fmt.Fprintln(stderr, "\nBuilds a new state directory DIR from a snapshot in the store; mounting it")
		fmt.Fprintln(stderr, "gives back the tree as it was. A DIR that holds an index is refused.")
		fmt.Fprintln(stderr, "\nFlags:")
		fl.PrintDefaults()
	}
	id := fl.String("snapshot", "", "the snapshot ID walrusfs snapshot printed")
	keyFile := fl.String("key", "", "the volume's key file (needed when the volume is encrypted); copied into DIR")
	stateDir := fl.String("state-dir", "", "the state directory to build (new, or without an index)")
	var data dataFlags
	registerStoreFlags(fl, &data)
	if help, err := parseArgs(fl, args, 0, ""); help || err != nil {
		return err
	}
	if *id == "" || *stateDir == "" {
		fl.Usage()
		return fmt.Errorf("--snapshot and --state-dir are required: %w", errUsage)
	}
	dir, err := filepath.Abs(*stateDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, index.FileName)); err == nil {
		return fmt.Errorf("%s already holds an index; restore into a new state directory (nothing was changed)", dir)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, closeStore, err := openSnapshot(ctx, *id, *keyFile, &data, log)
	if err != nil {
		return err
	}
	defer closeStore()
	if *keyFile != "" {
		if b, err := os.ReadFile(filepath.Join(dir, keyFileName)); err == nil {
			if k, _ := os.ReadFile(*keyFile); string(k) != string(b) {
				return fmt.Errorf("%s holds another key file than %s; remove it or give that key (nothing was changed)", filepath.Join(dir, keyFileName), *keyFile)
			}
		}
	}
	var bar *progressbar.ProgressBar
	var progress func(treesnap.Progress)
	if isTerminal(stderr) {
		bar = newBar(stderr, "restoring the index")
		progress = func(p treesnap.Progress) { showProgress(bar, p) }
	}
	st, err := s.RestoreTo(ctx, dir, index.DefaultConfig(), progress)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("restore failed, nothing was changed: %w", err)
	}
	if *keyFile != "" {
		if err := copyKeyFile(*keyFile, dir); err != nil {
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
func registerStoreFlags(fl *flag.FlagSet, d *dataFlags) {
	all := flag.NewFlagSet("data", flag.ContinueOnError)
	d.register(all)
	for _, name := range storeFlagNames {
		f := all.Lookup(name)
		fl.Var(f.Value, name, f.Usage)
	}
}
