package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runEnv is what the workloads that start daemons of their own need from
// the run: where to put them, this program (to serve a loopback), and the
// lists through which they are stopped on every way out, ^C included.
// It is used from the harness's main goroutine only.
type runEnv struct {
	dir  string // the run directory
	self string // this program, re-executed as a loopback daemon
	live *liveDaemons
	logf func(format string, args ...any)

	started int       // daemons started so far, to number their logs
	running []*daemon // started and not stopped yet, oldest first
}

// start runs argv as a daemon of the run with its output in a log of its
// own in the run directory. With mnt set it waits until the daemon has
// mounted there; with mnt empty (walrusfs serve) it does not wait.
func (e *runEnv) start(ctx context.Context, cfg *config, name, mnt string, argv []string) (*daemon, error) {
	e.started++
	logPath := filepath.Join(e.dir, fmt.Sprintf("%s-%d.log", name, e.started))
	var d *daemon
	var err error
	if mnt != "" {
		d, err = startDaemon(ctx, name, mnt, logPath, argv, cfg.mountTimeout)
	} else {
		d, err = startProcess(name, "", logPath, argv)
	}
	if err != nil {
		return nil, err
	}
	e.running = append(e.running, d)
	e.live.add(d)
	return d, nil
}

// stop stops one daemon of the run: SIGTERM, then SIGKILL after timeout.
func (e *runEnv) stop(d *daemon, timeout time.Duration) error {
	err := d.stop(timeout)
	e.running = slices.DeleteFunc(e.running, func(x *daemon) bool { return x == d })
	e.live.remove(d)
	return err
}

// stopAll stops the daemons still running, newest first, so that a
// walrusfs mount drains its uploads before the serve process behind it
// goes.
func (e *runEnv) stopAll(timeout time.Duration) error {
	var errs []error
	for len(e.running) > 0 {
		if err := e.stop(e.running[len(e.running)-1], timeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// usage is what a daemon used: its peak resident size and CPU time.
type usage struct {
	peak uint64
	cpu  time.Duration
}

func (u *usage) add(d *daemon) {
	peak, cpu := d.usage()
	u.peak = max(u.peak, peak)
	u.cpu += cpu
}

// Backends of a walrusMount.
const (
	localBackend = "local" // the embedded local store, walrusfs's default
	httpBackend  = "http"  // walrusfs serve on loopback, through --publisher/--aggregator
)

// walrusMount is a walrusfs mount of a workload's own, with flags of its
// own (a backend, no disk cache, ...), in a directory of the run holding
// state/, mnt/ and, for the http backend, serve-store/. It is a side, so
// the workloads written for the shared mounts run on it as they are. The
// workload starts and stops its daemons; what the mount daemons used adds
// up in used.
type walrusMount struct {
	*side
	env     *runEnv
	dir     string
	backend string
	flags   []string // after --mount-arg's, so they win
	serve   *daemon
	used    usage
}

func newWalrusMount(env *runEnv, cfg *config, name, backend string, flags ...string) (*walrusMount, error) {
	dir := filepath.Join(env.dir, name)
	m := &walrusMount{
		side:    &side{name: "walrusfs-" + name, cfg: cfg, env: env, mnt: filepath.Join(dir, "mnt"), backing: filepath.Join(dir, "state")},
		env:     env,
		dir:     dir,
		backend: backend,
		flags:   flags,
	}
	for _, d := range []string{m.mnt, m.backing} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// start starts walrusfs serve for the http backend, then the mount.
func (m *walrusMount) start(ctx context.Context) error {
	cfg := m.cfg
	argv := append([]string{cfg.walrusfs, "mount", "--state-dir", m.backing}, cfg.subjectArgs...)
	argv = append(argv, m.flags...)
	if m.backend == httpBackend {
		addr, err := m.startServe(ctx)
		if err != nil {
			return err
		}
		argv = append(argv, "--publisher", "http://"+addr, "--aggregator", "http://"+addr)
	}
	argv = append(argv, m.mnt)
	d, err := m.env.start(ctx, cfg, m.name, m.mnt, argv)
	if err != nil {
		return errors.Join(err, m.stop())
	}
	m.d = d
	return nil
}

// listenRE finds the address in walrusfs serve's log line
// `msg="serving the Walrus HTTP API" listen=127.0.0.1:41234 ...`.
var listenRE = regexp.MustCompile(`\blisten=([^\s"]+)`)

// startServe starts walrusfs serve on a free loopback port and returns the
// address it listens on, read from its log.
func (m *walrusMount) startServe(ctx context.Context) (string, error) {
	store := filepath.Join(m.dir, "serve-store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return "", err
	}
	argv := []string{m.cfg.walrusfs, "serve", "--listen", "127.0.0.1:0", "--store", store}
	d, err := m.env.start(ctx, m.cfg, m.name+"-serve", "", argv)
	if err != nil {
		return "", err
	}
	m.serve = d
	deadline := time.Now().Add(m.cfg.mountTimeout)
	for {
		b, _ := os.ReadFile(d.log)
		if sm := listenRE.FindSubmatch(b); sm != nil {
			return string(sm[1]), nil
		}
		select {
		case <-d.exited:
			return "", d.exitedError("before listening")
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: no listen= line in its log after %v; its output:\n%s", d.name, m.cfg.mountTimeout, d.output())
		}
	}
}

// stop unmounts (walrusfs drains its upload queue first) and stops the
// serve process.
func (m *walrusMount) stop() error {
	var errs []error
	if m.d != nil {
		if err := m.env.stop(m.d, m.cfg.stopTimeout); err != nil {
			errs = append(errs, err)
		}
		m.used.add(m.d)
		m.d = nil
	}
	if m.serve != nil {
		if err := m.env.stop(m.serve, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
		m.serve = nil
	}
	return errors.Join(errs...)
}

// remove stops the mount and deletes its directory, unless --keep.
func (m *walrusMount) remove() error {
	err := m.stop()
	if m.cfg.keep {
		return err
	}
	return errors.Join(err, removeRunDir(m.dir))
}

// createdRE finds the quilt shard count in the local store's log line
// `msg="localstore: creating store" store=... dirs=1 shards=40 quiltShards=1000`.
var createdRE = regexp.MustCompile(`localstore: creating store.* quiltShards=(\d+)`)

// shards returns the shard count the mount's local store encodes quilts
// at, from the mount's log, or 0.
func (m *walrusMount) shards() int {
	if m.d == nil {
		return 0
	}
	b, err := os.ReadFile(m.d.log)
	if err != nil {
		return 0
	}
	sm := createdRE.FindSubmatch(b)
	if sm == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(sm[1]))
	return n
}

// quiltCapacity is the most patches a QuiltV1 quilt holds at n shards:
// one column of the secondary encoding per patch and one for the index,
// Ks−1 with Ks = n − ⌊(n−1)/3⌋.
func quiltCapacity(n int) int {
	return n - (n-1)/3 - 1
}

// Upload states in user.walrus.state, and the attribute names.
const (
	xattrState     = "user.walrus.state"
	xattrBlobID    = "user.walrus.blob_id"
	stateStaged    = "staged"
	stateUploading = "uploading"
	stateCertified = "certified"
)

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := syscall.Getxattr(path, name, buf)
		if errors.Is(err, syscall.ERANGE) {
			if n, err = syscall.Getxattr(path, name, nil); err != nil {
				return "", err
			}
			buf = make([]byte, n+64)
			continue
		}
		if err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
}

// certifyTimeout is how long bytes in files may take to be certified
// before the harness gives up: generous, it only catches a stuck upload.
func certifyTimeout(bytes int64, files int) time.Duration {
	return 3*time.Minute + time.Duration(bytes/5e6)*time.Second + time.Duration(files)*20*time.Millisecond
}

// waitCertified polls user.walrus.state of each file in turn until it
// reads certified. A file once certified stays so, so each file is asked
// about until it is, then never again: the polling costs about one
// request per file, whatever the count.
func waitCertified(ctx context.Context, d *daemon, paths []string, timeout time.Duration) error {
	const every = 25 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for i, p := range paths {
		for polls := 0; ; polls++ {
			st, err := getxattr(p, xattrState)
			if err != nil {
				return fmt.Errorf("%s of %s: %w", xattrState, p, err)
			}
			if st == stateCertified {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d files certified after %v; %s is %s", i, len(paths), timeout, filepath.Base(p), st)
			}
			if polls%40 == 39 {
				if err := d.alive(); err != nil {
					return err
				}
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(every):
			}
		}
	}
	return nil
}

// stagedBytes sums the chunk files in a walrusfs state directory's staging
// area: staged data not uploaded yet, and local copies of uploaded chunks.
func stagedBytes(stateDir string) (n int64, files int, err error) {
	err = filepath.WalkDir(filepath.Join(stateDir, "staging"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if info.Size() > 0 {
			n += info.Size()
			files++
		}
		return nil
	})
	return n, files, err
}

// waitUnstaged waits until the staging area holds no data: every chunk
// has been uploaded and its local copy dropped, so reads go to the store.
func waitUnstaged(ctx context.Context, stateDir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, files, err := stagedBytes(stateDir)
		if err != nil {
			return err
		}
		if files == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d chunk files (%s) still staged %v after certification", files, sizeString(n), timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Lengths of the text forms in user.walrus.blob_id: base64url without
// padding of a 32-byte blob ID, and of a 37-byte quilt patch ID (the
// quilt's blob ID, then the patch's place in it).
const (
	blobIDLen  = 43
	patchIDLen = 50
)

// blobOf returns the blob that holds a chunk, given its entry in
// user.walrus.blob_id: the blob ID itself, or the quilt's blob ID for a
// patch ID.
func blobOf(id string) (blob string, quilt bool, err error) {
	switch len(id) {
	case blobIDLen:
		if _, err := base64.RawURLEncoding.DecodeString(id); err != nil {
			return "", false, fmt.Errorf("blob ID %q: %w", id, err)
		}
		return id, false, nil
	case patchIDLen:
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			return "", false, fmt.Errorf("patch ID %q: %w", id, err)
		}
		return base64.RawURLEncoding.EncodeToString(b[:32]), true, nil
	}
	return "", false, fmt.Errorf("%q is neither a blob ID (%d characters) nor a quilt patch ID (%d)", id, blobIDLen, patchIDLen)
}

// blobCount tallies the blobs that hold a set of chunks.
type blobCount struct {
	quilts     map[string]int // quilt blob ID → patches seen
	standalone map[string]bool
}

// add counts the chunks of one file from its user.walrus.blob_id value.
func (c *blobCount) add(value string) error {
	if c.quilts == nil {
		c.quilts, c.standalone = map[string]int{}, map[string]bool{}
	}
	ids := strings.Fields(value)
	if len(ids) == 0 {
		return errors.New("empty blob ID list")
	}
	for _, id := range ids {
		blob, quilt, err := blobOf(id)
		if err != nil {
			return err
		}
		if quilt {
			c.quilts[blob]++
		} else {
			c.standalone[blob] = true
		}
	}
	return nil
}

// largestQuilt is the most patches seen in one quilt.
func (c *blobCount) largestQuilt() int {
	n := 0
	for _, p := range c.quilts {
		n = max(n, p)
	}
	return n
}
