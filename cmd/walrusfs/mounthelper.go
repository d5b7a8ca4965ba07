package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// mount(8) runs /sbin/mount.walrusfs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]
// for `mount -t walrusfs` and fstab lines of type walrusfs. The walrusfs
// binary answers to that name (make install links it): it turns the
// options into mount flags, starts `walrusfs mount` in the background
// (logging to --log-file, STATE_DIR/walrusfs.log by default) and returns
// once the mount is ready, or fails with the daemon's last log lines.
//
// Options: every mount flag as name=value (state_dir=/var/lib/walrusfs,
// config=/etc/walrusfs/walrusfs.toml; '-' or '_'), or as a bare name for a
// boolean flag (read_only); ro, rw and allow_other as mount(8) knows them;
// and mount(8)'s own (defaults, _netdev, nofail, noauto, auto, user,
// users, nouser, x-*), which are passed over. SOURCE is ignored.

const mountHelperName = "mount.walrusfs"

// mountHelperArgs turns mount(8)'s arguments into `walrusfs mount`'s.
func mountHelperArgs(args []string) (flags []string, mnt string, err error) {
	var pos, opts []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args):
			opts = append(opts, strings.Split(args[i+1], ",")...)
			i++
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, strings.Split(a[2:], ",")...)
		case a == "-N" || a == "-t":
			i++ // namespace, type: not ours to use
		case strings.HasPrefix(a, "-"):
			// -s (sloppy), -f (fake), -n (no mtab), -v (verbose)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, "", fmt.Errorf("usage: %s SOURCE MOUNTPOINT [-o OPTIONS] (run by mount -t walrusfs)", mountHelperName)
	}
	known := mountFlagNames()
	for _, o := range opts {
		name, value, hasValue := strings.Cut(strings.TrimSpace(o), "=")
		switch {
		case name == "":
			continue
		case name == "ro":
			flags = append(flags, "--read-only")
			continue
		case name == "rw", name == "defaults", name == "_netdev", name == "nofail", name == "noauto", name == "auto",
			name == "user", name == "users", name == "nouser", name == "suid", name == "nosuid", name == "dev",
			name == "nodev", name == "exec", name == "noexec", strings.HasPrefix(name, "x-"):
			continue
		}
		flag := strings.ReplaceAll(name, "_", "-")
		if !known[flag] || flag == "log-file" && !hasValue {
			return nil, "", fmt.Errorf("unknown walrusfs mount option %q (options are the mount flags, e.g. state_dir=DIR,config=FILE)", name)
		}
		if hasValue {
			flags = append(flags, "--"+flag+"="+value)
		} else {
			flags = append(flags, "--"+flag)
		}
	}
	return flags, pos[1], nil
}

// runMountHelper is main for mount.walrusfs.
func runMountHelper(args []string, stderr io.Writer) int {
	flags, mnt, err := mountHelperArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", mountHelperName, err)
		return 1
	}
	mnt, err = filepath.Abs(mnt)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", mountHelperName, err)
		return 1
	}
	logPath := ""
	stateDir := defaultStateDir()
	for _, f := range flags {
		if v, ok := strings.CutPrefix(f, "--log-file="); ok {
			logPath = v
		}
		if v, ok := strings.CutPrefix(f, "--state-dir="); ok {
			stateDir = v
		}
	}
	if logPath == "" {
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			fmt.Fprintf(stderr, "%s: state directory: %v\n", mountHelperName, err)
			return 1
		}
		logPath = filepath.Join(stateDir, "walrusfs.log")
		flags = append(flags, "--log-file="+logPath)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", mountHelperName, err)
		return 1
	}
	start := logSize(logPath)
	cmd := exec.Command(self, append(append([]string{"mount"}, flags...), mnt)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives mount(8) and its terminal
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err == nil {
		cmd.Stdin, cmd.Stdout = devnull, devnull
		defer func() { _ = devnull.Close() }()
	}
	// What the daemon says before its logger runs (a refused flag, a busy
	// state directory) goes to the log file too.
	if lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640); err == nil {
		cmd.Stderr = lf
		defer func() { _ = lf.Close() }()
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "%s: starting the daemon: %v\n", mountHelperName, err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if t, _ := mountType(mnt); t == "fuse.walrusfs" {
			return 0
		}
		select {
		case err := <-exited:
			fmt.Fprintf(stderr, "%s: the daemon stopped before mounting (%v): %s\n", mountHelperName, err, logTail(logPath, start))
			return 1
		case <-ctx.Done():
			fmt.Fprintf(stderr, "%s: not mounted after a minute; see %s\n", mountHelperName, logPath)
			return 1
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func logSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logTail returns the log lines written since offset, joined, for the
// helper's one-line error.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log at " + path
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err.Error()
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(bytes.TrimSpace(b))), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
