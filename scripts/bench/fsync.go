package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The fsync-heavy rows: workloads whose every step waits for a disk flush,
// where a filesystem that holds a lock through its own flushes, or
// flushes more than what was written, falls far behind a local one.

const (
	fsyncWorkers   = 4
	fsyncOpsEach   = 2000
	sqliteRows     = 100000
	sqliteTxns     = 100
	sqliteRowBytes = 100
	sqliteDirName  = "sqlite"
	fsyncDirName   = "fsync-heavy"
)

// fsyncHeavy runs fsyncWorkers processes' worth of an fsstress-like mix
// (create and write, overwrite, fsync, fdatasync, mkdir, rename, unlink,
// truncate, stat, directory fsync), fsyncOpsEach operations each, every
// worker in a directory of its own, and returns the wall time.
func fsyncHeavy(ctx context.Context, s *side) (float64, string, error) {
	top := s.path(fsyncDirName)
	if err := os.RemoveAll(top); err != nil {
		return 0, "", err
	}
	if err := os.Mkdir(top, 0o755); err != nil {
		return 0, "", err
	}
	syscall.Sync()
	start := time.Now()
	errs := make([]error, fsyncWorkers)
	counts := make([]map[string]int, fsyncWorkers)
	var wg sync.WaitGroup
	for w := range fsyncWorkers {
		wg.Go(func() {
			counts[w], errs[w] = fsyncWorker(ctx, filepath.Join(top, fmt.Sprint(w)), s.cfg.seed+uint64(w))
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, "", err
	}
	syncs := 0
	for _, c := range counts {
		syncs += c["fsync"] + c["fdatasync"] + c["dirsync"]
	}
	if err := os.RemoveAll(top); err != nil {
		return 0, "", err
	}
	return el.Seconds(), fmt.Sprintf("%d workers × %d operations, %d of them flushes", fsyncWorkers, fsyncOpsEach, syncs), nil
}

// fsyncWorker is one worker of fsyncHeavy; the mix is drawn from seed, so
// both sides do the same operations.
func fsyncWorker(ctx context.Context, dir string, seed uint64) (map[string]int, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0xf5f5))
	dirs := []string{dir}
	var files []string
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	count := map[string]int{}
	next := 0
	name := func() string {
		next++
		return filepath.Join(dirs[rng.IntN(len(dirs))], fmt.Sprintf("f%d", next))
	}
	pick := func() (int, bool) {
		if len(files) == 0 {
			return 0, false
		}
		return rng.IntN(len(files)), true
	}
	withFile := func(flag int, fn func(f *os.File) error) error {
		i, ok := pick()
		if !ok {
			return nil
		}
		f, err := os.OpenFile(files[i], flag, 0)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	}
	for op := range fsyncOpsEach {
		if op%100 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var err error
		var kind string
		switch r := rng.IntN(100); {
		case r < 20:
			kind = "create"
			p := name()
			err = os.WriteFile(p, buf[:1+rng.IntN(16<<10)], 0o644)
			files = append(files, p)
		case r < 35:
			kind = "write"
			err = withFile(os.O_WRONLY, func(f *os.File) error {
				_, err := f.WriteAt(buf[:1+rng.IntN(16<<10)], rng.Int64N(64<<10))
				return err
			})
		case r < 50:
			kind = "fsync"
			err = withFile(os.O_WRONLY, func(f *os.File) error { return f.Sync() })
		case r < 55:
			kind = "fdatasync"
			err = withFile(os.O_WRONLY, func(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) })
		case r < 63:
			kind = "mkdir"
			p := filepath.Join(dirs[rng.IntN(len(dirs))], fmt.Sprintf("d%d", op))
			if err = os.Mkdir(p, 0o755); err == nil {
				dirs = append(dirs, p)
			}
		case r < 73:
			kind = "rename"
			if i, ok := pick(); ok {
				p := name()
				if err = os.Rename(files[i], p); err == nil {
					files[i] = p
				}
			}
		case r < 83:
			kind = "unlink"
			if i, ok := pick(); ok {
				err = os.Remove(files[i])
				files[i] = files[len(files)-1]
				files = files[:len(files)-1]
			}
		case r < 88:
			kind = "truncate"
			if i, ok := pick(); ok {
				err = os.Truncate(files[i], rng.Int64N(32<<10))
			}
		case r < 95:
			kind = "stat"
			if i, ok := pick(); ok {
				_, err = os.Lstat(files[i])
			}
		default:
			kind = "dirsync"
			var d *os.File
			if d, err = os.Open(dirs[rng.IntN(len(dirs))]); err == nil {
				err = d.Sync()
				_ = d.Close()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("operation %d (%s): %w", op, kind, err)
		}
		count[kind]++
	}
	return count, nil
}

// sqliteScript is the SQL of the sqlite rows: sqliteRows rows of
// sqliteRowBytes each, inserted one statement at a time in sqliteTxns
// transactions, in the given journal mode.
func sqliteScript(mode string, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x5a1))
	var b bytes.Buffer
	fmt.Fprintf(&b, "PRAGMA journal_mode=%s;\nCREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n", mode)
	const hex = "0123456789abcdef"
	v := make([]byte, sqliteRowBytes)
	for t := range sqliteTxns {
		b.WriteString("BEGIN;\n")
		for range sqliteRows / sqliteTxns {
			for i := range v {
				v[i] = hex[rng.IntN(16)]
			}
			fmt.Fprintf(&b, "INSERT INTO t(v) VALUES('%s');\n", v)
		}
		b.WriteString("COMMIT;\n")
		if t == sqliteTxns/2 {
			// Half-way, rewrite rows already stored: the pages in the
			// middle of the file change again.
			b.WriteString("BEGIN;\nUPDATE t SET v = upper(v) WHERE id % 7 = 0;\nCOMMIT;\n")
		}
	}
	return b.Bytes()
}

// runSqlite creates a database in dir with the script for mode and
// returns how long sqlite3 took and the database's final size.
func runSqlite(ctx context.Context, dir, mode string, seed uint64) (time.Duration, int64, error) {
	if err := os.RemoveAll(dir); err != nil {
		return 0, 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	script := sqliteScript(mode, seed)
	db := filepath.Join(dir, "bench-"+strings.ToLower(mode)+".db")
	syscall.Sync()
	cmd := exec.CommandContext(ctx, "sqlite3", db)
	cmd.Stdin = bytes.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("sqlite3: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	el := time.Since(start)
	fi, err := os.Stat(db)
	if err != nil {
		return 0, 0, err
	}
	return el, fi.Size(), nil
}

// sqliteTimed is the row for one journal mode: the wall time of sqlite3.
func sqliteTimed(mode string) func(ctx context.Context, s *side) (float64, string, error) {
	return func(ctx context.Context, s *side) (float64, string, error) {
		if _, err := exec.LookPath("sqlite3"); err != nil {
			return 0, "", errors.New("sqlite3 is not installed (apt-get install sqlite3)")
		}
		dir := s.path(sqliteDirName)
		el, size, err := runSqlite(ctx, dir, mode, s.cfg.seed)
		if err != nil {
			return 0, "", err
		}
		if err := os.RemoveAll(dir); err != nil {
			return 0, "", err
		}
		return el.Seconds(), fmt.Sprintf("database %s", sizeString(size)), nil
	}
}

// sqliteStorageResult is what storing the two sqlite databases cost on a
// fresh local-store mount.
type sqliteStorageResult struct {
	databases   int
	stored      float64 // blobs and quilt patches written
	storedBytes float64 // bytes of file data uploaded
	finalBytes  int64   // the databases' final sizes
}

// sqliteStorage runs both journal modes on a fresh mount with the default
// upload delay, waits until everything is certified, and reads the
// mount's upload counters.
func sqliteStorage(ctx context.Context, s *side) (*sqliteStorageResult, error) {
	if s.sqlite != nil {
		return s.sqlite, nil
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return nil, errors.New("sqlite3 is not installed (apt-get install sqlite3)")
	}
	m, err := newWalrusMount(s.env, s.cfg, "sqlite", localBackend)
	if err != nil {
		return nil, err
	}
	if err := m.start(ctx); err != nil {
		return nil, err
	}
	res, err := func() (*sqliteStorageResult, error) {
		res := &sqliteStorageResult{}
		var dbs []string
		for _, mode := range []string{"DELETE", "WAL"} {
			dir := m.path(strings.ToLower(mode))
			_, size, err := runSqlite(ctx, dir, mode, s.cfg.seed)
			if err != nil {
				return nil, err
			}
			res.databases++
			res.finalBytes += size
			dbs = append(dbs, filepath.Join(dir, "bench-"+strings.ToLower(mode)+".db"))
		}
		if err := waitCertified(ctx, m.d, dbs, certifyTimeout(res.finalBytes, len(dbs))); err != nil {
			return nil, err
		}
		counters, err := scrapeCounters(ctx, filepath.Join(m.backing, "control.sock"),
			"walrusfs_uploaded_chunks_total", "walrusfs_uploaded_bytes_total")
		if err != nil {
			return nil, err
		}
		res.stored, res.storedBytes = counters[0], counters[1]
		return res, nil
	}()
	if rerr := m.remove(); rerr != nil && err == nil {
		err = rerr
	}
	s.own = &m.used
	if err != nil {
		return nil, err
	}
	s.sqlite = res
	return res, nil
}

func sqliteBlobsPerDatabase(ctx context.Context, s *side) (float64, string, error) {
	res, err := sqliteStorage(ctx, s)
	if err != nil {
		return 0, "", err
	}
	return res.stored / float64(res.databases), fmt.Sprintf("%.0f blobs and patches for %d databases (the default upload delay)", res.stored, res.databases), nil
}

func sqliteStoredRatio(ctx context.Context, s *side) (float64, string, error) {
	res, err := sqliteStorage(ctx, s)
	if err != nil {
		return 0, "", err
	}
	return res.storedBytes / float64(res.finalBytes), fmt.Sprintf("%s uploaded for %s of databases", sizeString(int64(res.storedBytes)), sizeString(res.finalBytes)), nil
}

// controlRequest sends one request to a mount's control socket and
// returns the response, whose body the caller closes.
func controlRequest(ctx context.Context, socket, method, path string) (*http.Response, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, method, "http://walrusfs"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return resp, nil
}

// pendingUploadBytes is what a mount's status says is waiting for upload.
func pendingUploadBytes(ctx context.Context, socket string) (uint64, error) {
	resp, err := controlRequest(ctx, socket, http.MethodGet, "/v1/status")
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var st struct {
		Pending struct {
			Bytes uint64 `json:"bytes"`
		} `json:"pending"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	return st.Pending.Bytes, nil
}

// scrapeCounters reads the named metrics from a mount's control socket.
func scrapeCounters(ctx context.Context, socket string, names ...string) ([]float64, error) {
	resp, err := controlRequest(ctx, socket, http.MethodGet, "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	out := make([]float64, len(names))
	for i, n := range names {
		f := families[n]
		if f == nil || len(f.GetMetric()) == 0 {
			return nil, fmt.Errorf("metrics: no %s", n)
		}
		for _, m := range f.GetMetric() {
			out[i] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out, nil
}

// statusRuns is how many times the status row runs `walrusfs status`.
const statusRuns = 25

// statusLatency runs `walrusfs status --json` against the shared mount
// (after the other rows have filled its index) and returns the median
// wall time of one run, process start included: what a person or a
// monitoring script waits for.
func statusLatency(ctx context.Context, s *side) (float64, string, error) {
	times := make([]float64, 0, statusRuns)
	for range statusRuns {
		cmd := exec.CommandContext(ctx, s.cfg.walrusfs, "status", "--json", s.mnt)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, "", fmt.Errorf("walrusfs status: %w: %s", err, strings.TrimSpace(stderr.String()))
		}
		times = append(times, float64(time.Since(start).Microseconds())/1000)
		if !bytes.Contains(out.Bytes(), []byte(`"pending"`)) {
			return 0, "", fmt.Errorf("walrusfs status printed no report: %s", out.String())
		}
	}
	slices.Sort(times)
	return times[len(times)/2], fmt.Sprintf("median of %d runs; slowest %.1f ms", statusRuns, times[len(times)-1]), nil
}

// writePatterned writes size bytes of the pattern (from offset base of
// it, so the content differs from the large file's) to a new file and
// closes it.
func writePatterned(ctx context.Context, path string, size int64, pat *pattern, base int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, ioSize)
	for off := int64(0); off < size; off += ioSize {
		if err := ctx.Err(); err != nil {
			_ = f.Close()
			return err
		}
		n := min(ioSize, size-off)
		pat.fill(buf[:n], base+off)
		if _, err := f.Write(buf[:n]); err != nil {
			_ = f.Close()
			return err
		}
	}
	return f.Close()
}
