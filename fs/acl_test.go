package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/index/posixacl"
)

// requireTools skips the test when a command it runs is missing, or fails
// it where WALRUSFS_REQUIRE_TOOLS is set (CI, whose .ci/run installs them;
// make test installs them too, through scripts/install-tools.sh).
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			msg := fmt.Sprintf("%s is not installed (Debian: apt-get install acl rsync; make test installs them)", name)
			if os.Getenv("WALRUSFS_REQUIRE_TOOLS") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// shell runs a script as root in dir and returns its output, failing the
// test when it fails.
func shell(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// aclTree describes every entry under root, in name order: its path, its
// mode and its ACLs as getfacl prints them (numeric ids).
func aclTree(t *testing.T, root string) string {
	t.Helper()
	var paths []string
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		st := lstat(t, p)
		fmt.Fprintf(&b, "%s %06o\n", rel, st.Mode)
		if d.Type()&fs.ModeSymlink == 0 {
			paths = append(paths, rel)
		}
		return nil
	})
	mustDo(t, err)
	cmd := exec.Command("getfacl", append([]string{"-n", "--"}, paths...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("getfacl in %s: %v\n%s", root, err, out)
	}
	return b.String() + string(out)
}

// sameTree fails the test when the trees under a and b differ in modes or
// ACLs.
func sameTree(t *testing.T, what, want, got string) {
	t.Helper()
	w, g := aclTree(t, want), aclTree(t, got)
	if w != g {
		t.Fatalf("%s: modes and ACLs differ from the host filesystem's\n--- host (%s)\n%s\n--- walrusfs (%s)\n%s", what, want, w, got, g)
	}
}

// openToOthers lets other users reach the mount's root.
func openToOthers(t *testing.T, m *testMount) {
	t.Helper()
	mustDo(t, os.Chmod(filepath.Dir(m.dir), 0o755))
	mustDo(t, os.Chmod(m.dir, 0o777))
}

// TestACLGrantsAndDenies: setfacl grants a named user or group what the
// mode does not, the kernel enforces it for other users, chmod moves the
// mask, and only the owner may change an ACL.
func TestACLGrantsAndDenies(t *testing.T) {
	requireTools(t, "setfacl", "getfacl")
	m := mountTest(t)
	openToOthers(t, m)
	f := m.path("f")
	mustDo(t, os.WriteFile(f, []byte("secret\n"), 0o600))
	mustDo(t, os.Chmod(f, 0o600))
	read := "cat " + f + " >/dev/null"
	write := "echo more >> " + f
	if err := asUser(t, 1002, 2002, read); err == nil {
		t.Fatal("user 1002 read a 0600 file of root's")
	}

	shell(t, m.dir, "setfacl -m u:1002:r,g:2005:rw f")
	if st := lstat(t, f); st.Mode&0o7777 != 0o660 {
		t.Fatalf("mode after setfacl: %o, want 660 (the mask as group bits)", st.Mode&0o7777)
	}
	want := "user::rw-\nuser:1002:r--\ngroup::---\ngroup:2005:rw-\nmask::rw-\nother::---\n\n"
	if got := shell(t, m.dir, "getfacl -n --omit-header f"); got != want {
		t.Fatalf("getfacl:\n%s\nwant\n%s", got, want)
	}
	for _, c := range []struct {
		what       string
		uid, gid   uint32
		script     string
		wantAccess bool
	}{
		{"named user reads", 1002, 2002, read, true},
		{"named user writes", 1002, 2002, write, false},
		{"named group writes", 1004, 2005, write, true},
		{"another user reads", 1003, 2003, read, false},
	} {
		if err := asUser(t, c.uid, c.gid, c.script); (err == nil) != c.wantAccess {
			t.Errorf("%s: error %v, want access %v", c.what, err, c.wantAccess)
		}
	}

	// chmod writes the mask: group-class entries lose what it takes away.
	mustDo(t, os.Chmod(f, 0o600))
	if got := shell(t, m.dir, "getfacl -n --omit-header f"); !strings.Contains(got, "mask::---\n") || !strings.Contains(got, "user:1002:r--") {
		t.Fatalf("getfacl after chmod 600:\n%s", got)
	}
	if err := asUser(t, 1002, 2002, read); err == nil {
		t.Fatal("named user read after chmod 600 emptied the mask")
	}
	mustDo(t, os.Chmod(f, 0o640))
	if err := asUser(t, 1002, 2002, read); err != nil {
		t.Fatalf("named user after chmod 640: %v", err)
	}

	// Only the owner (or root) changes an ACL.
	mustDo(t, os.Chown(f, 1001, 2001))
	if err := asUser(t, 1002, 2002, "setfacl -m u:1002:rw "+f); err == nil || !strings.Contains(err.Error(), "not permitted") {
		t.Fatalf("setfacl by a user who does not own the file: %v, want EPERM", err)
	}
	if err := asUser(t, 1002, 2002, "setfacl -b "+f); err == nil {
		t.Fatal("setfacl -b by a user who does not own the file succeeded")
	}
	mustDo(t, asUser(t, 1001, 2001, "setfacl -m u:1003:r "+f))
	if err := asUser(t, 1003, 2003, read); err != nil {
		t.Fatalf("user 1003 after the owner granted it: %v", err)
	}

	// setfacl -b sets the base entries alone: the ACL goes, and the group
	// bits become the owning group's again (---), as on Linux.
	shell(t, m.dir, "setfacl -b f")
	if st := lstat(t, f); st.Mode&0o7777 != 0o600 {
		t.Fatalf("mode after setfacl -b: %o, want 600", st.Mode&0o7777)
	}
	if _, err := unix.Getxattr(f, posixacl.XattrAccess, make([]byte, 100)); !errors.Is(err, syscall.ENODATA) {
		t.Fatalf("access ACL after setfacl -b: %v", err)
	}
	if err := asUser(t, 1002, 2002, read); err == nil {
		t.Fatal("named user read after setfacl -b")
	}
}

// TestACLClearsSetgid: an owner outside a setgid file's group who sets an
// ACL on it loses the setgid bit, as chmod would take it; one inside keeps it.
func TestACLClearsSetgid(t *testing.T) {
	requireTools(t, "setfacl")
	m := mountTest(t)
	openToOthers(t, m)
	for _, c := range []struct {
		name     string
		gid      uint32
		wantSgid bool
	}{
		{"outside", 3000, false},
		{"inside", 2001, true},
	} {
		p := m.path(c.name)
		mustDo(t, os.WriteFile(p, nil, 0o644))
		mustDo(t, os.Chown(p, 1001, int(c.gid)))
		mustDo(t, unix.Chmod(p, 0o2775))
		mustDo(t, asUser(t, 1001, 2001, "setfacl -m u:1002:r "+p))
		st := lstat(t, p)
		if got := st.Mode&syscall.S_ISGID != 0; got != c.wantSgid {
			t.Errorf("owner %s the file's group: mode %o after setfacl, setgid kept %v, want %v", c.name, st.Mode&0o7777, got, c.wantSgid)
		}
		if st.Mode&0o777 != 0o775 {
			t.Errorf("owner %s the file's group: permission bits %o after setfacl, want 775", c.name, st.Mode&0o777)
		}
	}
}

// TestACLErrnos: malformed ACLs, default ACLs on files, ACLs the mode says
// all of.
func TestACLErrnos(t *testing.T) {
	m := mountTest(t)
	f := m.path("f")
	mustDo(t, os.WriteFile(f, nil, 0o644))
	noMask := posixacl.ACL{{Tag: posixacl.UserObj, Perm: 6}, {Tag: posixacl.User, Perm: 4, ID: 5}, {Tag: posixacl.GroupObj, Perm: 4}, {Tag: posixacl.Other}}
	wantErrno(t, "an ACL with a named user and no mask", unix.Setxattr(f, posixacl.XattrAccess, noMask.Encode(), 0), syscall.EINVAL)
	wantErrno(t, "a truncated ACL", unix.Setxattr(f, posixacl.XattrAccess, noMask.Encode()[:10], 0), syscall.EINVAL)
	wantErrno(t, "a default ACL on a file", unix.Setxattr(f, posixacl.XattrDefault, posixacl.FromMode(0o755).Encode(), 0), syscall.EACCES)
	if st := lstat(t, f); st.Mode&0o7777 != 0o644 {
		t.Fatalf("a refused ACL changed the mode to %o", st.Mode&0o7777)
	}
	// An ACL with only the base entries sets the mode and is not kept.
	mustDo(t, unix.Setxattr(f, posixacl.XattrAccess, posixacl.FromMode(0o751).Encode(), 0))
	if st := lstat(t, f); st.Mode&0o7777 != 0o751 {
		t.Fatalf("mode after a minimal ACL: %o, want 751", st.Mode&0o7777)
	}
	sz, err := unix.Listxattr(f, make([]byte, 256))
	mustDo(t, err)
	if sz != 0 {
		t.Fatalf("a minimal ACL was kept (listxattr gave %d bytes)", sz)
	}
	mustDo(t, unix.Removexattr(f, posixacl.XattrAccess)) // none there: Linux says yes
}

// TestACLInheritanceAndUmask: the same creations under a default ACL and
// under none, with different umasks, on walrusfs and on the host
// filesystem, give the same modes and ACLs; and the inherited ACLs let the
// named user in.
func TestACLInheritanceAndUmask(t *testing.T) {
	requireTools(t, "setfacl", "getfacl")
	m := mountTest(t)
	openToOthers(t, m)
	script := `set -e
mkdir -m 755 plain inherit
setfacl -d -m u:1002:rwx,g::r-x,o::- inherit
umask 022; touch plain/f022; mkdir plain/d022; mkfifo plain/p022
umask 027; touch plain/f027; mkdir plain/d027
umask 000; touch plain/f000; mkdir plain/d000
umask 077
touch inherit/f; mkdir inherit/d; mkfifo inherit/p; ln -s f inherit/l
touch inherit/d/g; mkdir inherit/d/e
install -m 640 /dev/null inherit/installed
mkdir -m 700 inherit/private
`
	ref := t.TempDir()
	shell(t, ref, script)
	shell(t, m.dir, script)
	sameTree(t, "creations without a default ACL", filepath.Join(ref, "plain"), m.path("plain"))
	sameTree(t, "creations under a default ACL", filepath.Join(ref, "inherit"), m.path("inherit"))
	if st := lstat(t, m.path("inherit", "f")); st.Mode&0o777 != 0o660 {
		t.Fatalf("file under a default ACL with umask 077: mode %o, want 660", st.Mode&0o777)
	}
	if st := lstat(t, m.path("plain", "f027")); st.Mode&0o777 != 0o640 {
		t.Fatalf("file with umask 027: mode %o, want 640", st.Mode&0o777)
	}
	mustDo(t, asUser(t, 1002, 2002, "echo x > "+m.path("inherit", "d", "g")+" && ls "+m.path("inherit", "d")))
	if err := asUser(t, 1003, 2003, "ls "+m.path("inherit", "d")); err == nil {
		t.Fatal("another user listed a directory its inherited ACL closes to others")
	}
}

// TestACLCopyTools: cp -a, cp -p, mv and rsync -aA from the host
// filesystem keep modes and ACLs, getfacl and setfacl --restore round-trip
// them, and other users read what the modes let them.
func TestACLCopyTools(t *testing.T) {
	requireTools(t, "setfacl", "getfacl", "rsync")
	m := mountTest(t)
	openToOthers(t, m)
	src := t.TempDir()
	shell(t, src, `set -e
mkdir -m 755 tree; cd tree
echo a > f600; chmod 600 f600
echo b > f644; chmod 644 f644
echo c > x700; chmod 700 x700
echo d > x755; chmod 755 x755
mkdir -m 700 d700; mkdir -m 755 d755
echo e > d755/shared; chmod 640 d755/shared; setfacl -m u:1002:r,g:2005:rw d755/shared
echo f > d700/f; chmod 644 d700/f
mkdir -m 2775 sgid; setfacl -m u:1002:rwx sgid
setfacl -d -m u:1002:rx,g::rx,o::- d755
ln -s f644 link
`)
	tree := filepath.Join(src, "tree")
	shell(t, m.dir, "cp -a "+tree+" cp-a && cp -rp "+tree+" cp-p && rsync -aA "+tree+"/ rsync/")
	sameTree(t, "cp -a", tree, m.path("cp-a"))
	sameTree(t, "cp -p", tree, m.path("cp-p"))
	sameTree(t, "rsync -aA", tree, m.path("rsync"))
	moved := t.TempDir()
	shell(t, moved, "cp -a "+tree+" tree")
	shell(t, m.dir, "mv "+filepath.Join(moved, "tree")+" mv")
	sameTree(t, "mv", tree, m.path("mv"))

	// getfacl's dump restored onto plain copies.
	shell(t, m.dir, "mkdir restored && cp -r --no-preserve=mode "+tree+"/. restored/ && (cd "+tree+" && getfacl -R -n .) > "+filepath.Join(src, "dump"))
	shell(t, m.path("restored"), "setfacl --restore="+filepath.Join(src, "dump"))
	sameTree(t, "setfacl --restore", tree, m.path("restored"))

	for _, c := range []struct {
		user   uint32
		path   string
		wantOK bool
	}{
		{1003, "cp-a/f644", true},
		{1003, "cp-a/x755", true},
		{1003, "cp-a/f600", false},
		{1003, "rsync/d700/f", false},
		{1002, "rsync/d755/shared", true},
		{1003, "rsync/d755/shared", false},
		{1003, "mv/f644", true},
	} {
		err := asUser(t, c.user, c.user+1000, "cat "+m.path(c.path)+" >/dev/null")
		if (err == nil) != c.wantOK {
			t.Errorf("user %d reading %s: %v, want access %v", c.user, c.path, err, c.wantOK)
		}
	}
}

// TestACLSurvivesRemount: ACLs and the modes that go with them are in the
// index like any attribute, and the kernel enforces them after a remount.
func TestACLSurvivesRemount(t *testing.T) {
	requireTools(t, "setfacl", "getfacl")
	state := t.TempDir()
	m := mountAt(t, state)
	shell(t, m.dir, "mkdir -m 750 d && setfacl -m u:1002:rx d && setfacl -d -m u:1002:r d && echo x > d/f && chmod 600 d/f && setfacl -m u:1002:r d/f")
	before := aclTree(t, m.path("d"))
	m.unmount(t)
	m = mountAt(t, state)
	openToOthers(t, m)
	if after := aclTree(t, m.path("d")); after != before {
		t.Fatalf("after a remount:\n%s\nbefore:\n%s", after, before)
	}
	mustDo(t, asUser(t, 1002, 2002, "cat "+m.path("d", "f")))
	if err := asUser(t, 1003, 2003, "ls "+m.path("d")); err == nil {
		t.Fatal("another user listed a 0750 directory after a remount")
	}
}
