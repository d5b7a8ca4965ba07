package main

import (
	"encoding/base64"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestBlobCount(t *testing.T) {
	quilt := make([]byte, 37)
	quilt[0], quilt[32] = 0xaa, 1
	patch := func(i byte) string {
		q := slices.Clone(quilt)
		q[33] = i
		return base64.RawURLEncoding.EncodeToString(q)
	}
	blob := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	quiltID := base64.RawURLEncoding.EncodeToString(quilt[:32])

	var c blobCount
	for _, v := range []string{patch(1), patch(2), blob + " " + patch(3), blob} {
		if err := c.add(v); err != nil {
			t.Fatalf("add(%q): %v", v, err)
		}
	}
	if len(c.quilts) != 1 || c.quilts[quiltID] != 3 || len(c.standalone) != 1 || !c.standalone[blob] {
		t.Errorf("quilts %v, standalone %v; want 3 patches of %s and the blob %s", c.quilts, c.standalone, quiltID, blob)
	}
	if got := c.largestQuilt(); got != 3 {
		t.Errorf("largestQuilt = %d, want 3", got)
	}
	for _, bad := range []string{"", "short", strings.Repeat("!", blobIDLen), strings.Repeat("A", 44)} {
		if err := c.add(bad); err == nil {
			t.Errorf("add(%q): want an error", bad)
		}
	}
}

func TestQuiltCapacity(t *testing.T) {
	for _, tt := range []struct{ shards, want int }{{1000, 666}, {100, 66}, {40, 26}, {10, 6}, {4, 2}} {
		if got := quiltCapacity(tt.shards); got != tt.want {
			t.Errorf("quiltCapacity(%d) = %d, want %d", tt.shards, got, tt.want)
		}
	}
}

func TestSmallFilesLimit(t *testing.T) {
	for _, tt := range []struct {
		files int
		want  float64
	}{{10000, 16}, {20000, 32}, {500, 1}, {1, 1}, {10001, 17}} {
		if got := smallFilesLimit(tt.files); got != tt.want {
			t.Errorf("smallFilesLimit(%d) = %v, want %v", tt.files, got, tt.want)
		}
	}
}

func TestSeekOffsets(t *testing.T) {
	const size, n = 1 << 30, 20
	offs, err := seekOffsets(size, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != n {
		t.Fatalf("%d offsets, want %d", len(offs), n)
	}
	sorted := slices.Sorted(slices.Values(offs))
	if slices.Equal(sorted, offs) {
		t.Error("offsets come in file order; want a random order")
	}
	for i, o := range sorted {
		if o < 0 || o+seekSize > size || o%pageSize != 0 {
			t.Errorf("offset %d: outside the file or not page-aligned", o)
		}
		if i > 0 && o-sorted[i-1] < size/n/2 {
			t.Errorf("offsets %d and %d are closer than half a region", sorted[i-1], o)
		}
	}
	again, _ := seekOffsets(size, n, 1)
	if !slices.Equal(again, offs) {
		t.Error("the same seed gives different offsets")
	}
	if _, err := seekOffsets(1<<20, n, 1); err == nil {
		t.Error("20 seeks in 1 MiB: want an error")
	}
}

func TestListenLine(t *testing.T) {
	line := `time=2026-11-24T06:38:00.775Z level=INFO msg="serving the Walrus HTTP API" listen=127.0.0.1:37277 store=[ss] shards=100`
	sm := listenRE.FindStringSubmatch(line)
	if sm == nil || sm[1] != "127.0.0.1:37277" {
		t.Errorf("listen address from %q: %q", line, sm)
	}
}

func TestFormatIn(t *testing.T) {
	if got := formatIn(16, "blobs"); got != "16" {
		t.Errorf("formatIn(16, blobs) = %q", got)
	}
	if got := formatIn(16, "MiB"); got != "16.0" {
		t.Errorf("formatIn(16, MiB) = %q", got)
	}
}

// TestBenchDataPlane runs the data-plane rows end to end with small sizes
// against walrusfs built from this checkout: every row must produce a
// figure, and no mount, daemon or run directory may be left behind.
// walrusfsWorkdir returns a work directory for a bench run that mounts
// walrusfs, checked at cleanup to hold no mounts, and a walrusfs binary
// built into it. It skips where FUSE cannot be mounted.
func walrusfsWorkdir(t *testing.T) (workdir, bin string) {
	t.Helper()
	requireFUSE(t)
	workdir = t.TempDir()
	t.Cleanup(func() { noMountsUnder(t, workdir) })
	bin = filepath.Join(workdir, "walrusfs")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/walrusfs/walrusfs/cmd/walrusfs")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return workdir, bin
}

func TestBenchDataPlane(t *testing.T) {
	workdir, bin := walrusfsWorkdir(t)
	cfg := &config{
		subject:        "walrusfs",
		walrusfs:       bin,
		size:           48 << 20,
		rssSize:        32 << 20,
		seeks:          4,
		files:          150,
		randReads:      10,
		seed:           3,
		workdir:        workdir,
		repeat:         1,
		only:           regexp.MustCompile(`^(store-read|seek|small-files|rss-write-read|upload)`),
		mountTimeout:   30e9,
		stopTimeout:    60e9,
		dropCachesFile: filepath.Join(workdir, "no", "drop_caches"),
	}
	live := &liveDaemons{}
	rep, err := bench(t.Context(), cfg, io.Discard, live)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"store-read-local", "store-read-http", "seek-local", "seek-http", "small-files", "small-files-blobs", "rss-write-read", "upload", "rss", "cpu"}
	var keys []string
	for _, r := range rep.Rows {
		keys = append(keys, r.Key)
		if r.Verdict == failed || !r.Subject.ok() || r.Subject.Value <= 0 {
			t.Errorf("%s: verdict %q, walrusfs %+v", r.Key, r.Verdict, r.Subject)
		}
		if (r.Key == "store-read-local" || r.Key == "seek-http" || r.Key == "rss-write-read") && (r.Ratio == nil || !r.Loopback.ok()) {
			t.Errorf("%s: no loopback figure or ratio: %+v", r.Key, r.Loopback)
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("rows %v, want %v", keys, want)
	}
	// The shared daemons stay listed, stopped; the rows' own are gone.
	if len(live.ds) != 2 {
		t.Errorf("%d daemons listed as live, want the 2 shared ones", len(live.ds))
	}
	for _, d := range live.ds {
		select {
		case <-d.exited:
		default:
			t.Errorf("%s (pid %d) still running", d.name, d.cmd.Process.Pid)
		}
	}
	if runs, _ := filepath.Glob(filepath.Join(workdir, "run-*")); len(runs) != 0 {
		t.Errorf("run directories left: %v", runs)
	}
}

// The reads-during-upload row, repeated, reads beside an upload every
// time: each load is new content (the unencrypted local store takes
// repeated bytes at once), and the reads wait until all of it is queued.
func TestBenchReadsDuringUploadRepeated(t *testing.T) {
	workdir, bin := walrusfsWorkdir(t)
	cfg := &config{
		subject:        "walrusfs",
		walrusfs:       bin,
		size:           64 << 20,
		randReads:      20,
		seed:           3,
		workdir:        workdir,
		repeat:         3,
		only:           regexp.MustCompile(`^rand-read-upload$`),
		mountTimeout:   30e9,
		stopTimeout:    60e9,
		dropCachesFile: filepath.Join(workdir, "drop_caches"), // a plain file: no waits
	}
	rep, err := bench(t.Context(), cfg, io.Discard, &liveDaemons{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.Key != "rand-read-upload" {
			continue
		}
		if !r.Subject.ok() || r.Subject.Missed != "" || len(r.Subject.Values) != 3 {
			t.Errorf("walrusfs: %+v", r.Subject)
		}
		return
	}
	t.Fatalf("no rand-read-upload row in %+v", rep.Rows)
}
