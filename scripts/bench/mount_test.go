package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the loopback daemon, as the bench
// binary does: bench re-executes os.Executable() with loopbackCommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == loopbackCommand {
		os.Exit(runLoopbackDaemon(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func requireFUSE(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("mounts FUSE filesystems; skipped with -short")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("mounts with mount(2), which needs root")
	}
}

func noMountsUnder(t *testing.T, dir string) {
	t.Helper()
	ms, err := mounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasPrefix(m.Point, dir+"/") {
			t.Errorf("%s still mounted", m.Point)
			_ = forceUnmount(m.Point)
		}
	}
}

// TestBenchLoopbackAgainstLoopback runs the harness end to end with small
// sizes, a second loopback in walrusfs's place: every row must produce a
// checked figure, and nothing may stay mounted.
func TestBenchLoopbackAgainstLoopback(t *testing.T) {
	requireFUSE(t)
	workdir := t.TempDir()
	t.Cleanup(func() { noMountsUnder(t, workdir) })
	cfg := &config{
		subject:   "loopback",
		size:      3<<20 + 5000, // not a multiple of the request size
		files:     150,
		randReads: 300,
		seed:      7,
		workdir:   workdir,
		repeat:    1,
		// The source tree rows take a minute; they run in make bench.
		only:           regexp.MustCompile(`^(seq|rand|create|stat|ls-l|unlink)`),
		mountTimeout:   30e9,
		stopTimeout:    30e9,
		dropCachesFile: filepath.Join(workdir, "no", "drop_caches"),
	}
	rep, err := bench(t.Context(), cfg, io.Discard, &liveDaemons{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, r := range rep.Rows {
		keys[r.Key] = true
		for name, m := range map[string]*measurement{"loopback": r.Loopback, "subject": r.Subject} {
			if !m.ok() || m.Value <= 0 {
				t.Errorf("%s on %s: %+v", r.Key, name, m)
			}
		}
		if r.Verdict == failed || r.Ratio == nil {
			t.Errorf("%s: verdict %q, ratio %v", r.Key, r.Verdict, r.Ratio)
		}
	}
	for _, k := range append(workloadKeys()[:8], "rss", "cpu") {
		if !keys[k] {
			t.Errorf("no %s row", k)
		}
	}
	if len(rep.Mounts) != 2 {
		t.Errorf("mounts %v, want both sides", rep.Mounts)
	}
	for side, m := range rep.Mounts {
		if !strings.Contains(m, "default_permissions") || !strings.Contains(m, "max_read=") {
			t.Errorf("%s mounted with %q", side, m)
		}
	}
	if rep.Rows[2].Key != "seq-read-cold" || rep.Rows[2].Loopback.Note == "" {
		t.Error("cold read without drop_caches has no note about the fallback")
	}
	if runs, _ := filepath.Glob(filepath.Join(workdir, "run-*")); len(runs) != 0 {
		t.Errorf("run directories left: %v", runs)
	}
}

// TestDaemonStop checks the lifecycle on its own: the mount appears, memory
// is sampled, SIGTERM unmounts.
func TestDaemonStop(t *testing.T) {
	d, mnt := startTestLoopback(t, map[string]string{"hello": "hi"})
	if b, err := os.ReadFile(filepath.Join(mnt, "hello")); err != nil || string(b) != "hi" {
		t.Errorf("read through the mount: %q, %v", b, err)
	}
	if e, _ := mountAt(mnt); e == nil || e.FSType != "fuse.loopback" {
		t.Errorf("mount table entry %+v", e)
	}
	if err := d.stop(5e9); err != nil {
		t.Errorf("stop: %v", err)
	}
	if ok, _ := inMountTable(mnt); ok {
		t.Error("still mounted after stop")
	}
	if peak, _ := d.usage(); peak < 1<<20 {
		t.Errorf("peak RSS %d bytes: not measured", peak)
	}
}

// startTestLoopback mounts a loopback daemon (this test binary) of a new
// directory holding files (name → content), stopped at the end of the
// test, and returns it with its mount point.
func startTestLoopback(t *testing.T, files map[string]string) (*daemon, string) {
	t.Helper()
	requireFUSE(t)
	dir := t.TempDir()
	t.Cleanup(func() { noMountsUnder(t, dir) })
	orig, mnt := filepath.Join(dir, "orig"), filepath.Join(dir, "mnt")
	for _, d := range []string{orig, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(orig, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon(t.Context(), "loopback", mnt, filepath.Join(dir, "log"), []string{self, loopbackCommand, orig, mnt}, 30e9)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.stop(5e9) })
	return d, mnt
}

// A daemon that exits without mounting is reported with its output.
func TestDaemonFailsToMount(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	ctx := context.Background()
	_, err := startDaemon(ctx, "walrusfs", dir, filepath.Join(dir, "log"),
		[]string{"/bin/sh", "-c", "echo 'opening index: permission denied' >&2; exit 1"}, 30e9)
	if err == nil || !strings.Contains(err.Error(), "opening index: permission denied") {
		t.Errorf("err = %v, want one quoting the daemon's output", err)
	}
}

// pauseDaemon stops the daemon and continues it, and a daemon left stopped
// still stops cleanly.
func TestPauseDaemon(t *testing.T) {
	d, mnt := startTestLoopback(t, nil)
	if _, err := pauseDaemon(&side{name: "none"}); err == nil {
		t.Error("a side without a daemon was paused")
	}
	pause, err := pauseDaemon(&side{name: "loopback", d: d})
	if err != nil {
		t.Fatal(err)
	}
	state := func() byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "stat"))
		if err != nil {
			t.Fatal(err)
		}
		// The state follows the command name, which is in parentheses.
		s := string(b)
		return s[strings.LastIndexByte(s, ')')+2]
	}
	waitState := func(want func(byte) bool) byte {
		t.Helper()
		var st byte
		for range 200 {
			if st = state(); want(st) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		return st
	}
	for round := range 2 {
		if err := pause(true); err != nil {
			t.Fatal(err)
		}
		if st := waitState(func(s byte) bool { return s == 'T' }); st != 'T' {
			t.Fatalf("state %c after the pause, want T (stopped)", st)
		}
		if round == 1 {
			break // left stopped: stop must still unmount it
		}
		if err := pause(false); err != nil {
			t.Fatal(err)
		}
		if st := waitState(func(s byte) bool { return s != 'T' }); st == 'T' {
			t.Fatal("still stopped after SIGCONT")
		}
		if _, err := os.ReadDir(mnt); err != nil {
			t.Fatalf("reading the mount after SIGCONT: %v", err)
		}
	}
	if err := d.stop(5e9); err != nil {
		t.Errorf("stopping a paused daemon: %v", err)
	}
	if ok, _ := inMountTable(mnt); ok {
		t.Error("still mounted after stop")
	}
}
