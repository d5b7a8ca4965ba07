package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/index"
)

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	mustDo(t, unix.Lstat(p, &st))
	return st
}

func TestSetattr(t *testing.T) {
	m := mountTest(t)
	p := m.path("f")
	mustDo(t, os.WriteFile(p, []byte("0123456789"), 0o644))

	mustDo(t, unix.Chmod(p, 0o4751))
	if st := lstat(t, p); st.Mode&0o7777 != 0o4751 || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Fatalf("mode after chmod: %o", st.Mode)
	}
	mustDo(t, os.Chown(p, 1234, 5678))
	if st := lstat(t, p); st.Uid != 1234 || st.Gid != 5678 {
		t.Fatalf("owner after chown: %d:%d", st.Uid, st.Gid)
	}

	// utimensat with explicit times, UTIME_OMIT and UTIME_NOW.
	at := unix.Timespec{Sec: 1000, Nsec: 123}
	mt := unix.Timespec{Sec: 2000, Nsec: 456}
	mustDo(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{at, mt}, 0))
	st := lstat(t, p)
	if st.Atim != at || st.Mtim != mt {
		t.Fatalf("times: atime %v mtime %v", st.Atim, st.Mtim)
	}
	omit := unix.Timespec{Nsec: unix.UTIME_OMIT}
	nowTS := unix.Timespec{Nsec: unix.UTIME_NOW}
	before := time.Now().Add(-time.Second)
	mustDo(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{omit, nowTS}, 0))
	st = lstat(t, p)
	if st.Atim != at {
		t.Fatalf("UTIME_OMIT changed atime to %v", st.Atim)
	}
	if time.Unix(st.Mtim.Unix()).Before(before) {
		t.Fatalf("UTIME_NOW left mtime at %v", time.Unix(st.Mtim.Unix()))
	}

	// Truncate down, then up: the cut bytes must not come back.
	mustDo(t, os.Truncate(p, 4))
	mustDo(t, os.Truncate(p, 8))
	got, err := os.ReadFile(p)
	mustDo(t, err)
	if want := []byte("0123\x00\x00\x00\x00"); !bytes.Equal(got, want) {
		t.Fatalf("after truncate down and up: %q, want %q", got, want)
	}
	var sfs unix.Statfs_t
	mustDo(t, unix.Statfs(m.dir, &sfs))
	if sfs.Namelen != 255 || sfs.Blocks == 0 || sfs.Files == 0 {
		t.Fatalf("statfs: %+v", sfs)
	}
}

func TestOpenFlags(t *testing.T) {
	m := mountTest(t)
	p := m.path("f")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	mustDo(t, err)
	_, err = f.WriteString("hello world")
	mustDo(t, err)
	mustDo(t, f.Close())
	_, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	wantErrno(t, "O_EXCL on an existing file", err, syscall.EEXIST)

	f, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	mustDo(t, err)
	_, err = f.WriteAt([]byte("x"), 0)
	if err == nil {
		t.Fatal("WriteAt on O_APPEND file succeeded")
	}
	_, err = f.WriteString("!")
	mustDo(t, err)
	mustDo(t, f.Close())
	got, _ := os.ReadFile(p)
	if string(got) != "hello world!" {
		t.Fatalf("after append: %q", got)
	}

	f, err = os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	mustDo(t, err)
	mustDo(t, f.Close())
	if st := lstat(t, p); st.Size != 0 {
		t.Fatalf("size after O_TRUNC: %d", st.Size)
	}
}

// TestReadWriteAnyOffset writes at scattered offsets, including past 4 GiB,
// and checks every byte, holes included, against a model.
func TestReadWriteAnyOffset(t *testing.T) {
	m := mountTest(t, func(c *filedata.Config, _ *index.Config) { c.ChunkSize = 64 << 10 })
	p := m.path("sparse")
	f, err := os.Create(p)
	mustDo(t, err)
	defer f.Close()
	type extent struct {
		off  int64
		data []byte
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var writes []extent
	for _, off := range []int64{0, 100, 65535, 65536 - 10, 1 << 20, 5<<30 + 12345, 4<<30 - 3} {
		d := make([]byte, 1+rng.IntN(200000))
		for i := range d {
			d[i] = byte(rng.Uint32())
		}
		_, err := f.WriteAt(d, off)
		mustDo(t, err)
		writes = append(writes, extent{off, d})
	}
	end := int64(0)
	for _, w := range writes {
		end = max(end, w.off+int64(len(w.data)))
	}
	if st := lstat(t, p); st.Size != end {
		t.Fatalf("size %d, want %d", st.Size, end)
	}
	// The expected content at any offset: the last write covering it, else zero.
	expect := func(off int64, n int) []byte {
		out := make([]byte, n)
		for _, w := range writes {
			lo, hi := max(off, w.off), min(off+int64(n), w.off+int64(len(w.data)))
			if lo < hi {
				copy(out[lo-off:hi-off], w.data[lo-w.off:hi-w.off])
			}
		}
		return out
	}
	for _, w := range writes {
		for _, probe := range []int64{w.off - 5000, w.off, w.off + int64(len(w.data)) - 7} {
			if probe < 0 {
				probe = 0
			}
			buf := make([]byte, 70000)
			n, err := f.ReadAt(buf, probe)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			want := expect(probe, int(min(int64(len(buf)), end-probe)))
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("read at %d: %d bytes differ from the model", probe, n)
			}
		}
	}
	// A hole far from any write.
	buf := make([]byte, 4096)
	_, err = f.ReadAt(buf, 3<<30)
	mustDo(t, err)
	if !bytes.Equal(buf, make([]byte, 4096)) {
		t.Fatal("hole did not read as zeros")
	}
}

func TestUnlinkOpenFileKeepsWorking(t *testing.T) {
	m := mountTest(t)
	p := m.path("doomed")
	f, err := os.Create(p)
	mustDo(t, err)
	_, err = f.WriteString("still here")
	mustDo(t, err)
	mustDo(t, os.Remove(p))
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lstat after unlink: %v", err)
	}
	_, err = f.WriteString(", and growing")
	mustDo(t, err)
	got := make([]byte, 64)
	n, err := f.ReadAt(got, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if string(got[:n]) != "still here, and growing" {
		t.Fatalf("read from unlinked file: %q", got[:n])
	}
	var st unix.Stat_t
	mustDo(t, unix.Fstat(int(f.Fd()), &st))
	if st.Nlink != 0 {
		t.Fatalf("nlink of unlinked open file: %d", st.Nlink)
	}
	if m.stagingFiles(t) != 1 {
		t.Fatalf("staging files while open: %d, want 1", m.stagingFiles(t))
	}
	mustDo(t, f.Close())
	// The space comes back once the deletion is committed.
	mustDo(t, m.idx.Commit(t.Context()))
	waitFor(t, "staging file removed after last close", func() bool { return m.stagingFiles(t) == 0 })
	s, err := m.idx.Stats()
	mustDo(t, err)
	if s.Inodes != 1 {
		t.Fatalf("inodes after last close: %d, want 1 (the root)", s.Inodes)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s", what)
}

func TestRenameFlags(t *testing.T) {
	m := mountTest(t)
	mk := func(name, content string) {
		mustDo(t, os.WriteFile(m.path(name), []byte(content), 0o644))
	}
	read := func(name string) string {
		b, err := os.ReadFile(m.path(name))
		mustDo(t, err)
		return string(b)
	}
	rename2 := func(a, b string, flags uint) error {
		return unix.Renameat2(unix.AT_FDCWD, m.path(a), unix.AT_FDCWD, m.path(b), flags)
	}
	mk("a", "A")
	mk("b", "B")
	wantErrno(t, "RENAME_NOREPLACE over a file", rename2("a", "b", unix.RENAME_NOREPLACE), syscall.EEXIST)
	mustDo(t, rename2("a", "c", unix.RENAME_NOREPLACE))
	mustDo(t, rename2("c", "b", unix.RENAME_EXCHANGE))
	if read("b") != "A" || read("c") != "B" {
		t.Fatalf("after exchange: b=%q c=%q", read("b"), read("c"))
	}
	wantErrno(t, "RENAME_EXCHANGE with a missing target", rename2("b", "nothing", unix.RENAME_EXCHANGE), syscall.ENOENT)

	// Directories: exchange across parents, replace an empty one, refuse
	// a non-empty one and moves into themselves.
	mustDo(t, os.MkdirAll(m.path("d1", "sub"), 0o755))
	mustDo(t, os.MkdirAll(m.path("d2"), 0o755))
	mk("d2/file", "F")
	mustDo(t, rename2("d1/sub", "d2/file", unix.RENAME_EXCHANGE))
	if st := lstat(t, m.path("d2", "file")); st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		t.Fatal("exchange did not move the directory")
	}
	if read("d1/sub") != "F" {
		t.Fatal("exchange did not move the file")
	}
	mustDo(t, os.Mkdir(m.path("empty"), 0o755))
	// (os.Rename refuses directory targets itself; use the system call.)
	mustDo(t, unix.Rename(m.path("d2", "file"), m.path("empty")))
	wantErrno(t, "directory over non-empty directory", unix.Rename(m.path("empty"), m.path("d1")), syscall.ENOTEMPTY)
	mustDo(t, os.MkdirAll(m.path("p", "q"), 0o755))
	wantErrno(t, "directory into itself", os.Rename(m.path("p"), m.path("p", "q", "r")), syscall.EINVAL)
	wantErrno(t, "directory over a file", os.Rename(m.path("p"), m.path("b")), syscall.ENOTDIR)
	wantErrno(t, "file over a directory", unix.Rename(m.path("b"), m.path("p")), syscall.EISDIR)
	// Link counts of directories follow their subdirectories.
	if st := lstat(t, m.path("d1")); st.Nlink != 2 {
		t.Fatalf("d1 nlink %d, want 2", st.Nlink)
	}
	if st := lstat(t, m.dir); st.Nlink != 2+4 { // d1, d2, empty, p
		t.Fatalf("root nlink %d, want 6", st.Nlink)
	}
}

func TestLinksSymlinksSpecialFiles(t *testing.T) {
	m := mountTest(t)
	mustDo(t, os.WriteFile(m.path("orig"), []byte("data"), 0o644))
	mustDo(t, os.Link(m.path("orig"), m.path("hard")))
	if st := lstat(t, m.path("orig")); st.Nlink != 2 {
		t.Fatalf("nlink %d", st.Nlink)
	}
	if a, b := lstat(t, m.path("orig")), lstat(t, m.path("hard")); a.Ino != b.Ino {
		t.Fatal("hard link has another inode number")
	}
	mustDo(t, os.Symlink("orig", m.path("sym")))
	target, err := os.Readlink(m.path("sym"))
	mustDo(t, err)
	if target != "orig" {
		t.Fatalf("readlink: %q", target)
	}
	if b, _ := os.ReadFile(m.path("sym")); string(b) != "data" {
		t.Fatalf("through symlink: %q", b)
	}
	mustDo(t, unix.Mkfifo(m.path("fifo"), 0o600))
	if st := lstat(t, m.path("fifo")); st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		t.Fatalf("fifo mode %o", st.Mode)
	}
	mustDo(t, unix.Mknod(m.path("sock"), syscall.S_IFSOCK|0o600, 0))
	if st := lstat(t, m.path("sock")); st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		t.Fatalf("socket mode %o", st.Mode)
	}
	mustDo(t, unix.Mknod(m.path("null"), syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	if st := lstat(t, m.path("null")); st.Rdev != unix.Mkdev(1, 3) {
		t.Fatalf("device number %x", st.Rdev)
	}
	// A FIFO on the mount works as a FIFO.
	done := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(m.path("fifo"), os.O_WRONLY, 0)
		if err == nil {
			_, err = w.WriteString("through the pipe")
			w.Close()
		}
		done <- err
	}()
	r, err := os.Open(m.path("fifo"))
	mustDo(t, err)
	got, err := io.ReadAll(r)
	r.Close()
	mustDo(t, err)
	mustDo(t, <-done)
	if string(got) != "through the pipe" {
		t.Fatalf("fifo carried %q", got)
	}
}

func TestXattrs(t *testing.T) {
	m := mountTest(t)
	p := m.path("f")
	mustDo(t, os.WriteFile(p, nil, 0o644))
	wantErrno(t, "XATTR_REPLACE of a missing attribute", unix.Setxattr(p, "user.a", []byte("1"), unix.XATTR_REPLACE), syscall.ENODATA)
	mustDo(t, unix.Setxattr(p, "user.a", []byte("1"), unix.XATTR_CREATE))
	wantErrno(t, "XATTR_CREATE of an existing attribute", unix.Setxattr(p, "user.a", []byte("2"), unix.XATTR_CREATE), syscall.EEXIST)
	mustDo(t, unix.Setxattr(p, "user.a", []byte("value"), unix.XATTR_REPLACE))
	mustDo(t, unix.Setxattr(p, "user.empty", nil, 0))
	buf := make([]byte, 100)
	n, err := unix.Getxattr(p, "user.a", buf)
	mustDo(t, err)
	if string(buf[:n]) != "value" {
		t.Fatalf("getxattr: %q", buf[:n])
	}
	_, err = unix.Getxattr(p, "user.a", make([]byte, 2))
	wantErrno(t, "getxattr into a small buffer", err, syscall.ERANGE)
	n, err = unix.Listxattr(p, buf)
	mustDo(t, err)
	if got := string(buf[:n]); got != "user.a\x00user.empty\x00" {
		t.Fatalf("listxattr: %q", got)
	}
	mustDo(t, unix.Removexattr(p, "user.a"))
	wantErrno(t, "removexattr of a missing attribute", unix.Removexattr(p, "user.a"), syscall.ENODATA)
	_, err = unix.Getxattr(p, "user.a", buf)
	wantErrno(t, "getxattr after remove", err, syscall.ENODATA)
	// Symlinks and directories carry xattrs too (trusted.* for symlinks).
	mustDo(t, os.Mkdir(m.path("d"), 0o755))
	mustDo(t, unix.Setxattr(m.path("d"), "user.dir", []byte("x"), 0))
}

func TestErrnos(t *testing.T) {
	m := mountTest(t)
	mustDo(t, os.Mkdir(m.path("d"), 0o755))
	mustDo(t, os.WriteFile(m.path("d", "f"), nil, 0o644))
	_, err := os.Stat(m.path("missing"))
	wantErrno(t, "stat of a missing name", err, syscall.ENOENT)
	wantErrno(t, "mkdir over a directory", os.Mkdir(m.path("d"), 0o755), syscall.EEXIST)
	wantErrno(t, "rmdir of a non-empty directory", syscall.Rmdir(m.path("d")), syscall.ENOTEMPTY)
	wantErrno(t, "rmdir of a file", syscall.Rmdir(m.path("d", "f")), syscall.ENOTDIR)
	wantErrno(t, "unlink of a directory", syscall.Unlink(m.path("d")), syscall.EISDIR)
	_, err = os.Create(m.path("d", "f", "x"))
	wantErrno(t, "create under a file", err, syscall.ENOTDIR)
	long := strings.Repeat("n", 256)
	_, err = os.Create(m.path(long))
	wantErrno(t, "256-byte name", err, syscall.ENAMETOOLONG)
	mustDo(t, os.WriteFile(m.path(strings.Repeat("n", 255)), []byte("ok"), 0o644))
	// Any byte but '/' and NUL is a valid name.
	var odd []byte
	for c := 1; c < 256; c++ {
		if c != '/' {
			odd = append(odd, byte(c))
		}
	}
	for _, name := range []string{string(odd[:200]), string(odd[200:]), " lead and trail ", "\n", "ünïcødé ☃"} {
		mustDo(t, os.WriteFile(m.path(name), []byte(name), 0o644))
		got, err := os.ReadFile(m.path(name))
		mustDo(t, err)
		if string(got) != name {
			t.Fatalf("name %q: content %q", name, got)
		}
	}
	entries, err := os.ReadDir(m.dir)
	mustDo(t, err)
	if len(entries) != 7 {
		t.Fatalf("%d entries in root, want 7", len(entries))
	}
}

func TestFallocate(t *testing.T) {
	m := mountTest(t)
	f, err := os.Create(m.path("f"))
	mustDo(t, err)
	defer f.Close()
	mustDo(t, unix.Fallocate(int(f.Fd()), 0, 0, 3<<20))
	if st := lstat(t, m.path("f")); st.Size != 3<<20 {
		t.Fatalf("size after fallocate: %d", st.Size)
	}
	mustDo(t, unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 8<<20))
	if st := lstat(t, m.path("f")); st.Size != 3<<20 {
		t.Fatalf("KEEP_SIZE changed the size to %d", st.Size)
	}

	// Punch a hole and zero a range through the kernel, as fsx does, and
	// compare with the same calls on the host filesystem.
	ref, err := os.Create(filepath.Join(t.TempDir(), "ref"))
	mustDo(t, err)
	defer ref.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	for _, w := range []*os.File{f, ref} {
		_, err := w.WriteAt(data, 0)
		mustDo(t, err)
	}
	for _, c := range []struct {
		mode      uint32
		off, size int64
	}{
		{unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE, 1000, 5000},
		{unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE, 1 << 20, 3 << 20}, // past the end
		{unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_KEEP_SIZE, 300 << 10, 10},
		{unix.FALLOC_FL_ZERO_RANGE, 3<<20 - 100, 4096}, // grows the file
	} {
		for _, w := range []*os.File{f, ref} {
			mustDo(t, unix.Fallocate(int(w.Fd()), c.mode, c.off, c.size))
		}
		got, err := os.ReadFile(m.path("f"))
		mustDo(t, err)
		want, err := os.ReadFile(ref.Name())
		mustDo(t, err)
		if !bytes.Equal(got, want) {
			t.Fatalf("after fallocate mode %#x at %d+%d: %d bytes differ from the host filesystem's %d", c.mode, c.off, c.size, len(got), len(want))
		}
	}
	err = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE, 0, 4096)
	wantErrno(t, "punch hole without keep-size", err, syscall.EOPNOTSUPP)
	err = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_COLLAPSE_RANGE, 0, 64<<10)
	wantErrno(t, "collapse range", err, syscall.EOPNOTSUPP)
}

// asUser runs a shell command as another user and returns its error.
func asUser(t *testing.T, uid, gid uint32, script string) error {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// TestModeZeroMeansNoAccess: permission bits of 0 read back as 0, and the
// kernel denies other users everything (root keeps its override, as on any
// Linux filesystem).
func TestModeZeroMeansNoAccess(t *testing.T) {
	m := mountTest(t)
	mustDo(t, os.Chmod(filepath.Dir(m.dir), 0o755))
	mustDo(t, os.Chmod(m.dir, 0o777))
	mustDo(t, asUser(t, 1001, 2001, "echo secret > "+m.path("chmodded")+" && chmod 000 "+m.path("chmodded")+" && mkdir "+m.path("dir")+" && chmod 000 "+m.path("dir")))
	fd, err := unix.Open(m.path("created"), unix.O_CREAT|unix.O_WRONLY, 0)
	mustDo(t, err)
	mustDo(t, unix.Close(fd))
	mustDo(t, os.Chown(m.path("created"), 1001, 2001))
	for _, name := range []string{"chmodded", "created", "dir"} {
		if st := lstat(t, m.path(name)); st.Mode&0o7777 != 0 {
			t.Errorf("%s: mode %o, want permission bits 0", name, st.Mode&0o7777)
		}
	}
	for _, script := range []string{
		"cat " + m.path("chmodded"),
		"echo x >> " + m.path("created"),
		"ls " + m.path("dir"),
	} {
		if err := asUser(t, 1002, 2002, script); err == nil {
			t.Errorf("another user: %q succeeded on a mode 0 inode", script)
		}
		if err := asUser(t, 1001, 2001, script); err == nil {
			t.Errorf("the owner: %q succeeded on a mode 0 inode", script)
		}
	}
	if got, err := os.ReadFile(m.path("chmodded")); err != nil || string(got) != "secret\n" {
		t.Errorf("root reading a mode 0 file: %q, %v", got, err)
	}
}

func TestPermissionsOwnershipSticky(t *testing.T) {
	m := mountTest(t)
	// Other users must be able to reach the mountpoint.
	mustDo(t, os.Chmod(filepath.Dir(m.dir), 0o755))
	mustDo(t, os.Chmod(m.dir, 0o777))
	// New inodes take the caller's uid and gid.
	mustDo(t, asUser(t, 1001, 2001, "echo mine > "+m.path("u1file")+" && mkdir "+m.path("u1dir")))
	for _, name := range []string{"u1file", "u1dir"} {
		if st := lstat(t, m.path(name)); st.Uid != 1001 || st.Gid != 2001 {
			t.Fatalf("%s owned by %d:%d, want 1001:2001", name, st.Uid, st.Gid)
		}
	}
	// The kernel enforces modes: another user cannot write a 0644 file.
	if err := asUser(t, 1002, 2002, "echo theirs >> "+m.path("u1file")); err == nil {
		t.Fatal("user 1002 wrote user 1001's 0644 file")
	}
	// Setgid directories pass their group on.
	mustDo(t, os.Mkdir(m.path("shared"), 0o777))
	mustDo(t, os.Chown(m.path("shared"), 0, 3000))
	mustDo(t, unix.Chmod(m.path("shared"), 0o2777))
	mustDo(t, asUser(t, 1001, 2001, "touch "+m.path("shared", "g")+" && mkdir "+m.path("shared", "sub")))
	if st := lstat(t, m.path("shared", "g")); st.Gid != 3000 {
		t.Fatalf("file in setgid directory has gid %d, want 3000", st.Gid)
	}
	if st := lstat(t, m.path("shared", "sub")); st.Gid != 3000 || st.Mode&syscall.S_ISGID == 0 {
		t.Fatalf("directory in setgid directory: gid %d mode %o", st.Gid, st.Mode)
	}
	// Sticky directories: only the owner may delete or rename.
	mustDo(t, os.Mkdir(m.path("tmp"), 0o777))
	mustDo(t, unix.Chmod(m.path("tmp"), 0o1777))
	mustDo(t, asUser(t, 1001, 2001, "touch "+m.path("tmp", "owned")))
	if err := asUser(t, 1002, 2002, "rm -f "+m.path("tmp", "owned")); err == nil {
		t.Fatal("user 1002 deleted user 1001's file in a sticky directory")
	}
	if _, err := os.Stat(m.path("tmp", "owned")); err != nil {
		t.Fatalf("file in sticky directory: %v", err)
	}
	mustDo(t, asUser(t, 1001, 2001, "rm "+m.path("tmp", "owned")))
}

// TestNoStagingFileOutlivesItsInode: deleting, truncating and overwriting
// release staging files, and a remount after a crash sweeps the rest.
func TestNoStagingFileOutlivesItsInode(t *testing.T) {
	state := t.TempDir()
	m := mountAt(t, state, func(c *filedata.Config, _ *index.Config) { c.ChunkSize = 64 << 10 })
	data := bytes.Repeat([]byte("x"), 300<<10) // 5 chunks
	mustDo(t, os.WriteFile(m.path("a"), data, 0o644))
	mustDo(t, os.WriteFile(m.path("b"), data, 0o644))
	if n := m.stagingFiles(t); n != 10 {
		t.Fatalf("%d staging files, want 10", n)
	}
	mustDo(t, os.Truncate(m.path("a"), 70<<10)) // keeps 2 chunks
	mustDo(t, os.Remove(m.path("b")))
	mustDo(t, m.idx.Commit(t.Context()))
	waitFor(t, "staging files released", func() bool { return m.stagingFiles(t) == 2 })
	m.unmount(t)

	// A chunk file nobody refers to (as a crash can leave) is swept at mount.
	stray := filepath.Join(state, "staging", "ff", "ffff") // an ID no chunk has
	mustDo(t, os.MkdirAll(filepath.Dir(stray), 0o700))
	mustDo(t, os.WriteFile(stray, []byte("junk"), 0o600))
	// A referenced chunk file found in the wrong directory is moved back.
	entries, err := os.ReadDir(filepath.Join(state, "staging"))
	mustDo(t, err)
	var moved string
	for _, sd := range entries {
		files, _ := os.ReadDir(filepath.Join(state, "staging", sd.Name()))
		for _, f := range files {
			if f.Name() != "ffff" && moved == "" {
				moved = f.Name()
				mustDo(t, os.MkdirAll(filepath.Join(state, "staging", "elsewhere"), 0o700))
				mustDo(t, os.Rename(filepath.Join(state, "staging", sd.Name(), f.Name()), filepath.Join(state, "staging", "elsewhere", f.Name())))
			}
		}
	}
	m2 := mountAt(t, state)
	if n := m2.stagingFiles(t); n != 2 {
		t.Fatalf("%d staging files after remount, want 2", n)
	}
	got, err := os.ReadFile(m2.path("a"))
	mustDo(t, err)
	if !bytes.Equal(got, data[:70<<10]) {
		t.Fatal("content changed across remount")
	}
}

// TestENOSPC fills a small staging disk: writes fail with ENOSPC, not EIO,
// and what was written before stays readable.
func TestENOSPC(t *testing.T) {
	requireFuse(t)
	state := t.TempDir()
	if err := unix.Mount("tmpfs", state, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a small tmpfs for the staging disk: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(state, unix.MNT_DETACH) })
	m := mountAt(t, state)
	f, err := os.Create(m.path("fill"))
	mustDo(t, err)
	defer f.Close()
	chunk := bytes.Repeat([]byte("z"), 256<<10)
	var werr error
	written := 0
	for range 64 {
		var n int
		n, werr = f.Write(chunk)
		written += n
		if werr != nil {
			break
		}
	}
	wantErrno(t, "writing past a full staging disk", werr, syscall.ENOSPC)
	if written == 0 {
		t.Fatal("nothing could be written")
	}
	got := make([]byte, 1024)
	_, err = f.ReadAt(got, 0)
	mustDo(t, err)
	if !bytes.Equal(got, chunk[:1024]) {
		t.Fatal("data written before the disk filled is wrong")
	}
}

// TestPageCacheCoherent: the kernel keeps its page cache across opens, so
// every way of changing a file must show through every name.
func TestPageCacheCoherent(t *testing.T) {
	m := mountTest(t)
	a, b := m.path("a"), m.path("b")
	read := func(p string) string {
		t.Helper()
		got, err := os.ReadFile(p)
		mustDo(t, err)
		return string(got)
	}
	mustDo(t, os.WriteFile(a, []byte("AAAAAAAA"), 0o644))
	mustDo(t, os.Link(a, b))
	if read(a) != "AAAAAAAA" || read(b) != "AAAAAAAA" {
		t.Fatal("first read")
	}
	mustDo(t, os.WriteFile(b, []byte("BB"), 0o644)) // O_TRUNC through the other name
	if got := read(a); got != "BB" {
		t.Fatalf("after rewrite through a hard link: %q", got)
	}
	mustDo(t, os.Truncate(a, 1))
	if got := read(b); got != "B" {
		t.Fatalf("after truncate: %q", got)
	}
	f, err := os.OpenFile(b, os.O_WRONLY, 0)
	mustDo(t, err)
	_, err = f.WriteAt([]byte("xyz"), 4)
	mustDo(t, err)
	mustDo(t, f.Close())
	if got := read(a); got != "B\x00\x00\x00xyz" {
		t.Fatalf("after a write past the end: %q", got)
	}
}

// TestLargeDeleteFreesSpaceAtOnce: removing a large file returns its staging
// space before unlink returns, as on a local filesystem.
func TestLargeDeleteFreesSpaceAtOnce(t *testing.T) {
	m := mountTest(t, func(_ *filedata.Config, ic *index.Config) { ic.CommitInterval = time.Hour })
	big := bytes.Repeat([]byte("L"), 64<<20+1)
	mustDo(t, os.WriteFile(m.path("big"), big, 0o644))
	mustDo(t, os.WriteFile(m.path("small"), []byte("s"), 0o644))
	mustDo(t, os.WriteFile(m.path("big2"), big, 0o644))
	before := m.stagingFiles(t)
	mustDo(t, os.Remove(m.path("big")))
	if after := m.stagingFiles(t); after != before-9 {
		t.Fatalf("staging files right after removing a %d-byte file: %d, want %d", len(big), after, before-9)
	}
	// Renaming over a large file frees it the same way.
	mustDo(t, os.Rename(m.path("small"), m.path("big2")))
	if after := m.stagingFiles(t); after != 1 {
		t.Fatalf("staging files after renaming over the other large file: %d, want 1", after)
	}
}

// TestReadsRaceTruncatesAndCloses: spliced reads hold the file's I/O state
// until their reply is sent; truncates, writes and closes running at the
// same time must neither deadlock nor make a read return bytes the file
// never held.
func TestReadsRaceTruncatesAndCloses(t *testing.T) {
	m := mountTest(t, func(c *filedata.Config, _ *index.Config) { c.ChunkSize = 64 << 10 })
	p := m.path("f")
	pattern := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	mustDo(t, os.WriteFile(p, pattern, 0o644))
	deadline := time.Now().Add(time.Second)
	errc := make(chan error, 3)
	go func() {
		for time.Now().Before(deadline) {
			if err := os.Truncate(p, int64(rand.IntN(len(pattern)))); err != nil {
				errc <- err
				return
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				errc <- err
				return
			}
			_, err = f.WriteAt(pattern, 0)
			f.Close()
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range 2 {
		go func() {
			buf := make([]byte, 8192)
			for time.Now().Before(deadline) {
				f, err := os.Open(p)
				if err != nil {
					errc <- err
					return
				}
				off := int64(rand.IntN(len(pattern)))
				n, err := f.ReadAt(buf, off)
				f.Close()
				if err != nil && !errors.Is(err, io.EOF) {
					errc <- err
					return
				}
				// Every byte is either the pattern's or a zero from a
				// truncate-then-extend.
				for i := range n {
					if c := buf[i]; c != 0 && c != pattern[off+int64(i)] {
						errc <- fmt.Errorf("byte at %d is %q, the file never held it", off+int64(i), c)
						return
					}
				}
			}
			errc <- nil
		}()
	}
	for range 3 {
		select {
		case err := <-errc:
			mustDo(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("readers and truncates deadlocked")
		}
	}
}

// TestLargeStagedReadsSplice: large reads of staged data are spliced from
// the chunk file to the kernel; none falls back to a copy through the
// daemon (which at 1 MiB requests every one did, and logged).
func TestLargeStagedReadsSplice(t *testing.T) {
	state := t.TempDir()
	m := mountAt(t, state)
	data := bytes.Repeat([]byte("walrus splice 01"), 8<<20/16)
	mustDo(t, os.WriteFile(m.path("f"), data, 0o644))
	m.unmount(t)

	m = mountAt(t, state) // nothing in the page cache
	// The kernel readahead walrusfs mount sets (4 MiB): readahead then asks
	// in requests as large as the mount allows.
	var st unix.Stat_t
	mustDo(t, unix.Stat(m.dir, &st))
	bdi := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	if err := os.WriteFile(bdi, []byte("4096"), 0); err != nil {
		t.Skipf("cannot raise the mount's readahead: %v", err)
	}
	f, err := os.Open(m.path("f"))
	mustDo(t, err)
	defer f.Close()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		mustDo(t, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}
	if m.fs.stagedReads.Load() == 0 {
		t.Fatal("no read was answered from the staged chunk file")
	}
	if n := m.fs.spliceFallbacks.Load(); n != 0 {
		t.Fatalf("%d of %d staged reads could not be spliced", n, m.fs.stagedReads.Load())
	}
}

// TestSmallStagedReadsCopy: small reads of staged data (a random reader's
// pages) are copied rather than spliced, and return the file's bytes.
func TestSmallStagedReadsCopy(t *testing.T) {
	state := t.TempDir()
	m := mountAt(t, state)
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	mustDo(t, os.WriteFile(m.path("f"), data, 0o644))
	m.unmount(t)

	m = mountAt(t, state) // nothing in the page cache
	f, err := os.Open(m.path("f"))
	mustDo(t, err)
	defer f.Close()
	// No readahead: the kernel asks for the pages read, one at a time.
	mustDo(t, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM))
	buf := make([]byte, 4096)
	for i := range 64 {
		off := int64((i*977)%1024) * 4096
		_, err := f.ReadAt(buf, off)
		mustDo(t, err)
		if !bytes.Equal(buf, data[off:off+4096]) {
			t.Fatalf("page at %d differs", off)
		}
	}
	if n := m.fs.smallCopies.Load(); n == 0 {
		t.Fatal("no small read was answered with a copy")
	}
	if n := m.fs.stagedReads.Load(); n != 0 {
		t.Errorf("%d small reads were spliced", n)
	}
}
