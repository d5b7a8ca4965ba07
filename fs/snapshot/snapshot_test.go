package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t *testing.T) *localstore.Store { return openStoreB(t) }

func openStoreB(t testing.TB) *localstore.Store {
	t.Helper()
	cfg := localstore.DefaultConfig()
	cfg.Dirs = []string{t.TempDir()}
	s, err := localstore.Open(t.Context(), cfg, discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openIndex(t *testing.T, dir string) *index.Index {
	t.Helper()
	x, err := index.Open(t.Context(), dir, index.DefaultConfig(), discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := x.Check(); err != nil {
			t.Errorf("index check: %v", err)
		}
		_ = x.Close()
	})
	return x
}

// tree fills x with files files, each with a stored chunk in one of a few
// blobs, a hard link, a symlink and an xattr.
func tree(t *testing.T, x *index.Index, files int) {
	t.Helper()
	d, err := x.Create(index.RootIno, "d", index.NewNode{Mode: syscall.S_IFDIR | 0o750, Uid: 5, Gid: 6, Now: 1})
	if err != nil {
		t.Fatal(err)
	}
	var ups []index.UploadResult
	for i := range files {
		f, err := x.Create(d.Ino, fmt.Sprintf("file-%05d", i), index.NewNode{Mode: syscall.S_IFREG | 0o640, Uid: 1000, Gid: 100, ChunkSize: 1 << 20, Now: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := x.NewStagedChunk(f.Ino, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Seal([]index.Sealing{{Ino: f.Ino, N: 0, StagingID: ref.StagingID, Size: 10}}, 1); err != nil {
			t.Fatal(err)
		}
		if err := x.SetXattr(f.Ino, "user.n", []byte(fmt.Sprint(i)), 0, 2); err != nil {
			t.Fatal(err)
		}
	}
	queue, err := x.Uploads(0, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range queue {
		ups = append(ups, index.UploadResult{Upload: u, Stored: index.StoredChunk{Length: 10, PlainLen: 10, BlockSize: 1 << 20, BlockHashes: make([][32]byte, 1)}})
	}
	for i := 0; i < len(ups); i += 100 {
		b := index.Blob{ID: [32]byte{byte(i / 100), 0xbb}, Kind: index.BlobQuilt, State: index.BlobCertified, EndEpoch: 12}
		if _, err := x.CompleteUploads(b, ups[i:min(i+100, len(ups))]); err != nil {
			t.Fatal(err)
		}
	}
	f, err := x.Lookup(d.Ino, "file-00000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Link(f.Ino, index.RootIno, "hard", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Create(index.RootIno, "ln", index.NewNode{Mode: syscall.S_IFLNK | 0o777, Target: "d/file-00000", Now: 4}); err != nil {
		t.Fatal(err)
	}
}

func taker(x *index.Index, s blobstore.Store, key *blockcrypt.Key, dir string) *Taker {
	cfg := DefaultConfig()
	cfg.PartSize = 16 << 10 // many parts
	cfg.TempDir = dir
	return &Taker{Index: x, Store: s, Key: key, Cfg: cfg, Log: discard}
}

func TestTakeAndRestore(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		t.Run(fmt.Sprint("encrypted=", encrypted), func(t *testing.T) {
			var key *blockcrypt.Key
			if encrypted {
				key = &blockcrypt.Key{7}
			}
			store := openStore(t)
			dir := t.TempDir()
			x := openIndex(t, dir)
			tree(t, x, 500)
			flushes := 0
			tk := taker(x, store, key, dir)
			tk.Flush = func(context.Context) error { flushes++; return nil }
			res, err := tk.Take(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if flushes != 1 || len(res.Manifest.Parts) < 3 || res.Manifest.Inodes != 503 || res.Manifest.Blobs != 5 {
				t.Fatalf("flushes %d, manifest %+v", flushes, res.Manifest)
			}
			snaps, err := x.Snapshots()
			if err != nil || len(snaps) != 1 || snaps[0].Root != res.ID || snaps[0].Pinned != uint64(len(res.Manifest.Parts)+1+5) {
				t.Fatalf("snapshots %+v, %v", snaps, err)
			}
			// The data blobs stay pinned after every file goes.
			if b, _, _ := x.BlobInfo([32]byte{0, 0xbb}); b.Pins != 1 {
				t.Fatalf("data blob pins %d", b.Pins)
			}

			s, err := Open(t.Context(), store, res.ID, key)
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "restored")
			st, err := s.RestoreTo(t.Context(), target, index.DefaultConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if st.Inodes != 503 || st.Blobs != 5 {
				t.Fatalf("restored %+v", st)
			}
			if err := index.CheckFile(filepath.Join(target, index.FileName)); err != nil {
				t.Fatal(err)
			}
			y := openIndex(t, target)
			for _, p := range []string{"d/file-00499", "hard", "ln", "d"} {
				want, got := lookup(t, x, p), lookup(t, y, p)
				if want != got {
					t.Fatalf("%s: %+v, want %+v", p, got, want)
				}
			}
			if tg, _ := y.Readlink(lookup(t, y, "ln").Ino); tg != "d/file-00000" {
				t.Fatalf("symlink %q", tg)
			}
			if v, _ := y.GetXattr(lookup(t, y, "d/file-00042").Ino, "user.n"); string(v) != "42" {
				t.Fatalf("xattr %q", v)
			}
			if r, ok, _ := y.RestoredFrom(); !ok || r != res.ID {
				t.Fatal("restored index does not name its snapshot")
			}
			if fp, _ := y.VolumeKey(); encrypted && fp != key.Fingerprint() {
				t.Fatalf("volume key %q", fp)
			}
			entries, _ := os.ReadDir(filepath.Dir(target))
			if len(entries) != 1 {
				t.Fatalf("restore left %d entries next to the target", len(entries))
			}
		})
	}
}

func lookup(t *testing.T, x *index.Index, path string) index.Attr {
	t.Helper()
	ino := index.RootIno
	var a index.Attr
	for _, name := range strings.Split(path, "/") {
		var err error
		if a, err = x.Lookup(ino, name); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ino = a.Ino
	}
	return a
}

// Bad input is refused in words, and a failed restore changes nothing.
func TestBadInput(t *testing.T) {
	store := openStore(t)
	dir := t.TempDir()
	x := openIndex(t, dir)
	tree(t, x, 300)
	key, other := &blockcrypt.Key{1}, &blockcrypt.Key{2}
	res, err := taker(x, store, key, dir).Take(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := store.Put(t.Context(), bytes.NewReader([]byte("file bytes")), 10, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A root whose parts are swapped, and one whose part hash is wrong.
	m := res.Manifest
	swapped := m
	swapped.Parts = append([]Part{m.Parts[1], m.Parts[0]}, m.Parts[2:]...)
	badHash := m
	badHash.Parts = append([]Part(nil), m.Parts...)
	badHash.Parts[2].SHA256 = badHash.Parts[3].SHA256
	putRoot := func(m Manifest) blobstore.ID {
		b, err := encodeRoot(&m, key)
		if err != nil {
			t.Fatal(err)
		}
		info, err := store.Put(t.Context(), bytes.NewReader(b), int64(len(b)), blobstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	for _, tc := range []struct {
		name    string
		id      blobstore.ID
		key     *blockcrypt.Key
		open    error // from Open
		restore error // from RestoreTo
	}{
		{"unknown ID", blobstore.ID{9, 9, 9}, key, blobstore.ErrNotFound, nil},
		{"not a snapshot", data.ID, key, ErrNotSnapshot, nil},
		{"another volume's key", res.ID, other, ErrWrongKey, nil},
		{"no key", res.ID, nil, ErrWrongKey, nil},
		{"parts swapped", putRoot(swapped), key, nil, ErrDamaged},
		{"part damaged", putRoot(badHash), key, nil, ErrDamaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), store, tc.id, tc.key)
			if tc.open != nil {
				if !errors.Is(err, tc.open) {
					t.Fatalf("open: %v, want %v", err, tc.open)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			target := filepath.Join(parent, "state")
			if _, err := s.RestoreTo(t.Context(), target, index.DefaultConfig(), nil); !errors.Is(err, tc.restore) {
				t.Fatalf("restore: %v, want %v", err, tc.restore)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("a failed restore left %v", entries)
			}
		})
	}
	// A state directory that holds an index is refused.
	s, err := Open(t.Context(), store, res.ID, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreTo(t.Context(), dir, index.DefaultConfig(), nil); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("restore over an index: %v", err)
	}
	// A target holding only the key file receives the index.
	keyOnly := t.TempDir()
	if err := os.WriteFile(filepath.Join(keyOnly, "walrusfs.key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreTo(t.Context(), keyOnly, index.DefaultConfig(), nil); err != nil {
		t.Fatal(err)
	}
	if err := index.CheckFile(filepath.Join(keyOnly, index.FileName)); err != nil {
		t.Fatal(err)
	}
}

// Chunks that stay staged (nothing uploads them) make a snapshot fail
// instead of leaving their data out.
func TestStagedDataRefused(t *testing.T) {
	store := openStore(t)
	dir := t.TempDir()
	x := openIndex(t, dir)
	f, err := x.Create(index.RootIno, "f", index.NewNode{Mode: syscall.S_IFREG | 0o644, ChunkSize: 1 << 20, Now: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.NewStagedChunk(f.Ino, 0); err != nil {
		t.Fatal(err)
	}
	tk := taker(x, store, nil, dir)
	tk.Cfg.Attempts = 2
	flushes := 0
	tk.Flush = func(context.Context) error { flushes++; return nil }
	if _, err := tk.Take(t.Context(), nil); !errors.Is(err, ErrBusy) || flushes != 2 {
		t.Fatalf("take: %v after %d flushes; want ErrBusy after 2", err, flushes)
	}
	if s, _ := x.Snapshots(); len(s) != 0 {
		t.Fatalf("snapshots %+v", s)
	}
}

func FuzzDecodeRoot(f *testing.F) {
	key := &blockcrypt.Key{3}
	m := Manifest{Format: Format, VolumeKey: key.Fingerprint(), Parts: []Part{{ID: blobstore.ID{1}, Size: 5, SHA256: fmt.Sprintf("%064x", 1)}}}
	for _, k := range []*blockcrypt.Key{key, nil} {
		mm := m
		if k == nil {
			mm.VolumeKey = ""
		}
		b, err := encodeRoot(&mm, k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range []*blockcrypt.Key{key, nil} {
			m, _, err := decodeRoot(blobstore.ID{}, b, k)
			if err == nil && m.Format != Format {
				t.Fatalf("accepted format %d", m.Format)
			}
		}
	})
}

// A root with any byte changed after its magic is refused as damaged; one
// whose magic is changed is not taken for a snapshot.
func TestDamagedRoot(t *testing.T) {
	key := &blockcrypt.Key{3}
	for _, k := range []*blockcrypt.Key{key, nil} {
		m := Manifest{Format: Format, Parts: []Part{{ID: blobstore.ID{1}, Size: 5, SHA256: fmt.Sprintf("%064x", 1)}}}
		if k != nil {
			m.VolumeKey = k.Fingerprint()
		}
		b, err := encodeRoot(&m, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := decodeRoot(blobstore.ID{}, b, k); err != nil {
			t.Fatal(err)
		}
		for i := range b {
			bad := bytes.Clone(b)
			bad[i] ^= 0x10
			_, _, err := decodeRoot(blobstore.ID{}, bad, k)
			want := ErrDamaged
			if i < len(magic) {
				want = ErrNotSnapshot
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d changed: %v, want %v", i, err, want)
			}
		}
	}
}

// rootRefused is the local store refusing the root blob: a snapshot that
// fails after its parts are stored.
type rootRefused struct{ *localstore.Store }

func (s rootRefused) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return blobstore.Info{}, err
	}
	if bytes.HasPrefix(b, magic) {
		return blobstore.Info{}, fmt.Errorf("refused: %w", blobstore.ErrUnavailable)
	}
	return s.Store.Put(ctx, bytes.NewReader(b), size, opts)
}

// A snapshot that fails leaves its stored parts recorded and unreferenced
// (garbage for collection), and no snapshot.
func TestFailedSnapshotLeavesGarbage(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir)
	tree(t, x, 200)
	before, err := x.Blobs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := taker(x, rootRefused{openStore(t)}, nil, dir).Take(t.Context(), nil); !errors.Is(err, blobstore.ErrUnavailable) {
		t.Fatalf("take: %v, want the store's refusal", err)
	}
	after, err := x.Blobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) <= len(before) {
		t.Fatalf("%d blob records after, %d before: the stored parts were not recorded", len(after), len(before))
	}
	for _, b := range after {
		if b.Pins != 0 {
			t.Fatalf("blob %x pinned by a failed snapshot", b.ID)
		}
	}
	if s, _ := x.Snapshots(); len(s) != 0 {
		t.Fatalf("snapshots %+v", s)
	}
}

// FuzzDumpStream: the dump stream decoder never panics, and a stream it
// accepts in full has its end marker and nothing after it.
func FuzzDumpStream(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 8, 0, 0, 0, 0, 0, 0, 0, 1, 1, 9, 0})
	f.Add([]byte{5, 1, 'k', 0, 0, 7})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &streamReader{r: bufio.NewReader(bytes.NewReader(b))}
		for range len(b) + 1 {
			_, err := d.next()
			if errors.Is(err, io.EOF) {
				if !d.ended || b[len(b)-1] != 0 {
					t.Fatalf("EOF without the end marker last: %x", b)
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("error %v does not wrap ErrDamaged", err)
				}
				return
			}
		}
		t.Fatalf("more records than bytes: %x", b)
	})
}

// A snapshot of a tree that is not consistent (here: an entry whose inode
// record is gone, as a damaged source index would give) fails the
// restore's check and leaves nothing behind.
func TestRestoreChecksTheTree(t *testing.T) {
	dir := t.TempDir()
	x, err := index.Open(t.Context(), dir, index.DefaultConfig(), discard)
	if err != nil {
		t.Fatal(err)
	}
	tree(t, x, 10)
	f, err := x.Lookup(index.RootIno, "ln")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, index.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("inodes")).Delete(binary.BigEndian.AppendUint64(nil, uint64(f.Ino)))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	x, err = index.Open(t.Context(), dir, index.DefaultConfig(), discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = x.Close() }()
	store := openStore(t)
	res, err := taker(x, store, nil, dir).Take(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), store, res.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	_, err = s.RestoreTo(t.Context(), filepath.Join(parent, "state"), index.DefaultConfig(), nil)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "fails its check") {
		t.Fatalf("restore of an inconsistent tree: %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("a failed restore left %v", entries)
	}
}
