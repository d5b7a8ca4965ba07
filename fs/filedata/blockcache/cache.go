package blockcache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/costlru"
)

// Defaults for [Config].
const (
	DefaultMemoryBytes         = 64 << 20
	DefaultDiskBytes           = 10 << 30
	DefaultFetchTimeout        = 2 * time.Minute
	DefaultPrefetchConcurrency = 4
)

// ErrClosed is returned by calls made after [Cache.Close].
var ErrClosed = errors.New("blockcache: cache closed")

// Source describes one block: how to fetch it from the backend and how to
// check and decode its stored bytes. A Cache calls its methods from its own
// goroutines, and runs at most one load at a time per key, counting the
// keeping of a [Block] another key's fetch brought in as a load.
type Source interface {
	// Fetch returns the block's stored bytes, already verified against the
	// hash the caller holds (the backend client fails over on a mismatch),
	// and any further blocks the same read brought in, verified too. The
	// cache keeps those as if each had been fetched on its own: stored
	// bytes in the disk layer, decoded into the memory layer (see
	// "Blocks a fetch brings in" in the package doc). On error the extra
	// blocks are ignored.
	//
	// The cache owns every returned slice from then on, and may keep a
	// slice (or a decoding that aliases it) for as long as the block stays
	// cached: return blocks that do not share a larger buffer, or the
	// buffer stays alive with them.
	//
	// ctx is the cache's own fetch context, not a reader's: it ends when
	// the fetch times out or the cache closes.
	Fetch(ctx context.Context) (stored []byte, more []Block, err error)
	// Verify checks stored bytes read back from the disk layer. It returns
	// an error wrapping blobstore.ErrIntegrity on a mismatch.
	Verify(stored []byte) error
	// Decode turns verified stored bytes into the plaintext the memory
	// layer keeps and Get returns (an AEAD open, for example). It may
	// return stored itself.
	Decode(stored []byte) ([]byte, error)
}

// Block is a block a fetch brought in besides the one asked for: its cache
// key, its stored bytes (verified by the fetch) and its Source (to decode it).
// Source must not be nil.
type Block struct {
	Key    string
	Stored []byte
	Source Source
}

// Spanner is an optional capability of a [Source]: the keys of the further
// blocks its Fetch brings in besides the one asked for. While that fetch
// runs, a Get of one of those keys waits for it instead of fetching the
// block again; a key the fetch does not return after all is fetched by the
// Gets that wanted it.
type Spanner interface {
	Span() []string
}

// Config configures a Cache. Build one with [DefaultConfig] and override
// fields.
type Config struct {
	// MemoryBytes is the memory layer's budget for decoded blocks;
	// DefaultConfig sets DefaultMemoryBytes (64 MiB). Zero disables the
	// memory layer.
	MemoryBytes int64
	// DiskDir is the disk layer's directory, created if missing. Empty
	// disables the disk layer. One process at a time may use a directory.
	DiskDir string
	// DiskBytes is the disk layer's budget: least recently used files are
	// evicted to keep the total size of cached files at or under it.
	DiskBytes int64
	// FetchTimeout bounds each fetch from the backend; zero means
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// PrefetchConcurrency is how many prefetches may run at once; more are
	// dropped. Zero means DefaultPrefetchConcurrency.
	PrefetchConcurrency int
	// Logger receives warnings about damaged or unwritable cache files; nil
	// discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the default configuration, without a disk
// directory; callers set DiskDir to enable the disk layer.
func DefaultConfig() Config {
	return Config{
		MemoryBytes:         DefaultMemoryBytes,
		DiskBytes:           DefaultDiskBytes,
		FetchTimeout:        DefaultFetchTimeout,
		PrefetchConcurrency: DefaultPrefetchConcurrency,
	}
}

// Stats are counters since Open and the current sizes of the layers.
type Stats struct {
	MemoryHits int64 // Gets served from the memory layer
	DiskHits   int64 // blocks read from the disk layer and verified
	Fetches    int64 // fetches started from the backend
	// FetchedBytes counts the stored bytes fetches returned: the blocks
	// asked for and those the same reads brought in besides (see
	// Spanner), kept or not. It is what the backend sent, less any part
	// a fetch read and dropped (a quilt patch's bytes outside the chunk).
	FetchedBytes int64
	// FetchErrors counts loads whose fetch, or decode of the fetched
	// block, failed. An extra block a fetch brought in that fails to
	// decode is logged and dropped, not counted.
	FetchErrors int64
	// Joined counts Gets that waited for a load another call had started,
	// instead of starting their own.
	Joined int64
	// IntegrityFailures counts disk files that failed verification.
	IntegrityFailures int64
	// PrefetchesDropped counts prefetches not started because
	// PrefetchConcurrency were already running.
	PrefetchesDropped int64
	// MemoryBytes is the cost the memory layer currently holds: the sum of
	// the lengths of its decoded blocks, at most Config.MemoryBytes.
	MemoryBytes int64
	// DiskBytes is the size of the cached files plus space reserved by
	// writes in progress, at most Config.DiskBytes.
	DiskBytes     int64
	DiskFiles     int64
	DiskEvictions int64 // files evicted to stay within the disk budget
}

// Cache is the verified block cache. It is safe for concurrent use.
type Cache struct {
	cfg  Config
	log  *slog.Logger
	disk *diskLayer // nil when disabled

	// memMu guards mem against Close: ristretto must not be used once it
	// is closed.
	memMu sync.RWMutex
	mem   *ristretto.Cache[string, []byte] // nil when disabled or closed
	// recent holds the blocks last loaded, least recently used first out,
	// and offers each to mem as it leaves (see "Layers" in the package
	// doc); nil when the memory layer is disabled.
	recent *costlru.Cache[string, []byte]

	ctx    context.Context // fetch context, cancelled by Close
	cancel context.CancelFunc
	loads  sync.WaitGroup
	// prefetchSlots holds one token per running prefetch.
	prefetchSlots chan struct{}

	mu      sync.Mutex
	closed  bool
	flights map[string]*flight

	memoryHits, diskHits, fetches, fetchErrors atomic.Int64
	fetchedBytes                               atomic.Int64
	joined, integrityFailures, dropped         atomic.Int64
}

// flight is one load of a block shared by every caller that wants it.
// data and err are written before done is closed.
type flight struct {
	done chan struct{}
	data []byte
	err  error
}

// errNotKept ends the flight of an extra block that could not be kept. Get
// never returns it: its callers start a load of their own instead.
var errNotKept = errors.New("blockcache: extra block not kept")

// extra is an extra block claimed for keeping, with the flight that stands
// for it in the flights map until it is kept.
type extra struct {
	Block
	f *flight
}

// Open returns a Cache configured by cfg, rebuilding the disk layer's LRU
// from the files already in cfg.DiskDir and evicting down to cfg.DiskBytes.
func Open(cfg Config) (*Cache, error) {
	if cfg.MemoryBytes < 0 {
		return nil, fmt.Errorf("blockcache: config: negative memory budget %d: %w", cfg.MemoryBytes, blobstore.ErrInvalidArgument)
	}
	if cfg.DiskDir != "" && cfg.DiskBytes <= 0 {
		return nil, fmt.Errorf("blockcache: config: disk directory %s with disk budget %d: %w", cfg.DiskDir, cfg.DiskBytes, blobstore.ErrInvalidArgument)
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.PrefetchConcurrency <= 0 {
		cfg.PrefetchConcurrency = DefaultPrefetchConcurrency
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		cfg:           cfg,
		log:           log,
		prefetchSlots: make(chan struct{}, cfg.PrefetchConcurrency),
		flights:       make(map[string]*flight),
	}
	if cfg.MemoryBytes > 0 {
		recentBytes := cfg.MemoryBytes / 2
		c.recent = costlru.NewEvicting(int(recentBytes), int(recentBytes), c.offerFrequent)
		mem, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
			NumCounters:        max(cfg.MemoryBytes/(64<<10)*10, 100),
			MaxCost:            max(cfg.MemoryBytes-recentBytes, 1),
			BufferItems:        64,
			IgnoreInternalCost: true,
			Metrics:            true,
		})
		if err != nil {
			return nil, fmt.Errorf("blockcache: memory layer: %w", err)
		}
		c.mem = mem
	}
	if cfg.DiskDir != "" {
		disk, err := openDisk(cfg.DiskDir, cfg.DiskBytes, log)
		if err != nil {
			if c.mem != nil {
				c.mem.Close()
			}
			return nil, err
		}
		c.disk = disk
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Close cancels fetches in flight, waits for every load to finish, and
// releases the memory layer and the disk directory. Callers waiting in Get
// receive the cancelled fetch's error. Close is idempotent.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()

	c.cancel()
	c.loads.Wait()

	c.memMu.Lock()
	if c.mem != nil {
		c.mem.Close()
		c.mem = nil
	}
	c.memMu.Unlock()
	if c.disk != nil {
		if err := c.disk.close(); err != nil {
			return fmt.Errorf("blockcache: close: %w", err)
		}
	}
	return nil
}

// Get returns the decoded block for key, loading it if needed: from the
// memory layer; else from the disk layer, verified with src.Verify and
// decoded; else fetched with src.Fetch, stored on disk and in memory. A
// disk file that fails verification is deleted and the block refetched, so
// Get never returns bytes that failed a check.
//
// Concurrent calls for one key share one load. The load runs on the
// cache's own context, not ctx: if ctx ends first, Get returns ctx.Err()
// at once and the load carries on to fill the caches. A failed load is
// returned to every caller waiting for it and not cached. A Get of a block
// that another key's fetch brought in and the cache is still keeping waits
// for it rather than fetching it again (and loads it itself if it cannot be
// kept).
//
// The returned slice is shared with the cache and other callers: do not
// modify it.
func (c *Cache) Get(ctx context.Context, key string, src Source) ([]byte, error) {
	for {
		if data, ok := c.memGet(key); ok {
			c.memoryHits.Add(1)
			return data, nil
		}
		f, _, err := c.join(key, src, false)
		if err != nil {
			return nil, err
		}
		select {
		case <-f.done:
			if errors.Is(f.err, errNotKept) {
				// The flight has left the map: the next join starts a load.
				continue
			}
			return f.data, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Prefetch starts loading key in the background, unless it is already in
// the memory layer (or on disk when there is no memory layer) or already
// loading. At most PrefetchConcurrency prefetches run at once; Prefetch
// drops the request when all are busy. It never blocks.
func (c *Cache) Prefetch(key string, src Source) {
	if c.memHas(key) {
		return
	}
	if c.cfg.MemoryBytes == 0 && c.disk != nil && c.disk.contains(key) {
		return
	}
	// An error means the cache is closed or the slots are full: both drop.
	_, _, _ = c.join(key, src, true)
}

// Stats returns the cache's counters and current sizes.
func (c *Cache) Stats() Stats {
	s := Stats{
		MemoryHits:        c.memoryHits.Load(),
		DiskHits:          c.diskHits.Load(),
		Fetches:           c.fetches.Load(),
		FetchedBytes:      c.fetchedBytes.Load(),
		FetchErrors:       c.fetchErrors.Load(),
		Joined:            c.joined.Load(),
		IntegrityFailures: c.integrityFailures.Load(),
		PrefetchesDropped: c.dropped.Load(),
	}
	c.memMu.RLock()
	if c.mem != nil {
		m := c.mem.Metrics
		s.MemoryBytes = int64(m.CostAdded()-m.CostEvicted()) + int64(c.recent.Cost())
	}
	c.memMu.RUnlock()
	if c.disk != nil {
		s.DiskBytes, s.DiskFiles, s.DiskEvictions = c.disk.stats()
	}
	return s
}

var errPrefetchBusy = errors.New("blockcache: prefetch slots busy")

// join returns the flight loading key, starting one if there is none. A
// prefetch starts a flight only if a prefetch slot is free, and reports
// whether it started one.
func (c *Cache) join(key string, src Source, prefetch bool) (*flight, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false, ErrClosed
	}
	if f, ok := c.flights[key]; ok {
		if !prefetch {
			c.joined.Add(1)
		}
		return f, false, nil
	}
	if prefetch {
		select {
		case c.prefetchSlots <- struct{}{}:
		default:
			c.dropped.Add(1)
			return nil, false, errPrefetchBusy
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	var spanned map[string]*flight
	if sp, ok := src.(Spanner); ok {
		for _, k := range sp.Span() {
			if _, busy := c.flights[k]; busy || c.memHas(k) {
				continue
			}
			if spanned == nil {
				spanned = map[string]*flight{}
			}
			pf := &flight{done: make(chan struct{})}
			c.flights[k] = pf
			spanned[k] = pf
		}
	}
	c.loads.Add(1)
	go c.run(f, key, src, prefetch, spanned)
	return f, true, nil
}

// run performs f's load, publishes the result and retires the flight, then
// keeps the extra blocks the fetch brought in. In order:
//
//  1. load fills the memory layer (and the disk layer) with the asked-for
//     block.
//  2. Under c.mu, each extra block that is not yet kept, and whose key has
//     no flight (the asked-for key still has f), gets a flight of its own
//     in the map, and f leaves the map. Because f leaves the map only after
//     step 1, a Get that finds no flight finds the block in memory (unless
//     it was evicted already).
//  3. f.done is closed: f's waiters have their block now, not after the
//     extras are kept.
//  4. Each claimed extra is decoded, written to disk and memory, and its
//     flight retired the same way, one after another. A Get of an extra's
//     key in the meantime joins its flight instead of fetching it again,
//     and no other load of that key runs until the block is kept, so the
//     one-load-per-key rule holds for extras too.
//
// All of it runs inside c.loads, so Close waits for the extras as well;
// the prefetch slot, if any, is held until they are kept, so prefetching
// stays bounded by PrefetchConcurrency.
func (c *Cache) run(f *flight, key string, src Source, prefetch bool, spanned map[string]*flight) {
	defer c.loads.Done()
	if prefetch {
		defer func() { <-c.prefetchSlots }()
	}
	data, more, err := c.load(key, src)
	f.data, f.err = data, err
	c.mu.Lock()
	extras := c.claimLocked(more, spanned)
	delete(c.flights, key)
	c.mu.Unlock()
	close(f.done)
	for _, x := range extras {
		c.keep(x)
	}
}

// load returns key's decoded block from memory, disk or the backend, and
// the extra blocks a fetch brought in (nil unless it fetched and
// succeeded).
func (c *Cache) load(key string, src Source) ([]byte, []Block, error) {
	if data, ok := c.memGet(key); ok {
		c.memoryHits.Add(1)
		return data, nil, nil
	}
	if data, ok := c.loadDisk(key, src); ok {
		c.diskHits.Add(1)
		c.memSet(key, data)
		return data, nil, nil
	}

	c.fetches.Add(1)
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.FetchTimeout)
	defer cancel()
	stored, more, err := src.Fetch(ctx)
	if err != nil {
		c.fetchErrors.Add(1)
		return nil, nil, fmt.Errorf("blockcache: fetch %q: %w", key, err)
	}
	fetched := len(stored)
	for _, b := range more {
		fetched += len(b.Stored)
	}
	c.fetchedBytes.Add(int64(fetched))
	data, err := src.Decode(stored)
	if err != nil {
		c.fetchErrors.Add(1)
		return nil, nil, fmt.Errorf("blockcache: decode fetched %q: %w", key, err)
	}
	if c.disk != nil {
		if err := c.disk.put(key, stored); err != nil {
			c.log.Warn("blockcache: cannot keep fetched block on disk", "key", key, "err", err)
		}
	}
	c.memSet(key, data)
	return data, more, nil
}

// claimLocked gives each block in more that needs keeping a flight in the
// map and returns them. A block is skipped when its key already has a
// flight (that load fills the caches), or when it is already in every
// enabled layer: a block already in memory is never overwritten. c.mu must
// be held.
//
// spanned are the flights that stood for the blocks the fetch announced
// (see Spanner): a returned block takes its flight over; one not returned
// has its flight ended with errNotKept, so its waiters load it themselves.
func (c *Cache) claimLocked(more []Block, spanned map[string]*flight) []extra {
	var out []extra
	defer func() {
		for k, pf := range spanned {
			if c.flights[k] == pf {
				delete(c.flights, k)
			}
			pf.err = errNotKept
			close(pf.done)
		}
	}()
	for _, b := range more {
		if pf, ok := spanned[b.Key]; ok {
			delete(spanned, b.Key)
			out = append(out, extra{Block: b, f: pf})
			continue
		}
		if _, ok := c.flights[b.Key]; ok {
			continue
		}
		inMem := c.cfg.MemoryBytes == 0 || c.memHas(b.Key)
		onDisk := c.disk == nil || c.disk.contains(b.Key)
		if inMem && onDisk {
			continue
		}
		f := &flight{done: make(chan struct{})}
		c.flights[b.Key] = f
		out = append(out, extra{Block: b, f: f})
	}
	return out
}

// keep decodes x with its own Source, writes its stored bytes to the disk
// layer (unless a file is there already) and its decoding to the memory
// layer, then retires its flight. The bytes were verified by the fetch, so a
// decode failure is a real fault: it is logged and the block dropped, and
// Gets waiting on the flight load the block themselves.
func (c *Cache) keep(x extra) {
	data, err := x.Source.Decode(x.Stored)
	if err != nil {
		c.log.Warn("blockcache: cannot decode a block the fetch brought in; dropping it", "key", x.Key, "err", err)
		x.f.err = errNotKept
	} else {
		if c.disk != nil && !c.disk.contains(x.Key) {
			if err := c.disk.put(x.Key, x.Stored); err != nil {
				c.log.Warn("blockcache: cannot keep fetched block on disk", "key", x.Key, "err", err)
			}
		}
		c.memSet(x.Key, data)
		x.f.data = data
	}
	c.mu.Lock()
	delete(c.flights, x.Key)
	c.mu.Unlock()
	close(x.f.done)
}

// loadDisk reads, verifies and decodes key's disk file. A file that fails
// is deleted and reported as a miss.
func (c *Cache) loadDisk(key string, src Source) ([]byte, bool) {
	if c.disk == nil {
		return nil, false
	}
	stored, e, err := c.disk.read(key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("blockcache: cannot read cached block", "key", key, "err", err)
		}
		return nil, false
	}
	if err := src.Verify(stored); err != nil {
		c.integrityFailures.Add(1)
		c.log.Warn("blockcache: cached block failed verification; refetching", "key", key, "path", c.disk.path(e.name), "err", err)
		c.disk.remove(e)
		return nil, false
	}
	data, err := src.Decode(stored)
	if err != nil {
		c.log.Warn("blockcache: cannot decode cached block; refetching", "key", key, "path", c.disk.path(e.name), "err", err)
		c.disk.remove(e)
		return nil, false
	}
	return data, true
}

func (c *Cache) memGet(key string) ([]byte, bool) {
	c.memMu.RLock()
	defer c.memMu.RUnlock()
	if c.mem == nil {
		return nil, false
	}
	if data, ok := c.mem.Get(key); ok {
		return data, true
	}
	return c.recent.Get(key)
}

func (c *Cache) memHas(key string) bool {
	_, ok := c.memGet(key)
	return ok
}

// memSet keeps data among the recent blocks, where the next Get finds
// it. The block that leaves them to make room is offered to ristretto.
func (c *Cache) memSet(key string, data []byte) {
	c.memMu.RLock()
	defer c.memMu.RUnlock()
	if c.mem == nil {
		return
	}
	c.recent.Add(key, data, max(len(data), 1))
}

// offerFrequent offers a block leaving the recent blocks to ristretto,
// which keeps it if it is read more often than what it would evict, and
// waits until ristretto has applied or declined it, so the memory layer's
// size is exact when the call returns. Called from memSet, under memMu.
func (c *Cache) offerFrequent(key string, data []byte) {
	if c.mem.Set(key, data, max(int64(len(data)), 1)) {
		c.mem.Wait()
	}
}
