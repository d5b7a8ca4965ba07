package index

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func testConfig() Config {
	c := DefaultConfig()
	c.CommitInterval = time.Hour // tests commit explicitly or not at all
	c.CheckpointInterval = time.Hour
	return c
}

// openTest opens an index in dir and checks its consistency when the test
// ends.
func openTest(t *testing.T, dir string) *Index {
	t.Helper()
	x, err := Open(t.Context(), dir, testConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if x.tx == nil {
			return // closed or abandoned by the test
		}
		if err := x.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		if err := x.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := CheckFile(filepath.Join(dir, FileName)); err != nil {
			t.Errorf("consistency check of the closed file: %v", err)
		}
	})
	return x
}

func file(mode uint32) NewNode {
	return NewNode{Mode: syscall.S_IFREG | mode, Uid: 1000, Gid: 1000, ChunkSize: 1 << 20, Now: 1}
}

func dirNode() NewNode { return NewNode{Mode: syscall.S_IFDIR | 0o755, Now: 1} }

// must returns v, failing the test (by panicking, which the testing package
// reports with a stack) when err is set.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func TestCreateLookupErrors(t *testing.T) {
	x := openTest(t, t.TempDir())
	a := must(x.Create(RootIno, "f", file(0o644)))
	if a.Nlink != 1 || a.Uid != 1000 || a.Size != 0 || a.ChunkSize != 1<<20 {
		t.Fatalf("attrs %+v", a)
	}
	got := must(x.Lookup(RootIno, "f"))
	if got != a {
		t.Fatalf("lookup %+v, created %+v", got, a)
	}
	_, err := x.Create(RootIno, "f", file(0o644))
	wantErr(t, err, syscall.EEXIST)
	_, err = x.Lookup(RootIno, "nope")
	wantErr(t, err, syscall.ENOENT)
	_, err = x.Create(RootIno, string(bytesOf('a', 256)), file(0o644))
	wantErr(t, err, syscall.ENAMETOOLONG)
	_, err = x.Create(RootIno, string(bytesOf('a', 255)), file(0o644))
	if err != nil {
		t.Fatal(err)
	}
	_, err = x.Create(a.Ino, "under-file", file(0o644))
	wantErr(t, err, syscall.ENOTDIR)
	odd := "\x01\xff bytes\t\n"
	must(x.Create(RootIno, odd, file(0o600)))
	must(x.Lookup(RootIno, odd))
	root := must(x.GetAttr(RootIno))
	if root.Nlink != 2 {
		t.Fatalf("root nlink %d", root.Nlink)
	}
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestSetgidDirectoryInheritance(t *testing.T) {
	x := openTest(t, t.TempDir())
	d := must(x.Create(RootIno, "d", NewNode{Mode: syscall.S_IFDIR | syscall.S_ISGID | 0o775, Gid: 50, Now: 1}))
	f := must(x.Create(d.Ino, "f", file(0o644)))
	if f.Gid != 50 {
		t.Fatalf("file gid %d, want the directory's 50", f.Gid)
	}
	sub := must(x.Create(d.Ino, "sub", NewNode{Mode: syscall.S_IFDIR | 0o755, Gid: 7, Now: 1}))
	if sub.Gid != 50 || sub.Mode&syscall.S_ISGID == 0 {
		t.Fatalf("subdirectory gid %d mode %o: want gid 50 and setgid", sub.Gid, sub.Mode)
	}
}

func TestRmdirAndUnlink(t *testing.T) {
	x := openTest(t, t.TempDir())
	d := must(x.Create(RootIno, "d", dirNode()))
	must(x.Create(d.Ino, "f", file(0o644)))
	wantErr(t, x.Rmdir(RootIno, "d", 2), syscall.ENOTEMPTY)
	wantErr(t, x.Unlink(RootIno, "d", 2), syscall.EISDIR)
	wantErr(t, x.Rmdir(d.Ino, "f", 2), syscall.ENOTDIR)
	if err := x.Unlink(d.Ino, "f", 2); err != nil {
		t.Fatal(err)
	}
	if err := x.Rmdir(RootIno, "d", 2); err != nil {
		t.Fatal(err)
	}
	_, err := x.GetAttr(d.Ino)
	wantErr(t, err, syscall.ENOENT)
	if s := must(x.Stats()); s.Inodes != 1 {
		t.Fatalf("inodes %d, want 1", s.Inodes)
	}
}

func TestHardLinksAndOrphans(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "a", file(0o644)))
	ref := must(x.NewStagedChunk(f.Ino, 0))
	l := must(x.Link(f.Ino, RootIno, "b", 2))
	if l.Nlink != 2 {
		t.Fatalf("nlink %d after link", l.Nlink)
	}
	noErr(t, x.Unlink(RootIno, "a", 3))
	if a := must(x.GetAttr(f.Ino)); a.Nlink != 1 {
		t.Fatalf("nlink %d", a.Nlink)
	}
	noErr(t, x.OpenInode(f.Ino))
	noErr(t, x.OpenInode(f.Ino))
	noErr(t, x.Unlink(RootIno, "b", 4))
	if a := must(x.GetAttr(f.Ino)); a.Nlink != 0 {
		t.Fatalf("open unlinked file: nlink %d", a.Nlink)
	}
	noErr(t, x.CloseInode(f.Ino)) // still open once: kept
	must(x.GetAttr(f.Ino))
	noErr(t, x.CloseInode(f.Ino))
	_, err := x.GetAttr(f.Ino)
	wantErr(t, err, syscall.ENOENT)
	wantErr(t, x.OpenInode(f.Ino), syscall.ENOENT)
	if released := x.TakeReleased(); len(released) != 0 {
		t.Fatalf("staging released before the commit: %v", released)
	}
	noErr(t, x.Commit(t.Context()))
	select {
	case <-x.Released():
	default:
		t.Fatal("no release signalled after the commit")
	}
	if released := x.TakeReleased(); len(released) != 1 || released[0] != ref.StagingID {
		t.Fatalf("released %v, want [%d]", released, ref.StagingID)
	}
}

func TestRename(t *testing.T) {
	twoDirs := func(t *testing.T, x *Index) (Ino, Ino) {
		a := must(x.Create(RootIno, "A", dirNode()))
		b := must(x.Create(RootIno, "B", dirNode()))
		return a.Ino, b.Ino
	}
	for _, tc := range []struct {
		name      string
		prepare   func(t *testing.T, x *Index, a, b Ino)
		from, to  string
		flags     uint32
		want      error
		srcGone   bool
		checkDest string // name in b expected afterwards
	}{
		{name: "file across dirs", prepare: func(t *testing.T, x *Index, a, b Ino) { must(x.Create(a, "f", file(0o644))) },
			from: "f", to: "g", srcGone: true, checkDest: "g"},
		{name: "over existing file", prepare: func(t *testing.T, x *Index, a, b Ino) {
			must(x.Create(a, "f", file(0o644)))
			must(x.Create(b, "g", file(0o600)))
		}, from: "f", to: "g", srcGone: true, checkDest: "g"},
		{name: "noreplace existing", prepare: func(t *testing.T, x *Index, a, b Ino) {
			must(x.Create(a, "f", file(0o644)))
			must(x.Create(b, "g", file(0o600)))
		}, from: "f", to: "g", flags: RenameNoReplace, want: syscall.EEXIST},
		{name: "exchange missing", prepare: func(t *testing.T, x *Index, a, b Ino) { must(x.Create(a, "f", file(0o644))) },
			from: "f", to: "g", flags: RenameExchange, want: syscall.ENOENT},
		{name: "exchange dir and file", prepare: func(t *testing.T, x *Index, a, b Ino) {
			d := must(x.Create(a, "d", dirNode()))
			must(x.Create(d.Ino, "inner", file(0o644)))
			must(x.Create(b, "g", file(0o600)))
		}, from: "d", to: "g", flags: RenameExchange, checkDest: "g"},
		{name: "dir over nonempty dir", prepare: func(t *testing.T, x *Index, a, b Ino) {
			must(x.Create(a, "d", dirNode()))
			e := must(x.Create(b, "e", dirNode()))
			must(x.Create(e.Ino, "x", file(0o644)))
		}, from: "d", to: "e", want: syscall.ENOTEMPTY},
		{name: "dir over empty dir", prepare: func(t *testing.T, x *Index, a, b Ino) {
			must(x.Create(a, "d", dirNode()))
			must(x.Create(b, "e", dirNode()))
		}, from: "d", to: "e", srcGone: true, checkDest: "e"},
		{name: "dir over file", prepare: func(t *testing.T, x *Index, a, b Ino) {
			must(x.Create(a, "d", dirNode()))
			must(x.Create(b, "g", file(0o644)))
		}, from: "d", to: "g", want: syscall.ENOTDIR},
		{name: "file over dir", prepare: func(t *testing.T, x *Index, a, b Ino) {
			must(x.Create(a, "f", file(0o644)))
			must(x.Create(b, "e", dirNode()))
		}, from: "f", to: "e", want: syscall.EISDIR},
		{name: "whiteout", prepare: func(t *testing.T, x *Index, a, b Ino) { must(x.Create(a, "f", file(0o644))) },
			from: "f", to: "g", flags: RenameWhiteout, want: syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := openTest(t, t.TempDir())
			a, b := twoDirs(t, x)
			tc.prepare(t, x, a, b)
			src := must(x.Lookup(a, tc.from))
			err := x.Rename(a, tc.from, b, tc.to, tc.flags, 5)
			wantErr(t, err, tc.want)
			if tc.want != nil {
				return
			}
			if _, err := x.Lookup(a, tc.from); tc.srcGone != errors.Is(err, syscall.ENOENT) {
				t.Fatalf("source lookup after rename: %v", err)
			}
			if tc.checkDest != "" {
				if got := must(x.Lookup(b, tc.checkDest)); got.Ino != src.Ino {
					t.Fatalf("destination holds inode %d, want %d", got.Ino, src.Ino)
				}
			}
		})
	}
}

func TestRenameDirIntoItself(t *testing.T) {
	x := openTest(t, t.TempDir())
	d := must(x.Create(RootIno, "d", dirNode()))
	e := must(x.Create(d.Ino, "e", dirNode()))
	wantErr(t, x.Rename(RootIno, "d", e.Ino, "x", 0, 2), syscall.EINVAL)
	wantErr(t, x.Rename(RootIno, "d", d.Ino, "x", 0, 2), syscall.EINVAL)
	o := must(x.Create(RootIno, "o", dirNode()))
	wantErr(t, x.Rename(RootIno, "o", e.Ino, "d2", RenameExchange, 2), syscall.ENOENT)
	must(x.Create(e.Ino, "leaf", dirNode()))
	wantErr(t, x.Rename(e.Ino, "leaf", RootIno, "d", RenameExchange, 2), syscall.EINVAL)
	_ = o
}

func TestXattrFlags(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	wantErr(t, x.SetXattr(f.Ino, "user.a", []byte("1"), XattrReplace, 2), syscall.ENODATA)
	noErr(t, x.SetXattr(f.Ino, "user.a", []byte("1"), XattrCreate, 2))
	wantErr(t, x.SetXattr(f.Ino, "user.a", []byte("2"), XattrCreate, 2), syscall.EEXIST)
	noErr(t, x.SetXattr(f.Ino, "user.a", []byte("3"), XattrReplace, 2))
	if v := must(x.GetXattr(f.Ino, "user.a")); string(v) != "3" {
		t.Fatalf("value %q", v)
	}
	noErr(t, x.SetXattr(f.Ino, "user.b", nil, 0, 2))
	if v := must(x.GetXattr(f.Ino, "user.b")); len(v) != 0 {
		t.Fatalf("empty value read back as %q", v)
	}
	if names := must(x.ListXattr(f.Ino)); len(names) != 2 || names[0] != "user.a" || names[1] != "user.b" {
		t.Fatalf("names %q", names)
	}
	wantErr(t, x.SetXattr(f.Ino, "user.big", make([]byte, MaxXattrValueLen+1), 0, 2), syscall.E2BIG)
	noErr(t, x.RemoveXattr(f.Ino, "user.a", 3))
	wantErr(t, x.RemoveXattr(f.Ino, "user.a", 3), syscall.ENODATA)
	_, err := x.GetXattr(f.Ino, "user.a")
	wantErr(t, err, syscall.ENODATA)
}

func TestTruncateDropsChunks(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	var refs []ChunkRef
	for n := range uint64(4) {
		refs = append(refs, must(x.NewStagedChunk(f.Ino, n)))
	}
	must(x.NoteWrite(f.Ino, 4<<20, 2))
	size := uint64(1<<20 + 1)
	a := must(x.SetAttr(f.Ino, SetAttrIn{Size: &size, Now: 3}))
	if a.Size != size {
		t.Fatalf("size %d", a.Size)
	}
	chunks := must(x.Chunks(f.Ino))
	if len(chunks) != 2 || chunks[1].N != 1 {
		t.Fatalf("chunks after truncate: %+v", chunks)
	}
	noErr(t, x.Commit(t.Context()))
	if released := x.TakeReleased(); len(released) != 2 || released[0] != refs[2].StagingID || released[1] != refs[3].StagingID {
		t.Fatalf("released %v", released)
	}
}

func TestJournalReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	f := must(x.Create(RootIno, "committed", file(0o644)))
	noErr(t, x.Commit(t.Context()))
	g := must(x.Create(RootIno, "journaled", file(0o600)))
	noErr(t, x.SetXattr(g.Ino, "user.k", []byte("v"), 0, 2))
	noErr(t, x.Rename(RootIno, "committed", RootIno, "renamed", 0, 3))
	x.Abandon() // like kill -9: nothing committed since Sync

	y := openTest(t, dir)
	if a := must(y.Lookup(RootIno, "renamed")); a.Ino != f.Ino {
		t.Fatalf("renamed: inode %d want %d", a.Ino, f.Ino)
	}
	if v := must(y.GetXattr(g.Ino, "user.k")); string(v) != "v" {
		t.Fatalf("xattr %q", v)
	}
	_, err := y.Lookup(RootIno, "committed")
	wantErr(t, err, syscall.ENOENT)
	// New inode numbers continue after the replayed ones.
	h := must(y.Create(RootIno, "after", file(0o644)))
	if h.Ino <= g.Ino {
		t.Fatalf("inode number %d reused (last was %d)", h.Ino, g.Ino)
	}
}

func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	must(x.Create(RootIno, "a", file(0o644)))
	must(x.Create(RootIno, "b", file(0o644)))
	x.Abandon()
	// Cut the last record in half, as a power loss mid-write could.
	jp := filepath.Join(dir, JournalName)
	st, err := os.Stat(jp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(jp, st.Size()-10); err != nil {
		t.Fatal(err)
	}
	y := openTest(t, dir)
	must(y.Lookup(RootIno, "a"))
	_, err = y.Lookup(RootIno, "b")
	wantErr(t, err, syscall.ENOENT)
}

func TestFailedOperationLeavesNoTrace(t *testing.T) {
	x := openTest(t, t.TempDir())
	must(x.Create(RootIno, "keep", file(0o644)))
	boom := errors.New("boom")
	err := x.update(func(w *wtx) error {
		if err := w.put(bDirents, direntKey(RootIno, "half"), encodeDirent(99, syscall.S_IFREG)); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	if _, err := x.Lookup(RootIno, "half"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("half-done operation visible: %v", err)
	}
	must(x.Lookup(RootIno, "keep"))
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	noErr(t, x.update(func(w *wtx) error {
		return w.put(bMeta, keySchema, []byte{0, 0, 0, SchemaVersion + 1})
	}))
	noErr(t, x.Close())
	_, err := Open(t.Context(), dir, testConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	wantErr(t, err, ErrNewerSchema)
}

func TestMigrationFromEmpty(t *testing.T) {
	x := openTest(t, t.TempDir())
	root := must(x.GetAttr(RootIno))
	if !root.IsDir() || root.Parent != RootIno || root.Nlink != 2 {
		t.Fatalf("root after migration: %+v", root)
	}
	if err := x.Check(); err != nil {
		t.Fatal(err)
	}
}

// A reopened index must number new journal records after the last folded
// one: replay skips records at or below it, so numbering from zero again
// lost every operation of a session that crashed before its first commit.
func TestJournalSurvivesCrashAfterReopen(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	for _, name := range []string{"a", "b", "c"} {
		must(x.Create(RootIno, name, file(0o644)))
	}
	noErr(t, x.Close())

	y := openTest(t, dir)
	d := must(y.Create(RootIno, "after-reopen", file(0o644)))
	y.Abandon() // kill -9 before anything was committed

	z := openTest(t, dir)
	if a := must(z.Lookup(RootIno, "after-reopen")); a.Ino != d.Ino {
		t.Fatalf("after-reopen: inode %d, want %d", a.Ino, d.Ino)
	}
}

// Where several errors apply, the index reports the one Linux does.
func TestErrnoOrder(t *testing.T) {
	long := string(bytesOf('x', MaxNameLen+1))
	for _, tc := range []struct {
		name string
		op   func(x *Index, d, f Ino) error
		want error
	}{
		{"link directory onto existing name", func(x *Index, d, f Ino) error {
			_, err := x.Link(d, RootIno, "f", 2)
			return err
		}, syscall.EEXIST},
		{"rename file onto the directory holding it", func(x *Index, d, f Ino) error {
			return x.Rename(d, "inner", RootIno, "d", 0, 2)
		}, syscall.ENOTEMPTY},
		{"exchange file with the directory holding it", func(x *Index, d, f Ino) error {
			return x.Rename(d, "inner", RootIno, "d", RenameExchange, 2)
		}, syscall.EINVAL},
		{"unlink too long a name", func(x *Index, d, f Ino) error { return x.Unlink(RootIno, long, 2) }, syscall.ENAMETOOLONG},
		{"rmdir too long a name", func(x *Index, d, f Ino) error { return x.Rmdir(RootIno, long, 2) }, syscall.ENAMETOOLONG},
		{"rename too long a name", func(x *Index, d, f Ino) error { return x.Rename(RootIno, long, RootIno, "g", 0, 2) }, syscall.ENAMETOOLONG},
		{"rename missing name onto too long a name", func(x *Index, d, f Ino) error {
			return x.Rename(RootIno, "missing", RootIno, long, 0, 2)
		}, syscall.ENOENT},
		{"lookup in a file", func(x *Index, d, f Ino) error {
			_, err := x.Lookup(f, "x")
			return err
		}, syscall.ENOTDIR},
		{"symlink with empty target", func(x *Index, d, f Ino) error {
			_, err := x.Create(RootIno, "s", NewNode{Mode: syscall.S_IFLNK | 0o777, Now: 2})
			return err
		}, syscall.ENOENT},
		{"symlink with too long a target onto an existing name", func(x *Index, d, f Ino) error {
			_, err := x.Create(RootIno, "f", NewNode{Mode: syscall.S_IFLNK | 0o777, Target: string(bytesOf('t', 4096)), Now: 2})
			return err
		}, syscall.ENAMETOOLONG},
		{"removexattr with empty name", func(x *Index, d, f Ino) error { return x.RemoveXattr(f, "", 2) }, syscall.ERANGE},
		{"removexattr with too long a name", func(x *Index, d, f Ino) error {
			return x.RemoveXattr(f, string(bytesOf('k', MaxXattrNameLen+1)), 2)
		}, syscall.ERANGE},
		{"chunk of a directory", func(x *Index, d, f Ino) error {
			return x.SetChunk(d, 0, ChunkRef{Kind: ChunkStaged, StagingID: 1})
		}, syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := openTest(t, t.TempDir())
			d := must(x.Create(RootIno, "d", dirNode()))
			must(x.Create(d.Ino, "inner", file(0o644)))
			f := must(x.Create(RootIno, "f", file(0o644)))
			wantErr(t, tc.op(x, d.Ino, f.Ino), tc.want)
		})
	}
}

// A directory removed while open is an orphan: nothing may appear in it, or
// its entries would outlive it.
func TestRemovedDirectoryAcceptsNothing(t *testing.T) {
	x := openTest(t, t.TempDir())
	d := must(x.Create(RootIno, "d", dirNode()))
	f := must(x.Create(RootIno, "f", file(0o644)))
	noErr(t, x.OpenInode(d.Ino))
	noErr(t, x.Rmdir(RootIno, "d", 2))
	_, err := x.Create(d.Ino, "new", file(0o644))
	wantErr(t, err, syscall.ENOENT)
	_, err = x.Link(f.Ino, d.Ino, "link", 3)
	wantErr(t, err, syscall.ENOENT)
	wantErr(t, x.Rename(RootIno, "f", d.Ino, "moved", 0, 3), syscall.ENOENT)
	_, err = x.Create(d.Ino, string(bytesOf('x', MaxNameLen+1)), file(0o644))
	wantErr(t, err, syscall.ENOENT)
	if ents := must(x.ReadDir(d.Ino)); len(ents) != 0 {
		t.Fatalf("removed directory lists %v", ents)
	}
	noErr(t, x.CloseInode(d.Ino))
	_, err = x.GetAttr(d.Ino)
	wantErr(t, err, syscall.ENOENT)
}

// Exchanging two names of one inode does nothing, as rename does: no times
// change.
func TestRenameExchangeHardLinksIsNoop(t *testing.T) {
	x := openTest(t, t.TempDir())
	d := must(x.Create(RootIno, "d", dirNode()))
	f := must(x.Create(RootIno, "a", file(0o644)))
	must(x.Link(f.Ino, d.Ino, "b", 2))
	before := []Attr{must(x.GetAttr(RootIno)), must(x.GetAttr(d.Ino)), must(x.GetAttr(f.Ino))}
	noErr(t, x.Rename(RootIno, "a", d.Ino, "b", RenameExchange, 3))
	after := []Attr{must(x.GetAttr(RootIno)), must(x.GetAttr(d.Ino)), must(x.GetAttr(f.Ino))}
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("inode %d changed: %+v → %+v", before[i].Ino, before[i], after[i])
		}
	}
}

// TestPunchChunks: punched chunks become holes, others stay, the size does
// not change, the times do, and the punched chunks' staging files are
// released after the commit.
func TestPunchChunks(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	var refs []ChunkRef
	for n := range uint64(5) {
		refs = append(refs, must(x.NewStagedChunk(f.Ino, n)))
	}
	must(x.NoteWrite(f.Ino, 5<<20, 2))
	a := must(x.PunchChunks(f.Ino, 1, 3, 7))
	if a.Size != 5<<20 || a.Mtime != 7 || a.Ctime != 7 {
		t.Fatalf("after punching: %+v", a)
	}
	var left []uint64
	for _, c := range must(x.Chunks(f.Ino)) {
		left = append(left, c.N)
	}
	if !slices.Equal(left, []uint64{0, 3, 4}) {
		t.Fatalf("chunks left %v, want [0 3 4]", left)
	}
	if released := x.TakeReleased(); len(released) != 0 {
		t.Fatalf("released before the commit: %v", released)
	}
	noErr(t, x.Commit(t.Context()))
	if released := x.TakeReleased(); !slices.Equal(released, []uint64{refs[1].StagingID, refs[2].StagingID}) {
		t.Fatalf("released %v, want the staging files of chunks 1 and 2", released)
	}
	d := must(x.Create(RootIno, "d", dirNode()))
	_, err := x.PunchChunks(d.Ino, 0, 1, 8)
	wantErr(t, err, syscall.EINVAL)
}

// TestSyncLetsOperationsProceed: while Sync waits for the journal's disk
// flush, other operations run; callers that arrive meanwhile share the
// next flush; and an operation acknowledged before Sync returned is
// durable without a commit of the bbolt file.
func TestSyncLetsOperationsProceed(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	entered, release := make(chan struct{}, 16), make(chan struct{})
	var flushes atomic.Int32
	cfg.flushJournal = func(f *os.File) error {
		flushes.Add(1)
		entered <- struct{}{}
		<-release
		return f.Sync()
	}
	x, err := Open(t.Context(), dir, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	must(x.Create(RootIno, "before", file(0o644)))
	synced := make(chan error, 3)
	go func() { synced <- x.Sync(t.Context()) }()
	<-entered
	// The flush is under way: metadata operations must not wait for it.
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			if _, err := x.Create(RootIno, fmt.Sprintf("during-%d", i), file(0o644)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("operations waited for the journal flush")
	}
	// Two more callers while the first flush is still blocked: they
	// share one flush after it.
	go func() { synced <- x.Sync(t.Context()) }()
	go func() { synced <- x.Sync(t.Context()) }()
	close(release)
	for range 3 {
		if err := <-synced; err != nil {
			t.Fatal(err)
		}
	}
	if n := flushes.Load(); n != 2 {
		t.Errorf("%d journal flushes for three Syncs, want 2 (the last two shared one)", n)
	}
	// A crash now (nothing committed to the bbolt file) keeps everything.
	x.Abandon()
	x = openTest(t, dir)
	for _, name := range []string{"before", "during-0", "during-199"} {
		if _, err := x.Lookup(RootIno, name); err != nil {
			t.Errorf("%s after a crash: %v", name, err)
		}
	}
}

// TestKillPrivileges: a write removes capabilities and, for a caller
// without CAP_FSETID, setuid and group-executable setgid; it journals
// nothing when there is nothing to clear; chown and truncate clear them
// in the same operation, directories keep setgid through chown.
func TestKillPrivileges(t *testing.T) {
	x := openTest(t, t.TempDir())
	mode := func(ino Ino) uint32 { return must(x.GetAttr(ino)).Mode & 0o7777 }
	hasCap := func(ino Ino) bool { _, err := x.GetXattr(ino, "security.capability"); return err == nil }
	f := must(x.Create(RootIno, "f", file(0o6755)))
	noErr(t, x.SetXattr(f.Ino, "security.capability", []byte("cap"), 0, 2))
	noErr(t, x.KillPrivileges(f.Ino, false, 3))
	if mode(f.Ino) != 0o6755 || hasCap(f.Ino) {
		t.Fatalf("write by root: mode %o, capability %v; want 6755 and none", mode(f.Ino), hasCap(f.Ino))
	}
	seq := x.seq
	noErr(t, x.KillPrivileges(must(x.Create(RootIno, "plain", file(0o644))).Ino, true, 4))
	if x.seq != seq+1 {
		t.Fatalf("a write with nothing to clear journaled %d records, want none", x.seq-seq-1)
	}
	noErr(t, x.KillPrivileges(f.Ino, true, 5))
	if mode(f.Ino) != 0o755 {
		t.Fatalf("write by a user: mode %o, want 755", mode(f.Ino))
	}
	g := must(x.Create(RootIno, "g", file(0o2745))) // setgid without group execute
	noErr(t, x.KillPrivileges(g.Ino, true, 6))
	if mode(g.Ino) != 0o2745 {
		t.Fatalf("setgid without group execute after a write: %o, want 2745", mode(g.Ino))
	}
	h := must(x.Create(RootIno, "h", file(0o6775)))
	noErr(t, x.SetXattr(h.Ino, "security.capability", []byte("cap"), 0, 2))
	uid := uint32(7)
	must(x.SetAttr(h.Ino, SetAttrIn{Uid: &uid, Now: 7}))
	if mode(h.Ino) != 0o775 || hasCap(h.Ino) {
		t.Fatalf("after chown: mode %o, capability %v; want 775 and none", mode(h.Ino), hasCap(h.Ino))
	}
	size := uint64(0)
	k := must(x.Create(RootIno, "k", file(0o4755)))
	must(x.SetAttr(k.Ino, SetAttrIn{Size: &size, KillPrivileges: true, Now: 8}))
	if mode(k.Ino) != 0o755 {
		t.Fatalf("after a user's truncate: mode %o, want 755", mode(k.Ino))
	}
	d := must(x.Create(RootIno, "d", NewNode{Mode: syscall.S_IFDIR | 0o2775, Now: 1}))
	must(x.SetAttr(d.Ino, SetAttrIn{Uid: &uid, Now: 9}))
	if mode(d.Ino) != 0o2775 {
		t.Fatalf("a directory's setgid after chown: %o, want 2775", mode(d.Ino))
	}
}
