package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func umountCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "umount [--lazy] [--no-wait] MOUNTPOINT",
		short: "unmount a walrusfs mount and wait for its daemon to drain and exit",
		long: `Unmounts a walrusfs mount and waits until its daemon has drained its uploads
(up to its --drain-timeout) and exited, with the drain's progress on a
terminal. A path that is not a walrusfs mount is refused.`,
		args: exactArgs(1, "MOUNTPOINT"),
		setup: func(fl *pflag.FlagSet) runFunc {
			lazy := fl.Bool("lazy", false, "detach now and finish unmounting once the mount is no longer busy")
			noWait := fl.Bool("no-wait", false, "return once unmounted, without waiting for the daemon to finish its uploads and exit")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runUmount(ctx, args[0], *lazy, *noWait, stdout, stderr)
			}
		},
	})
}

func runUmount(ctx context.Context, mountpoint string, lazy, noWait bool, stdout, stderr io.Writer) error {
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	if err := checkWalrusMount(mnt); err != nil {
		return err
	}
	daemon := findDaemon(mnt)
	// The control socket stays up while the daemon drains: the wait can
	// say how much is left.
	ctl, _ := findControl(mnt, "")
	if err := unmount(ctx, mnt, lazy, stdout, stderr); err != nil {
		return err
	}
	if noWait || daemon == 0 {
		return nil
	}
	return waitForExit(ctx, daemon, mnt, ctl, stderr)
}

// unmount detaches the mount at mnt: with umount(2) as root, else through
// fusermount3.
func unmount(ctx context.Context, mnt string, lazy bool, stdout, stderr io.Writer) error {
	if os.Geteuid() != 0 {
		argv := []string{"-u"}
		if lazy {
			argv = append(argv, "-z")
		}
		for _, prog := range []string{"fusermount3", "fusermount"} {
			if p, err := exec.LookPath(prog); err == nil {
				cmd := exec.CommandContext(ctx, p, append(argv, mnt)...)
				cmd.Stdout, cmd.Stderr = stdout, stderr
				return cmd.Run()
			}
		}
		return errors.New("unmounting as a non-root user needs fusermount3: apt-get install fuse3")
	}
	flags := 0
	if lazy {
		flags = syscall.MNT_DETACH
	}
	switch err := syscall.Unmount(mnt, flags); {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("%s is not mounted", mnt)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%s is busy: close the files and shells using it (fuser -vm %s lists them), or use --lazy", mnt, mnt)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%s does not exist", mnt)
	default:
		return fmt.Errorf("unmounting %s: %w", mnt, err)
	}
}

// checkWalrusMount refuses a path that is not the mountpoint of a walrusfs
// mount, so umount never takes down another filesystem.
func checkWalrusMount(mnt string) error {
	fstype, err := mountType(mnt)
	switch {
	case err != nil:
		return fmt.Errorf("reading the mount table: %w", err)
	case fstype == "":
		if _, err := os.Stat(mnt); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist", mnt)
		}
		return fmt.Errorf("%s is not mounted", mnt)
	case fstype != "fuse.walrusfs":
		return fmt.Errorf("%s is a %s mount, not walrusfs; use umount(8) for it", mnt, fstype)
	}
	return nil
}

// mountType returns the file system type of the mount whose mountpoint is
// mnt ("" when none is), from /proc/self/mountinfo; the last mount there
// wins, as it hides the others.
func mountType(mnt string) (string, error) {
	fstype, _, err := mountEntry(mnt)
	return fstype, err
}

// mountEntry returns the type and the source of the mount at mnt; a
// walrusfs mount's source is its state directory.
func mountEntry(mnt string) (fstype, source string, err error) {
	mounts, err := mountTable()
	for _, m := range mounts {
		if m.point == mnt {
			fstype, source = m.fstype, m.source
		}
	}
	return fstype, source, err
}

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct{ point, fstype, source string }

// mountTable reads /proc/self/mountinfo in order (a later mount on the
// same point hides an earlier one).
func mountTable() ([]mountInfo, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mountInfo
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mountpoint options [optional...] - type source superoptions
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, mountInfo{point: unescapeMountinfo(fields[4]), fstype: fields[sep+1], source: unescapeMountinfo(fields[sep+2])})
	}
	return out, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of a
// mountinfo path.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// findDaemon returns the pid of the walrusfs daemon serving mnt, or 0 when
// it cannot tell: a process whose command line is "… mount … MOUNTPOINT"
// with MOUNTPOINT resolving to mnt, holding /dev/fuse open.
func findDaemon(mnt string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) < 3 || !slices.Contains(args[1:len(args)-1], "mount") {
			continue
		}
		target := args[len(args)-1]
		if !filepath.IsAbs(target) {
			cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
			if err != nil {
				continue
			}
			target = filepath.Join(cwd, target)
		}
		if filepath.Clean(target) == mnt && holdsFuseDevice(pid) {
			return pid
		}
	}
	return 0
}

func holdsFuseDevice(pid int) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if t, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && t == "/dev/fuse" {
			return true
		}
	}
	return false
}

// waitForExit waits until process pid has exited, saying on a terminal
// what it waits for every few seconds.
func waitForExit(ctx context.Context, pid int, mnt string, ctl *controlClient, stderr io.Writer) error {
	// The bar appears after two seconds, and only on a terminal: a quick
	// exit draws nothing.
	tty := isTerminal(stderr)
	var bar *progress
	var first uint64
	next := time.Now().Add(2 * time.Second)
	for {
		if exited(pid) {
			bar.finish()
			return nil
		}
		if tty && time.Now().After(next) {
			if bar == nil {
				bar = newProgress(stderr, 0, true, fmt.Sprintf("draining %s (pid %d)", mnt, pid))
			}
			if ctl != nil {
				var s statusReport
				sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				if ctl.get(sctx, "/v1/status", &s) == nil {
					first = max(first, s.Pending.Bytes)
					bar.set(int64(first-s.Pending.Bytes), int64(first))
				}
				cancel()
			}
			next = time.Now().Add(time.Second)
		}
		select {
		case <-ctx.Done():
			bar.stop()
			return fmt.Errorf("%s is unmounted; its daemon (pid %d) is still finishing its uploads", mnt, pid)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// exited reports whether process pid is gone or a zombie (its parent has
// not collected it yet).
func exited(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}
