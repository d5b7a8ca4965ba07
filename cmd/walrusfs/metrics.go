package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics. Every name starts with walrusfs_; the README lists them. The
// data-plane and chain figures are read at each scrape from the same
// report `walrusfs status` shows, so they cost nothing between scrapes.

type metricsCollector struct{ c *control }

type metricDesc struct {
	d    *prometheus.Desc
	kind prometheus.ValueType
}

func desc(name, help string, kind prometheus.ValueType, labels ...string) metricDesc {
	return metricDesc{prometheus.NewDesc("walrusfs_"+name, help, labels, nil), kind}
}

var (
	mPendingChunks = desc("upload_pending_chunks", "Chunks waiting for upload.", prometheus.GaugeValue)
	mPendingBytes  = desc("upload_pending_bytes", "Bytes waiting for upload.", prometheus.GaugeValue)
	mPendingFiles  = desc("upload_pending_files", "Files with chunks waiting for upload.", prometheus.GaugeValue)
	mUnsealed      = desc("unsealed_chunks", "Written chunks not yet sealed for upload (waiting for --upload-delay of quiet).", prometheus.GaugeValue)
	mStaged        = desc("staged_bytes", "Bytes in the staging area (not yet uploaded, and local copies).", prometheus.GaugeValue)
	mBudget        = desc("staging_budget_bytes", "The staging budget.", prometheus.GaugeValue)
	mCopies        = desc("local_copies", "Uploaded chunks that keep a local copy.", prometheus.GaugeValue)
	mCopyBytes     = desc("local_copy_bytes", "Bytes of local copies.", prometheus.GaugeValue)
	mBlobs         = desc("blobs", "Blobs the index records, by state.", prometheus.GaugeValue, "state")
	mUpBytes       = desc("uploaded_bytes_total", "Bytes of file data uploaded.", prometheus.CounterValue)
	mUpChunks      = desc("uploaded_chunks_total", "Chunks uploaded.", prometheus.CounterValue)
	mUploads       = desc("uploads_total", "Blobs and quilts uploaded.", prometheus.CounterValue, "kind")
	mUpFailures    = desc("upload_failures_total", "Failed uploads, by kind (unavailable, too_large, forbidden, integrity, invalid, not_found, local, other).", prometheus.CounterValue, "kind")
	mUpRate        = desc("upload_rate_bytes_per_second", "Upload throughput over the last minute.", prometheus.GaugeValue)
	mCacheHits     = desc("cache_hits_total", "Block reads served by the cache, by layer.", prometheus.CounterValue, "layer")
	mCacheMisses   = desc("cache_misses_total", "Block reads that fetched from the store.", prometheus.CounterValue)
	mCacheFetched  = desc("cache_fetched_bytes_total", "Stored bytes fetched from the store: the blocks asked for and those the same reads brought in.", prometheus.CounterValue)
	mCacheErrors   = desc("cache_fetch_errors_total", "Fetches from the store that failed.", prometheus.CounterValue)
	mCacheBytes    = desc("cache_bytes", "Bytes the block cache holds, by layer.", prometheus.GaugeValue, "layer")
	mEpoch         = desc("chain_epoch", "The current Walrus epoch.", prometheus.GaugeValue)
	mUnconfirmed   = desc("chain_pending_certification", "Uploaded blobs the chain has not certified yet.", prometheus.GaugeValue)
	mEndingSoon    = desc("chain_blobs_ending_soon", "Referenced blobs within --renew-before epochs of their end.", prometheus.GaugeValue)
	mExpired       = desc("chain_blobs_expired", "Referenced blobs whose lease has ended.", prometheus.GaugeValue)
	mRenewed       = desc("renewal_extended_total", "Leases extended.", prometheus.CounterValue)
	mDiscarded     = desc("renewal_discarded_total", "Garbage Blob objects deleted or burned.", prometheus.CounterValue)
	mRenewFailures = desc("renewal_failures_total", "Renewal and collection failures, by kind.", prometheus.CounterValue, "kind")
	mIndexFlushes  = desc("index_journal_flushes_total", "Disk flushes of the index journal (fsync, fdatasync and the background flush).", prometheus.CounterValue)
)

var allMetrics = []metricDesc{mPendingChunks, mPendingBytes, mPendingFiles, mUnsealed, mStaged, mBudget, mCopies, mCopyBytes, mBlobs,
	mUpBytes, mUpChunks, mUploads, mUpFailures, mUpRate, mCacheHits, mCacheMisses, mCacheFetched, mCacheErrors, mCacheBytes,
	mEpoch, mUnconfirmed, mEndingSoon, mExpired, mRenewed, mDiscarded, mRenewFailures, mIndexFlushes}

func (m metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allMetrics {
		ch <- d.d
	}
}

func (m metricsCollector) Collect(ch chan<- prometheus.Metric) {
	r, err := m.c.engine.Report()
	if err != nil {
		return
	}
	put := func(d metricDesc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.d, d.kind, v, labels...)
	}
	put(mPendingChunks, float64(r.Pending.Chunks))
	put(mPendingBytes, float64(r.Pending.Bytes))
	put(mPendingFiles, float64(r.Pending.Files))
	put(mUnsealed, float64(r.Unsealed))
	put(mStaged, float64(r.StagedBytes))
	put(mIndexFlushes, float64(r.IndexFlushes))
	put(mBudget, float64(r.StagingBudget))
	put(mCopies, float64(r.LocalCopies))
	put(mCopyBytes, float64(r.LocalCopyBytes))
	put(mBlobs, float64(r.BlobsStored), "stored")
	put(mBlobs, float64(r.BlobsCertified), "certified")
	put(mUpBytes, float64(r.Uploads.Bytes))
	put(mUpChunks, float64(r.Uploads.Chunks))
	put(mUploads, float64(r.Uploads.Blobs), "blob")
	put(mUploads, float64(r.Uploads.Quilts), "quilt")
	for kind, n := range r.Uploads.FailuresByKind {
		put(mUpFailures, float64(n), kind)
	}
	put(mUpRate, m.c.rate())
	put(mCacheHits, float64(r.Cache.MemoryHits), "memory")
	put(mCacheHits, float64(r.Cache.DiskHits), "disk")
	put(mCacheMisses, float64(r.Cache.Fetches))
	put(mCacheFetched, float64(r.Cache.FetchedBytes))
	put(mCacheErrors, float64(r.Cache.FetchErrors))
	put(mCacheBytes, float64(r.Cache.MemoryBytes), "memory")
	put(mCacheBytes, float64(r.Cache.DiskBytes), "disk")
	if w := m.c.workers; w != nil && w.follower != nil {
		f := w.follower.Status()
		put(mEpoch, float64(f.Clock.Epoch))
		put(mUnconfirmed, float64(f.Pending))
		put(mEndingSoon, float64(f.EndingSoon))
		put(mExpired, float64(f.Expired))
	}
	if w := m.c.workers; w != nil && w.renewer != nil {
		t := w.renewer.Totals()
		put(mRenewed, float64(t.Extended))
		put(mDiscarded, float64(t.Discarded))
		put(mRenewFailures, float64(t.Failed), "extend")
		put(mRenewFailures, float64(t.Expired), "expired")
		put(mRenewFailures, float64(t.DiscardFailed), "discard")
	}
}

// newRegistry is the daemon's metrics registry: its own figures, and the
// Go runtime's and the process's.
func newRegistry(c *control) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metricsCollector{c}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// fuseMetrics observes every FUSE request (fs.Observer).
type fuseMetrics struct {
	ops     map[string]opMetrics // fixed at construction: read without a lock
	opCount *prometheus.CounterVec
	opTime  *prometheus.HistogramVec
	read    prometheus.Counter
	written prometheus.Counter
}

type opMetrics struct {
	ok, failed prometheus.Counter
	time       prometheus.Observer
}

// fuseOps are the operations fs.Observer reports.
var fuseOps = []string{"lookup", "getattr", "setattr", "mknod", "mkdir", "unlink", "rmdir", "rename", "link", "symlink",
	"readlink", "access", "getxattr", "listxattr", "setxattr", "removexattr", "create", "open", "read", "write", "lseek",
	"release", "copy_file_range", "flush", "fsync", "fallocate", "opendir", "readdir", "readdirplus", "fsyncdir", "statfs"}

func newFuseMetrics(reg *prometheus.Registry) *fuseMetrics {
	m := &fuseMetrics{
		ops: map[string]opMetrics{},
		opCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walrusfs_fuse_operations_total", Help: "FUSE requests served, by operation and result (ok or error).",
		}, []string{"op", "result"}),
		opTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "walrusfs_fuse_operation_seconds", Help: "Time to serve FUSE requests, by operation.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 11), // 10 µs to 10 s
		}, []string{"op"}),
		read:    prometheus.NewCounter(prometheus.CounterOpts{Name: "walrusfs_read_bytes_total", Help: "File bytes read through the mount."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "walrusfs_written_bytes_total", Help: "File bytes written through the mount."}),
	}
	for _, op := range fuseOps {
		m.ops[op] = opMetrics{ok: m.opCount.WithLabelValues(op, "ok"), failed: m.opCount.WithLabelValues(op, "error"), time: m.opTime.WithLabelValues(op)}
	}
	reg.MustRegister(m.opCount, m.opTime, m.read, m.written)
	return m
}

func (m *fuseMetrics) Op(op string, d time.Duration, failed bool) {
	o, ok := m.ops[op]
	if !ok {
		o = opMetrics{ok: m.opCount.WithLabelValues(op, "ok"), failed: m.opCount.WithLabelValues(op, "error"), time: m.opTime.WithLabelValues(op)}
	}
	if failed {
		o.failed.Inc()
	} else {
		o.ok.Inc()
	}
	o.time.Observe(d.Seconds())
}

func (m *fuseMetrics) Read(n int)    { m.read.Add(float64(n)) }
func (m *fuseMetrics) Written(n int) { m.written.Add(float64(n)) }
