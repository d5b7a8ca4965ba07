// Package posixacl is POSIX access control lists as Linux keeps them: the
// binary value of the system.posix_acl_access and system.posix_acl_default
// extended attributes, and the rules that keep an ACL in step with an
// inode's mode (see acl(5)). It is plain functions over values, standard
// library only, so the index can apply them inside its transactions and the
// filesystem can test them without a mount.
//
// # The value
//
// A value is a 4-byte header, the version (2), then one 8-byte entry per
// ACL entry: the tag (u16), the permissions (u16: 4 read, 2 write,
// 1 execute) and the uid or gid (u32) for named users and groups, all
// little-endian. Entries without a qualifier carry 0xffffffff. A value of
// only the header is an empty ACL: setting it removes the ACL.
//
// # Mode and ACL
//
// An access ACL has the three entries the mode has (owner, owning group,
// others) and may add named users, named groups and a mask. The mode's
// group bits show the mask when there is one, and the owning group's
// entry otherwise; chmod writes the owner, mask (or owning group) and
// others entries. An ACL with only the three base entries says no more
// than the mode, so Linux stores none: setting one just sets the mode.
//
// # Inheritance
//
// A directory's default ACL is the access ACL its new entries start with,
// masked by the mode the creating call asked for (the umask is not
// applied); new directories also take it as their own default ACL. Where
// the parent has no default ACL the umask applies.
//
// # Errors
//
// Malformed values fail with an error that matches syscall.EINVAL under
// errors.Is, and a value of another version with syscall.EOPNOTSUPP, as
// Linux answers setxattr(2).
package posixacl

import (
	"encoding/binary"
	"fmt"
	"slices"
	"syscall"
)

// The extended attribute names that hold ACLs.
const (
	XattrAccess  = "system.posix_acl_access"
	XattrDefault = "system.posix_acl_default"
)

// Version is the only version of the value format.
const Version = 2

const (
	headerLen = 4
	entryLen  = 8
	// noID is the qualifier of entries that have none.
	noID = 0xffffffff
)

// Tag says whom an entry is for.
type Tag uint16

// The tags, with the values the xattr format uses.
const (
	UserObj  Tag = 0x01 // the owner
	User     Tag = 0x02 // a named user (ID is its uid)
	GroupObj Tag = 0x04 // the owning group
	Group    Tag = 0x08 // a named group (ID is its gid)
	Mask     Tag = 0x10 // the most any group-class entry grants
	Other    Tag = 0x20 // everyone else
)

// Permission bits of an entry.
const (
	Read    = 4
	Write   = 2
	Execute = 1
	rwx     = Read | Write | Execute
)

// Entry is one ACL entry. ID is meaningful for User and Group only.
type Entry struct {
	Tag  Tag
	Perm uint16
	ID   uint32
}

// ACL is a list of entries in the order Linux requires: the owner, named
// users by uid, the owning group, named groups by gid, the mask, others.
type ACL []Entry

func invalid(format string, args ...any) error {
	return fmt.Errorf("posixacl: "+format+": %w", append(args, syscall.EINVAL)...)
}

// Parse decodes an xattr value. An empty ACL (the header alone) decodes to
// nil with no error: setting it removes the ACL. Parse checks what Linux
// checks: the version, the length, the tags, permissions of at most rwx,
// exactly one owner, owning-group and others entry, named entries in
// ascending order without duplicates, and a mask wherever there are named
// entries.
func Parse(b []byte) (ACL, error) {
	if len(b) < headerLen {
		return nil, invalid("value of %d bytes is shorter than its header", len(b))
	}
	if v := binary.LittleEndian.Uint32(b); v != Version {
		return nil, fmt.Errorf("posixacl: version %d, want %d: %w", v, Version, syscall.EOPNOTSUPP)
	}
	body := b[headerLen:]
	if len(body)%entryLen != 0 {
		return nil, invalid("value of %d bytes is not a whole number of entries", len(b))
	}
	if len(body) == 0 {
		return nil, nil
	}
	acl := make(ACL, 0, len(body)/entryLen)
	for p := body; len(p) > 0; p = p[entryLen:] {
		e := Entry{
			Tag:  Tag(binary.LittleEndian.Uint16(p)),
			Perm: binary.LittleEndian.Uint16(p[2:]),
			ID:   binary.LittleEndian.Uint32(p[4:]),
		}
		if e.Tag != User && e.Tag != Group {
			e.ID = noID
		}
		acl = append(acl, e)
	}
	if err := acl.Valid(); err != nil {
		return nil, err
	}
	return acl, nil
}

// Valid checks an ACL as Parse does.
func (a ACL) Valid() error {
	// The tags must come in this order; state is where we are.
	const (
		wantOwner = iota
		inUsers
		inGroups
		wantOther
		done
	)
	state := wantOwner
	named := false
	var prev *Entry
	for i := range a {
		e := &a[i]
		if e.Perm&^rwx != 0 {
			return invalid("entry %d has permissions %#o", i, e.Perm)
		}
		if state == done {
			return invalid("entry %d follows the others entry", i)
		}
		switch e.Tag {
		case UserObj:
			if state != wantOwner {
				return invalid("owner entry %d out of place", i)
			}
			state = inUsers
		case User, Group:
			if e.Tag == User && state != inUsers || e.Tag == Group && state != inGroups {
				return invalid("named entry %d out of place", i)
			}
			if prev.Tag == e.Tag && e.ID <= prev.ID {
				return invalid("named entry %d (id %d) out of order or repeated", i, e.ID)
			}
			named = true
		case GroupObj:
			if state != inUsers {
				return invalid("owning group entry %d out of place", i)
			}
			state = inGroups
		case Mask:
			if state != inGroups {
				return invalid("mask entry %d out of place", i)
			}
			state = wantOther
		case Other:
			if state != wantOther && (state != inGroups || named) {
				return invalid("others entry %d out of place, or named entries without a mask", i)
			}
			state = done
		default:
			return invalid("entry %d has tag %#x", i, uint16(e.Tag))
		}
		prev = e
	}
	if state != done {
		return invalid("the owner, owning group or others entry is missing")
	}
	return nil
}

// Encode returns the xattr value of a: the header and the entries, with
// 0xffffffff as the qualifier of entries that have none.
func (a ACL) Encode() []byte {
	b := make([]byte, headerLen, headerLen+entryLen*len(a))
	binary.LittleEndian.PutUint32(b, Version)
	for _, e := range a {
		id := e.ID
		if e.Tag != User && e.Tag != Group {
			id = noID
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(e.Tag))
		b = binary.LittleEndian.AppendUint16(b, e.Perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return b
}

// FromMode returns the three-entry ACL that says what the permission bits
// of mode say.
func FromMode(mode uint32) ACL {
	return ACL{
		{Tag: UserObj, Perm: uint16(mode >> 6 & rwx), ID: noID},
		{Tag: GroupObj, Perm: uint16(mode >> 3 & rwx), ID: noID},
		{Tag: Other, Perm: uint16(mode & rwx), ID: noID},
	}
}

// find returns the first entry with tag t, or nil.
func (a ACL) find(t Tag) *Entry {
	for i := range a {
		if a[i].Tag == t {
			return &a[i]
		}
	}
	return nil
}

// Perm returns the permission bits (0o777 at most) that a valid ACL gives
// the mode: the owner's, the mask's (the owning group's when there is no
// mask) and others'.
func (a ACL) Perm() uint32 {
	var m uint32
	for _, e := range a {
		switch e.Tag {
		case UserObj:
			m |= uint32(e.Perm) << 6
		case GroupObj:
			if a.find(Mask) == nil {
				m |= uint32(e.Perm) << 3
			}
		case Mask:
			m |= uint32(e.Perm) << 3
		case Other:
			m |= uint32(e.Perm)
		}
	}
	return m
}

// Minimal reports whether a has only the three base entries: it then says
// no more than the mode, and Linux keeps no ACL.
func (a ACL) Minimal() bool {
	for _, e := range a {
		if e.Tag != UserObj && e.Tag != GroupObj && e.Tag != Other {
			return false
		}
	}
	return true
}

// Chmod returns a copy of a with the permission bits of mode written into
// it, as chmod(2) does: the owner entry, the mask (the owning group's entry
// when there is no mask) and the others entry.
func (a ACL) Chmod(mode uint32) ACL {
	out := slices.Clone(a)
	hasMask := out.find(Mask) != nil
	for i := range out {
		e := &out[i]
		switch {
		case e.Tag == UserObj:
			e.Perm = uint16(mode >> 6 & rwx)
		case e.Tag == Mask, e.Tag == GroupObj && !hasMask:
			e.Perm = uint16(mode >> 3 & rwx)
		case e.Tag == Other:
			e.Perm = uint16(mode & rwx)
		}
	}
	return out
}

// Inherit returns what a new inode gets in a directory whose default ACL
// is def, when the creating call asked for mode (type and permission bits;
// no umask): its mode, and its access ACL, nil when that would be minimal.
// The owner, others and mask entries (the owning group's when there is no
// mask) are limited to what mode grants, and the mode's permission bits to
// what those entries grant. Bits above the permissions (setuid, setgid,
// sticky, the type) pass through.
func Inherit(def ACL, mode uint32) (uint32, ACL) {
	acl := slices.Clone(def)
	hasMask := acl.find(Mask) != nil
	for i := range acl {
		e := &acl[i]
		var shift uint
		switch {
		case e.Tag == UserObj:
			shift = 6
		case e.Tag == Mask, e.Tag == GroupObj && !hasMask:
			shift = 3
		case e.Tag == Other:
			shift = 0
		default:
			continue
		}
		e.Perm &= uint16(mode >> shift & rwx)
		mode &^= (rwx &^ uint32(e.Perm)) << shift
	}
	if acl.Minimal() {
		return mode, nil
	}
	return mode, acl
}

// Permits reports whether the ACL a of an inode owned by owner:group
// grants all of want (Read, Write, Execute bits) to a caller with uid and
// groups gids, by the algorithm of acl(5): the owner entry for the owner,
// else a matching named user entry (limited by the mask), else any one
// matching group entry that grants it all (limited by the mask), else
// others if no group entry matched.
// Privileged callers are the caller's business.
func (a ACL) Permits(owner, group, uid uint32, gids []uint32, want uint16) bool {
	mask := uint16(rwx)
	if m := a.find(Mask); m != nil {
		mask = m.Perm
	}
	for _, e := range a {
		switch {
		case e.Tag == UserObj && uid == owner:
			return e.Perm&want == want
		case e.Tag == User && e.ID == uid:
			return e.Perm&mask&want == want
		}
	}
	matched := false
	for _, e := range a {
		if e.Tag == GroupObj && slices.Contains(gids, group) || e.Tag == Group && slices.Contains(gids, e.ID) {
			if e.Perm&mask&want == want {
				return true
			}
			matched = true
		}
	}
	if matched {
		return false
	}
	if o := a.find(Other); o != nil {
		return o.Perm&want == want
	}
	return false
}
