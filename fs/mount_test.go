package fs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// testMount is a real FUSE mount of a fresh walrusfs in temp dirs, over a
// real blob store: the local store in the state directory unless an option
// picks another.
type testMount struct {
	dir      string // mountpoint
	stateDir string
	fs       *FS
	data     *filedata.Engine
	cache    *blockcache.Cache
	idx      *index.Index
	server   interface {
		Unmount() error
		Wait()
	}
	// ownStore is the store the mount opened itself (nil when a test gave
	// one): closed at unmount, so a remount can open it again.
	ownStore interface{ Close() error }
}

type mountOpt func(*filedata.Config, *index.Config)

// mountTest mounts walrusfs for the test and, when the test ends, unmounts
// it and checks the index's consistency. It skips the test where FUSE
// mounts are impossible (no /dev/fuse or not root).
func mountTest(t *testing.T, opts ...mountOpt) *testMount {
	t.Helper()
	return mountAt(t, t.TempDir(), opts...)
}

func requireFuse(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("FUSE mount tests need root (they mount with allow_other and switch users)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse: FUSE mount tests cannot run here")
	}
}

func mountAt(t *testing.T, stateDir string, opts ...mountOpt) *testMount {
	t.Helper()
	return mountObserved(t, stateDir, nil, opts...)
}

// mountObserved is mountAt with obs told of every request.
func mountObserved(t *testing.T, stateDir string, obs Observer, opts ...mountOpt) *testMount {
	t.Helper()
	requireFuse(t)
	cfg := filedata.DefaultConfig()
	// As the daemon keeps them by default: uploaded data stays as local
	// copies while staging has room.
	cfg.KeepLocalCopies = 1 << 30
	icfg := index.DefaultConfig()
	icfg.CommitInterval = 50 * time.Millisecond
	icfg.CheckpointInterval = 50 * time.Millisecond
	for _, o := range opts {
		o(&cfg, &icfg)
	}
	log := quietLog()
	var ownStore interface{ Close() error }
	if cfg.Store == nil {
		s := openLocalStore(t, filepath.Join(stateDir, "store"), testShards)
		cfg.Store, ownStore = s, s
	}
	if cfg.Codec == nil {
		codec, err := blockcrypt.NewCodec(blockcrypt.Layout{BlockSize: 256 << 10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Codec = codec
	}
	if cfg.Cache == nil {
		ccfg := blockcache.DefaultConfig()
		ccfg.MemoryBytes = 8 << 20
		cache, err := blockcache.Open(ccfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cache.Close() })
		cfg.Cache = cache
	}
	idx, err := index.Open(t.Context(), stateDir, icfg, log)
	if err != nil {
		t.Fatal(err)
	}
	data, err := filedata.New(idx, filepath.Join(stateDir, "staging"), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := data.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	fsys := New(idx, data, DefaultConfig(), log)
	mnt := t.TempDir()
	fo := fsys.Options()
	fo.AllowOther = true
	server, err := fsys.Mount(mnt, fo, obs)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	m := &testMount{dir: mnt, stateDir: stateDir, fs: fsys, data: data, cache: cfg.Cache, idx: idx, server: server, ownStore: ownStore}
	t.Cleanup(func() { m.unmount(t) })
	return m
}

// unmount unmounts (once), checks the index and closes it.
func (m *testMount) unmount(t *testing.T) {
	if m.server == nil {
		return
	}
	var err error
	for range 50 {
		if err = m.server.Unmount(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("unmount: %v", err)
		return
	}
	m.server.Wait()
	m.server = nil
	if err := m.idx.Check(); err != nil {
		t.Errorf("index consistency check: %v", err)
	}
	m.data.Close()
	if err := m.idx.Close(); err != nil {
		t.Errorf("index close: %v", err)
	}
	if err := index.CheckFile(filepath.Join(m.stateDir, index.FileName)); err != nil {
		t.Errorf("bbolt consistency check: %v", err)
	}
	if m.ownStore != nil {
		if err := m.ownStore.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	}
}

func (m *testMount) path(parts ...string) string {
	return filepath.Join(append([]string{m.dir}, parts...)...)
}

// stagingFiles counts the chunk files in the staging area.
func (m *testMount) stagingFiles(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(m.stateDir, "staging"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
