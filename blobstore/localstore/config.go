package localstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

// Defaults for [Config].
const (
	// DefaultShards is the default number of RS2 shards (and slivers per
	// blob) of standalone blobs. At n = 40 (f = 13, Kp = 14, Ks = 27) the
	// largest blob RS2 can encode is 24 771 852 bytes (23.6 MiB; see
	// [Store.MaxBlobSize]), so the 10 MiB blobs of public Walrus publishers
	// fit with room to spare. Encoding cost per byte hardly depends on n up
	// to about 40 and grows beyond (a durable 8 MiB blob costs about 35
	// CPU-ms at n = 40 and 350 at n = 1000). Quilts use
	// [DefaultQuiltShards] instead.
	DefaultShards = 40
	// DefaultQuiltShards is the default shard count of quilts: Walrus
	// Mainnet's n = 1000 (f = 333, Kp = 334, Ks = 667). A quilt then holds
	// up to 666 patches, and its quilt and patch IDs are the ones Walrus
	// Mainnet gives the same parts. Quilts hold small files, so the higher
	// cost per byte of n = 1000 hardly matters: 666 patches of 4 KiB
	// encode in about a third of a second.
	DefaultQuiltShards = 1000
	// DefaultEpochDuration is the default length of a local epoch (Walrus
	// Testnet's).
	DefaultEpochDuration = 24 * time.Hour
	// DefaultEpochs is how many epochs ahead a blob is stored when
	// PutOptions.Epochs is zero, as on Walrus.
	DefaultEpochs = 1
	// MaxEpochsAhead is the Walrus cap on how far ahead storage can be
	// bought.
	MaxEpochsAhead = 53
	// DefaultEncodeMemory is the default [Config.EncodeMemory]: an 8 MiB
	// blob at 40 shards is encoded in memory (about 14 MB) with its repair
	// slivers written piece by piece, a 16 MiB quilt at 1000 shards (which
	// would take 43 MB of padded rows in memory) in strips.
	DefaultEncodeMemory = 16 << 20
)

// Config configures a local store. Build one with [DefaultConfig] and
// override fields.
type Config struct {
	// Dirs are the shard directories. Sliver i of every blob lives in
	// Dirs[i mod len(Dirs)]; every directory also holds a full copy of each
	// blob's metadata and of the store's small bookkeeping files. The order
	// matters and is recorded on first use: reopening with the directories
	// reordered is an error. At least one is required; a directory that is
	// missing or empty on Open is (re)initialised, so losing a disk and
	// replacing it with an empty one is a supported event.
	Dirs []string
	// Shards is n, the RS2 shard count: every blob is encoded into n primary
	// slivers, any n-2f of which recover it (f = (n-1)/3). It also fixes
	// blob IDs: the same bytes get different IDs at different n. Must be at
	// least 4. Blobs keep the shard count they were stored with, so changing
	// it between runs only affects new blobs.
	Shards int
	// QuiltShards is the shard count quilts (PutQuilt) are laid out and
	// encoded at. It bounds the patches of one quilt (Ks−1, see
	// [Store.MaxQuiltPatches]) and, like Shards for blobs, fixes quilt and
	// patch IDs. It is separate from Shards because a quilt needs many
	// columns to hold many small files while a large blob is cheaper to
	// encode at a small n. Zero means the same as Shards; otherwise it must
	// be 4…4096. [DefaultConfig] sets [DefaultQuiltShards].
	QuiltShards int
	// EpochDuration is the length of one local epoch. The current epoch is
	// the time elapsed since the store was first created, divided by
	// EpochDuration.
	EpochDuration time.Duration
	// RepairOnRead rewrites a sliver that failed its hash check (or is
	// missing from a directory that still holds the blob) with the
	// reconstructed bytes, so the damage does not have to be reconstructed
	// again on every read.
	RepairOnRead bool
	// MaxBlobSize, when positive, caps Put below the RS2 limit for Shards,
	// and PutQuilt below the RS2 limit for QuiltShards. Zero means the RS2
	// limits only.
	MaxBlobSize int64
	// EncodeMemory bounds the memory one Put or PutQuilt spends on
	// encoding and on gathering repair slivers before writing them (which
	// saves CPU when it fits). A blob whose in-memory encoding would take
	// more is encoded in vertical strips (rs2.Encoder.EncodeAt), spilling
	// its rows' repair symbols (about half the blob at 1000 shards) to the
	// first directory's tmp area and reading the systematic slivers back
	// from their files. Zero means [DefaultEncodeMemory].
	EncodeMemory int64
	// Now returns the current time; nil means time.Now. Tests use it to move
	// the epoch clock.
	Now func() time.Time
}

// DefaultConfig returns the default configuration without directories;
// callers set Dirs.
func DefaultConfig() Config {
	return Config{
		Shards:        DefaultShards,
		QuiltShards:   DefaultQuiltShards,
		EpochDuration: DefaultEpochDuration,
		RepairOnRead:  true,
	}
}

func (c Config) validate() error {
	if len(c.Dirs) == 0 {
		return fmt.Errorf("localstore: config: no directories: %w", blobstore.ErrInvalidArgument)
	}
	seen := make(map[string]bool, len(c.Dirs))
	for _, d := range c.Dirs {
		if d == "" {
			return fmt.Errorf("localstore: config: empty directory name: %w", blobstore.ErrInvalidArgument)
		}
		if seen[d] {
			return fmt.Errorf("localstore: config: directory %q listed twice: %w", d, blobstore.ErrInvalidArgument)
		}
		seen[d] = true
	}
	if c.Shards < 4 || c.Shards > maxShards {
		return fmt.Errorf("localstore: config: shards %d: want 4…%d: %w", c.Shards, maxShards, blobstore.ErrInvalidArgument)
	}
	if c.QuiltShards != 0 && (c.QuiltShards < 4 || c.QuiltShards > maxShards) {
		return fmt.Errorf("localstore: config: quilt shards %d: want 0 or 4…%d: %w", c.QuiltShards, maxShards, blobstore.ErrInvalidArgument)
	}
	if c.EpochDuration <= 0 {
		return fmt.Errorf("localstore: config: epoch duration %v: %w", c.EpochDuration, blobstore.ErrInvalidArgument)
	}
	if c.EncodeMemory < 0 {
		return fmt.Errorf("localstore: config: negative encode memory: %w", blobstore.ErrInvalidArgument)
	}
	if c.MaxBlobSize < 0 {
		return fmt.Errorf("localstore: config: negative max blob size: %w", blobstore.ErrInvalidArgument)
	}
	return nil
}

// maxShards bounds n so that sliver indices fit the on-disk formats (u16)
// and the metadata stays small.
const maxShards = 4096

var errClosed = errors.New("localstore: store is closed")
