package fs

import (
	"context"
	"log/slog"
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
}

// DefaultConfig returns the configuration walrusfs mounts with.
func DefaultConfig() Config {
	return Config{EntryTimeout: time.Second, AttrTimeout: time.Second, NegativeTimeout: time.Second}
}

// FS is one mounted walrusfs tree: the index for names and attributes, the
// file data engine for bytes.
type FS struct {
	cfg  Config
	log  *slog.Logger
	idx  *index.Index
	data *filedata.Engine
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
			FsName:        "walrusfs",
			Name:          "walrusfs",
			Options:       []string{"default_permissions"},
			MaxWrite:      1 << 20,
			MaxReadAhead:  1 << 20,
			MaxBackground: 64,
			DirectMount:   true,
		},
	}
	if f.cfg.ReadOnly {
		opts.Options = append(opts.Options, "ro")
	}
	return opts
}

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
