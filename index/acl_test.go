package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/walrusfs/walrusfs/index/posixacl"
)

// aclValue encodes entries given as {tag, perm, id}.
func aclValue(entries ...[3]uint32) []byte {
	var a posixacl.ACL
	for _, e := range entries {
		a = append(a, posixacl.Entry{Tag: posixacl.Tag(e[0]), Perm: uint16(e[1]), ID: e[2]})
	}
	return a.Encode()
}

const (
	uo  = uint32(posixacl.UserObj)
	un  = uint32(posixacl.User)
	gro = uint32(posixacl.GroupObj)
	mk  = uint32(posixacl.Mask)
	ot  = uint32(posixacl.Other)
)

func getACL(t *testing.T, x *Index, ino Ino, name string) posixacl.ACL {
	t.Helper()
	v, err := x.GetXattr(ino, name)
	if errors.Is(err, syscall.ENODATA) {
		return nil
	}
	noErr(t, err)
	acl, err := posixacl.Parse(v)
	noErr(t, err)
	return acl
}

func TestAccessACLKeepsModeInStep(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o4644)))
	// u::rw-,u:65534:r--,g::r--,m::r-x,o::---
	named := aclValue([3]uint32{uo, 6, 0}, [3]uint32{un, 4, 65534}, [3]uint32{gro, 4, 0}, [3]uint32{mk, 5, 0}, [3]uint32{ot, 0, 0})
	noErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, named, 0, 5))
	a := must(x.GetAttr(f.Ino))
	if a.Mode != syscall.S_IFREG|0o4650 || a.Ctime != 5 {
		t.Fatalf("after setting an ACL: mode %o ctime %d, want %o and 5", a.Mode, a.Ctime, syscall.S_IFREG|0o4650)
	}
	if got := must(x.GetXattr(f.Ino, posixacl.XattrAccess)); !bytes.Equal(got, named) {
		t.Fatalf("stored %x, want %x", got, named)
	}

	// chmod writes the owner, mask and others entries.
	m := uint32(0o751)
	must(x.SetAttr(f.Ino, SetAttrIn{Mode: &m, Now: 6}))
	acl := getACL(t, x, f.Ino, posixacl.XattrAccess)
	want := aclValue([3]uint32{uo, 7, 0}, [3]uint32{un, 4, 65534}, [3]uint32{gro, 4, 0}, [3]uint32{mk, 5, 0}, [3]uint32{ot, 1, 0})
	if !bytes.Equal(acl.Encode(), want) {
		t.Fatalf("after chmod 751: %x, want %x", acl.Encode(), want)
	}

	// An ACL that says no more than a mode is not kept: it sets the mode.
	noErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, posixacl.FromMode(0o640).Encode(), 0, 7))
	if a := must(x.GetAttr(f.Ino)); a.Mode != syscall.S_IFREG|0o640 {
		t.Fatalf("after a minimal ACL: mode %o", a.Mode)
	}
	if names := must(x.ListXattr(f.Ino)); len(names) != 0 {
		t.Fatalf("a minimal ACL was stored: %q", names)
	}

	// Removing an ACL leaves the mode; removing one that is absent succeeds.
	noErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, named, 0, 8))
	noErr(t, x.RemoveXattr(f.Ino, posixacl.XattrAccess, 9))
	if a := must(x.GetAttr(f.Ino)); a.Mode != syscall.S_IFREG|0o650 {
		t.Fatalf("after removing the ACL: mode %o", a.Mode)
	}
	noErr(t, x.RemoveXattr(f.Ino, posixacl.XattrAccess, 10))
	noErr(t, x.RemoveXattr(f.Ino, posixacl.XattrDefault, 10))
	// So does an empty ACL.
	noErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, named, 0, 11))
	noErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, binary.LittleEndian.AppendUint32(nil, 2), 0, 12))
	if acl := getACL(t, x, f.Ino, posixacl.XattrAccess); acl != nil {
		t.Fatalf("an empty ACL left %v", acl)
	}

	// The setgid bit goes when asked.
	g := uint32(0o2770)
	must(x.SetAttr(f.Ino, SetAttrIn{Mode: &g, Now: 13}))
	noErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, named, XattrKillSgid, 14))
	if a := must(x.GetAttr(f.Ino)); a.Mode != syscall.S_IFREG|0o650 {
		t.Fatalf("with XattrKillSgid: mode %o", a.Mode)
	}
}

func TestACLErrors(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	noMask := aclValue([3]uint32{uo, 6, 0}, [3]uint32{un, 4, 5}, [3]uint32{gro, 4, 0}, [3]uint32{ot, 0, 0})
	wantErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, noMask, 0, 2), syscall.EINVAL)
	wantErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, []byte{2, 0, 0}, 0, 2), syscall.EINVAL)
	wantErr(t, x.SetXattr(f.Ino, posixacl.XattrAccess, []byte("rw-r--r--"), 0, 2), syscall.EOPNOTSUPP)
	wantErr(t, x.SetXattr(f.Ino, posixacl.XattrDefault, posixacl.FromMode(0o755).Encode(), 0, 2), syscall.EACCES)
	if a := must(x.GetAttr(f.Ino)); a.Mode != syscall.S_IFREG|0o644 || a.Ctime != 1 {
		t.Fatalf("a refused ACL changed the inode: mode %o ctime %d", a.Mode, a.Ctime)
	}
	if names := must(x.ListXattr(f.Ino)); len(names) != 0 {
		t.Fatalf("a refused ACL was stored: %q", names)
	}
}

func TestCreateInheritsDefaultACL(t *testing.T) {
	x := openTest(t, t.TempDir())
	// Without a default ACL the umask applies.
	withUmask := file(0o666)
	withUmask.Umask = 0o027
	if a := must(x.Create(RootIno, "plain", withUmask)); a.Mode != syscall.S_IFREG|0o640 {
		t.Fatalf("umask 027 on 0666: mode %o", a.Mode)
	}
	d := must(x.Create(RootIno, "d", dirNode()))
	// u::rwx,u:65534:rwx,g::r-x,m::rwx,o::---
	def := aclValue([3]uint32{uo, 7, 0}, [3]uint32{un, 7, 65534}, [3]uint32{gro, 5, 0}, [3]uint32{mk, 7, 0}, [3]uint32{ot, 0, 0})
	noErr(t, x.SetXattr(d.Ino, posixacl.XattrDefault, def, 0, 2))
	if a := must(x.GetAttr(d.Ino)); a.Mode != syscall.S_IFDIR|0o755 {
		t.Fatalf("a default ACL changed the directory's mode to %o", a.Mode)
	}

	// A file: the default masked by 0666, and no umask.
	nn := file(0o666)
	nn.Umask = 0o077
	f := must(x.Create(d.Ino, "f", nn))
	if f.Mode != syscall.S_IFREG|0o660 {
		t.Fatalf("file: mode %o, want 0660", f.Mode)
	}
	wantFile := aclValue([3]uint32{uo, 6, 0}, [3]uint32{un, 7, 65534}, [3]uint32{gro, 5, 0}, [3]uint32{mk, 6, 0}, [3]uint32{ot, 0, 0})
	if got := getACL(t, x, f.Ino, posixacl.XattrAccess).Encode(); !bytes.Equal(got, wantFile) {
		t.Fatalf("file's ACL %x, want %x", got, wantFile)
	}
	if getACL(t, x, f.Ino, posixacl.XattrDefault) != nil {
		t.Fatal("a file got a default ACL")
	}

	// A directory takes the default as its own default too, so the
	// grandchildren inherit it.
	sn := dirNode()
	sn.Mode = syscall.S_IFDIR | 0o777
	sn.Umask = 0o077
	sub := must(x.Create(d.Ino, "sub", sn))
	if sub.Mode != syscall.S_IFDIR|0o770 {
		t.Fatalf("directory: mode %o, want 0770", sub.Mode)
	}
	if got := getACL(t, x, sub.Ino, posixacl.XattrAccess).Encode(); !bytes.Equal(got, def) {
		t.Fatalf("directory's ACL %x, want %x", got, def)
	}
	if got := must(x.GetXattr(sub.Ino, posixacl.XattrDefault)); !bytes.Equal(got, def) {
		t.Fatalf("directory's default ACL %x, want %x", got, def)
	}
	g := must(x.Create(sub.Ino, "g", file(0o600)))
	if g.Mode != syscall.S_IFREG|0o600 {
		t.Fatalf("grandchild: mode %o", g.Mode)
	}

	// Symbolic links take no ACL.
	l := must(x.Create(d.Ino, "l", NewNode{Mode: syscall.S_IFLNK | 0o777, Target: "f", Umask: 0o022, Now: 1}))
	if l.Mode != syscall.S_IFLNK|0o777 {
		t.Fatalf("symlink: mode %o", l.Mode)
	}
	if names := must(x.ListXattr(l.Ino)); len(names) != 0 {
		t.Fatalf("symlink has %q", names)
	}

	// A minimal default ACL limits the mode and leaves no access ACL.
	noErr(t, x.SetXattr(d.Ino, posixacl.XattrDefault, posixacl.FromMode(0o750).Encode(), 0, 3))
	h := must(x.Create(d.Ino, "h", file(0o666)))
	if h.Mode != syscall.S_IFREG|0o640 {
		t.Fatalf("under a minimal default: mode %o", h.Mode)
	}
	if names := must(x.ListXattr(h.Ino)); len(names) != 0 {
		t.Fatalf("under a minimal default: %q", names)
	}
}

// randomACL returns a valid ACL with random permissions and, half the
// time, named entries and a mask.
func randomACL(rng *rand.Rand) posixacl.ACL {
	perm := func() uint16 { return uint16(rng.IntN(8)) }
	a := posixacl.ACL{{Tag: posixacl.UserObj, Perm: perm()}}
	named := rng.IntN(2) == 0
	if named {
		for id := range uint32(3) {
			if rng.IntN(2) == 0 {
				a = append(a, posixacl.Entry{Tag: posixacl.User, Perm: perm(), ID: 1000 + id})
			}
		}
	}
	a = append(a, posixacl.Entry{Tag: posixacl.GroupObj, Perm: perm()})
	if named {
		a = append(a, posixacl.Entry{Tag: posixacl.Group, Perm: perm(), ID: 50})
	}
	if named || rng.IntN(2) == 0 {
		a = append(a, posixacl.Entry{Tag: posixacl.Mask, Perm: perm()})
	}
	return append(a, posixacl.Entry{Tag: posixacl.Other, Perm: perm()})
}

// TestACLsStayInStep runs random ACL, chmod and create operations and
// checks every few steps, at the end, and after a crash and replay, that every stored access
// ACL is valid, says more than the mode and gives exactly the mode's
// permission bits, and that only directories have default ACLs.
func TestACLsStayInStep(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	inos := []Ino{RootIno}
	dirs := []Ino{RootIno}
	check := func(x *Index, step int) {
		t.Helper()
		for _, ino := range inos {
			a := must(x.GetAttr(ino))
			if v, err := x.GetXattr(ino, posixacl.XattrAccess); err == nil {
				acl, err := posixacl.Parse(v)
				switch {
				case err != nil:
					t.Fatalf("step %d: inode %d has a malformed access ACL: %v", step, ino, err)
				case acl == nil || acl.Minimal():
					t.Fatalf("step %d: inode %d keeps an access ACL the mode says all of", step, ino)
				case acl.Perm() != a.Mode&0o777:
					t.Fatalf("step %d: inode %d: ACL gives %o, mode is %o", step, ino, acl.Perm(), a.Mode)
				}
			}
			if v, err := x.GetXattr(ino, posixacl.XattrDefault); err == nil {
				if !a.IsDir() {
					t.Fatalf("step %d: inode %d (mode %o) has a default ACL", step, ino, a.Mode)
				}
				if _, err := posixacl.Parse(v); err != nil {
					t.Fatalf("step %d: inode %d has a malformed default ACL: %v", step, ino, err)
				}
			}
		}
	}
	pick := func(s []Ino) Ino { return s[rng.IntN(len(s))] }
	for step := range 2000 {
		now := int64(step + 2)
		switch rng.IntN(6) {
		case 0:
			err := x.SetXattr(pick(inos), posixacl.XattrAccess, randomACL(rng).Encode(), 0, now)
			noErr(t, err)
		case 1:
			ino := pick(inos)
			err := x.SetXattr(ino, posixacl.XattrDefault, randomACL(rng).Encode(), 0, now)
			if a := must(x.GetAttr(ino)); a.IsDir() {
				noErr(t, err)
			} else {
				wantErr(t, err, syscall.EACCES)
			}
		case 2:
			m := uint32(rng.IntN(0o10000))
			must(x.SetAttr(pick(inos), SetAttrIn{Mode: &m, Now: now}))
		case 3:
			name := []string{posixacl.XattrAccess, posixacl.XattrDefault}[rng.IntN(2)]
			noErr(t, x.RemoveXattr(pick(inos), name, now))
		default:
			nn := NewNode{Mode: uint32(rng.IntN(0o10000)), Umask: uint32(rng.IntN(0o1000)), Now: now}
			switch rng.IntN(3) {
			case 0:
				nn.Mode |= syscall.S_IFDIR
			case 1:
				nn.Mode |= syscall.S_IFREG
				nn.ChunkSize = 1 << 20
			case 2:
				nn.Mode = syscall.S_IFLNK | 0o777
				nn.Target = "t"
			}
			a := must(x.Create(pick(dirs), fmt.Sprintf("n%d", step), nn))
			inos = append(inos, a.Ino)
			if a.IsDir() {
				dirs = append(dirs, a.Ino)
			}
		}
		if step%20 == 0 {
			check(x, step)
		}
	}
	check(x, 2000)
	x.Abandon() // a crash: the journal is replayed at the next open
	check(openTest(t, dir), -1)
}
