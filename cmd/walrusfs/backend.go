package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/fs/filedata/upload"
)

// dataFlags are the mount flags that choose and tune the data plane: which
// blob store, encryption, the read cache, uploads and durability.
type dataFlags struct {
	// keepKeyFile is set by commands that open a volume without mounting
	// it (fsck, gc): they never make a key file.
	keepKeyFile bool
	store       string
	shards      int
	publisher   string
	aggregators string
	netShards   int
	jwtFile     string
	sendTo      string
	epochs      uint
	encrypt     string
	newKey      bool
	blockSize   sizeFlag
	cacheMemory sizeFlag
	cacheDisk   sizeFlag
	fsync       string
	concurrency int
	quiltMin    sizeFlag
	quiltSize   sizeFlag
	quiltAge    time.Duration
	fgFirst     time.Duration
	sealDelay   time.Duration
	budget      sizeFlag
	localCopies sizeFlag
	stagingWait time.Duration
	drain       time.Duration
}

// register adds the data flags to fl, with the packages' defaults.
func (d *dataFlags) register(fl *pflag.FlagSet) {
	data := filedata.DefaultConfig()
	up := data.Upload
	cache := blockcache.DefaultConfig()
	fl.StringVar(&d.store, "store", "", "local blob store directories, comma-separated (default STATE_DIR/store); ignored with --publisher")
	fl.IntVar(&d.shards, "shards", localstore.DefaultShards, "RS2 shard count of new standalone blobs in the local store (quilts use Walrus's 1000, so they hold 666 chunks)")
	fl.StringVar(&d.publisher, "publisher", "", "Walrus publisher URL: store blobs on the Walrus network instead of the local store")
	fl.StringVar(&d.aggregators, "aggregator", "", "Walrus aggregator URLs, comma-separated, tried in order (required with --publisher)")
	fl.IntVar(&d.netShards, "network-shards", blobstore.NetworkShards, "shard count of the Walrus network behind --publisher (1000 on Mainnet and Testnet): quilts are sized for it")
	fl.StringVar(&d.jwtFile, "jwt-file", "", "file holding a JWT for publishers that require one")
	fl.StringVar(&d.sendTo, "send-object-to", "", "Sui address that receives the Blob objects (the owner who can extend and delete them)")
	fl.UintVar(&d.epochs, "epochs", 0, "epochs to store each blob for (0: 53, the most Walrus allows, with --publisher; 12 with the local store, which renews leases of referenced blobs)")
	fl.StringVar(&d.encrypt, "encrypt", "auto", "encrypt file contents: on, off, or auto (on with --publisher, off with the local store)")
	fl.BoolVar(&d.newKey, "new-key", false, "use a new (or the present) key file though the volume's data is encrypted with another key, which then stays unreadable without it")
	d.blockSize = sizeFlag{v: blockcrypt.DefaultBlockSize}
	fl.Var(&d.blockSize, "block-size", "verification and encryption block size inside a chunk (the unit one seek fetches)")
	d.cacheMemory = sizeFlag{v: uint64(cache.MemoryBytes)}
	fl.Var(&d.cacheMemory, "cache-memory", "memory budget of the block read cache")
	d.cacheDisk = sizeFlag{v: uint64(cache.DiskBytes)}
	fl.Var(&d.cacheDisk, "cache-disk", "disk budget of the block read cache (in STATE_DIR/cache); 0 disables it")
	fl.StringVar(&d.fsync, "fsync", "local", "what fsync waits for: local (durable on local disk) or certified (certified on Walrus)")
	fl.IntVar(&d.concurrency, "upload-concurrency", up.Concurrency, "blobs or quilts uploaded at once")
	d.quiltMin = sizeFlag{v: uint64(up.QuiltThreshold)}
	fl.Var(&d.quiltMin, "quilt-threshold", "chunks smaller than this are packed into quilts")
	d.quiltSize = sizeFlag{v: uint64(up.QuiltMaxBytes)}
	fl.Var(&d.quiltSize, "quilt-size", "largest quilt blob, as QuiltV1 lays it out (every chunk takes whole columns, so mixed sizes take more than their data); a quilt also holds at most 666 chunks")
	fl.DurationVar(&d.quiltAge, "quilt-age", 0, fmt.Sprintf("longest a partly filled quilt waits for more chunks (default %v with the local store, %v with --publisher: every quilt on Walrus carries ~64 MB of metadata)", up.QuiltMaxAge, upload.NetworkQuiltMaxAge))
	fl.DurationVar(&d.fgFirst, "foreground-first", up.ForegroundFirst, "while changes stream in (tar x, rsync), uploads wait for a 0.5 s pause for at most this long; 0 uploads at once")
	fl.DurationVar(&d.sealDelay, "upload-delay", 0, fmt.Sprintf("a chunk not written for this long is sealed and queued for upload, whether its file is open or closed (default %v with the local store, %v with --publisher: every blob on Walrus is paid for, so a file rewritten within a minute is stored once)", data.SealDelay, networkUploadDelay))
	fl.DurationVar(&d.sealDelay, "seal-delay", 0, "the old name of --upload-delay")
	_ = fl.MarkHidden("seal-delay") // still accepted, and in config files
	fl.Var(&d.budget, "staging-budget", "staged bytes before writers wait for uploads (default: half of the free space on the state directory's filesystem, counting what staging holds)")
	fl.Var(&d.localCopies, "local-copies", "keep uploaded data as local copies while staging holds at most this much; 0 drops them once certified (default: half the staging budget)")
	fl.DurationVar(&d.stagingWait, "staging-wait", data.StagingWait, "how long a writer waits for staging room before failing with ENOSPC")
	fl.DurationVar(&d.drain, "drain-timeout", time.Minute, "at unmount, how long to wait for pending uploads (the rest resumes at the next mount)")
}

func (d *dataFlags) network() bool { return d.publisher != "" }

// check refuses settings that cannot work together, before anything is
// opened, in one line that names the flag the user gave (given: the flags
// set on the command line or in the config file) rather than one left at
// its default.
func (d *dataFlags) check(chunkSize uint64, given map[string]bool) error {
	if err := filedata.ValidateChunkSize(uint32(min(chunkSize, 1<<32-1))); err != nil || chunkSize >= 1<<32 {
		return fmt.Errorf("--chunk-size %s: the chunk size must be a multiple of 4KiB between %s and %s: %w",
			humanSize(chunkSize), humanSize(filedata.MinChunkSize), humanSize(filedata.MaxChunkSize), errUsage)
	}
	if d.epochs > blobstore.MaxEpochsAhead {
		return fmt.Errorf("--epochs %d: Walrus stores a blob at most %d epochs ahead: %w", d.epochs, blobstore.MaxEpochsAhead, errUsage)
	}
	bs := d.blockSize.v
	switch {
	case bs < 4096:
		return fmt.Errorf("--block-size %s: must be at least 4KiB: %w", humanSize(bs), errUsage)
	case bs > chunkSize && given["chunk-size"] && !given["block-size"]:
		return fmt.Errorf("--chunk-size %s is smaller than the block size (%s, the default --block-size): raise --chunk-size, or lower --block-size to at most %s: %w",
			humanSize(chunkSize), humanSize(bs), humanSize(chunkSize), errUsage)
	case bs > chunkSize:
		return fmt.Errorf("--block-size %s is larger than the chunk size (%s): lower --block-size, or raise --chunk-size: %w",
			humanSize(bs), humanSize(chunkSize), errUsage)
	}
	// The largest blob is one chunk, stored: blocks grow by the encryption
	// overhead (assumed on, the larger case).
	stored := uint64(blockcrypt.Layout{BlockSize: int(bs), Encrypted: true}.StoredLen(int64(chunkSize)))
	if !d.network() {
		p, err := rs2.NewParams(d.shards)
		if err != nil {
			return fmt.Errorf("--shards %d: %w: %w", d.shards, err, errUsage)
		}
		if stored > p.MaxBlobSize() {
			need := minShardsFor(stored)
			if given["chunk-size"] && !given["shards"] {
				return fmt.Errorf("--chunk-size %s: a chunk is stored as one blob (%s), and the local store's blobs hold at most %s at its %d shards; lower --chunk-size, or raise --shards to %d: %w",
					humanSize(chunkSize), humanSize(stored), humanSize(p.MaxBlobSize()), d.shards, need, errUsage)
			}
			return fmt.Errorf("--shards %d: the local store's blobs would hold at most %s, less than one stored chunk (%s for --chunk-size %s); use --shards %d or more, or a smaller --chunk-size: %w",
				d.shards, humanSize(p.MaxBlobSize()), humanSize(stored), humanSize(chunkSize), need, errUsage)
		}
	}
	quiltShards := d.netShards
	if !d.network() {
		quiltShards = localstore.DefaultQuiltShards
	}
	if p, err := rs2.NewParams(quiltShards); err == nil {
		if smallest := uint64(p.Kp) * uint64(p.Ks) * 2; d.quiltSize.v < smallest {
			return fmt.Errorf("--quilt-size %s: a quilt at %d shards takes at least %s: %w", humanSize(d.quiltSize.v), quiltShards, humanSize(smallest), errUsage)
		}
	}
	if d.quiltMin.v > d.quiltSize.v {
		return fmt.Errorf("--quilt-threshold %s is larger than --quilt-size %s: %w", humanSize(d.quiltMin.v), humanSize(d.quiltSize.v), errUsage)
	}
	return nil
}

// minShardsFor is the smallest RS2 shard count whose blobs hold size bytes
// (rs2.MaxShards when none does).
func minShardsFor(size uint64) int {
	for n := rs2.MinShards; n < rs2.MaxShards; n++ {
		if p, err := rs2.NewParams(n); err == nil && p.MaxBlobSize() >= size {
			return n
		}
	}
	return rs2.MaxShards
}

// networkUploadDelay is --upload-delay's default with --publisher: long
// enough that a file saved again, or a database committing again, within
// a minute is sealed and paid for once.
const networkUploadDelay = time.Minute

// uploadDelay is --upload-delay, or the backend's default when unset.
func (d *dataFlags) uploadDelay() time.Duration {
	switch {
	case d.sealDelay > 0:
		return d.sealDelay
	case d.network():
		return networkUploadDelay
	}
	return filedata.DefaultConfig().SealDelay
}

// quiltMaxAge is --quilt-age, or the backend's default when it is unset
// (see upload.NetworkQuiltMaxAge).
func (d *dataFlags) quiltMaxAge() time.Duration {
	switch {
	case d.quiltAge > 0:
		return d.quiltAge
	case d.network():
		return upload.NetworkQuiltMaxAge
	}
	return upload.DefaultConfig().QuiltMaxAge
}

// dataPlane is what the data flags built; close releases it.
type dataPlane struct {
	closers []func()
	// ledger renews the leases of the store's blobs; nil when walrusfs
	// cannot (the Walrus network without chain sync and a key).
	ledger chainsync.Ledger
	renew  chainsync.Config
	// chain is chain sync with Walrus on Sui; nil without --network.
	chain *chainPlane
	// epochStart dates the store's epochs (the local store's clock); nil
	// when only the chain can.
	epochStart func(uint32) (time.Time, bool)
}

func (p *dataPlane) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// build opens the blob store, the key and the cache and fills in cfg.
func (d *dataFlags) build(ctx context.Context, stateDir string, keys volumeKeys, chain *chainPlane, cfg *filedata.Config, log *slog.Logger) (*dataPlane, error) {
	p := &dataPlane{renew: chainsync.DefaultConfig()}
	if chain != nil {
		p.closers = append(p.closers, chain.closeRPC)
	}
	fail := func(err error) (*dataPlane, error) {
		p.close()
		return nil, err
	}
	store, err := d.openStore(ctx, stateDir, log, p)
	if err != nil {
		return fail(err)
	}
	cfg.Store = store

	encrypt := d.network()
	switch d.encrypt {
	case "on":
		encrypt = true
	case "off":
		encrypt = false
	case "auto":
	default:
		return fail(fmt.Errorf("--encrypt %q: want on, off or auto: %w", d.encrypt, errUsage))
	}
	key, err := openKey(stateDir, keys, encrypt, d.newKey, !d.keepKeyFile, log)
	if err != nil {
		return fail(err)
	}
	cfg.Key = key
	layout := blockcrypt.Layout{BlockSize: int(d.blockSize.v), Encrypted: encrypt}
	var sealKey *blockcrypt.Key
	if encrypt {
		sealKey = key
	}
	if cfg.Codec, err = blockcrypt.NewCodec(layout, sealKey); err != nil {
		return fail(err)
	}

	ccfg := blockcache.DefaultConfig()
	ccfg.MemoryBytes = int64(d.cacheMemory.v)
	ccfg.DiskBytes = int64(d.cacheDisk.v)
	if d.cacheDisk.v > 0 {
		ccfg.DiskDir = filepath.Join(stateDir, "cache")
	}
	ccfg.Logger = log
	cache, err := blockcache.Open(ccfg)
	if err != nil {
		return fail(fmt.Errorf("block cache: %w", err))
	}
	p.closers = append(p.closers, func() { _ = cache.Close() })
	cfg.Cache = cache

	switch d.fsync {
	case "local":
	case "certified":
		cfg.FsyncCertified = true
	default:
		return fail(fmt.Errorf("--fsync %q: want local or certified: %w", d.fsync, errUsage))
	}
	up := &cfg.Upload
	up.Concurrency = d.concurrency
	up.QuiltThreshold = int64(d.quiltMin.v)
	up.QuiltMaxBytes = int64(d.quiltSize.v)
	up.QuiltMaxAge = d.quiltMaxAge()
	up.ForegroundFirst = d.fgFirst
	cfg.SealDelay = d.uploadDelay()
	cfg.StagingWait = d.stagingWait
	up.Epochs = uint32(d.epochs)
	switch {
	case !d.network() && up.Epochs == 0:
		// Stored as far ahead as renewal extends to, so that new blobs
		// are not renewed at once.
		up.Epochs = chainsync.DefaultConfig().TargetEpochsAhead
	case d.network():
		if up.Epochs == 0 {
			up.Epochs = blobstore.MaxEpochsAhead
		}
	}
	up.SendObjectTo = d.sendTo
	switch {
	case chain != nil && !d.network():
		return fail(fmt.Errorf("--network follows blobs on Walrus; it needs --publisher (the local store keeps its own leases): %w", errUsage))
	case chain != nil:
		// The chain, not the publisher, says when a blob is certified.
		up.CertifiedByChain = true
		p.chain = chain
		if owner := chain.owner(); owner != "" {
			if d.sendTo != "" && !strings.EqualFold(d.sendTo, owner) {
				return fail(fmt.Errorf("--send-object-to %s is not the --sui-key's address %s: walrusfs can renew and delete only the Blob objects its key owns: %w", d.sendTo, owner, errUsage))
			}
			up.SendObjectTo = owner
			p.ledger = chain.ledger
			p.renew = chain.renew
			if d.epochs == 0 {
				up.Epochs = chain.renew.TargetEpochsAhead
			}
		} else {
			log.Warn("chain sync runs without a key: certification and leases are followed, but nothing is renewed; files expire when their blobs' leases end",
				"epochs", up.Epochs, "hint", "give --sui-key to renew")
		}
	case d.network():
		log.Warn("blobs on Walrus are stored for a fixed number of epochs and walrusfs does not renew them without chain sync; files expire after that",
			"epochs", up.Epochs, "hint", "--network and --sui-key keep them alive")
	}
	cfg.StagingBudget = int64(d.budget.v)
	if cfg.StagingBudget == 0 {
		cfg.StagingBudget = defaultStagingBudget(stateDir)
	}
	cfg.KeepLocalCopies = cfg.StagingBudget / 2
	if d.localCopies.set {
		cfg.KeepLocalCopies = int64(d.localCopies.v) // 0: drop copies once certified
	}
	if err := cfg.Validate(); err != nil {
		return fail(fmt.Errorf("%w: %w", err, errUsage))
	}
	log.Info("data plane", "store", storeName(d), "encrypt", encrypt, "fsync", d.fsync,
		"staging_budget", humanSize(uint64(cfg.StagingBudget)), "cache_memory", humanSize(d.cacheMemory.v), "cache_disk", humanSize(d.cacheDisk.v))
	return p, nil
}

func storeName(d *dataFlags) string {
	if d.network() {
		return "walrus " + d.publisher
	}
	return "local"
}

// defaultStagingBudget is half of the space staging may use: what is free
// on the filesystem holding the state directory, plus what the staging
// area already holds. A disk shared with other data leaves the rest to it,
// so writers wait for uploads before the disk is full.
func defaultStagingBudget(stateDir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(stateDir, &st); err != nil {
		return 8 << 30
	}
	var staged int64
	_ = filepath.WalkDir(filepath.Join(stateDir, "staging"), func(_ string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				staged += info.Size()
			}
		}
		return nil // a missing or unreadable staging area holds nothing to count
	})
	return (int64(st.Bavail)*st.Bsize + staged) / 2
}

func (d *dataFlags) openStore(ctx context.Context, stateDir string, log *slog.Logger, p *dataPlane) (blobstore.Store, error) {
	if !d.network() {
		if d.aggregators != "" {
			return nil, fmt.Errorf("--aggregator needs --publisher (the local store needs neither): %w", errUsage)
		}
		cfg := localstore.DefaultConfig()
		cfg.Dirs = []string{filepath.Join(stateDir, "store")}
		if d.store != "" {
			cfg.Dirs = strings.Split(d.store, ",")
		}
		cfg.Shards = d.shards
		s, err := localstore.Open(ctx, cfg, log)
		if err != nil {
			return nil, fmt.Errorf("local store: %w", err)
		}
		p.closers = append(p.closers, func() { _ = s.Close() })
		p.ledger = s
		p.epochStart = func(e uint32) (time.Time, bool) { return s.EpochStart(e), true }
		return s, nil
	}
	if d.aggregators == "" {
		return nil, fmt.Errorf("--publisher needs at least one --aggregator URL to read from: %w", errUsage)
	}
	cfg := walrushttp.DefaultConfig()
	cfg.PublisherURL = d.publisher
	cfg.AggregatorURLs = strings.Split(d.aggregators, ",")
	if d.netShards < rs2.MinShards || d.netShards > rs2.MaxShards {
		return nil, fmt.Errorf("--network-shards %d: want %d to %d (Walrus Mainnet and Testnet have %d): %w", d.netShards, rs2.MinShards, rs2.MaxShards, blobstore.NetworkShards, errUsage)
	}
	cfg.QuiltShards = d.netShards
	if d.jwtFile != "" {
		b, err := os.ReadFile(d.jwtFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-file: %w", err)
		}
		cfg.JWT = strings.TrimSpace(string(b))
	}
	c, err := walrushttp.New(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("walrus client: %w: %w", err, errUsage)
	}
	return c, nil
}
