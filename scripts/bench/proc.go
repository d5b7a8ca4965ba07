package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// procMem is the memory a process holds, from /proc/PID/status.
type procMem struct {
	RSS  uint64 // VmRSS: resident now, bytes
	Peak uint64 // VmHWM: the kernel's resident high-water mark, bytes
}

// parseStatus reads the VmRSS and VmHWM lines of a /proc/PID/status file.
// Both must be present: a kernel thread or a zombie has neither, and a
// figure of zero would read as a very small daemon.
func parseStatus(r io.Reader) (procMem, error) {
	var m procMem
	var haveRSS, havePeak bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "VmRSS":
			dst, haveRSS = &m.RSS, true
		case "VmHWM":
			dst, havePeak = &m.Peak, true
		default:
			continue
		}
		n, err := parseKB(val)
		if err != nil {
			return procMem{}, fmt.Errorf("status %s: %w", key, err)
		}
		*dst = n
	}
	if err := sc.Err(); err != nil {
		return procMem{}, err
	}
	if !haveRSS || !havePeak {
		return procMem{}, fmt.Errorf("status: no VmRSS/VmHWM lines (process exited?)")
	}
	return m, nil
}

// parseKB parses the value of a status line such as "  123456 kB".
func parseKB(s string) (uint64, error) {
	f := strings.Fields(s)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("unexpected value %q", strings.TrimSpace(s))
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unexpected value %q: %w", strings.TrimSpace(s), err)
	}
	return n << 10, nil
}

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	return parseStatus(bytes.NewReader(b))
}

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat. It is 100
// on every Linux architecture Go supports; the total CPU time reported for a
// daemon comes from wait4's rusage instead, which needs no such assumption.
const clockTick = 10 * time.Millisecond

// parseStatCPU returns utime+stime from the contents of /proc/PID/stat.
// The command name (field 2) may contain spaces and parentheses, so fields
// are counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no ')' in %q", b)
	}
	// After ')': state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("stat: %d fields after comm, want > %d", len(f), stime)
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	s, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return time.Duration(u+s) * clockTick, nil
}

func readProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}
