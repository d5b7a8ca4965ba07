package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/index"
)

// The test binary doubles as the walrusfs binary: with WALRUSFS_RUN_MAIN set
// it runs main, so the tests can start real daemon processes and kill them.
func TestMain(m *testing.M) {
	if os.Getenv("WALRUSFS_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func walrusfsCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "WALRUSFS_RUN_MAIN=1")
	return cmd
}

func requireFuse(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("daemon tests mount FUSE and need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
}

// daemon is a walrusfs mount process started by a test.
type daemon struct {
	cmd    *exec.Cmd
	mnt    string
	stderr *syncBuffer
	exited chan error
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startDaemon(t *testing.T, stateDir, mnt string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"mount", "--state-dir", stateDir, "--commit-interval", "1h"}, extra...)
	cmd := walrusfsCmd(append(args, mnt)...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, mnt: mnt, stderr: stderr, exited: make(chan error, 1)}
	go func() { d.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-d.exited
		}
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
		if err := index.CheckFile(filepath.Join(stateDir, index.FileName)); err != nil {
			t.Errorf("index consistency check after the daemon stopped: %v", err)
		}
	})
	parent := lstatDev(t, filepath.Dir(mnt))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.exited:
			t.Fatalf("daemon exited before mounting: %v\n%s", err, stderr.String())
		default:
		}
		// Ready once the daemon says so: go-fuse's Mount ends by opening
		// a file on the new mount, and a daemon killed while it holds
		// that file cannot exit (its close waits on itself).
		var st unix.Stat_t
		if strings.Contains(stderr.String(), "msg=mounted") && unix.Stat(mnt, &st) == nil && st.Dev != parent {
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon did not mount within 10s\n%s", stderr.String())
	return nil
}

func lstatDev(t *testing.T, p string) uint64 {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, d.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not stop after SIGTERM\n%s", d.stderr.String())
	}
	if strings.Contains(d.stderr.String(), "goroutine ") {
		t.Fatalf("stack trace in daemon output:\n%s", d.stderr.String())
	}
}

// kill9 kills the daemon the hard way and clears the dead mount.
func (d *daemon) kill9(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	if err := unix.Unmount(d.mnt, unix.MNT_DETACH); err != nil {
		t.Fatalf("clearing the dead mount: %v", err)
	}
}

// buildTree makes a tree exercising everything that must persist.
func buildTree(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "dir", "sub"), 0o750))
	big := make([]byte, 9<<20+77) // spans chunks
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	must(os.WriteFile(filepath.Join(root, "dir", "big"), big, 0o640))
	must(os.WriteFile(filepath.Join(root, "small"), []byte("small file\n"), 0o600))
	must(os.WriteFile(filepath.Join(root, "dir", "sub", "odd name \xff\n"), []byte("odd"), 0o644))
	must(os.Link(filepath.Join(root, "small"), filepath.Join(root, "dir", "hardlink")))
	must(os.Symlink("../small", filepath.Join(root, "dir", "symlink")))
	must(os.Chown(filepath.Join(root, "dir", "big"), 1234, 4321))
	must(unix.Chmod(filepath.Join(root, "dir", "sub"), 0o2755))
	must(unix.Setxattr(filepath.Join(root, "small"), "user.color", []byte("blue"), 0))
	must(unix.Setxattr(filepath.Join(root, "dir"), "user.empty", nil, 0))
	must(unix.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	f, err := os.OpenFile(filepath.Join(root, "sparse"), os.O_CREATE|os.O_WRONLY, 0o644)
	must(err)
	_, err = f.WriteAt([]byte("tail"), 5<<30)
	must(err)
	must(f.Close())
	must(os.WriteFile(filepath.Join(root, "renamed-from"), []byte("moved"), 0o644))
	must(os.Rename(filepath.Join(root, "renamed-from"), filepath.Join(root, "dir", "renamed-to")))
	must(os.WriteFile(filepath.Join(root, "deleted"), []byte("gone"), 0o644))
	must(os.Remove(filepath.Join(root, "deleted")))
	ts := []unix.Timespec{{Sec: 1111111111, Nsec: 1}, {Sec: 1222222222, Nsec: 2}}
	must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, "dir", "big"), ts, 0))
	must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, "dir", "symlink"), ts, unix.AT_SYMLINK_NOFOLLOW))
}

// snapshot describes a tree: one line per name with type, mode, owner,
// size, times, link count, inode equivalence class, content hash, symlink
// target and xattrs.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	inodes := map[uint64]string{}
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		class, seen := inodes[st.Ino]
		if !seen {
			class = rel
			inodes[st.Ino] = rel
		}
		line := fmt.Sprintf("%q mode=%o uid=%d gid=%d size=%d nlink=%d mtime=%d.%d inode=%q",
			rel, st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec, class)
		if rel == "." {
			line = fmt.Sprintf("%q mode=%o nlink=%d", rel, st.Mode, st.Nlink)
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			if st.Size <= 16<<20 {
				_, err = io.Copy(h, f)
			} else {
				// Huge sparse files: hash windows at the start, the
				// middle and the end rather than gigabytes of zeros.
				for _, off := range []int64{0, st.Size / 2, st.Size - 1<<20} {
					if _, err = io.Copy(h, io.NewSectionReader(f, off, 1<<20)); err != nil {
						break
					}
				}
			}
			f.Close()
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" sha256=%x", h.Sum(nil)[:8])
		case syscall.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " target=" + target
		}
		buf := make([]byte, 4096)
		if n, err := unix.Llistxattr(p, buf); err == nil && n > 0 {
			names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
			sort.Strings(names)
			for _, name := range names {
				v := make([]byte, 4096)
				vn, _ := unix.Lgetxattr(p, name, v)
				line += fmt.Sprintf(" xattr:%s=%q", name, v[:max(vn, 0)])
			}
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestPersistenceAcrossRemount(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt)
	buildTree(t, mnt)
	before := snapshot(t, mnt)
	d.stop(t)
	if _, err := os.Stat(filepath.Join(mnt, "small")); !os.IsNotExist(err) {
		t.Fatalf("mount still there after SIGTERM: %v", err)
	}
	startDaemon(t, state, mnt)
	if after := snapshot(t, mnt); after != before {
		t.Fatalf("tree changed across remount:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestPersistenceAcrossKill9(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt)
	buildTree(t, mnt)
	// An unlinked file still open when the daemon dies becomes an orphan;
	// the next mount must delete it.
	f, err := os.Create(filepath.Join(mnt, "open-unlinked"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("o"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "open-unlinked")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, mnt)
	d.kill9(t) // with --commit-interval 1h, nothing reached the bbolt file
	f.Close()
	d = startDaemon(t, state, mnt)
	if after := snapshot(t, mnt); after != before {
		t.Fatalf("tree changed across kill -9:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	d.stop(t)
	// The orphan's chunk file is gone: every chunk file left belongs to a
	// chunk of the tree.
	idx, err := index.Open(t.Context(), state, index.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	keep, err := idx.StagingIDs()
	_ = idx.Close()
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.Walk(filepath.Join(state, "staging"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		id, perr := strconv.ParseUint(fi.Name(), 16, 64)
		if perr != nil || !keep[id] {
			t.Errorf("chunk file %s belongs to nothing", p)
		}
		return nil
	})
}

func TestSecondMountRefused(t *testing.T) {
	requireFuse(t)
	state, mnt, mnt2 := t.TempDir(), t.TempDir(), t.TempDir()
	startDaemon(t, state, mnt)
	out, err := walrusfsCmd("mount", "--state-dir", state, mnt2).CombinedOutput()
	if err == nil {
		t.Fatal("second mount of the same state directory succeeded")
	}
	msg := string(out)
	if !strings.Contains(msg, "in use by walrusfs pid") || !strings.Contains(msg, mnt) {
		t.Fatalf("refusal does not name the holder: %q", msg)
	}
}

func TestMountErrors(t *testing.T) {
	dir := t.TempDir()
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing mountpoint", []string{"mount", "--state-dir", dir, filepath.Join(dir, "nope")}, "does not exist; create it with: mkdir -p"},
		{"non-empty mountpoint", []string{"mount", "--state-dir", dir, full}, "is not empty"},
		{"no mountpoint", []string{"mount"}, "expected exactly one MOUNTPOINT"},
		{"bad chunk size", []string{"mount", "--state-dir", dir, "--chunk-size", "1000", t.TempDir()}, "chunk size"},
		{"bad size syntax", []string{"mount", "--chunk-size", "lots", t.TempDir()}, "want a number"},
		{"shards too few for a chunk", []string{"mount", "--state-dir", dir, "--shards", "7", t.TempDir()}, "--shards 7: the local store's blobs would hold at most"},
		{"epochs past Walrus's limit", []string{"mount", "--state-dir", dir, "--epochs", "54", t.TempDir()}, "--epochs 54"},
		{"chunk smaller than the default block", []string{"mount", "--state-dir", dir, "--chunk-size", "64KiB", t.TempDir()}, "--chunk-size 64KiB is smaller than the block size (1MiB, the default --block-size)"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"umount not mounted", []string{"umount", t.TempDir()}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := walrusfsCmd(tc.args...).CombinedOutput()
			if err == nil {
				t.Fatalf("succeeded: %s", out)
			}
			msg := strings.TrimSpace(string(out))
			if tc.want != "" && !strings.Contains(msg, tc.want) {
				t.Fatalf("message %q lacks %q", msg, tc.want)
			}
			if strings.Contains(msg, "goroutine ") || strings.Contains(msg, "panic") {
				t.Fatalf("stack trace: %s", msg)
			}
		})
	}
}

func TestUmountCommand(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt)
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := walrusfsCmd("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	// umount waits for the daemon to drain and exit (a zombie counts as
	// exited: the test collects it below).
	if !exited(d.cmd.Process.Pid) {
		t.Fatalf("umount returned while the daemon was still running\n%s", d.stderr.String())
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("daemon exit after umount: %v\n%s", err, d.stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("umount returned while the daemon was still running\n%s", d.stderr.String())
	}
	d.cmd.ProcessState = &os.ProcessState{}
	if !strings.Contains(d.stderr.String(), "stopped cleanly") {
		t.Fatalf("daemon did not stop cleanly:\n%s", d.stderr.String())
	}

	// Paths that are not walrusfs mounts are refused.
	tmp := t.TempDir()
	if err := unix.Mount("tmpfs", tmp, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Unmount(tmp, 0) }()
	for dir, want := range map[string]string{tmp: "is a tmpfs mount, not walrusfs", t.TempDir(): "is not mounted"} {
		out, err := walrusfsCmd("umount", dir).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("umount %s: %v %q, want an error containing %q", dir, err, out, want)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, ".")); err != nil || mustMountType(t, tmp) != "tmpfs" {
		t.Fatal("the tmpfs was unmounted")
	}
}

func mustMountType(t *testing.T, dir string) string {
	t.Helper()
	typ, err := mountType(dir)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

func TestVersion(t *testing.T) {
	out, err := walrusfsCmd("version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "walrusfs ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestSyncCommand: `walrusfs sync` flushes a mount and refuses a path that
// is not one. What a flush keeps through a power loss (the journal up to
// the flush) is the index's to prove: TestModel's power-loss steps.
func TestSyncCommand(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt) // commit interval 1h: only sync commits
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("synced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := walrusfsCmd("sync", mnt).CombinedOutput(); err != nil {
		t.Fatalf("sync: %v: %s", err, out)
	}
	if out, err := walrusfsCmd("sync", state).CombinedOutput(); err == nil || !strings.Contains(string(out), "not mounted") {
		t.Fatalf("sync of a directory that is no walrusfs mount: %v: %s", err, out)
	}
	d.kill9(t)
	startDaemon(t, state, mnt)
	got, err := os.ReadFile(filepath.Join(mnt, "f"))
	if err != nil || string(got) != "synced" {
		t.Fatalf("after sync and kill -9: %q, %v", got, err)
	}
}

// TestMountReadahead: the kernel readahead a file gets follows where its
// data lives. The mount starts at --readahead (4 MiB by default, instead
// of the 128 KiB Linux gives FUSE mounts); opening a file whose data is
// only in the store switches it to --stored-readahead (256 KiB by
// default), opening a staged file switches it back; 0 leaves the kernel's.
func TestMountReadahead(t *testing.T) {
	requireFuse(t)
	readahead := func(mnt string) string {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Stat(mnt, &st); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev)))
		if err != nil {
			t.Skipf("no backing device info for the mount: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	open := func(path string) {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Close() // read-only
	}

	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, uploadTestFlags("--local-copies", "0")...)
	stored := filepath.Join(mnt, "stored")
	writeRandom(t, stored, 1<<20, 1)
	waitAllCertified(t, mnt)
	waitNoLocalCopy(t, stored)
	d.stop(t)

	for _, tc := range []struct {
		args           []string
		staged, stored string
	}{
		{[]string{"--upload-delay", "1h"}, "4096", "256"},
		{[]string{"--upload-delay", "1h", "--readahead", "1MiB", "--stored-readahead", "512KiB"}, "1024", "512"},
		{[]string{"--upload-delay", "1h", "--readahead", "0", "--stored-readahead", "0"}, "128", "128"},
		{[]string{"--upload-delay", "1h", "--stored-readahead", "0"}, "4096", "128"},
		{[]string{"--upload-delay", "1h", "--readahead", "0"}, "128", "256"},
	} {
		d := startDaemon(t, state, mnt, tc.args...)
		if got := readahead(mnt); got != tc.staged {
			t.Errorf("mount %q: read_ahead_kb = %s after mounting, want %s", tc.args, got, tc.staged)
		}
		staged := filepath.Join(mnt, "staged")
		writeRandom(t, staged, 64<<10, 2)
		for _, step := range []struct{ path, want string }{{stored, tc.stored}, {staged, tc.staged}, {stored, tc.stored}} {
			open(step.path)
			if got := readahead(mnt); got != step.want {
				t.Errorf("mount %q: read_ahead_kb = %s after opening %s, want %s", tc.args, got, filepath.Base(step.path), step.want)
			}
		}
		if err := os.Remove(staged); err != nil {
			t.Fatal(err)
		}
		d.stop(t)
	}
}
