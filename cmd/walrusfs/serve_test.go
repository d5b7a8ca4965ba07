package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp"
)

// TestServeRoundTrip runs `walrusfs serve` as a process and talks to it with
// the Walrus HTTP client: a stored blob reads back, its ID is the one
// `walrusfs blob-id` computes offline, and SIGTERM stops it cleanly.
func TestServeRoundTrip(t *testing.T) {
	cmd := walrusfsCmd("serve", "--listen", "127.0.0.1:0", "--store", t.TempDir(), "--shards", "20")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	var logBuf bytes.Buffer
	go func() {
		re := regexp.MustCompile(`listen=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logBuf.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not report its address")
	}
	cfg := walrushttp.DefaultConfig()
	cfg.PublisherURL = base
	cfg.AggregatorURLs = []string{base}
	client, err := walrushttp.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("walrus "), 100000)
	info, err := client.Put(t.Context(), bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := client.ReadRange(t.Context(), info.ID, 1000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data[1000:6000]) {
		t.Fatalf("range read back: %v, equal=%v", err, bytes.Equal(got, data[1000:6000]))
	}
	f := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := walrusfsCmd("blob-id", "--shards", "20", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	if fields := strings.Fields(string(out)); len(fields) == 0 || fields[0] != info.ID.String() {
		t.Fatalf("blob-id printed %q, serve stored %s", out, info.ID)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exit after SIGTERM: %v\n%s", err, logBuf.String())
	}
}
