package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/index"
)

// volumeFlags are what fsck and gc take to open an unmounted volume: its
// state directory, and the mount's store and chain flags (or its config
// file) to reach its blobs.
type volumeFlags struct {
	stateDir, config *string
	data             dataFlags
	chain            chainFlags
	fl               *pflag.FlagSet
}

func registerVolumeFlags(fl *pflag.FlagSet) *volumeFlags {
	v := &volumeFlags{fl: fl}
	v.data.keepKeyFile = true
	v.stateDir = fl.String("state-dir", "", "the state directory of an unmounted volume (instead of a MOUNTPOINT)")
	v.config = fl.String("config", os.Getenv(configEnv), "with --state-dir: the mount's TOML config file, for its store and chain settings")
	addFlagGroup(fl, groupData, v.data.register)
	addFlagGroup(fl, groupChain, v.chain.register)
	return v
}

// offlineVolume is an unmounted volume opened for fsck or gc, with the
// state directory locked against a mount.
type offlineVolume struct {
	dir    string
	idx    *index.Index
	store  blobstore.Store
	ledger chainsync.Ledger // nil when walrusfs cannot collect
	renew  chainsync.Config
	// engine is the volume's file data engine, not serving: fsck
	// rebuilds chunks from its block cache. nil when it could not be
	// built.
	engine *filedata.Engine
	close  func()
}

// open locks the state directory and opens the index, the store and,
// with chain flags, the chain. what names the command for the lock file.
func (v *volumeFlags) open(ctx context.Context, what string) (*offlineVolume, error) {
	if *v.stateDir == "" {
		return nil, fmt.Errorf("give a MOUNTPOINT, or --state-dir DIR for an unmounted volume: %w", errUsage)
	}
	if *v.config != "" {
		if err := applyConfigFileSkipping(v.fl, *v.config, mountFlagNames()); err != nil {
			return nil, err
		}
	}
	dir, err := filepath.Abs(*v.stateDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, index.FileName)); err != nil {
		return nil, fmt.Errorf("%s holds no walrusfs volume (no %s): check --state-dir", dir, index.FileName)
	}
	lock, err := lockStateDir(dir, "(walrusfs "+what+")")
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, controlSocketName)); serr == nil {
			return nil, fmt.Errorf("the volume in %s is mounted: run walrusfs %s on its MOUNTPOINT, or unmount it first", dir, what)
		}
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ov := &offlineVolume{dir: dir, renew: chainsync.DefaultConfig()}
	var closers []func()
	ov.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, lock.release)
	fail := func(err error) (*offlineVolume, error) {
		ov.close()
		return nil, err
	}
	if ov.idx, err = index.Open(ctx, dir, index.DefaultConfig(), log); err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = ov.idx.Close() })
	var chain *chainPlane
	if v.chain.enabled() {
		if chain, err = v.chain.build(ctx, dir, log); err != nil {
			return fail(err)
		}
	}
	// The whole data plane, as a mount builds it, gives fsck --repair the
	// block cache to rebuild chunks from; without it (a key file missing,
	// say) fsck still checks through the store alone.
	dataCfg := filedata.DefaultConfig()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	plane, err := v.data.build(ctx, dir, ov.idx, chain, &dataCfg, quiet)
	if err == nil {
		closers = append(closers, plane.close)
		eng, err := filedata.New(ov.idx, ov.stagingDir(), dataCfg, quiet)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, eng.Close)
		ov.engine, ov.store, ov.ledger, ov.renew = eng, dataCfg.Store, plane.ledger, plane.renew
		return ov, nil
	}
	if chain != nil {
		closers = append(closers, chain.closeRPC)
	}
	log.Warn("checking through the store alone: chunks are not rebuilt from the block cache", "err", err)
	p := &dataPlane{renew: chainsync.DefaultConfig()}
	if ov.store, err = v.data.openStore(ctx, dir, log, p); err != nil {
		return fail(err)
	}
	closers = append(closers, p.close)
	ov.ledger = p.ledger
	if chain != nil && chain.owner() != "" {
		ov.ledger, ov.renew = chain.ledger, chain.renew
	}
	return ov, nil
}

func (ov *offlineVolume) stagingDir() string { return filepath.Join(ov.dir, "staging") }

// longClient is c for requests that run as long as they need (fsck, gc):
// no overall timeout; the caller's context ends them.
func (c *controlClient) longClient() *controlClient {
	t := c.http.Transport
	return &controlClient{socket: c.socket, http: &http.Client{Transport: t}}
}
