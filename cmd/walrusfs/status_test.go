package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := walrusfsCmd(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func statusOf(t *testing.T, args ...string) statusReport {
	t.Helper()
	out, errOut, err := runCmd(t, append([]string{"status", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, errOut)
	}
	var s statusReport
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s
}

// scrape reads the mount's metrics through its control socket.
func scrape(t *testing.T, stateDir string) map[string]*dto.MetricFamily {
	t.Helper()
	sock := filepath.Join(stateDir, controlSocketName)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://walrusfs/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the metrics: %v", err)
	}
	return fams
}

func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, label ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("metric %s missing", name)
	}
	for _, m := range f.Metric {
		match := len(label) == 0
		for _, l := range m.Label {
			if len(label) == 2 && l.GetName() == label[0] && l.GetValue() == label[1] {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s%v has no value", name, label)
	return 0
}

// TestStatusAndMetrics: status shows pending uploads, --wait returns once
// everything is certified, and the metrics, scraped and parsed, move as
// files are written and read; on the local store and over HTTP.
func TestStatusAndMetrics(t *testing.T) {
	requireFuse(t)
	for _, backend := range []string{"local", "http"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			flags := uploadTestFlags("--seal-delay", "1h", "--foreground-first", "0", "--local-copies", "0")
			if backend == "http" {
				url := startServe(t)
				flags = append(flags, "--publisher", url, "--aggregator", url, "--network-shards", "20", "--encrypt", "on")
			}
			d := startDaemon(t, state, mnt, flags...)
			f, err := os.Create(filepath.Join(mnt, "open"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(bytes.Repeat([]byte("x"), 3<<20)); err != nil {
				t.Fatal(err)
			}
			// Open and unsynced: staged, not queued.
			s := statusOf(t, mnt)
			if s.StagedBytes < 3<<20 || s.Mountpoint != mnt || s.StateDir != state {
				t.Fatalf("status with a file open: %+v", s)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			sums := writeTestFiles(t, mnt, 5)
			out, errOut, err := runCmd(t, "status", "--wait", "--timeout", "2m", "--state-dir", state)
			if err != nil || !strings.Contains(out, "certified") {
				t.Fatalf("status --wait: %v\n%s%s", err, out, errOut)
			}
			text, _, err := runCmd(t, "status", mnt)
			if err != nil || strings.Count(text, "\n") < 8 || strings.Contains(text, `\n`) || !strings.Contains(text, "certified") {
				t.Fatalf("status for people: %v\n%s", err, text)
			}
			s = statusOf(t, "--state-dir", state)
			if s.Pending.Chunks != 0 || s.Blobs.Stored != 0 || s.Blobs.Certified == 0 || s.Upload.BytesTotal < 3<<20 {
				t.Fatalf("status after --wait: %+v", s)
			}
			// info: per file and per chunk, from the mountpoint's path.
			out, errOut, err = runCmd(t, "info", "--json", filepath.Join(mnt, "large0"), filepath.Join(mnt, "small001"))
			if err != nil {
				t.Fatalf("info: %v\n%s", err, errOut)
			}
			var infos []fileInfo
			if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != 2 {
				t.Fatalf("info --json: %v\n%s", err, out)
			}
			large := infos[0]
			if large.State != "certified" || len(large.Chunks) < 5 || large.EndEpoch == 0 || (backend == "local" && large.EndDate == nil) {
				t.Fatalf("info of a large file: %+v", large)
			}
			for _, ch := range large.Chunks {
				if ch.ID == "" || ch.State != "certified" || ch.EndEpoch == 0 {
					t.Fatalf("chunk %+v", ch)
				}
			}
			if small := infos[1]; len(small.Chunks) != 1 || len(small.Chunks[0].ID) != 50 {
				t.Fatalf("a small file is not a quilt patch: %+v", small)
			}
			if _, errOut, err := runCmd(t, "info", mnt); err == nil || !strings.Contains(errOut, "not a regular file") {
				t.Fatalf("info of a directory: %v %s", err, errOut)
			}
			fams := scrape(t, state)
			if v := metricValue(t, fams, "walrusfs_uploaded_bytes_total"); v < 3<<20 {
				t.Fatalf("uploaded bytes %v", v)
			}
			if v := metricValue(t, fams, "walrusfs_blobs", "state", "certified"); v != float64(s.Blobs.Certified) {
				t.Fatalf("certified blobs %v, status says %d", v, s.Blobs.Certified)
			}
			if v := metricValue(t, fams, "walrusfs_written_bytes_total"); v < 3<<20 {
				t.Fatalf("written bytes %v", v)
			}
			if v := fuseOpCount(t, fams, "write", "ok"); v == 0 {
				t.Fatal("no write requests counted")
			}
			var timed uint64
			for _, m := range fams["walrusfs_fuse_operation_seconds"].GetMetric() {
				timed += m.GetHistogram().GetSampleCount()
			}
			if timed == 0 {
				t.Fatal("no request latencies")
			}
			readBefore := metricValue(t, fams, "walrusfs_read_bytes_total")
			missesBefore := metricValue(t, fams, "walrusfs_cache_misses_total")
			fetchedBefore := metricValue(t, fams, "walrusfs_cache_fetched_bytes_total")
			checkFiles(t, mnt, sums) // read back: from the store (no local copies)
			if err := dropPageCache(); err == nil {
				checkFiles(t, mnt, sums)
			}
			fams = scrape(t, state)
			if after := metricValue(t, fams, "walrusfs_cache_misses_total"); after <= missesBefore {
				t.Fatalf("cache misses did not move with reads from the store: %v then %v", missesBefore, after)
			}
			if after := metricValue(t, fams, "walrusfs_cache_fetched_bytes_total"); after-fetchedBefore < 5<<20 {
				t.Fatalf("fetched bytes moved by %v with reads from the store", after-fetchedBefore)
			}
			if after := metricValue(t, fams, "walrusfs_read_bytes_total"); after-readBefore < 5<<20 {
				t.Fatalf("read bytes moved by %v", after-readBefore)
			}
			d.stop(t)
			if _, errOut, err := runCmd(t, "status", "--state-dir", state); err == nil || !strings.Contains(errOut, "no walrusfs mount is running") {
				t.Fatalf("status of a stopped mount: %v %s", err, errOut)
			}
		})
	}
}

// fuseOpCount is the count of FUSE requests op with result.
func fuseOpCount(t *testing.T, fams map[string]*dto.MetricFamily, op, result string) float64 {
	t.Helper()
	for _, m := range fams["walrusfs_fuse_operations_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["op"] == op && labels["result"] == result {
			return m.Counter.GetValue()
		}
	}
	return 0
}

func dropPageCache() error {
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
}

// TestStatusWaitTimesOut: --wait gives up after --timeout with a non-zero
// exit while uploads cannot finish.
func TestStatusWaitTimesOut(t *testing.T) {
	requireFuse(t)
	dir := t.TempDir()
	state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// A publisher nobody answers at: nothing uploads.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	d := startDaemon(t, state, mnt, uploadTestFlags("--publisher", url, "--aggregator", url, "--network-shards", "20", "--encrypt", "off", "--foreground-first", "0")...)
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, errOut, err := runCmd(t, "status", "--wait", "--timeout", "2s", mnt)
	if err == nil || !strings.Contains(errOut, "gave up after 2s") || time.Since(start) > 20*time.Second {
		t.Fatalf("status --wait against a dead publisher: %v\n%s", err, errOut)
	}
	// The client retries a while before an upload fails.
	deadline := time.Now().Add(60 * time.Second)
	for s := statusOf(t, mnt); s.LastError == nil || !s.LastError.Retrying; s = statusOf(t, mnt) {
		if time.Now().After(deadline) {
			t.Fatalf("status shows no upload error: %+v", s)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v := metricValue(t, scrape(t, state), "walrusfs_upload_failures_total", "kind", "unavailable"); v == 0 {
		t.Fatal("no unavailable upload failures counted")
	}
	d.kill9(t)
}

// TestBadFlagIsOneLine: a bad flag value gets one line naming the flag,
// the value and what it takes; -h still lists the flags.
func TestBadFlagIsOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"mount", "--chunk-size", "lots", "/mnt/x"},
		{"status", "--timeout", "soon"},
		{"chain", "status", "--renew-before", "-1"},
	} {
		_, errOut, err := runCmd(t, args...)
		if err == nil || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, args[len(args)-2]) && !strings.Contains(errOut, args[len(args)-1]) {
			t.Errorf("%q: %v\n%s", args, err, errOut)
		}
	}
	out, errOut, err := runCmd(t, "mount", "-h")
	if err != nil || !strings.Contains(out+errOut, "--chunk-size") && !strings.Contains(out+errOut, "-chunk-size") {
		t.Errorf("mount -h: %v\n%s%s", err, out, errOut)
	}
}

// TestStatusRefusesAnotherUsersSocket: a control socket that belongs to
// another user gets one line that says whose it is.
func TestStatusRefusesAnotherUsersSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a command as another user")
	}
	dir, err := os.MkdirTemp("", "walrusfs-socket-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	mustChmod := func(p string, m os.FileMode) {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	mustChmod(dir, 0o755)
	l, err := net.Listen("unix", filepath.Join(dir, controlSocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// The test binary sits in a directory only root may enter: run a
	// copy another user can.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "walrusfs")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "status", "--state-dir", dir)
	cmd.Env = append(os.Environ(), "WALRUSFS_RUN_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1001, Gid: 1001}}
	out, err := cmd.CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err == nil || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "belongs to uid 0") {
		t.Fatalf("status on another user's socket: %v: %q", err, msg)
	}
}
