// Command bench measures walrusfs against go-fuse's loopback filesystem,
// mounted side by side in the same run on the same disk. `make bench` runs
// it with the defaults; `go run ./scripts/bench -h` lists the flags.
//
// # What it compares
//
// The loopback (go-fuse's fs.NewLoopbackRoot over a plain directory) is the
// practical ceiling for any filesystem built on go-fuse: every request makes
// one round trip through the kernel and one system call on the local disk.
// walrusfs does the same round trip plus its own work (index lookups,
// staging, chunking), so the interesting figure is how close it stays to that
// ceiling on the same machine at the same moment, not its absolute speed,
// which depends on the disk and on whatever else the machine is doing.
//
// Both filesystems run as separate daemon processes with the same mount
// options (default_permissions, 1 s entry, attribute and negative timeouts,
// 1 MiB requests, 1 MiB readahead, 64 background requests, a direct
// mount(2) when run as root). Linux caps the readahead of a FUSE mount at
// 128 KiB unless it is raised through /sys/class/bdi; walrusfs raises its
// own per open file, to 4 MiB for files on local disk and 256 KiB for
// files in the store (--readahead, --stored-readahead), the loopback, as
// go-fuse's example, does not. The loopback daemon is this program
// re-executed with a hidden subcommand. Their data lives in one temporary
// run directory under the work directory (--workdir, default
// $TMPDIR/walrusfs-bench): the walrusfs state directory next to the
// loopback's backing directory.
//
// FUSE passthrough, which go-fuse's loopback would otherwise use as root on
// Linux 6.9 and later, is off: with it the kernel reads and writes the
// backing files itself and the daemon never sees the data, which measures
// the disk rather than a FUSE filesystem. --loopback-passthrough turns it
// on, to see that ceiling too; the table's title says which was used.
//
// Each workload runs on the loopback, then on walrusfs, before the next
// workload starts, so that a busy neighbour slows both sides alike; with
// --repeat N each workload runs N times, alternating which side goes first,
// and the table shows medians. Before each measurement the harness waits
// (up to 30 s) until neither daemon is using the CPU, so that background
// work (walrusfs sealing or uploading what was just written) is not charged
// to the next row; it shows in the CPU row.
//
// # The rows
//
//   - sequential write: one file of --size (default 1 GiB) in 1 MiB
//     write(2) calls, then fsync and close, timed together. The content is
//     random and differs in every 4 KiB page, so it neither compresses nor
//     deduplicates.
//   - sequential read, warm: the same file read back in 1 MiB reads with
//     the page cache as the write left it. This row also shows each side's
//     caching policy: the loopback drops a file's pages when it is opened
//     again, a filesystem that keeps them (FOPEN_KEEP_CACHE) is read from
//     memory.
//   - sequential read, cold: after sync and drop_caches (which also empties
//     the FUSE page cache of the mount and the disk cache behind both sides).
//   - 4 KiB random reads, cold: --rand-reads preads at page-aligned offsets
//     drawn from --seed, one at a time; IOPS. This row and the one during
//     an upload take both sides in turns, a tenth of the reads at a time,
//     and walrusfs's daemon is stopped (SIGSTOP) through the loopback's
//     turns: a virtual disk's speed for such reads moves by a factor of
//     four within minutes, so both sides must share the same minutes
//     (randread.go).
//   - create, lstat, `ls -l`, unlink of --files empty files in one
//     directory; lstat, ls and unlink start with dentries and inodes dropped,
//     so each name costs a LOOKUP. `ls -l` is the real command (readdir plus
//     an lstat per entry), timed by its wall clock.
//   - `tar x` of the Go distribution's src/ directory (an uncompressed tar
//     built once per Go version in the work directory), then `rm -rf` of it.
//
// The data-plane rows measure what happens after a close: uploads, and
// reads served by the blob store. Each starts walrusfs mounts of its own
// in the run directory, with the flags it needs after any --mount-arg,
// and unmounts them (and stops walrusfs serve) when it is done; their
// CPU and memory columns in the JSON are those daemons'. They are left
// out with --subject loopback.
//
//   - sequential read from the store, cold, once per backend: the local
//     store, and `walrusfs serve --listen 127.0.0.1:0` (a separate process
//     on loopback, reached with --publisher and --aggregator; encryption is
//     then on, as it is by default with a publisher). The file of --size
//     is written through a mount with --local-copies 0 (disk cache emptied before each read)
//     (one byte of local copies: none are kept), the harness polls
//     user.walrus.state until it reads certified and waits until the
//     staging area holds no chunk file. Before each measurement the mount
//     is started afresh, so the daemon's memory cache is empty, and the
//     page cache is dropped; then the file is read in 1 MiB reads. The
//     loopback column is its cold sequential read. Informational: no
//     target.
//   - time to the first byte after a random seek, per backend, on the same
//     stored file: --seeks 64 KiB preads, each after dropping the page
//     cache, at offsets at least half of size/seeks apart (25 MiB for 20
//     in 1 GiB, three chunks) in a random order, so that nothing an
//     earlier read fetched or read ahead helps; the median in ms, the
//     range in the notes. The loopback does the same on its large file.
//   - --files files of 4 KiB, each created, written and closed, on a fresh
//     local-store mount with the default flags (so the default shard
//     count): the time from the last close until every file reads
//     certified. The next row counts the distinct blobs behind them, from
//     user.walrus.blob_id (a 50-character entry is a quilt patch ID whose
//     first 32 bytes are the quilt's blob ID, a 43-character one a
//     standalone blob): at most 16 for 10,000 files (in proportion for
//     other counts), none standalone. A quilt holds at most Ks−1 patches,
//     66 at 100 shards, 666 at 1000; the note gives the shard count the
//     store was created with and the least number of quilts it allows.
//   - snapshot of a tree of --snapshot-files (100,000) files of 1 KiB,
//     written through a fresh local-store mount and certified: the time
//     of `walrusfs snapshot` alone; the note gives the dump's size and the
//     daemon's memory high-water mark before and after. Informational.
//   - restore of that snapshot with `walrusfs restore` into a new state
//     directory, timed; the note gives the restore process's peak RSS and
//     the size of the index it built. Informational.
//   - daemon peak RSS writing a file of --rss-size (4 GiB) and reading it
//     back: a fresh local-store mount with --local-copies 0 writes it,
//     uploads it until certified and reads it back cold from the store,
//     the path that holds the most in memory. The figure is the daemon's
//     peak over its life, as for the whole-run row below; the note gives
//     the kernel's high-water mark after each phase. A fresh loopback
//     daemon does the same write and read. At most 300 MiB.
//   - upload throughput: --size in 8 files on a fresh local-store mount
//     with --upload-delay 1h and --fsync certified, so that nothing is
//     sealed, and so nothing uploaded, before the files are fsynced all at
//     once; then --size over the time from the fsyncs until every file
//     reads certified. At least 100 MB/s.
//   - files read back from quilts: `walrusfs serve` alone (no mount)
//     stores mixed files (per quilt 40 of 1–64 KiB, 20 of 64 KiB–1 MiB,
//     the rest of 1–6 MiB, about 88 MB) in 3 quilts with PUT /v1/quilts;
//     then three times over, serve is restarted and the page cache
//     dropped, and every file is read with GET
//     /v1/blobs/by-quilt-patch-id/{id}, one at a time in a random order,
//     and checked against its SHA-256; the bytes over the time of the
//     reads, the median of the three passes. At least 200 MB/s.
//
// The chain rows run walrusfs's chain sync (package chainsync over
// chainsync/sui) in this process, against the Sui double
// (chainsync/sui/suitest) served over gRPC on 127.0.0.1, and report
// absolute figures (no loopback, no ratio). Each builds its world in the
// run directory: a funded key owning --chain-blobs (10,000) certified Blob
// objects of 8 MiB at 10 shards, and a bbolt index whose blob records,
// each referenced by a file's chunk, point at them. They mount nothing:
// run alone (--only chain) they need neither FUSE, root nor the walrusfs
// binary. Their CPU and memory columns in the JSON are this process's
// over the row (the double's work included). The note under each row
// breaks the figure down by RPC method, as the double counted the calls.
//
//   - renewal pass: the chain moved on until every blob is due, one
//     chainsync.Renewer pass (the default configuration) timed, through a
//     sui.Ledger and Sender. The note gives the transactions sent, the gas
//     (the double's schedule, not Sui's) and the WAL paid; every blob
//     must be extended, on chain and in the index, at Walrus's price, or
//     the row fails. Less than 60 s.
//   - follower, idle: a chainsync.Follower runs with DefaultFollowConfig's
//     intervals made 60 times shorter; the RPCs the double receives over
//     10 polls after the first reconciliation, scaled to an hour of the
//     default intervals. The note adds what an epoch change costs: the
//     calls until the follower has reconciled every blob in the new
//     epoch. At most 240 calls an hour (four a minute), whatever the
//     number of blobs.
//
// Two rows cover each daemon over the whole run:
//
//   - daemon peak RSS: the highest resident size of each daemon over the
//     whole run, the larger of VmHWM, VmRSS sampled every 50 ms, and the
//     maxrss of its rusage at exit. walrusfs must stay under 200 MiB.
//   - daemon CPU time: user plus system time of each daemon over the run
//     (for reference; no target).
//
// Every read is checked: sequential reads hash the content and compare it
// with the hash of what was written, random reads compare each page, the
// metadata rows check what they see, and the extracted tree is counted
// against the archive. A wrong byte is an error, not a slow result.
//
// # Reading the table
//
// Throughput is in MB/s (10^6 bytes per second), IOPS or operations per
// second; times in seconds; memory in MiB. The ratio column is oriented so
// that above 1 walrusfs is better than the loopback: walrusfs/loopback for
// throughput, loopback/walrusfs for time and memory. The target column is
// the pass mark for that ratio (≥ 0.8× for data, ≥ 0.7× for metadata), or an
// absolute limit on the walrusfs figure (memory, blob count, upload
// throughput); a row without one is informational. Notes under the table qualify
// figures, for instance when caches could only be dropped with
// posix_fadvise because /proc/sys/vm/drop_caches was not writable. A row
// whose measurement failed says "error", the reason is listed under the
// table, and the program exits 1; a missed target exits 0 unless --strict.
//
// Ratios between runs on different machines are comparable; absolute
// figures are not. In a virtual machine with free page reporting (such as
// Firecracker's balloon), pages the guest frees return to the host, and
// the first write to one again faults on the host: a run that fills fresh
// page cache can take two to four times as long as the same run on reused
// pages, whichever side it is. Use --repeat. Run it on an idle machine, with --repeat 3, for numbers
// worth quoting. In a virtual machine "cold" means cold in the guest: the
// host may still cache the disk image, which flatters cold reads on both
// sides alike.
//
// # Cleaning up
//
// The daemons, the data-plane rows' own included, are stopped with
// SIGTERM (which unmounts) at the end, on an error, on a panic and on ^C;
// a second ^C, or 20 s after the first, kills them and detaches their
// mounts. If the harness itself is killed, the daemons get SIGTERM from
// the kernel (PR_SET_PDEATHSIG), and the next run removes the dead run's
// directory. --keep leaves the run directory
// (backing data, walrusfs state, daemon logs) for inspection.
//
// --subject loopback puts a second loopback in walrusfs's place, to test
// the harness itself: every ratio should then be close to 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	subject     string // "walrusfs", or "loopback" to test the harness
	walrusfs    string
	build       bool
	subjectArgs []string
	size        int64
	rssSize     int64 // the file written and read back in the memory row
	seeks       int
	files       int
	chainBlobs  int // blobs the chain rows keep alive
	// snapshotFiles is the size of the tree the snapshot rows snapshot
	// and restore.
	snapshotFiles int
	randReads     int
	seed          uint64
	workdir       string
	keep          bool
	only          *regexp.Regexp
	json          bool
	markdown      bool
	strict        bool
	repeat        int
	passthrough   bool // let the loopback use FUSE passthrough

	mountTimeout time.Duration
	stopTimeout  time.Duration

	// followSpeedup and followPolls, when set, replace the follower row's
	// speed-up and window (tests make them short).
	followSpeedup, followPolls int

	// dropCachesFile is /proc/sys/vm/drop_caches; tests point it elsewhere
	// to keep the machine's caches and exercise the fallback.
	dropCachesFile string

	pattern *pattern
	tree    *sourceTree
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == loopbackCommand {
		os.Exit(runLoopbackDaemon(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{dropCachesFile: "/proc/sys/vm/drop_caches"}
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./scripts/bench [flags]")
		fmt.Fprintln(stderr, "\nMeasures walrusfs against a go-fuse loopback mount of the same disk; see the package doc.")
		fmt.Fprintln(stderr)
		fl.PrintDefaults()
	}
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp"
	}
	size := fl.String("size", "1GiB", "size of the large file (KiB, MiB, GiB); also what the upload row writes")
	rssSize := fl.String("rss-size", "4GiB", "size of the file written and read back while the daemon's peak RSS is measured")
	only := fl.String("only", "", "run only the workloads whose key or name matches this regular expression\n(keys: "+strings.Join(workloadKeys(), ", ")+")")
	var subjectArgs stringList
	fl.StringVar(&c.subject, "subject", "walrusfs", "filesystem compared with the loopback: walrusfs, or loopback to test the harness")
	fl.StringVar(&c.walrusfs, "walrusfs", "bin/walrusfs", "walrusfs binary")
	fl.BoolVar(&c.build, "build", false, "run 'go build -o WALRUSFS ./cmd/walrusfs' first")
	fl.Var(&subjectArgs, "mount-arg", "extra argument for 'walrusfs mount', before the mount point (repeatable)")
	fl.IntVar(&c.files, "files", 10000, "number of files for the metadata workloads and the small-files rows")
	fl.IntVar(&c.randReads, "rand-reads", 20000, "number of 4 KiB random reads")
	fl.IntVar(&c.chainBlobs, "chain-blobs", 10000, "number of blobs the chain rows renew and follow")
	fl.IntVar(&c.snapshotFiles, "snapshot-files", 100000, "number of files in the tree the snapshot rows snapshot and restore")
	fl.IntVar(&c.seeks, "seeks", 20, "number of random seeks timed to the first 64 KiB")
	fl.Uint64Var(&c.seed, "seed", 1, "seed for the file content and the random offsets")
	fl.StringVar(&c.workdir, "workdir", filepath.Join(tmp, "walrusfs-bench"), "work directory: run directories and the cached source tarball; put it on the disk to measure")
	fl.BoolVar(&c.keep, "keep", false, "keep the run directory (state, backing data, daemon logs)")
	fl.BoolVar(&c.markdown, "markdown", false, "print the markdown table (the default unless --json)")
	fl.BoolVar(&c.json, "json", false, "print the results as JSON")
	fl.IntVar(&c.repeat, "repeat", 1, "measure each workload this many times, alternating which side goes first, and report the median (the rows of a second or two are measured at least 5 times)")
	fl.BoolVar(&c.passthrough, "loopback-passthrough", false, "let the loopback use FUSE passthrough (the kernel then reads and writes its files without the daemon)")
	fl.BoolVar(&c.strict, "strict", false, "exit 3 when a target is missed")
	fl.DurationVar(&c.mountTimeout, "mount-timeout", 30*time.Second, "how long a daemon may take to mount")
	fl.DurationVar(&c.stopTimeout, "stop-timeout", 2*time.Minute, "how long walrusfs may take to unmount after SIGTERM (it drains its upload queue)")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	var err error
	if c.size, err = parseSize(*size); err != nil {
		return nil, err
	}
	if c.rssSize, err = parseSize(*rssSize); err != nil {
		return nil, fmt.Errorf("--rss-size: %w", err)
	}
	if c.files < 1 || c.randReads < 1 || c.repeat < 1 || c.seeks < 1 || c.chainBlobs < 1 || c.snapshotFiles < 1 {
		return nil, fmt.Errorf("--files, --rand-reads, --seeks, --chain-blobs, --snapshot-files and --repeat must be positive")
	}
	if c.subject != "walrusfs" && c.subject != "loopback" {
		return nil, fmt.Errorf("--subject %q: want walrusfs or loopback", c.subject)
	}
	if c.only, err = regexp.Compile(*only); err != nil {
		return nil, fmt.Errorf("--only: %w", err)
	}
	if c.workdir, err = filepath.Abs(c.workdir); err != nil {
		return nil, err
	}
	c.subjectArgs = subjectArgs
	if !c.json {
		c.markdown = true
	}
	return c, nil
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func workloadKeys() []string {
	var keys []string
	for _, w := range workloads() {
		keys = append(keys, w.key)
	}
	return keys
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	live := &liveDaemons{}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// A closed stdout (bench | head) must fail writes with EPIPE rather than
	// kill the process before it has unmounted.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(stderr, "bench: %v: stopping after the current step; again to force\n", sig)
		cancel(fmt.Errorf("interrupted by %v", sig))
		select {
		case <-sigs:
		case <-time.After(20 * time.Second):
		}
		// A request stuck in a daemon blocks the workload in the kernel;
		// killing the daemons fails it with ENOTCONN so cleanup can run.
		fmt.Fprintln(stderr, "bench: killing the daemons and detaching their mounts")
		live.kill()
	}()

	rep, err := bench(ctx, cfg, stderr, live)
	if rep != nil && len(rep.Rows) > 0 {
		if cfg.markdown {
			if err := rep.writeMarkdown(stdout); err != nil {
				fmt.Fprintf(stderr, "bench: %v\n", err)
			}
		}
		if cfg.json {
			if err := rep.writeJSON(stdout); err != nil {
				fmt.Fprintf(stderr, "bench: %v\n", err)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	missed := false
	for _, r := range rep.Rows {
		switch r.Verdict {
		case failed:
			fmt.Fprintf(stderr, "bench: %s failed\n", r.Key)
			return 1
		case fail:
			missed = true
		}
	}
	if missed && cfg.strict {
		return 3
	}
	return 0
}

// bench runs the whole benchmark. It returns the report so far even when it
// fails part way, and leaves no mounts behind.
func bench(ctx context.Context, cfg *config, logw io.Writer, live *liveDaemons) (rep *report, err error) {
	logf := func(format string, args ...any) { fmt.Fprintf(logw, "bench: "+format+"\n", args...) }

	var selected []workload
	needTree, needMounts := false, false
	for _, w := range workloads() {
		if !cfg.only.MatchString(w.key) && !cfg.only.MatchString(w.label(cfg)) {
			continue
		}
		if w.walrusOnly && cfg.subject != "walrusfs" {
			logf("skipping %s: it runs walrusfs mounts of its own", w.key)
			continue
		}
		selected = append(selected, w)
		needTree = needTree || w.needsTree
		needMounts = needMounts || !w.inProcess
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("--only %q matches no workload (keys: %s)", cfg.only, strings.Join(workloadKeys(), ", "))
	}
	if err := os.MkdirAll(cfg.workdir, 0o755); err != nil {
		return nil, err
	}
	if err := cleanStaleRuns(cfg.workdir, logf); err != nil {
		return nil, err
	}
	if needMounts {
		if err := checkSpace(cfg, selected); err != nil {
			return nil, err
		}
	}
	if needMounts && cfg.subject == "walrusfs" {
		if err := prepareWalrusfs(ctx, cfg, logw); err != nil {
			return nil, err
		}
	}
	if needTree {
		logf("preparing the Go source tarball in %s", cfg.workdir)
		if cfg.tree, err = prepareSourceTree(ctx, cfg.workdir); err != nil {
			return nil, err
		}
	}
	cfg.pattern = newPattern(cfg.seed)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	runDir, err := os.MkdirTemp(cfg.workdir, "run-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(runDir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	defer func() {
		if cfg.keep {
			_ = os.WriteFile(filepath.Join(runDir, keptFile), nil, 0o644)
			logf("kept %s", runDir)
			return
		}
		if err := removeRunDir(runDir); err != nil {
			logf("%v", err)
		}
	}()

	rep = &report{
		Started:     time.Now(),
		Subject:     cfg.subject,
		Size:        cfg.size,
		RSSSize:     cfg.rssSize,
		Seeks:       cfg.seeks,
		Files:       cfg.files,
		RandReads:   cfg.randReads,
		Seed:        cfg.seed,
		Repeat:      cfg.repeat,
		Passthrough: cfg.passthrough,
		Host:        hostString(),
		Mounts:      map[string]string{},
	}
	env := &runEnv{dir: runDir, self: self, live: live, logf: logf}
	loop := &side{name: "loopback", cfg: cfg, env: env, mnt: filepath.Join(runDir, "loopback-mnt"), backing: filepath.Join(runDir, "loopback-data")}
	subj := &side{name: cfg.subject, cfg: cfg, env: env}
	var subjArgv []string
	if cfg.subject == "walrusfs" {
		subj.mnt, subj.backing = filepath.Join(runDir, "walrusfs-mnt"), filepath.Join(runDir, "walrusfs-state")
		subjArgv = append([]string{cfg.walrusfs, "mount", "--state-dir", subj.backing}, cfg.subjectArgs...)
		subjArgv = append(subjArgv, subj.mnt)
	} else {
		subj.name = "loopback-2"
		rep.Subject = subj.name
		subj.mnt, subj.backing = filepath.Join(runDir, "loopback-2-mnt"), filepath.Join(runDir, "loopback-2-data")
		subjArgv = loopbackArgv(self, cfg, subj)
	}
	sides := []*side{loop, subj}
	if !needMounts {
		sides = nil // in-process rows only: nothing to mount
	}
	for _, s := range sides {
		for _, d := range []string{s.mnt, s.backing} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return rep, err
			}
		}
	}

	// Stop the daemons on every way out, panics included; the run
	// directory is removed after this (defers run last-in first-out).
	stopped := false
	stopAll := func() error {
		if stopped {
			return nil
		}
		stopped = true
		var errs []error
		if err := env.stopAll(cfg.stopTimeout); err != nil {
			errs = append(errs, err)
		}
		for _, s := range sides {
			if s.d == nil {
				continue
			}
			timeout := cfg.stopTimeout
			if s.name == "loopback" {
				timeout = 10 * time.Second
			}
			if err := s.d.stop(timeout); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err := stopAll(); err != nil {
			logf("stopping: %v", err)
		}
	}()

	start := time.Now()
	argv := map[*side][]string{loop: loopbackArgv(self, cfg, loop), subj: subjArgv}
	for _, s := range sides {
		logf("mounting %s on %s", s.name, s.mnt)
		d, err := startDaemon(ctx, s.name, s.mnt, filepath.Join(runDir, s.name+".log"), argv[s], cfg.mountTimeout)
		if err != nil {
			return rep, err
		}
		s.d = d
		live.add(d)
		if e, _ := mountAt(s.mnt); e != nil {
			rep.Mounts[s.name] = fmt.Sprintf("%s %s %s", e.FSType, e.Source, e.Options)
		}
	}

	var runErr error
	for _, w := range selected {
		r, err := runWorkload(ctx, cfg, w, loop, subj, logf)
		rep.Rows = append(rep.Rows, r)
		if err != nil {
			runErr = err
			break
		}
	}

	if err := stopAll(); err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.Duration = time.Since(start).Seconds()
	if len(sides) > 0 {
		rep.Rows = append(rep.Rows, wholeRunRows(loop, sides)...)
	}
	if runErr != nil {
		return rep, runErr
	}
	if len(rep.Errors) > 0 {
		return rep, errors.New(rep.Errors[0])
	}
	return rep, nil
}

// wholeRunRows are the rows about each daemon over the whole run: peak
// memory and CPU time.
func wholeRunRows(loop *side, sides []*side) []*row {
	rss := &row{Key: "rss", Name: "daemon peak RSS over the run", Unit: "MiB", Target: &target{}}
	*rss.Target = belowTarget(200)
	cpu := &row{Key: "cpu", Name: "daemon CPU time over the run (user+system)", Unit: "s"}
	for _, s := range sides {
		if s.d == nil {
			continue
		}
		peak, cpuTime := s.d.usage()
		mr := &measurement{Value: float64(peak) / (1 << 20)}
		mc := &measurement{Value: cpuTime.Seconds()}
		if s == loop {
			rss.Loopback, cpu.Loopback = mr, mc
		} else {
			rss.Subject, cpu.Subject = mr, mc
		}
	}
	rss.finish()
	cpu.finish()
	return []*row{rss, cpu}
}

func loopbackArgv(self string, cfg *config, s *side) []string {
	return []string{self, loopbackCommand, "-passthrough=" + strconv.FormatBool(cfg.passthrough), s.backing, s.mnt}
}

// runWorkload measures one workload on both sides, cfg.repeat times (or
// w.passes, if more), alternating which side goes first. An error means
// the run cannot go on (interrupted, or a daemon died); a failed
// measurement is in the row.
func runWorkload(ctx context.Context, cfg *config, w workload, loop, subj *side, logf func(string, ...any)) (*row, error) {
	r := &row{Key: w.key, Name: w.label(cfg), Unit: w.unit, Higher: w.higher}
	if t := w.targetOf(cfg); t.Kind != "" {
		r.Target = &t
	}
	defer r.finish()
	results := map[*side][]*measurement{}
	record := func(s *side, m *measurement) {
		results[s] = append(results[s], m)
		r.Loopback, r.Subject = combine(results[loop]), combine(results[subj])
		if m.Err != "" {
			logf("%-14s %-10s error: %s", w.key, s.name, m.Err)
		} else {
			logf("%-14s %-10s %10s %s", w.key, s.name, formatIn(m.Value, w.unit), w.unit)
		}
	}
	// ready checks that the daemons of the sides about to be measured are
	// alive (a dead one's error goes in the row), then waits until neither
	// daemon is busy.
	ready := func(sides ...*side) error {
		for _, s := range sides {
			if err := s.alive(); err != nil {
				results[s] = append(results[s], &measurement{Err: err.Error()})
				r.Loopback, r.Subject = combine(results[loop]), combine(results[subj])
				return err
			}
		}
		if loop.d != nil && subj.d != nil {
			settle(ctx, []*side{loop, subj}, logf)
		}
		return nil
	}
	for i := range max(cfg.repeat, w.passes) {
		if w.paired != nil {
			if err := ready(loop, subj); err != nil {
				return r, err
			}
			lm, sm := measurePaired(ctx, w.paired, loop, subj)
			record(loop, lm)
			record(subj, sm)
			for _, err := range []error{loop.alive(), subj.alive(), context.Cause(ctx)} {
				if err != nil {
					return r, err
				}
			}
			if sm.Err != "" {
				return r, nil
			}
			continue
		}
		order := []*side{loop, subj}
		if i%2 == 1 {
			order = []*side{subj, loop}
		}
		for _, s := range order {
			if w.subjectOnly && s == loop {
				continue
			}
			if err := ready(s); err != nil {
				return r, err
			}
			run := w.run
			if s == loop && w.loopbackRun != nil {
				run = w.loopbackRun
			}
			m := measure(ctx, run, s)
			record(s, m)
			if err := s.alive(); err != nil {
				return r, err
			}
			if ctx.Err() != nil {
				return r, context.Cause(ctx)
			}
			if m.Err != "" {
				return r, nil
			}
		}
	}
	return r, nil
}

// settle waits, up to a limit, until neither daemon is using the CPU, so
// that work one daemon does in the background (a flush, an upload) is not
// counted against the next measurement of either side. That work still
// shows in the daemon's CPU row.
func settle(ctx context.Context, sides []*side, logf func(string, ...any)) {
	const (
		every = 250 * time.Millisecond
		busy  = 25 * time.Millisecond // CPU per interval that counts as busy
		limit = 30 * time.Second
	)
	start := time.Now()
	last := map[*side]time.Duration{}
	for _, s := range sides {
		last[s], _ = readProcCPU(s.d.cmd.Process.Pid)
	}
	for time.Since(start) < limit {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		idle := true
		for _, s := range sides {
			cpu, err := readProcCPU(s.d.cmd.Process.Pid)
			if err == nil && cpu-last[s] > busy {
				idle = false
			}
			last[s] = cpu
		}
		if idle {
			if el := time.Since(start); el > 2*time.Second {
				logf("waited %.1f s for the daemons to go idle", el.Seconds())
			}
			return
		}
	}
	logf("daemons still busy after %v; measuring anyway", limit)
}

// measure runs one workload on one side, with the daemon's CPU time and
// memory over that workload: the side's daemon, or the daemons the
// workload started for the measurement, or this process for a row that
// runs in it.
func measure(ctx context.Context, run func(context.Context, *side) (float64, string, error), s *side) *measurement {
	cpu0 := s.startWindow()
	v, note, err := run(ctx, s)
	return s.finishWindow(cpu0, v, note, err)
}

// measurePaired runs a paired workload (workload.paired), with each
// daemon's CPU time and memory over it. An error is both sides'.
func measurePaired(ctx context.Context, run func(context.Context, *side, *side) (float64, float64, string, error), loop, subj *side) (lm, sm *measurement) {
	lc, sc := loop.startWindow(), subj.startWindow()
	lv, sv, note, err := run(ctx, loop, subj)
	return loop.finishWindow(lc, lv, "", err), subj.finishWindow(sc, sv, note, err)
}

// startWindow starts a measurement on the side: what a workload set for
// the last one is cleared, and the daemon's memory window restarts. It
// returns the daemon's CPU time so far, for finishWindow.
func (s *side) startWindow() time.Duration {
	s.own, s.missed = nil, ""
	if s.d == nil {
		return 0
	}
	return s.d.resetWindow()
}

// finishWindow returns the measurement of a workload's result on the
// side, with the CPU time and peak memory since startWindow returned
// cpu0.
func (s *side) finishWindow(cpu0 time.Duration, v float64, note string, err error) *measurement {
	var peak uint64
	var cpu float64
	if s.d != nil {
		var cpu1 time.Duration
		peak, cpu1 = s.d.windowStats()
		cpu = (cpu1 - cpu0).Seconds()
	}
	if s.own != nil {
		peak, cpu = s.own.peak, s.own.cpu.Seconds()
	}
	m := &measurement{
		Value:         v,
		Note:          note,
		Missed:        s.missed,
		DaemonCPU:     &cpu,
		DaemonPeakMiB: float64(peak) / (1 << 20),
	}
	if err != nil {
		m.Value = 0
		m.Err = err.Error()
	}
	return m
}

// combine reduces repeated measurements of one side to one: the median
// value, the mean daemon CPU time and the highest daemon memory. The first
// error wins.
func combine(ms []*measurement) *measurement {
	switch len(ms) {
	case 0:
		return nil
	case 1:
		return ms[0]
	}
	out := &measurement{}
	var cpu float64
	for _, m := range ms {
		if m.Err != "" {
			return m
		}
		out.Values = append(out.Values, m.Value)
		if m.DaemonCPU != nil {
			cpu += *m.DaemonCPU
		}
		out.DaemonPeakMiB = max(out.DaemonPeakMiB, m.DaemonPeakMiB)
		if out.Note == "" {
			out.Note = m.Note
		}
		if out.Missed == "" {
			out.Missed = m.Missed
		}
	}
	cpu /= float64(len(ms))
	out.DaemonCPU = &cpu
	out.Value = median(out.Values)
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// prepareWalrusfs builds the binary if asked and checks that it can mount.
func prepareWalrusfs(ctx context.Context, cfg *config, logw io.Writer) error {
	if cfg.build {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", cfg.walrusfs, "./cmd/walrusfs")
		cmd.Stdout, cmd.Stderr = logw, logw
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build -o %s ./cmd/walrusfs: %w", cfg.walrusfs, err)
		}
	}
	abs, err := filepath.Abs(cfg.walrusfs)
	if err != nil {
		return err
	}
	cfg.walrusfs = abs
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w; build it with 'go build -o %s ./cmd/walrusfs' or pass --build", err, cfg.walrusfs)
	}
	out, err := exec.CommandContext(ctx, abs, "help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s help: %w: %s", abs, err, out)
	}
	if !hasCommand(string(out), "mount") {
		return fmt.Errorf("%s has no mount command yet ('walrusfs help' does not list it); --subject loopback runs the harness against a second loopback", abs)
	}
	return nil
}

// hasCommand reports whether walrusfs help output lists the command: a line
// whose first word is its name.
func hasCommand(help, name string) bool {
	for _, l := range strings.Split(help, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name && strings.HasPrefix(l, " ") {
			return true
		}
	}
	return false
}

// checkSpace fails early when the work directory's disk cannot hold two
// copies of the large file, two extracted trees and what the selected
// data-plane rows store.
func checkSpace(cfg *config, selected []workload) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(cfg.workdir, &st); err != nil {
		return err
	}
	free := int64(st.Bavail) * st.Bsize
	need := 2*cfg.size + 1<<30
	fixtures := map[string]bool{}
	for _, w := range selected {
		if w.space != nil {
			need += w.space(cfg)
		}
		if w.fixture != "" && !fixtures[w.fixture] {
			fixtures[w.fixture] = true
			need += storedFileSpace(cfg)
		}
	}
	if free < need {
		return fmt.Errorf("%s has %s free; this run needs about %s", cfg.workdir, sizeString(free), sizeString(need))
	}
	return nil
}

// Files in a run directory: the harness's process ID while it runs, and a
// marker left by --keep.
const (
	ownerFile = "pid"
	keptFile  = "kept"
)

// cleanStaleRuns unmounts and removes the run directories of earlier runs
// that died without cleaning up (killed, or the machine rebooted). Runs
// kept with --keep and runs whose process is alive are left alone, so two
// benchmarks can share a work directory.
func cleanStaleRuns(workdir string, logf func(string, ...any)) error {
	dirs, err := filepath.Glob(filepath.Join(workdir, "run-*"))
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, keptFile)); err == nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, ownerFile)); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil && pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH {
				continue
			}
		}
		logf("removing %s, left by an earlier run", dir)
		if err := unmountUnder(dir); err != nil {
			return fmt.Errorf("mounts left by an earlier run: %w", err)
		}
		// The daemons of that run may still be unmounting (they are told
		// to when the harness dies); give them a moment.
		if err := removeRunDir(dir); err != nil {
			time.Sleep(time.Second)
			if err := removeRunDir(dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeRunDir deletes a run directory, unless something is still mounted
// inside it: removing through a live mount would delete the data behind it.
func removeRunDir(dir string) error {
	ms, err := mounts()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if strings.HasPrefix(m.Point, dir+"/") {
			return fmt.Errorf("%s still mounted; leaving %s in place", m.Point, dir)
		}
	}
	return os.RemoveAll(dir)
}

func hostString() string {
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("Linux %s, %d CPUs, %s", strings.TrimSpace(string(rel)), runtime.NumCPU(), runtime.Version())
}

// liveDaemons lets the signal handler kill daemons that the main goroutine
// cannot stop because a request to them is stuck.
type liveDaemons struct {
	mu sync.Mutex
	ds []*daemon
}

func (l *liveDaemons) add(d *daemon) {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
}

// remove forgets a daemon that has been stopped.
func (l *liveDaemons) remove(d *daemon) {
	l.mu.Lock()
	l.ds = slices.DeleteFunc(l.ds, func(e *daemon) bool { return e == d })
	l.mu.Unlock()
}

func (l *liveDaemons) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.ds {
		go func() { _ = d.kill() }()
		if d.mnt != "" {
			_ = forceUnmount(d.mnt)
		}
	}
}
