package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/index"
)

// A running mount answers on a control socket in its state directory,
// STATE_DIR/control.sock (mode 0600: the owner only), with HTTP:
//
//	GET /v1/status  the mount's state (statusReport, documented in the README)
//	GET /metrics    Prometheus metrics
//	… /v1/snapshot… snapshots (snapshot.go)
//	POST /v1/fsck, POST /v1/gc  (fsckctl.go)
//
// `walrusfs status` and `walrusfs info` are its clients.

const controlSocketName = "control.sock"

// statusReport is the documented `walrusfs status --json` schema.
type statusReport struct {
	Mountpoint  string         `json:"mountpoint"`
	StateDir    string         `json:"state_dir"`
	Backend     string         `json:"backend"`
	Pending     pendingStatus  `json:"pending"`
	StagedBytes int64          `json:"staged_bytes"`
	Budget      int64          `json:"staging_budget_bytes"`
	Upload      uploadStatus   `json:"upload"`
	Blobs       blobCounts     `json:"blobs"`
	LocalCopies copyStatus     `json:"local_copies"`
	Cache       cacheStatus    `json:"cache"`
	LastError   *errorStatus   `json:"last_error"`
	Chain       *chainProgress `json:"chain,omitempty"`
}

type pendingStatus struct {
	Chunks int    `json:"chunks"`
	Bytes  uint64 `json:"bytes"`
	Files  int    `json:"files"`
	// Unsealed are written chunks that wait for --upload-delay of quiet
	// before they join the queue.
	Unsealed int `json:"unsealed_chunks"`
}

type uploadStatus struct {
	BytesTotal uint64  `json:"bytes_total"`
	Rate       float64 `json:"rate_bytes_per_second"`
	// ETA is how long the pending bytes take at the current rate; absent
	// when nothing is pending or nothing moves.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
}

type blobCounts struct {
	Stored    int `json:"stored"`
	Certified int `json:"certified"`
}

type copyStatus struct {
	Chunks int   `json:"chunks"`
	Bytes  int64 `json:"bytes"`
}

type cacheStatus struct {
	MemoryBytes int64 `json:"memory_bytes"`
	DiskBytes   int64 `json:"disk_bytes"`
	MemoryHits  int64 `json:"memory_hits"`
	DiskHits    int64 `json:"disk_hits"`
	Fetches     int64 `json:"fetches"`
	// HitRate is the share of block reads served without a fetch.
	HitRate float64 `json:"hit_rate"`
}

type errorStatus struct {
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
	Retrying bool      `json:"retrying"`
}

type chainProgress struct {
	Network   string     `json:"network"`
	Epoch     uint32     `json:"epoch"`
	EpochEnds time.Time  `json:"epoch_ends"`
	Pending   int        `json:"pending_certification"`
	EndSoon   int        `json:"ending_soon"`
	Expired   int        `json:"expired"`
	LastPass  *time.Time `json:"last_renewal_pass,omitempty"`
	Extended  int        `json:"last_pass_extended"`
	Failed    int        `json:"last_pass_failed"`
	Error     string     `json:"last_error,omitempty"`
}

// control is what the socket reports on.
type control struct {
	mnt, stateDir, backend string
	engine                 *filedata.Engine
	// workers are the renewer and, with chain sync, the follower (nil
	// when neither runs).
	workers *chainWorkers
	network string
	idx     *index.Index
	// epochStart dates epochs when the mount knows its store's clock.
	epochStart func(uint32) (time.Time, bool)

	mu      sync.Mutex
	samples []rateSample // upload totals, one a second, the last minute

	flushing atomic.Bool // a flush runs (one at a time)

	snapshots *snapshotter // nil on a read-only mount
	// parts are what fsck and gc need beyond the index and the engine;
	// maintenance lets one of them run at a time.
	parts       volumeParts
	maintenance sync.Mutex
}

func (c *control) stagingDir() string { return filepath.Join(c.stateDir, "staging") }

type rateSample struct {
	at    time.Time
	bytes uint64
}

// sample records the upload total once a second for the rate.
func (c *control) sample(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.mu.Lock()
		c.samples = append(c.samples, rateSample{time.Now(), c.engine.UploadCounters().Bytes})
		if len(c.samples) > 61 {
			c.samples = c.samples[1:]
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *control) rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) < 2 {
		return 0
	}
	first, last := c.samples[0], c.samples[len(c.samples)-1]
	if d := last.at.Sub(first.at).Seconds(); d > 0 {
		return float64(last.bytes-first.bytes) / d
	}
	return 0
}

func (c *control) report() (statusReport, error) {
	r, err := c.engine.Report()
	if err != nil {
		return statusReport{}, err
	}
	s := statusReport{
		Mountpoint: c.mnt, StateDir: c.stateDir, Backend: c.backend,
		Pending:     pendingStatus{Chunks: r.Pending.Chunks, Bytes: r.Pending.Bytes, Files: r.Pending.Files, Unsealed: r.Unsealed},
		StagedBytes: r.StagedBytes, Budget: r.StagingBudget,
		Upload:      uploadStatus{BytesTotal: r.Uploads.Bytes, Rate: c.rate()},
		Blobs:       blobCounts{Stored: r.BlobsStored, Certified: r.BlobsCertified},
		LocalCopies: copyStatus{Chunks: r.LocalCopies, Bytes: r.LocalCopyBytes},
		Cache: cacheStatus{MemoryBytes: r.Cache.MemoryBytes, DiskBytes: r.Cache.DiskBytes,
			MemoryHits: r.Cache.MemoryHits, DiskHits: r.Cache.DiskHits, Fetches: r.Cache.Fetches},
	}
	if reads := r.Cache.MemoryHits + r.Cache.DiskHits + r.Cache.Fetches; reads > 0 {
		s.Cache.HitRate = float64(r.Cache.MemoryHits+r.Cache.DiskHits) / float64(reads)
	}
	if s.Pending.Bytes > 0 && s.Upload.Rate > 0 {
		eta := float64(s.Pending.Bytes) / s.Upload.Rate
		s.Upload.ETASeconds = &eta
	}
	if r.Uploads.LastError != nil {
		s.LastError = &errorStatus{Message: r.Uploads.LastError.Error(), At: r.Uploads.LastErrorAt.UTC(), Retrying: r.Uploads.Retrying}
	}
	if w := c.workers; w != nil && w.follower != nil {
		f := w.follower.Status()
		cp := &chainProgress{
			Network: c.network, Epoch: f.Clock.Epoch, EpochEnds: f.Clock.EpochTime(f.Clock.Epoch + 1).UTC(),
			Pending: f.Pending, EndSoon: f.EndingSoon, Expired: f.Expired,
		}
		if f.LastErr != nil {
			cp.Error = f.LastErr.Error()
		}
		if w.renewer != nil {
			if p, at, err := w.renewer.Last(); !at.IsZero() {
				t := at.UTC()
				cp.LastPass, cp.Extended, cp.Failed = &t, p.Extended, p.Failed
				if err != nil {
					cp.Error = err.Error()
				}
			}
		}
		s.Chain = cp
	}
	return s, nil
}

// chainWorkers are chain sync's background workers.
type chainWorkers struct {
	renewer  *chainsync.Renewer // nil without a key
	follower *chainsync.Follower
}

// startControl serves the control socket until stop is called.
func startControl(c *control, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	path := filepath.Join(c.stateDir, controlSocketName)
	// The state directory's lock is held: a socket left here is a dead
	// daemon's.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.report()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
	// POST /v1/flush: seal every written chunk and send partial quilts now,
	// until everything is uploaded (or a day passes); status --wait asks
	// for it.
	mux.HandleFunc("POST /v1/flush", func(w http.ResponseWriter, r *http.Request) {
		if c.flushing.CompareAndSwap(false, true) {
			go func() {
				defer c.flushing.Store(false)
				fctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
				defer cancel()
				_ = c.engine.WaitUploaded(fctx)
			}()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		fi, code, err := c.info(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(fi)
	})
	registerSnapshotHandlers(mux, c)
	registerFsck(mux, c)
	registerGC(mux, c)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	go c.sample(ctx)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("control socket stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		_ = srv.Shutdown(sctx)
		_ = os.Remove(path)
	}, nil
}

// serveMetrics serves /metrics on a loopback TCP address (--metrics-addr).
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %q: want HOST:PORT: %w", addr, errUsage)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--metrics-addr %q: metrics are served on a loopback address only (127.0.0.1:PORT); put a proxy in front for others: %w", addr, errUsage)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics endpoint stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
