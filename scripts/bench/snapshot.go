package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The snapshot rows: a tree of --snapshot-files files of 1 KiB in
// directories of 1000, written through a fresh local-store mount and
// certified (walrusfs status --wait), then
//
//   - snapshot: `walrusfs snapshot` timed alone (nothing is left to
//     upload first); the note gives the snapshot's size and the daemon's
//     VmHWM before and after.
//   - restore: `walrusfs restore` of that snapshot into a new state
//     directory, timed, as a process of its own; the note gives its peak
//     RSS (rusage) and the size of the index it built.

// snapshotFixture is the tree and its snapshot, shared by the two rows.
type snapshotFixture struct {
	m     *walrusMount
	store string
	id    string
	bytes string // the snapshot's size, as walrusfs snapshot --list says
	rss   string // the daemon's VmHWM before and after the snapshot
}

const snapshotFileSize = 1 << 10

// walrusfsCLI runs a walrusfs command to its end and returns its output
// and its peak resident size, sampled from /proc while it runs.
func walrusfsCLI(ctx context.Context, cfg *config, args ...string) (string, uint64, error) {
	cmd := exec.CommandContext(ctx, cfg.walrusfs, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		return "", 0, fmt.Errorf("walrusfs %s: %w", strings.Join(args, " "), err)
	}
	// The peak resident size is sampled from /proc while it runs (see
	// daemon.stop for why wait4's ru_maxrss would not do).
	var peak uint64
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		if pm, perr := readProcMem(cmd.Process.Pid); perr == nil {
			peak = max(peak, pm.Peak)
		}
		select {
		case err = <-done:
			break wait
		case <-tick.C:
		}
	}
	if err != nil {
		return "", peak, fmt.Errorf("walrusfs %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), peak, nil
}

// snapshotTree writes the tree, waits until it is certified, and takes
// the snapshot, timed.
func snapshotTree(ctx context.Context, s *side) (float64, string, error) {
	if s.snap != nil { // --repeat: a new tree each time
		if err := s.snap.m.remove(); err != nil {
			return 0, "", err
		}
		s.snap = nil
	}
	m, err := newWalrusMount(s.env, s.cfg, "snapshot", localBackend)
	if err != nil {
		return 0, "", err
	}
	f := &snapshotFixture{m: m, store: filepath.Join(m.backing, "store")}
	if err := m.start(ctx); err != nil {
		return 0, "", err
	}
	v, err := func() (float64, error) {
		buf := make([]byte, snapshotFileSize)
		for i := range s.cfg.snapshotFiles {
			dir := m.path(fmt.Sprintf("d%04d", i/1000))
			if i%1000 == 0 {
				if err := ctx.Err(); err != nil {
					return 0, err
				}
				if err := os.Mkdir(dir, 0o755); err != nil {
					return 0, err
				}
			}
			s.cfg.pattern.fill(buf, int64(i)*snapshotFileSize)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i%1000)), buf, 0o644); err != nil {
				return 0, err
			}
		}
		if _, _, err := walrusfsCLI(ctx, s.cfg, "status", "--wait", "--timeout", "30m", "--state-dir", m.backing); err != nil {
			return 0, err
		}
		pid := m.d.cmd.Process.Pid
		before, _ := readProcMem(pid)
		start := time.Now()
		out, _, err := walrusfsCLI(ctx, s.cfg, "snapshot", m.mnt)
		if err != nil {
			return 0, err
		}
		el := time.Since(start)
		after, _ := readProcMem(pid)
		f.id = strings.TrimSpace(out)
		f.rss = fmt.Sprintf("daemon VmHWM %.0f MiB before, %.0f MiB after", float64(before.Peak)/(1<<20), float64(after.Peak)/(1<<20))
		list, _, err := walrusfsCLI(ctx, s.cfg, "snapshot", "--list", m.mnt)
		if err != nil {
			return 0, err
		}
		if fields := strings.Fields(list); len(fields) >= 5 && fields[0] == f.id {
			f.bytes = fields[4]
		}
		return el.Seconds(), nil
	}()
	if serr := m.stop(); serr != nil && err == nil {
		err = serr
	}
	s.own = &m.used
	if err != nil {
		_ = m.remove()
		return 0, "", err
	}
	s.snap = f
	return v, fmt.Sprintf("snapshot %s of %d inodes: %s dump; %s", f.id, s.cfg.snapshotFiles+s.cfg.snapshotFiles/1000+1, f.bytes, f.rss), nil
}

// restoreTree restores the snapshot row's snapshot into a new state
// directory, timed.
func restoreTree(ctx context.Context, s *side) (float64, string, error) {
	if s.snap == nil {
		if _, _, err := snapshotTree(ctx, s); err != nil {
			return 0, "", fmt.Errorf("preparing the snapshot: %w", err)
		}
	}
	f := s.snap
	target := filepath.Join(f.m.dir, "restored")
	if err := os.RemoveAll(target); err != nil { // --repeat
		return 0, "", err
	}
	start := time.Now()
	_, peakBytes, err := walrusfsCLI(ctx, s.cfg, "restore", "--snapshot", f.id, "--state-dir", target, "--store", f.store)
	if err != nil {
		return 0, "", err
	}
	el := time.Since(start)
	peak := float64(peakBytes) / (1 << 20)
	st, err := os.Stat(filepath.Join(target, "index.db"))
	if err != nil {
		return 0, "", err
	}
	return el.Seconds(), fmt.Sprintf("restore peak RSS %.0f MiB; index.db of %s", peak, sizeString(st.Size())), nil
}
