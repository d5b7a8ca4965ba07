package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMountHelperArgs(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		flags []string
		mnt   string
		bad   bool
	}{
		{args: []string{"walrusfs", "/mnt/w", "-o", "rw,state_dir=/s,config=/c.toml,_netdev,x-systemd.automount"},
			flags: []string{"--state-dir=/s", "--config=/c.toml"}, mnt: "/mnt/w"},
		{args: []string{"walrusfs", "/mnt/w", "-o", "ro,allow_other,fsync=certified", "-n"}, flags: []string{"--read-only", "--allow-other", "--fsync=certified"}, mnt: "/mnt/w"},
		{args: []string{"walrusfs", "/mnt/w", "-ocache-disk=1GiB"}, flags: []string{"--cache-disk=1GiB"}, mnt: "/mnt/w"},
		{args: []string{"walrusfs", "/mnt/w", "-o", "no_such_flag=1"}, bad: true},
		{args: []string{"/mnt/w"}, bad: true},
	} {
		flags, mnt, err := mountHelperArgs(tc.args)
		if (err != nil) != tc.bad || (!tc.bad && (mnt != tc.mnt || !slices.Equal(flags, tc.flags))) {
			t.Errorf("%q: %q %q %v", tc.args, flags, mnt, err)
		}
	}
}

// TestMountThroughMount8: `mount -t walrusfs` through the real mount(8),
// which runs /sbin/mount.walrusfs; it returns once the mount is ready,
// with the daemon in the background.
func TestMountThroughMount8(t *testing.T) {
	requireFuse(t)
	mount8, err := exec.LookPath("mount")
	if err != nil {
		t.Skip("no mount(8)")
	}
	const helper = "/sbin/mount.walrusfs"
	if _, err := os.Lstat(helper); err == nil {
		t.Skipf("%s exists (walrusfs is installed); not replacing it", helper)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, helper); err != nil {
		t.Skipf("cannot install the helper: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(helper) })
	t.Setenv("WALRUSFS_RUN_MAIN", "1") // the test binary is walrusfs to its children
	dir := t.TempDir()
	state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mount8, "-t", "walrusfs", "walrusfs", mnt, "-o", "state_dir="+state+",seal_delay=1s,_netdev").CombinedOutput()
	if err != nil {
		t.Fatalf("mount -t walrusfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	if typ, _ := mountType(mnt); typ != "fuse.walrusfs" {
		t.Fatalf("after mount(8) returned, %s is %q", mnt, typ)
	}
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(state, "walrusfs.log")); err != nil || !strings.Contains(string(b), "msg=mounted") {
		t.Fatalf("the daemon's log: %v\n%s", err, b)
	}
	// A second mount of the same state directory fails with the daemon's
	// own words.
	mnt2 := filepath.Join(dir, "mnt2")
	if err := os.Mkdir(mnt2, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(mount8, "-t", "walrusfs", "walrusfs", mnt2, "-o", "state_dir="+state).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("a second mount of the same state directory: %v\n%s", err, out)
	}
	if out, err := walrusfsCmd("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if typ, _ := mountType(mnt); typ == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still mounted")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
