package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// workload is one row of the table. run performs any untimed preparation it
// needs itself (a read creates the file it reads if no earlier row did), so
// that every row can run alone under --only.
type workload struct {
	key    string // stable identifier, matched by --only and used in JSON
	label  func(c *config) string
	unit   string
	higher bool   // a larger figure is better (throughput), else smaller (time, memory)
	target target // pass mark for the ratio, or an absolute limit
	// targetFor, when set, gives the target instead, for limits that
	// scale with the flags.
	targetFor func(c *config) target
	// subjectOnly rows measure something the loopback has no counterpart
	// for (a Walrus backend, uploads); they get no ratio.
	subjectOnly bool
	// walrusOnly rows start walrusfs daemons of their own; they are left
	// out when --subject is the loopback.
	walrusOnly bool
	// needsTree asks for the Go source tarball to be prepared (once, in
	// the work directory) before the mounts.
	needsTree bool
	// inProcess rows run walrusfs code in this process (chain sync
	// against the Sui double) and use no mount: when only such rows are
	// selected, nothing is mounted and no walrusfs binary is needed. Their
	// CPU and memory figures are this process's over the row.
	inProcess bool
	// space is about how much disk the row needs, beyond the large file
	// on both sides; rows that share a stored file name it in fixture,
	// so that it is counted once.
	space   func(c *config) int64
	fixture string
	run     func(ctx context.Context, s *side) (value float64, note string, err error)
	// loopbackRun, when set, is what the loopback does for the row
	// instead of run: the nearest thing it has.
	loopbackRun func(ctx context.Context, s *side) (value float64, note string, err error)
	// paired, when set, measures both sides in one call instead of run
	// and loopbackRun one after the other: in alternating slices of the
	// same minutes, for rows whose figure swings with the disk from one
	// minute to the next (see interleaveReads). The note is the
	// subject's.
	paired func(ctx context.Context, loop, subj *side) (loopback, subject float64, note string, err error)
	// passes, when above --repeat, is how many times the row is measured
	// (sides alternating, medians reported, every pass in the notes): for
	// rows of a few seconds whose single figures swing with the disk from
	// one minute to the next.
	passes int
}

func (w workload) targetOf(c *config) target {
	if w.targetFor != nil {
		return w.targetFor(c)
	}
	return w.target
}

// shortRowPasses is how many times the rows that take a second or two (an
// fsync-heavy mix, sqlite) are measured: on a virtual disk a single pass of
// either side can take twice as long as the next one.
const shortRowPasses = 5

// workloads lists the rows in the order they run. Adding a measurement is
// adding an entry here.
func workloads() []workload {
	return []workload{
		{
			key: "seq-write",
			label: func(c *config) string {
				return fmt.Sprintf("sequential write %s, 1 MiB writes + fsync", sizeString(c.size))
			},
			unit:   "MB/s",
			higher: true,
			target: ratioTarget(0.8),
			run:    seqWrite,
		},
		{
			key: "seq-read-warm",
			label: func(c *config) string {
				return fmt.Sprintf("sequential read %s, warm (cache as left)", sizeString(c.size))
			},
			unit:   "MB/s",
			higher: true,
			target: ratioTarget(0.8),
			run:    func(ctx context.Context, s *side) (float64, string, error) { return seqRead(ctx, s, false) },
		},
		{
			key:    "seq-read-cold",
			label:  func(c *config) string { return fmt.Sprintf("sequential read %s, cold", sizeString(c.size)) },
			unit:   "MB/s",
			higher: true,
			target: ratioTarget(0.8),
			run:    func(ctx context.Context, s *side) (float64, string, error) { return seqRead(ctx, s, true) },
		},
		{
			key: "rand-read",
			label: func(c *config) string {
				return fmt.Sprintf("4 KiB random reads, cold, 1 thread (%d reads, sides alternating every %d)", c.randReads, readSlice(c))
			},
			unit:   "IOPS",
			higher: true,
			target: ratioTarget(0.8),
			paired: randReadPaired,
		},
		{
			key:    "create",
			label:  func(c *config) string { return fmt.Sprintf("create %d empty files in one directory", c.files) },
			unit:   "ops/s",
			higher: true,
			target: ratioTarget(0.7),
			run:    createFiles,
		},
		{
			key:    "stat",
			label:  func(c *config) string { return fmt.Sprintf("lstat %d files, cold dentries", c.files) },
			unit:   "ops/s",
			higher: true,
			target: ratioTarget(0.7),
			run:    statFiles,
		},
		{
			key:    "ls-l",
			label:  func(c *config) string { return fmt.Sprintf("`ls -l` of %d entries, cold dentries", c.files) },
			unit:   "s",
			target: ratioTarget(0.7),
			run:    listFiles,
		},
		{
			key:    "unlink",
			label:  func(c *config) string { return fmt.Sprintf("unlink %d files, cold dentries", c.files) },
			unit:   "ops/s",
			higher: true,
			target: ratioTarget(0.7),
			run:    unlinkFiles,
		},
		{
			key:       "tar-x",
			label:     func(c *config) string { return "`tar x` of the Go source tree (" + c.tree.summary() + ")" },
			unit:      "s",
			target:    ratioTarget(0.7),
			needsTree: true,
			run:       extractTree,
		},
		{
			key:       "rm-rf",
			label:     func(c *config) string { return "`rm -rf` of that tree" },
			unit:      "s",
			target:    ratioTarget(0.7),
			needsTree: true,
			run:       removeTree,
		},
		{
			key: "rand-read-upload",
			label: func(c *config) string {
				return fmt.Sprintf("4 KiB random reads, cold, while %s uploads (loopback: idle; sides alternating every %d reads)", sizeString(c.size), readSlice(c))
			},
			unit:       "IOPS",
			higher:     true,
			target:     ratioTarget(0.8),
			space:      func(c *config) int64 { return 4 * c.size },
			walrusOnly: true,
			paired:     randReadDuringUpload,
		},
		{
			key:         "status",
			label:       func(c *config) string { return "`walrusfs status --json` of the mount, process start included" },
			unit:        "ms",
			target:      maxTarget(100),
			subjectOnly: true,
			walrusOnly:  true,
			run:         statusLatency,
		},
		{
			key: "fsync-heavy",
			label: func(c *config) string {
				return fmt.Sprintf("fsync-heavy metadata mix, fsstress-like (%d workers × %d operations)", fsyncWorkers, fsyncOpsEach)
			},
			unit:   "s",
			target: ratioTarget(1 / 1.5),
			run:    fsyncHeavy,
			passes: shortRowPasses,
		},
		{
			key: "sqlite-rollback",
			label: func(c *config) string {
				return fmt.Sprintf("sqlite: %d rows in %d transactions, rollback journal", sqliteRows, sqliteTxns)
			},
			unit:   "s",
			target: ratioTarget(1.0),
			run:    sqliteTimed("DELETE"),
			passes: shortRowPasses,
		},
		{
			key: "sqlite-wal",
			label: func(c *config) string {
				return fmt.Sprintf("sqlite: %d rows in %d transactions, WAL", sqliteRows, sqliteTxns)
			},
			unit:   "s",
			target: ratioTarget(1.0),
			run:    sqliteTimed("WAL"),
			passes: shortRowPasses,
		},
		{
			key:         "sqlite-blobs",
			label:       func(c *config) string { return "sqlite, local store: blobs and quilt patches stored per database" },
			unit:        "blobs",
			target:      maxTarget(2),
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return 1 << 30 },
			run:         sqliteBlobsPerDatabase,
		},
		{
			key:         "sqlite-bytes",
			label:       func(c *config) string { return "sqlite, local store: bytes uploaded ÷ final database bytes" },
			unit:        "×",
			target:      maxTarget(2),
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return 1 << 30 },
			run:         sqliteStoredRatio,
		},
		{
			key: "store-read-local",
			label: func(c *config) string {
				return fmt.Sprintf("sequential read %s, cold, from the local store (certified, nothing cached)", sizeString(c.size))
			},
			unit:        "MB/s",
			higher:      true,
			walrusOnly:  true,
			fixture:     localBackend,
			run:         storeRead(localBackend),
			loopbackRun: coldSeqRead,
		},
		{
			key: "store-read-http",
			label: func(c *config) string {
				return fmt.Sprintf("sequential read %s, cold, from `walrusfs serve` over HTTP (certified, nothing cached)", sizeString(c.size))
			},
			unit:        "MB/s",
			higher:      true,
			walrusOnly:  true,
			fixture:     httpBackend,
			run:         storeRead(httpBackend),
			loopbackRun: coldSeqRead,
		},
		{
			key: "seek-local",
			label: func(c *config) string {
				return fmt.Sprintf("first 64 KiB after a random seek in that file, local store (median of %d)", c.seeks)
			},
			unit:        "ms",
			walrusOnly:  true,
			fixture:     localBackend,
			run:         seekRead(localBackend),
			loopbackRun: loopbackSeekReads,
		},
		{
			key: "seek-http",
			label: func(c *config) string {
				return fmt.Sprintf("first 64 KiB after a random seek in that file, over HTTP (median of %d)", c.seeks)
			},
			unit:        "ms",
			walrusOnly:  true,
			fixture:     httpBackend,
			run:         seekRead(httpBackend),
			loopbackRun: loopbackSeekReads,
		},
		{
			key: "video-seek-fetched",
			label: func(c *config) string {
				return fmt.Sprintf("ffmpeg seeks in a %d s 1080p video over HTTP, cold: bytes fetched per byte ffmpeg read (median of %d)", videoSeconds, videoSeeks)
			},
			unit:        "×",
			target:      maxTarget(2),
			subjectOnly: true,
			walrusOnly:  true,
			space:       videoSpace,
			run:         videoFetchedPerDecoded,
		},
		{
			key: "video-first-frame",
			label: func(c *config) string {
				return fmt.Sprintf("ffmpeg seeks in that video, cold: time to the first frame (median of %d; loopback: the same file on it)", videoSeeks)
			},
			unit:        "s",
			target:      ratioTarget(1 / 1.5),
			walrusOnly:  true,
			space:       videoSpace,
			run:         videoFirstFrameWalrus,
			loopbackRun: videoFirstFrameLoopback,
		},
		{
			key: "quilt-patch-read",
			label: func(c *config) string {
				return "files read back from quilts of `walrusfs serve` over HTTP, cold (GET by quilt patch ID)"
			},
			unit:        "MB/s",
			higher:      true,
			target:      minTarget(200),
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return 4 * quiltRowQuilts * quiltRowBody },
			run:         quiltPatchReads,
		},
		{
			key: "small-files",
			label: func(c *config) string {
				return fmt.Sprintf("%d files of 4 KiB, local store: last close → all certified", c.files)
			},
			unit:        "s",
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return int64(c.files) * 64 << 10 },
			run:         smallFiles,
		},
		{
			key: "small-files-blobs",
			label: func(c *config) string {
				return fmt.Sprintf("blobs holding those %d files (quilts + standalone)", c.files)
			},
			unit:        "blobs",
			targetFor:   func(c *config) target { return maxTarget(smallFilesLimit(c.files)) },
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return int64(c.files) * 64 << 10 },
			run:         smallFileBlobs,
		},
		{
			key: "snapshot",
			label: func(c *config) string {
				return fmt.Sprintf("snapshot of a %d-file tree, local store: walrusfs snapshot", c.snapshotFiles)
			},
			unit:        "s",
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return int64(c.snapshotFiles) * 64 << 10 },
			run:         snapshotTree,
		},
		{
			key: "restore",
			label: func(c *config) string {
				return "restore of that snapshot into a new state directory: walrusfs restore"
			},
			unit:        "s",
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return int64(c.snapshotFiles) * 64 << 10 },
			run:         restoreTree,
		},
		{
			key: "rss-write-read",
			label: func(c *config) string {
				return fmt.Sprintf("daemon peak RSS: write %s, then read it back cold (from the store)", sizeString(c.rssSize))
			},
			unit:        "MiB",
			target:      maxTarget(300),
			walrusOnly:  true,
			space:       func(c *config) int64 { return 5 * c.rssSize },
			run:         rssWalrus,
			loopbackRun: rssLoopback,
		},
		{
			key: "upload",
			label: func(c *config) string {
				return fmt.Sprintf("upload %s in %d files, local store: fsync (--fsync certified) → all certified", sizeString(c.size), uploadFiles)
			},
			unit:        "MB/s",
			higher:      true,
			target:      minTarget(100),
			subjectOnly: true,
			walrusOnly:  true,
			space:       func(c *config) int64 { return 5 * c.size },
			run:         uploadThroughput,
		},
		{
			key: "chain-renew",
			label: func(c *config) string {
				return fmt.Sprintf("renewal pass over %d blobs against the Sui double", c.chainBlobs)
			},
			unit:        "s",
			target:      belowTarget(60),
			subjectOnly: true,
			walrusOnly:  true,
			inProcess:   true,
			run:         chainRenewRow,
		},
		{
			key: "chain-follow-idle",
			label: func(c *config) string {
				return fmt.Sprintf("the follower's RPC calls per hour for %d idle blobs", c.chainBlobs)
			},
			unit:        "calls/h",
			target:      maxTarget(idleCallsPerHour),
			subjectOnly: true,
			walrusOnly:  true,
			inProcess:   true,
			run:         chainFollowIdleRow,
		},
	}
}

// storedFileSpace is about what a certified copy of the large file takes
// in a local store at the default 100 shards (RS2 stores about 3.2 times
// the data), with room to spare.
func storedFileSpace(c *config) int64 { return 4 * c.size }

// side is one mounted filesystem under test and what the workloads have
// left on it.
type side struct {
	name    string
	mnt     string
	backing string // local directory holding the side's data (for cache dropping)
	d       *daemon
	cfg     *config

	bigHash     uint64 // hash of the large file's content, once written
	bigWritten  bool
	manyFiles   bool  // the directory of cfg.files empty files exists
	treeThere   bool  // the extracted tree exists
	uploadLoads int64 // files writeUploadLoad wrote

	// For the rows that start daemons of their own.
	env      *runEnv
	fixtures map[string]*walrusMount // backend → the large file, certified
	small    *smallFilesResult
	snap     *snapshotFixture
	sqlite   *sqliteStorageResult
	video    []*videoSeekResult // one per pass of seeks (see videoPass)
	// videoUsed counts the passes each video row has read.
	videoUsed map[string]int

	// Set by a workload for measure: what the daemons it started for the
	// measurement used (instead of the shared daemon's figures), and a
	// requirement it missed that the target column does not show.
	own    *usage
	missed string
}

func (s *side) path(name string) string { return filepath.Join(s.mnt, name) }

// alive reports an error if the side's daemon has exited or its mount is
// gone; a side whose daemon was not started (only in-process rows run) has
// nothing to check.
func (s *side) alive() error {
	if s.d == nil {
		return nil
	}
	return s.d.alive()
}

const (
	bigName  = "big"
	manyName = "many"
	treeName = "tree"
)

// sequential I/O request size
const ioSize = 1 << 20

var hashSeed = maphash.MakeSeed()

func mbPerSec(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func seqWrite(ctx context.Context, s *side) (float64, string, error) {
	p := s.path(bigName)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, "", err
	}
	s.bigWritten = false
	buf := make([]byte, ioSize)
	var h maphash.Hash
	h.SetSeed(hashSeed)

	start := time.Now()
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = f.Close() }() // for the error paths; success closes it below, checked
	for off := int64(0); off < s.cfg.size; off += ioSize {
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
		b := buf[:min(ioSize, s.cfg.size-off)]
		s.cfg.pattern.fill(b, off)
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			return 0, "", fmt.Errorf("write at %d: %w", off, err)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, "", fmt.Errorf("fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, "", fmt.Errorf("close: %w", err)
	}
	el := time.Since(start)

	s.bigHash, s.bigWritten = h.Sum64(), true
	return mbPerSec(s.cfg.size, el), "", nil
}

// ensureBigFile writes the large file, untimed, unless an earlier row did.
func ensureBigFile(ctx context.Context, s *side) error {
	if s.bigWritten {
		return nil
	}
	_, _, err := seqWrite(ctx, s)
	return err
}

func seqRead(ctx context.Context, s *side, cold bool) (float64, string, error) {
	if err := ensureBigFile(ctx, s); err != nil {
		return 0, "", fmt.Errorf("preparing the file: %w", err)
	}
	p := s.path(bigName)
	var note string
	if cold {
		note = dropCaches(dropPages|dropEntries, s, p)
	}
	buf := make([]byte, ioSize)
	var h maphash.Hash
	h.SetSeed(hashSeed)

	start := time.Now()
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = f.Close() }()
	var n int64
	for i := 0; ; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, "", err
			}
		}
		m, err := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, "", fmt.Errorf("read at %d: %w", n, err)
		}
	}
	el := time.Since(start)

	if n != s.cfg.size {
		return 0, "", fmt.Errorf("read %d bytes, wrote %d", n, s.cfg.size)
	}
	if h.Sum64() != s.bigHash {
		return 0, "", fmt.Errorf("content read back differs from content written")
	}
	return mbPerSec(n, el), note, nil
}

func fileNames(dir string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = filepath.Join(dir, fmt.Sprintf("f%07d", i))
	}
	return names
}

// perFile runs op on each of the cfg.files names in the many-files
// directory and returns operations per second.
func perFile(ctx context.Context, s *side, op func(string) error) (float64, error) {
	names := fileNames(s.path(manyName), s.cfg.files)
	start := time.Now()
	for i, n := range names {
		if i&255 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		if err := op(n); err != nil {
			return 0, fmt.Errorf("%s: %w", n, err)
		}
	}
	return float64(len(names)) / time.Since(start).Seconds(), nil
}

func createFiles(ctx context.Context, s *side) (float64, string, error) {
	dir := s.path(manyName)
	s.manyFiles = false
	if err := os.RemoveAll(dir); err != nil {
		return 0, "", err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return 0, "", err
	}
	v, err := perFile(ctx, s, func(n string) error {
		fd, err := syscall.Open(n, syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		return syscall.Close(fd)
	})
	if err != nil {
		return 0, "", err
	}
	s.manyFiles = true
	return v, "", nil
}

func ensureManyFiles(ctx context.Context, s *side) error {
	if s.manyFiles {
		return nil
	}
	if _, _, err := createFiles(ctx, s); err != nil {
		return fmt.Errorf("preparing %d files: %w", s.cfg.files, err)
	}
	return nil
}

func statFiles(ctx context.Context, s *side) (float64, string, error) {
	if err := ensureManyFiles(ctx, s); err != nil {
		return 0, "", err
	}
	note := dropCaches(dropEntries, s)
	var st syscall.Stat_t
	v, err := perFile(ctx, s, func(n string) error {
		if err := syscall.Lstat(n, &st); err != nil {
			return err
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size != 0 {
			return fmt.Errorf("lstat: mode %o size %d, want an empty regular file", st.Mode, st.Size)
		}
		return nil
	})
	return v, note, err
}

func listFiles(ctx context.Context, s *side) (float64, string, error) {
	if err := ensureManyFiles(ctx, s); err != nil {
		return 0, "", err
	}
	note := dropCaches(dropEntries, s)
	var out lineCounter
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ls", "-l", s.path(manyName))
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = &out, &stderr

	start := time.Now()
	err := cmd.Run()
	el := time.Since(start)

	if err != nil {
		return 0, "", fmt.Errorf("ls -l: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if want := s.cfg.files + 1; out.n != want { // "total N", then one line per entry
		return 0, "", fmt.Errorf("ls -l printed %d lines, want %d", out.n, want)
	}
	return el.Seconds(), note, nil
}

func unlinkFiles(ctx context.Context, s *side) (float64, string, error) {
	if err := ensureManyFiles(ctx, s); err != nil {
		return 0, "", err
	}
	note := dropCaches(dropEntries, s)
	s.manyFiles = false
	v, err := perFile(ctx, s, syscall.Unlink)
	if err != nil {
		return 0, "", err
	}
	left, err := os.ReadDir(s.path(manyName))
	if err != nil {
		return 0, "", err
	}
	if len(left) != 0 {
		return 0, "", fmt.Errorf("%d entries left after unlinking every file", len(left))
	}
	return v, note, os.Remove(s.path(manyName))
}

func extractTree(ctx context.Context, s *side) (float64, string, error) {
	t := s.cfg.tree
	dir := s.path(treeName)
	s.treeThere = false
	if err := os.RemoveAll(dir); err != nil {
		return 0, "", err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return 0, "", err
	}
	syscall.Sync()
	el, err := runTimed(ctx, "tar", "-x", "-f", t.path, "--no-same-owner", "-C", dir)
	if err != nil {
		return 0, "", err
	}
	got, err := countTree(filepath.Join(dir, t.top))
	if err != nil {
		return 0, "", fmt.Errorf("checking the extracted tree: %w", err)
	}
	if got != t.stats {
		return 0, "", fmt.Errorf("extracted tree has %s, archive has %s", got, t.stats)
	}
	s.treeThere = true
	return el.Seconds(), "", nil
}

func removeTree(ctx context.Context, s *side) (float64, string, error) {
	if !s.treeThere {
		if _, _, err := extractTree(ctx, s); err != nil {
			return 0, "", fmt.Errorf("preparing the tree: %w", err)
		}
	}
	dir := s.path(treeName)
	syscall.Sync()
	s.treeThere = false
	el, err := runTimed(ctx, "rm", "-r", "-f", dir)
	if err != nil {
		return 0, "", err
	}
	switch _, err := os.Lstat(dir); {
	case err == nil:
		return 0, "", fmt.Errorf("%s still there after rm -rf", dir)
	case !errors.Is(err, os.ErrNotExist):
		return 0, "", fmt.Errorf("%s still there after rm -rf (%w)", dir, err)
	}
	return el.Seconds(), "", nil
}

// runTimed runs a command and returns its wall time.
func runTimed(ctx context.Context, name string, args ...string) (time.Duration, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	el := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", cmd, err, bytes.TrimSpace(out.Bytes()))
	}
	return el, nil
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
