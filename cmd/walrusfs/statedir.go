package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// defaultStateDir is /var/lib/walrusfs for root and $XDG_DATA_HOME/walrusfs
// (or ~/.local/share/walrusfs) for everyone else.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/walrusfs"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "walrusfs")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "walrusfs-"+fmt.Sprint(os.Getuid()))
	}
	return filepath.Join(home, ".local", "share", "walrusfs")
}

// stateLock is the exclusive hold a running mount has on its state
// directory. The lock file names the holder, so a second mount can say who.
type stateLock struct{ f *os.File }

const lockFileName = "lock"

func lockStateDir(dir, mountpoint string) (*stateLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the state directory's lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("state directory %s is in use by %s; unmount that first, or pass another --state-dir", dir, who)
		}
		return nil, fmt.Errorf("cannot lock state directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "walrusfs pid %d mounted at %s\n", os.Getpid(), mountpoint)
	}
	return &stateLock{f: f}, nil
}

func (l *stateLock) release() {
	_ = l.f.Truncate(0)
	_ = l.f.Close() // closing releases the lock
}
