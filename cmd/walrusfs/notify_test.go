package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSystemdNotify: under a real NOTIFY_SOCKET the daemon sends READY
// with a STATUS once mounted, and STOPPING when it stops.
func TestSystemdNotify(t *testing.T) {
	requireFuse(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	t.Setenv("NOTIFY_SOCKET", sock)
	state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, state, mnt)
	read := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, d.stderr.String())
		}
		return string(buf[:n])
	}
	if msg := read(); !strings.Contains(msg, "READY=1") || !strings.Contains(msg, "STATUS=mounted") {
		t.Fatalf("first notification %q", msg)
	}
	d.stop(t)
	for {
		msg := read()
		if strings.Contains(msg, "STOPPING=1") {
			break
		}
	}
}

// TestLogFile: --log-file with --log-format json writes JSON lines there,
// and SIGHUP reopens the file after logrotate moved it.
func TestLogFile(t *testing.T) {
	requireFuse(t)
	dir := t.TempDir()
	state, mnt, logPath := filepath.Join(dir, "state"), filepath.Join(dir, "mnt"), filepath.Join(dir, "walrusfs.log")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := walrusfsCmd("mount", "--state-dir", state, "--log-file", logPath, "--log-format", "json", mnt)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
	})
	waitLog := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not show %q:\n%s", path, want, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog(logPath, `"msg":"mounted"`)
	b, _ := os.ReadFile(logPath)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop")
	}
	waitLog(logPath, `"msg":"stopped cleanly"`)
}
