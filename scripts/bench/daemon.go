package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is a filesystem server process serving one mount point, watched
// for memory and CPU from outside so that both sides are measured alike.
type daemon struct {
	name string
	mnt  string
	cmd  *exec.Cmd
	log  string // file with the daemon's stdout and stderr

	exited chan struct{} // closed once the process has been reaped
	err    error         // Wait's result, valid after exited is closed

	mu     sync.Mutex
	peak   uint64 // highest resident size seen over the daemon's life
	window uint64 // highest resident size since resetWindow
	cpu    time.Duration

	stopSampling chan struct{}
	stopOnce     sync.Once
	sampling     sync.WaitGroup
}

// startDaemon runs argv as a daemon that should mount a filesystem on mnt,
// and waits until it has. Its stdout and stderr go to logPath, the end of
// which is quoted in error messages.
func startDaemon(ctx context.Context, name, mnt, logPath string, argv []string, timeout time.Duration) (*daemon, error) {
	d, err := startProcess(name, mnt, logPath, argv)
	if err != nil {
		return nil, err
	}
	if err := d.waitMounted(ctx, timeout); err != nil {
		_ = d.stop(5 * time.Second)
		return nil, err
	}
	return d, nil
}

// startProcess runs argv as a daemon, watched like one that serves mnt,
// without waiting for anything. mnt is empty for a daemon that mounts
// nothing (walrusfs serve).
func startProcess(name, mnt, logPath string, argv []string) (*daemon, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	d := &daemon{
		name:         name,
		mnt:          mnt,
		log:          logPath,
		exited:       make(chan struct{}),
		stopSampling: make(chan struct{}),
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// A file, not a pipe: Wait must not depend on who else holds the
	// write end.
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group keeps a terminal's ^C away from the
		// daemon: the harness stops it in order, after its workloads.
		Setpgid: true,
		// If the harness dies without cleaning up, the daemon is told
		// to unmount and exit.
		Pdeathsig: syscall.SIGTERM,
	}
	err = cmd.Start()
	_ = lf.Close() // the daemon has its own copy
	if err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	d.cmd = cmd
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	d.sampling.Add(1)
	go d.sample(50*time.Millisecond, d.stopSampling)
	return d, nil
}

// waitMounted polls until mnt is a mount point (its st_dev differs from its
// parent's), the daemon exits, or the timeout passes.
func (d *daemon) waitMounted(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := isMountPoint(d.mnt)
		if err == nil && ok {
			return nil
		}
		select {
		case <-d.exited:
			return d.exitedError("before mounting " + d.mnt)
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for mount: %w", d.name, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			why := ""
			if err != nil {
				why = fmt.Sprintf(" (stat: %v)", err)
			}
			return fmt.Errorf("%s: %s not mounted after %v%s; daemon output:\n%s", d.name, d.mnt, timeout, why, d.output())
		}
	}
}

// alive reports an error if the daemon has exited or its mount is gone;
// a workload must never run on the bare directory under the mount point.
func (d *daemon) alive() error {
	select {
	case <-d.exited:
		return d.exitedError("during the run")
	default:
	}
	ok, err := inMountTable(d.mnt)
	if err != nil {
		return fmt.Errorf("%s: %s is no longer mounted (%w)", d.name, d.mnt, err)
	}
	if !ok {
		return fmt.Errorf("%s: %s is no longer mounted", d.name, d.mnt)
	}
	return nil
}

// exitedError reports that the daemon exited when, wrapping its exit error
// if it has one. Call it only once d.exited is closed.
func (d *daemon) exitedError(when string) error {
	if d.err == nil {
		return fmt.Errorf("%s: daemon exited %s (exit status 0); its output:\n%s", d.name, when, d.output())
	}
	return fmt.Errorf("%s: daemon exited %s (%w); its output:\n%s", d.name, when, d.err, d.output())
}

func (d *daemon) sample(every time.Duration, stop <-chan struct{}) {
	defer d.sampling.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		d.sampleOnce()
		select {
		case <-stop:
			return
		case <-d.exited:
			return
		case <-t.C:
		}
	}
}

func (d *daemon) sampleOnce() {
	m, err := readProcMem(d.cmd.Process.Pid)
	if err != nil {
		return
	}
	d.notePeak(max(m.RSS, m.Peak), m.RSS)
}

// notePeak records a whole-life peak and a current resident size for the
// per-workload window.
func (d *daemon) notePeak(life, now uint64) {
	d.mu.Lock()
	d.peak = max(d.peak, life)
	d.window = max(d.window, now)
	d.mu.Unlock()
}

// resetWindow starts a new per-workload window and returns the daemon's CPU
// time so far.
func (d *daemon) resetWindow() time.Duration {
	d.mu.Lock()
	d.window = 0
	d.mu.Unlock()
	d.sampleOnce()
	cpu, _ := readProcCPU(d.cmd.Process.Pid)
	return cpu
}

// windowStats returns the highest resident size since resetWindow and the
// daemon's CPU time so far.
func (d *daemon) windowStats() (peak uint64, cpu time.Duration) {
	d.sampleOnce()
	cpu, _ = readProcCPU(d.cmd.Process.Pid)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.window, cpu
}

// usage returns the daemon's peak resident size and CPU time over its
// life. Final only after stop.
func (d *daemon) usage() (peak uint64, cpu time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peak, d.cpu
}

// stop asks the daemon to unmount and exit with SIGTERM and waits up to
// timeout; then it kills the daemon and detaches the mount. It is safe to
// call more than once. An error means the daemon did not shut down cleanly;
// the mount is gone either way unless the error says otherwise.
func (d *daemon) stop(timeout time.Duration) error {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	var errs []error
	select {
	case <-d.exited:
	default:
		// The last look before exit: VmHWM covers the whole life so far.
		d.sampleOnce()
		// A daemon a row paused (pauseDaemon) and left stopped would
		// never see the SIGTERM.
		_ = d.cmd.Process.Signal(syscall.SIGCONT)
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
			if d.err != nil {
				errs = append(errs, fmt.Errorf("%s: daemon exited with %w after SIGTERM", d.name, d.err))
			}
		case <-time.After(timeout):
			errs = append(errs, fmt.Errorf("%s: daemon still running %v after SIGTERM; killed", d.name, timeout))
			if err := d.kill(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	d.stopOnce.Do(func() { close(d.stopSampling) })
	select {
	case <-d.exited:
		d.sampling.Wait()
		st := d.cmd.ProcessState
		d.mu.Lock()
		d.cpu = st.UserTime() + st.SystemTime()
		// The peak stays the VmHWM sampled until the last look before
		// SIGTERM. wait4's ru_maxrss is no help: a child started by a Go
		// program shares the parent's memory until it execs, and Linux
		// counts that memory's high-water mark into the child's, so it
		// reports the bench's own size whenever that is the larger.
		d.mu.Unlock()
	default:
		// Not reaped (reported by kill); the figures so far stand.
	}
	if mounted, _ := inMountTable(d.mnt); d.mnt != "" && mounted {
		if err := forceUnmount(d.mnt); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s still mounted after the daemon exited: %w", d.name, d.mnt, err))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s was still mounted after the daemon exited; detached it", d.name, d.mnt))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; daemon output:\n%s", errors.Join(errs...), d.output())
	}
	return nil
}

// kill sends SIGKILL and waits for the daemon to exit. A FUSE daemon can
// fail to die: a thread that is closing a file on its own mount as the
// process exits waits for a FLUSH reply that no thread is left to send. In
// that case the FUSE connection is aborted, which fails the request.
func (d *daemon) kill() error {
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	if d.mnt == "" {
		return fmt.Errorf("%s: daemon (pid %d) did not exit after SIGKILL", d.name, d.cmd.Process.Pid)
	}
	err := abortConnection(d.mnt)
	select {
	case <-d.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	if err != nil {
		return fmt.Errorf("%s: daemon (pid %d) did not exit after SIGKILL; aborting its FUSE connection: %w", d.name, d.cmd.Process.Pid, err)
	}
	return fmt.Errorf("%s: daemon (pid %d) did not exit after SIGKILL, nor after its FUSE connection was aborted", d.name, d.cmd.Process.Pid)
}

// abortConnection aborts the FUSE connection behind the mount at dir
// through the fusectl filesystem, mounting it on its usual place if needed.
// Every pending and future request on the mount fails with ENOTCONN.
func abortConnection(dir string) error {
	e, err := mountAt(dir)
	if err != nil {
		return err
	}
	if e == nil {
		return fmt.Errorf("%s is not mounted", dir)
	}
	const ctl = "/sys/fs/fuse/connections"
	if m, _ := mountAt(ctl); m == nil {
		if err := syscall.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
			return fmt.Errorf("mount fusectl on %s: %w", ctl, err)
		}
	}
	_, minor, ok := strings.Cut(e.Dev, ":")
	if !ok {
		return fmt.Errorf("mountinfo device %q", e.Dev)
	}
	return os.WriteFile(filepath.Join(ctl, minor, "abort"), []byte("1"), 0)
}

// isMountPoint reports whether dir is on a different device than its
// parent.
func isMountPoint(dir string) (bool, error) {
	var st, pst syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return false, err
	}
	if err := syscall.Stat(filepath.Dir(dir), &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev, nil
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Dev     string // major:minor; for FUSE the minor names the fusectl connection
	Point   string
	FSType  string
	Source  string
	Options string // per-mount and per-superblock options, comma-joined
}

// parseMountinfo parses /proc/PID/mountinfo, undoing the octal escapes
// (\040 for a space) in paths.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			continue
		}
		out = append(out, mountEntry{
			Dev:     f[2],
			Point:   unescapeMount(f[4]),
			FSType:  g[0],
			Source:  unescapeMount(g[1]),
			Options: f[5] + "," + g[2],
		})
	}
	return out, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func mounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return parseMountinfo(f)
}

// inMountTable reports whether dir is a mount point according to the
// kernel's table. Unlike isMountPoint it does not touch the filesystem, so
// it works when the daemon behind a FUSE mount is gone.
func inMountTable(dir string) (bool, error) {
	e, err := mountAt(dir)
	return e != nil, err
}

func mountAt(dir string) (*mountEntry, error) {
	ms, err := mounts()
	if err != nil {
		return nil, err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Point == dir {
			return &ms[i], nil
		}
	}
	return nil, nil
}

// forceUnmount detaches the mount at dir, which must not be in use by the
// harness any more.
func forceUnmount(dir string) error {
	if os.Geteuid() == 0 {
		err := syscall.Unmount(dir, 0)
		if err == nil {
			return nil
		}
		if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
			return fmt.Errorf("unmount %s: %w; lazy unmount: %w", dir, err, err2)
		}
		return nil
	}
	var last error
	for _, prog := range []string{"fusermount3", "fusermount"} {
		out, err := exec.Command(prog, "-u", "-z", dir).CombinedOutput()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("%s -u -z %s: %w: %s", prog, dir, err, strings.TrimSpace(string(out)))
	}
	return last
}

// unmountUnder detaches every mount below dir.
func unmountUnder(dir string) error {
	ms, err := mounts()
	if err != nil {
		return err
	}
	var errs []error
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.HasPrefix(ms[i].Point, dir+"/") {
			if err := forceUnmount(ms[i].Point); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// output returns the end of what the daemon has printed.
func (d *daemon) output() string {
	const max = 8 << 10
	b, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", d.log, err)
	}
	if len(b) > max {
		b = append([]byte("..."), b[len(b)-max:]...)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(no output)"
	}
	return string(b)
}
