package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/fs"
	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/index"
)

// defaultMemoryLimit keeps the daemon's heap, block cache included, near
// 256 MiB: the Go runtime would otherwise let garbage grow to twice the
// live heap.
const defaultMemoryLimit = 256 << 20

// mountFlags are the mount's own flags (the data plane's are dataFlags,
// chain sync's chainFlags).
type mountFlags struct {
	stateDir, logLevel, debugAddr, configPath, metricsAddr *string
	logFile, logFormat                                     *string
	allowOther, readOnly                                   *bool
	commitInterval                                         *time.Duration
	chunkSize, readahead, storedRA, memLimit               *sizeFlag
	snap                                                   snapshotFlags
}

func registerMountFlags(fl *pflag.FlagSet) *mountFlags {
	m := &mountFlags{
		chunkSize: &sizeFlag{v: uint64(filedata.DefaultConfig().ChunkSize)},
		readahead: &sizeFlag{v: fs.DefaultConfig().Readahead},
		storedRA:  &sizeFlag{v: fs.DefaultConfig().StoredReadahead},
		memLimit:  &sizeFlag{v: defaultMemoryLimit},
	}
	m.stateDir = fl.String("state-dir", defaultStateDir(), "directory for the index and staged data")
	m.allowOther = fl.Bool("allow-other", false, "let users other than the mounting one access the mount")
	m.readOnly = fl.Bool("read-only", false, "mount read-only")
	fl.Var(m.chunkSize, "chunk-size", "chunk size for new files, e.g. 8MiB (64KiB to 256MiB, a multiple of 4KiB)")
	m.logLevel = fl.String("log-level", "info", "log level: debug, info, warn or error")
	m.logFile = fl.String("log-file", "", "write logs to this file instead of stderr (reopened on SIGHUP, for logrotate)")
	m.logFormat = fl.String("log-format", "text", "log format: text (key=value) or json")
	m.debugAddr = fl.String("debug-addr", "", "serve Go profiling (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	m.commitInterval = fl.Duration("commit-interval", index.DefaultConfig().CommitInterval,
		"longest time an acknowledged metadata change waits for its disk flush (bounds what a power loss can lose)")
	fl.Var(m.readahead, "readahead", "kernel readahead of files read from local disk (staged; Linux caps FUSE mounts at 128KiB unless told; 0 keeps the kernel's)")
	fl.Var(m.storedRA, "stored-readahead", "kernel readahead of files read from the store (a seek then fetches little more than it reads; 0 keeps the kernel's)")
	fl.Var(m.memLimit, "memory-limit", "soft limit for the daemon's Go heap: garbage is collected harder near it (0: no limit)")
	m.metricsAddr = fl.String("metrics-addr", "", "also serve Prometheus metrics on this loopback address, e.g. 127.0.0.1:9464 (they are always on the control socket)")
	m.configPath = fl.String("config", os.Getenv(configEnv), "TOML file with mount settings (flag names as keys); flags given here win. Env: "+configEnv)
	m.snap.register(fl)
	return m
}

// mountFlagNames are every flag of `walrusfs mount`: the keys a config
// file may hold.
func mountFlagNames() map[string]bool {
	fl := pflag.NewFlagSet("mount", pflag.ContinueOnError)
	var d dataFlags
	var c chainFlags
	registerAllMountFlags(fl, &d, &c)
	names := map[string]bool{}
	fl.VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
	return names
}

// registerAllMountFlags registers the flags of `walrusfs mount` on fl in
// the groups the README uses.
func registerAllMountFlags(fl *pflag.FlagSet, data *dataFlags, chain *chainFlags) *mountFlags {
	var m *mountFlags
	addFlagGroup(fl, groupMount, func(g *pflag.FlagSet) { m = registerMountFlags(g) })
	addFlagGroup(fl, groupData, data.register)
	addFlagGroup(fl, groupChain, chain.register)
	return m
}

func mountCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "mount [flags] MOUNTPOINT",
		short: "mount walrusfs on a directory and serve it in the foreground",
		long: `Mounts walrusfs on MOUNTPOINT (an existing empty directory) and serves it
in the foreground until interrupted (Ctrl-C, SIGTERM) or unmounted.
Every flag can also come from a TOML file (--config); a flag given here wins.`,
		args: exactArgs(1, "MOUNTPOINT"),
		setup: func(fl *pflag.FlagSet) runFunc {
			var data dataFlags
			var chainFl chainFlags
			mf := registerAllMountFlags(fl, &data, &chainFl)
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runMount(ctx, fl, mf, &data, &chainFl, args[0], stdout, stderr)
			}
		},
	})
}

// runMount mounts walrusfs on mountpoint with the flags parsed into fl
// (mf, data and chainFl are registered on it).
func runMount(ctx context.Context, fl *pflag.FlagSet, mf *mountFlags, data *dataFlags, chainFl *chainFlags, mountpoint string, stdout, stderr io.Writer) error {
	stateDir, allowOther, readOnly, logLevel, debugAddr, commitInterval, configPath := mf.stateDir, mf.allowOther, mf.readOnly, mf.logLevel, mf.debugAddr, mf.commitInterval, mf.configPath
	chunkSize, readahead, storedRA, memLimit := mf.chunkSize, mf.readahead, mf.storedRA, mf.memLimit
	dataCfg := filedata.DefaultConfig()
	if *configPath != "" {
		if err := applyConfigFile(fl, *configPath); err != nil {
			return err
		}
	}
	given := map[string]bool{}
	fl.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	if err := data.check(chunkSize.v, given); err != nil {
		return err
	}
	logw := stderr
	if *mf.logFile != "" {
		lf, err := openLogFile(*mf.logFile)
		if err != nil {
			return err
		}
		logw = lf
		defer func() { _ = lf.f.Close() }()
	}
	log, err := newLogger(logw, *logLevel, *mf.logFormat)
	if err != nil {
		return err
	}
	if lf, ok := logw.(*logFile); ok {
		defer lf.reopenOnHangup(log)()
	}
	if memLimit.v > 0 {
		debug.SetMemoryLimit(int64(memLimit.v))
	}
	if *debugAddr != "" {
		if err := serveProfiling(*debugAddr, log); err != nil {
			return err
		}
	}
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	if err := checkMountpoint(mnt); err != nil {
		return err
	}
	if err := checkFuseDevice(); err != nil {
		return err
	}
	cfg := fs.DefaultConfig()
	cfg.ReadOnly = *readOnly
	cfg.Readahead, cfg.StoredReadahead = readahead.v, storedRA.v
	dataCfg.ChunkSize = uint32(chunkSize.v)
	dataCfg.ReadaheadLead = readaheadLead(storedRA.v)
	dir, err := filepath.Abs(*stateDir)
	if err != nil {
		return err
	}
	snapFl := &mf.snap
	if err := snapFl.check(*readOnly); err != nil {
		return err
	}
	if snapFl.id != "" {
		// The snapshot is restored into a temporary state directory,
		// removed at exit, and mounted read-only.
		sdir, cleanup, err := prepareSnapshotMount(ctx, snapFl, data, dir, log)
		if err != nil {
			return err
		}
		defer cleanup()
		dir = sdir
		*readOnly, cfg.ReadOnly = true, true
	}
	lock, err := lockStateDir(dir, mnt)
	if err != nil {
		return err
	}
	defer lock.release()

	icfg := index.DefaultConfig()
	if *commitInterval <= 0 {
		return fmt.Errorf("--commit-interval must be positive: %w", errUsage)
	}
	icfg.CommitInterval = *commitInterval
	idx, err := index.Open(ctx, dir, icfg, log)
	if err != nil {
		return err
	}
	var chain *chainPlane
	if chainFl.enabled() {
		if chain, err = chainFl.build(ctx, dir, log); err != nil {
			_ = idx.Close()
			return err
		}
	}
	plane, err := data.build(ctx, dir, idx, chain, &dataCfg, log)
	if err != nil {
		_ = idx.Close()
		return err
	}
	engine, err := filedata.New(idx, filepath.Join(dir, "staging"), dataCfg, log)
	if err != nil {
		_ = idx.Close()
		plane.close()
		return err
	}
	if snapFl.id != "" {
		plane.ledger = nil // a snapshot's blobs are the volume's to renew
	}
	stopRenewal := func() {}
	closeAll := func() {
		stopRenewal()
		engine.Close()
		if err := idx.Close(); err != nil {
			log.Error("closing the index", "err", err)
		}
		plane.close()
	}
	if err := engine.Recover(ctx); err != nil {
		closeAll()
		return err
	}
	cfg.Source = dir
	fsys := fs.New(idx, engine, cfg, log)
	workers, stop, err := startRenewal(ctx, plane, idx, engine, log)
	if err != nil {
		closeAll()
		return err
	}
	stopRenewal = stop
	ctl := &control{mnt: mnt, stateDir: dir, backend: storeName(data), engine: engine, idx: idx, epochStart: plane.epochStart, workers: workers,
		parts: volumeParts{store: dataCfg.Store, ledger: plane.ledger, gc: chainsync.CollectConfig{InFlightGrace: plane.renew.GCGrace}}}
	if !*readOnly {
		ctl.snapshots = &snapshotter{taker: newTaker(idx, engine, &dataCfg, dir, log), idx: idx, keep: snapFl.keep, log: log}
	}
	if plane.chain != nil {
		ctl.network = plane.chain.network.Name
		ctl.epochStart = func(e uint32) (time.Time, bool) {
			c := workers.follower.Status().Clock
			return c.EpochTime(e), !c.EpochStart.IsZero()
		}
	}
	reg := newRegistry(ctl)
	obs := newFuseMetrics(reg)
	stopControl, err := startControl(ctl, reg, log)
	if err != nil {
		closeAll()
		return err
	}
	stopRenewal = func() { stopControl(); stop() }
	if *mf.metricsAddr != "" {
		stopMetrics, err := serveMetrics(*mf.metricsAddr, reg, log)
		if err != nil {
			closeAll()
			return err
		}
		stopRenewal = func() { stopMetrics(); stopControl(); stop() }
	}
	if ctl.snapshots != nil && snapFl.every > 0 {
		stopSnapshots := ctl.snapshots.start(ctx, snapFl.every)
		prev := stopRenewal
		stopRenewal = func() { stopSnapshots(); prev() }
	}
	opts := fsys.Options()
	opts.AllowOther = *allowOther
	server, err := fsys.Mount(mnt, opts, obs)
	if err != nil {
		closeAll()
		return fmt.Errorf("mounting %s: %w", mnt, explainMountError(err))
	}
	log.Info("mounted", "mountpoint", mnt, "state_dir", dir, "read_only", *readOnly)
	nctx, stopNotify := context.WithCancel(ctx)
	defer stopNotify()
	go notifyStatus(nctx, engine, 10*time.Second, log)

	done := served(server)
	select {
	case <-done:
		log.Info("unmounted from outside")
	case <-ctx.Done():
		unmountUntilDone(server, mnt, done, log)
	}
	stopNotify()
	if os.Getenv("NOTIFY_SOCKET") != "" {
		notifySystemd(log, "STOPPING=1\nSTATUS=unmounted; "+queueStatus(engine))
	}
	if data.drain > 0 {
		engine.Drain(data.drain)
	}
	closeAll()
	log.Info("stopped cleanly", "mountpoint", mnt)
	return nil
}

// served returns a channel closed once server stops serving.
func served(server interface{ Wait() }) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		server.Wait()
		close(c)
	}()
	return c
}

// startRenewal runs lease renewal (chainsync) in the background when the
// store has a ledger, and the chain follower with chain sync; it returns
// them (nil when neither runs) and the function that stops them and waits.
func startRenewal(ctx context.Context, plane *dataPlane, idx *index.Index, engine *filedata.Engine, log *slog.Logger) (*chainWorkers, func(), error) {
	var workers []func(context.Context)
	cw := &chainWorkers{}
	if plane.ledger != nil {
		r, err := chainsync.NewRenewer(plane.ledger, idx, plane.renew, log)
		if err != nil {
			return nil, nil, err
		}
		cw.renewer = r
		workers = append(workers, r.Run)
	}
	if plane.chain != nil {
		f := chainsync.NewFollower(plane.chain.ledger, idx, plane.chain.follow, engine.NoteCertified, log)
		if r := cw.renewer; r != nil {
			f.OnEpoch = func(uint32) { r.Kick() }
		}
		cw.follower = f
		workers = append(workers, f.Run, func(ctx context.Context) {
			// New uploads: look for their Blob objects.
			for {
				select {
				case <-ctx.Done():
					return
				case <-engine.Uploaded():
					f.Uploaded()
				}
			}
		})
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range workers {
		wg.Go(func() { run(rctx) })
	}
	if cw.renewer == nil && cw.follower == nil {
		cw = nil
	}
	return cw, func() { cancel(); wg.Wait() }, nil
}

// unmountUntilDone unmounts, retrying while the mount is busy. A lazy
// unmount follows after a while so the daemon can always stop.
func unmountUntilDone(server interface{ Unmount() error }, mnt string, served <-chan struct{}, log *slog.Logger) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := server.Unmount()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log.Warn("mount still busy; detaching it lazily", "mountpoint", mnt, "err", err)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
			break
		}
		log.Warn("mount busy, retrying unmount (close files and leave the directory)", "mountpoint", mnt, "err", err)
		time.Sleep(500 * time.Millisecond)
	}
	<-served
}

func checkMountpoint(mnt string) error {
	st, err := os.Stat(mnt)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("%s has a stale FUSE mount from a daemon that died; run: walrusfs umount %s", mnt, mnt)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint %s does not exist; create it with: mkdir -p %s", mnt, mnt)
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", mnt, err)
	case !st.IsDir():
		return fmt.Errorf("mountpoint %s is not a directory", mnt)
	}
	d, err := os.Open(mnt)
	if err != nil {
		return fmt.Errorf("mountpoint %s: %w", mnt, err)
	}
	defer func() { _ = d.Close() }()
	names, err := d.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("mountpoint %s is not empty; walrusfs mounts only on an empty directory", mnt)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mountpoint %s: %w", mnt, err)
	}
	return nil
}

func checkFuseDevice() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("/dev/fuse is missing: load the FUSE module (modprobe fuse), or in a container pass --device /dev/fuse")
	case errors.Is(err, os.ErrPermission):
		return errors.New("/dev/fuse is not accessible to this user: run as root, or install fuse3 and add yourself to the group that owns /dev/fuse")
	case err != nil:
		return fmt.Errorf("/dev/fuse: %w", err)
	}
	_ = f.Close()
	return nil
}

func explainMountError(err error) error {
	if strings.Contains(err.Error(), "fusermount") {
		return fmt.Errorf("%w (as a non-root user walrusfs needs fusermount3: apt-get install fuse3)", err)
	}
	return err
}

// sizeFlag parses sizes such as 8MiB, 512KiB, 1G or 1048576.
type sizeFlag struct {
	v   uint64
	set bool // given on the command line or in the config file
}

func (s *sizeFlag) String() string { return formatSize(s.v) }

// Type names the value in help: pflag shows it after the flag.
func (s *sizeFlag) Type() string { return "size" }

func (s *sizeFlag) Set(text string) error {
	v, err := parseSize(text)
	if err != nil {
		return err
	}
	s.v, s.set = v, true
	return nil
}

func parseSize(text string) (uint64, error) {
	t := strings.TrimSpace(text)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	mult := map[string]uint64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
		"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}[unit]
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || mult == 0 || v > math.MaxUint64/mult {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB, TiB)", text)
	}
	return v * mult, nil
}

// humanSize formats v for people: exact when it is a whole number of a
// binary unit, else to one decimal in the largest unit it reaches
// (126.0GiB rather than 132106042KiB).
func humanSize(v uint64) string {
	exact := formatSize(v)
	if v >= 1<<40 && !strings.HasSuffix(exact, "TiB") {
		return fmt.Sprintf("%.1fTiB", float64(v)/(1<<40))
	}
	if v < 1<<20 || strings.HasSuffix(exact, "MiB") || strings.HasSuffix(exact, "GiB") || strings.HasSuffix(exact, "TiB") {
		return exact
	}
	if v >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", float64(v)/(1<<30))
	}
	return fmt.Sprintf("%.1fMiB", float64(v)/(1<<20))
}

func formatSize(v uint64) string {
	switch {
	case v >= 1<<40 && v%(1<<40) == 0:
		return fmt.Sprintf("%dTiB", v>>40)
	case v >= 1<<30 && v%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", v>>30)
	case v >= 1<<20 && v%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", v>>20)
	case v >= 1<<10 && v%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", v>>10)
	}
	return strconv.FormatUint(v, 10)
}
