package fs

import (
	"context"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/index"
)

// Config tunes how the tree is presented to the kernel. Start from
// DefaultConfig.
type Config struct {
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool
	// EntryTimeout, AttrTimeout and NegativeTimeout are how long the kernel
	// may cache names, attributes and failed lookups. Every change passes
	// through this daemon, so they only need to be short enough for
	// changes made under the state directory by hand to show.
	EntryTimeout    time.Duration
	AttrTimeout     time.Duration
	NegativeTimeout time.Duration
	// Source is what the mount table shows as the mount's source: the
	// state directory, so that tools find a mount's control socket from
	// its mountpoint. Empty means "walrusfs".
	Source string
	// Readahead is the kernel readahead of files whose data is read from
	// local disk (staged chunks, local copies), and StoredReadahead that of
	// files whose data is in the store; each is set as such a file is
	// opened (see readahead.go). Zero leaves the kernel's (128 KiB for a
	// FUSE mount) for that kind of file. Setting them takes root; without,
	// the mount keeps the kernel's.
	Readahead       uint64
	StoredReadahead uint64
}

// DefaultConfig returns the configuration walrusfs mounts with.
func DefaultConfig() Config {
	return Config{
		EntryTimeout: time.Second, AttrTimeout: time.Second, NegativeTimeout: time.Second,
		Readahead: DefaultReadahead, StoredReadahead: DefaultStoredReadahead,
	}
}

// FS is one mounted walrusfs tree: the index for names and attributes, the
// file data engine for bytes.
type FS struct {
	cfg  Config
	log  *slog.Logger
	idx  *index.Index
	data *filedata.Engine

	// extras carries request fields go-fuse's node API drops (see acl.go).
	extras requestExtras
	// ra sets the kernel readahead per open file; nil until mounted, and
	// when the mount's readahead cannot be set.
	ra atomic.Pointer[readahead]

	// stagedReads counts the reads answered by splicing a range of a
	// staged chunk file, and spliceFallbacks those of them go-fuse could
	// not splice and copied through the daemon instead; smallCopies
	// counts the small reads answered with a copy by design, never
	// spliced (see copyReadMax).
	stagedReads, spliceFallbacks, smallCopies atomic.Int64
}

// New returns the filesystem over an open index and a file data engine
// (recovered: see filedata.Engine.Recover).
func New(idx *index.Index, data *filedata.Engine, cfg Config, log *slog.Logger) *FS {
	return &FS{cfg: cfg, log: log, idx: idx, data: data}
}

// Root returns the root node to mount.
func (f *FS) Root() fusefs.InodeEmbedder { return &node{fs: f, ino: index.RootIno} }

// RootStableAttr is the root's identity for fusefs.Options.RootStableAttr.
func RootStableAttr() *fusefs.StableAttr {
	return &fusefs.StableAttr{Ino: uint64(index.RootIno), Mode: syscall.S_IFDIR}
}

// Options returns the go-fuse options walrusfs mounts with.
func (f *FS) source() string {
	if f.cfg.Source != "" {
		return f.cfg.Source
	}
	return "walrusfs"
}

func (f *FS) Options() *fusefs.Options {
	et, at, nt := f.cfg.EntryTimeout, f.cfg.AttrTimeout, f.cfg.NegativeTimeout
	opts := &fusefs.Options{
		EntryTimeout:    &et,
		AttrTimeout:     &at,
		NegativeTimeout: &nt,
		RootStableAttr:  RootStableAttr(),
		// Modes go to the kernel exactly as stored: without this, go-fuse
		// reports an inode whose permission bits are all zero (chmod 000)
		// as 0644 (0755 for a directory), and the kernel would let every
		// user read it.
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName:        f.source(),
			Name:          "walrusfs",
			Options:       []string{"default_permissions"},
			MaxWrite:      MaxRequest,
			MaxReadAhead:  1 << 20,
			MaxBackground: 64,
			DirectMount:   true,
			// The kernel enforces POSIX ACLs (see acl.go).
			EnableAcl: true,
			// go-fuse's own messages are per request (a failed splice, a
			// reply to an interrupted request): debug level only.
			Logger: slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
		},
	}
	if f.cfg.ReadOnly {
		opts.Options = append(opts.Options, "ro")
	}
	return opts
}

// MaxRequest is the largest read or write the kernel sends (go-fuse sets
// max_read and max_pages from MaxWrite). Two pages under 1 MiB, so that a
// read reply spliced from a chunk file fits, with its header and the page
// go-fuse adds, in one pipe of Linux's default maximum size
// (/proc/sys/fs/pipe-max-size, 1 MiB): at 1 MiB every large read of staged
// data failed to splice and was copied through the daemon instead.
const MaxRequest = 1<<20 - 8<<10

func now() int64 { return time.Now().UnixNano() }

func caller(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

// open opens a handle on ino.
func (f *FS) open(ino index.Ino) (*handle, error) {
	file, err := f.data.Open(ino)
	if err != nil {
		return nil, err
	}
	return &handle{fs: f, file: file, ino: uint64(ino)}, nil
}
