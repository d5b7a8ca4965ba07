package posixacl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// text builds an ACL from getfacl's short form: "u::rw-,u:1000:r--,g::r--,m::r--,o::---".
func text(t testing.TB, s string) ACL {
	t.Helper()
	tags := map[string][2]Tag{"u": {UserObj, User}, "g": {GroupObj, Group}, "m": {Mask, Mask}, "o": {Other, Other}}
	var a ACL
	for f := range strings.SplitSeq(s, ",") {
		parts := strings.Split(f, ":")
		if len(parts) != 3 || len(parts[2]) != 3 {
			t.Fatalf("bad entry %q", f)
		}
		tt, ok := tags[parts[0]]
		if !ok {
			t.Fatalf("bad tag in %q", f)
		}
		e := Entry{Tag: tt[0], ID: noID}
		if parts[1] != "" {
			id, err := strconv.ParseUint(parts[1], 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			e.Tag, e.ID = tt[1], uint32(id)
		}
		for i, c := range parts[2] {
			if c != '-' {
				e.Perm |= 4 >> i
			}
		}
		a = append(a, e)
	}
	return a
}

// String gives getfacl's short form, for failure messages.
func (a ACL) String() string {
	var parts []string
	for _, e := range a {
		q := ""
		if e.Tag == User || e.Tag == Group {
			q = strconv.FormatUint(uint64(e.ID), 10)
		}
		perm := []byte("---")
		for i, c := range "rwx" {
			if e.Perm&(4>>i) != 0 {
				perm[i] = byte(c)
			}
		}
		tag := map[Tag]string{UserObj: "u", User: "u", GroupObj: "g", Group: "g", Mask: "m", Other: "o"}[e.Tag]
		if tag == "" {
			tag = fmt.Sprintf("%#x", uint16(e.Tag))
		}
		parts = append(parts, tag+":"+q+":"+string(perm))
	}
	return strings.Join(parts, ",")
}

func raw(entries ...[3]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, Version)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	return b
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"minimal", "u::rw-,g::r--,o::r--"},
		{"mask alone", "u::rwx,g::r-x,m::r--,o::---"},
		{"named user", "u::rw-,u:65534:r--,g::r--,m::r--,o::---"},
		{"named users and groups in order", "u::rw-,u:1:r--,u:1000:rwx,g::---,g:0:r--,g:5:rw-,m::rwx,o::---"},
		{"same id as user and group", "u::---,u:7:r--,g::---,g:7:r--,m::r--,o::---"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := text(t, tc.in)
			got, err := Parse(want.Encode())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Parse(Encode(%s)) = %s", want, got)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	full := text(t, "u::rw-,u:5:r--,g::r--,m::r--,o::---")
	version1 := raw([3]uint32{1, 6, 0}, [3]uint32{4, 4, 0}, [3]uint32{0x20, 4, 0})
	binary.LittleEndian.PutUint32(version1, 1)
	perm8 := raw([3]uint32{1, 8, 0}, [3]uint32{4, 4, 0}, [3]uint32{0x20, 4, 0})
	for _, tc := range []struct {
		name string
		in   []byte
		want syscall.Errno
	}{
		{"nothing", nil, syscall.EINVAL},
		{"short header", []byte{2, 0, 0}, syscall.EINVAL},
		{"version 1", version1, syscall.EOPNOTSUPP},
		{"partial entry", full.Encode()[:13], syscall.EINVAL},
		{"unknown tag", raw([3]uint32{1, 6, 0}, [3]uint32{4, 4, 0}, [3]uint32{0x40, 4, 0}), syscall.EINVAL},
		{"permission bit 8", perm8, syscall.EINVAL},
		{"no owner", text(t, "g::r--,o::r--").Encode(), syscall.EINVAL},
		{"no group", text(t, "u::r--,o::r--").Encode(), syscall.EINVAL},
		{"no others", text(t, "u::r--,g::r--").Encode(), syscall.EINVAL},
		{"named without mask", text(t, "u::rw-,u:5:r--,g::r--,o::---").Encode(), syscall.EINVAL},
		{"users out of order", text(t, "u::rw-,u:6:r--,u:5:r--,g::r--,m::r--,o::---").Encode(), syscall.EINVAL},
		{"user twice", text(t, "u::rw-,u:5:r--,u:5:r--,g::r--,m::r--,o::---").Encode(), syscall.EINVAL},
		{"groups out of order", text(t, "u::rw-,g::r--,g:9:r--,g:8:r--,m::r--,o::---").Encode(), syscall.EINVAL},
		{"owner twice", text(t, "u::rw-,u::rw-,g::r--,o::---").Encode(), syscall.EINVAL},
		{"group before user", text(t, "g::r--,u::rw-,o::---").Encode(), syscall.EINVAL},
		{"named user after group", text(t, "u::rw-,g::r--,u:5:r--,m::r--,o::---").Encode(), syscall.EINVAL},
		{"mask twice", text(t, "u::rw-,g::r--,m::r--,m::r--,o::---").Encode(), syscall.EINVAL},
		{"entry after others", text(t, "u::rw-,g::r--,o::---,m::r--").Encode(), syscall.EINVAL},
		{"others twice", text(t, "u::rw-,g::r--,o::---,o::---").Encode(), syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acl, err := Parse(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %s, %v; want %v", acl, err, tc.want)
			}
		})
	}
}

func TestParseEmptyAndQualifiers(t *testing.T) {
	acl, err := Parse(raw())
	if err != nil || acl != nil {
		t.Fatalf("empty ACL: %v, %v; want nil, nil", acl, err)
	}
	// Qualifiers of entries that have none are ignored and written back
	// as 0xffffffff.
	in := raw([3]uint32{1, 6, 0}, [3]uint32{4, 4, 12}, [3]uint32{0x20, 0, 3})
	acl, err = Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(acl.Encode()), string(FromMode(0o640).Encode()); got != want {
		t.Fatalf("Encode = %x, want %x", got, want)
	}
}

func TestEncodeLayout(t *testing.T) {
	// What setfacl -m u:65534:r writes for a 0644 file, as the kernel
	// passes it on.
	want := "0200000001000600ffffffff02000400feff000004000400ffffffff10000400ffffffff20000400ffffffff"
	got := fmt.Sprintf("%x", text(t, "u::rw-,u:65534:r--,g::r--,m::r--,o::r--").Encode())
	if got != want {
		t.Fatalf("Encode = %s\nwant       %s", got, want)
	}
}

func TestModeAndChmod(t *testing.T) {
	for _, tc := range []struct {
		name    string
		acl     string
		perm    uint32
		minimal bool
		chmod   uint32
		after   string
	}{
		{"minimal", "u::rw-,g::r--,o::r--", 0o644, true, 0o750, "u::rwx,g::r-x,o::---"},
		{"mask shows as group bits", "u::rw-,u:5:rwx,g::r--,m::rwx,o::---", 0o670, false, 0o640, "u::rw-,u:5:rwx,g::r--,m::r--,o::---"},
		{"chmod leaves the owning group under a mask", "u::rwx,g::rwx,m::r-x,o::r-x", 0o755, false, 0o700, "u::rwx,g::rwx,m::---,o::---"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := text(t, tc.acl)
			if got := a.Perm(); got != tc.perm {
				t.Errorf("Perm = %o, want %o", got, tc.perm)
			}
			if got := a.Minimal(); got != tc.minimal {
				t.Errorf("Minimal = %v", got)
			}
			c := a.Chmod(tc.chmod)
			if got := c.String(); got != tc.after {
				t.Errorf("Chmod(%o) = %s, want %s", tc.chmod, got, tc.after)
			}
			if c.Perm() != tc.chmod&0o777 {
				t.Errorf("Perm after Chmod(%o) = %o", tc.chmod, c.Perm())
			}
			if a.String() != tc.acl {
				t.Errorf("Chmod changed its receiver to %s", a)
			}
		})
	}
	if got := FromMode(0o4751).String(); got != "u::rwx,g::r-x,o::--x" {
		t.Errorf("FromMode(4751) = %s", got)
	}
}

func TestInherit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		def      string
		mode     uint32
		wantMode uint32
		wantACL  string // "" for none
	}{
		{"file under a named-user default", "u::rwx,u:65534:rwx,g::r-x,m::rwx,o::---", 0o100666, 0o100660, "u::rw-,u:65534:rwx,g::r-x,m::rw-,o::---"},
		{"directory under the same", "u::rwx,u:65534:rwx,g::r-x,m::rwx,o::---", 0o40777, 0o40770, "u::rwx,u:65534:rwx,g::r-x,m::rwx,o::---"},
		{"minimal default gives no ACL", "u::rwx,g::r-x,o::r-x", 0o100666, 0o100644, ""},
		{"minimal default limits a directory", "u::rwx,g::---,o::---", 0o40777, 0o40700, ""},
		{"mode limits a generous default", "u::rwx,g:10:rwx,g::rwx,m::rwx,o::rwx", 0o100600, 0o100600, "u::rw-,g::rwx,g:10:rwx,m::---,o::---"},
		{"special bits pass", "u::rwx,g::rwx,o::rwx", 0o42775, 0o42775, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := text(t, tc.def)
			slices.SortStableFunc(def, func(a, b Entry) int { return int(a.Tag) - int(b.Tag) })
			mode, acl := Inherit(def, tc.mode)
			if mode != tc.wantMode {
				t.Errorf("mode %o, want %o", mode, tc.wantMode)
			}
			want := ""
			if tc.wantACL != "" {
				w := text(t, tc.wantACL)
				slices.SortStableFunc(w, func(a, b Entry) int { return int(a.Tag) - int(b.Tag) })
				want = w.String()
			}
			if acl.String() != want {
				t.Errorf("ACL %s, want %s", acl, want)
			}
			if acl != nil && acl.Perm() != mode&0o777 {
				t.Errorf("ACL's mode %o out of step with the mode %o", acl.Perm(), mode)
			}
			if acl != nil {
				if err := acl.Valid(); err != nil {
					t.Error(err)
				}
			}
			if def.String() != func() string {
				d := text(t, tc.def)
				slices.SortStableFunc(d, func(a, b Entry) int { return int(a.Tag) - int(b.Tag) })
				return d.String()
			}() {
				t.Errorf("Inherit changed the default ACL to %s", def)
			}
		})
	}
}

func TestPermits(t *testing.T) {
	const owner, group = 1000, 100
	a := text(t, "u::rw-,u:2000:rw-,u:2001:---,g::r--,g:300:rwx,m::r-x,o::--x")
	for _, tc := range []struct {
		name string
		uid  uint32
		gids []uint32
		want uint16
		ok   bool
	}{
		{"owner reads", owner, []uint32{1}, Read, true},
		{"owner cannot execute", owner, []uint32{1}, Execute, false},
		{"owner entry wins over group", owner, []uint32{300}, Execute, false},
		{"named user reads", 2000, nil, Read, true},
		{"named user's write is masked", 2000, nil, Write, false},
		{"named user with nothing", 2001, []uint32{300}, Read, false},
		{"owning group reads", 5, []uint32{group}, Read, true},
		{"owning group cannot execute", 5, []uint32{group}, Execute, false},
		{"named group executes", 5, []uint32{300}, Execute, true},
		{"named group's write is masked", 5, []uint32{300}, Write, false},
		{"any group entry will do", 5, []uint32{group, 300}, Execute, true},
		{"a matching group shuts out others", 5, []uint32{group}, Execute, false},
		{"others execute", 5, []uint32{6}, Execute, true},
		{"others cannot read", 5, []uint32{6}, Read, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Permits(owner, group, tc.uid, tc.gids, tc.want); got != tc.ok {
				t.Fatalf("Permits = %v, want %v", got, tc.ok)
			}
		})
	}
}

// FuzzParse: Parse never panics; whatever it accepts is valid, encodes to a
// value it parses back unchanged, and that value is what went in (less the
// qualifiers of entries that have none).
func FuzzParse(f *testing.F) {
	f.Add(raw())
	f.Add(text(f, "u::rw-,g::r--,o::r--").Encode())
	f.Add(text(f, "u::rw-,u:1:r--,u:1000:rwx,g::---,g:0:r--,g:5:rw-,m::rwx,o::---").Encode())
	f.Add([]byte{2, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		acl, err := Parse(in)
		if err != nil {
			if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EOPNOTSUPP) {
				t.Fatalf("error %v is neither EINVAL nor EOPNOTSUPP", err)
			}
			return
		}
		if acl == nil {
			if len(in) != headerLen {
				t.Fatalf("nil ACL from %d bytes", len(in))
			}
			return
		}
		if err := acl.Valid(); err != nil {
			t.Fatalf("Parse accepted an invalid ACL %s: %v", acl, err)
		}
		enc := acl.Encode()
		if len(enc) != len(in) {
			t.Fatalf("Encode gives %d bytes from %d", len(enc), len(in))
		}
		back, err := Parse(enc)
		if err != nil || !slices.Equal(back, acl) {
			t.Fatalf("Parse(Encode(%s)) = %s, %v", acl, back, err)
		}
		if c := acl.Chmod(0o751); c.Valid() != nil || c.Perm() != 0o751 {
			t.Fatalf("Chmod(751) of %s gives %s", acl, c)
		}
		if mode, inh := Inherit(acl, 0o100666); inh != nil && (inh.Valid() != nil || inh.Perm() != mode&0o777) {
			t.Fatalf("Inherit from %s gives %o, %s", acl, mode, inh)
		}
	})
}
