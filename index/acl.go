package index

import (
	"syscall"

	"github.com/walrusfs/walrusfs/index/posixacl"
)

// POSIX ACLs are extended attributes (posixacl.XattrAccess and
// posixacl.XattrDefault) that the index keeps in step with the mode, in the
// same operation, as Linux filesystems do:
//
//   - setting an access ACL sets the mode's permission bits from it, and an
//     ACL that says no more than the mode is not stored at all;
//   - chmod (SetAttr with Mode) writes the new bits into the access ACL;
//   - Create gives a new inode the parent's default ACL, masked by the
//     mode asked for, or applies the umask when the parent has none;
//   - removing an ACL leaves the mode as it is.
//
// Values are validated (syscall.EINVAL for a malformed one) and stored in
// canonical form. Permission checks (who may set an ACL) are the caller's.

// XattrKillSgid is a SetXattr flag of walrusfs's own, for access ACLs only:
// clear the setgid bit too, as Linux does when the caller is neither in the
// file's group nor privileged.
const XattrKillSgid = 1 << 16

func isACLName(name string) bool {
	return name == posixacl.XattrAccess || name == posixacl.XattrDefault
}

// setACL validates an ACL value and stores it on a (whose attributes the
// caller writes back), updating a's mode from an access ACL. An empty ACL
// removes the attribute.
func (w *wtx) setACL(a *Attr, name string, value []byte, flags uint32) error {
	acl, err := posixacl.Parse(value)
	if err != nil {
		return err
	}
	key := xattrKey(a.Ino, name)
	if name == posixacl.XattrDefault {
		switch {
		case !a.IsDir() && acl != nil:
			return syscall.EACCES
		case acl == nil:
			return w.delIfPresent(key)
		}
		return w.put(bXattrs, key, append([]byte{0}, acl.Encode()...))
	}
	if acl == nil {
		return w.delIfPresent(key)
	}
	a.Mode = a.Mode&^0o777 | acl.Perm()
	if flags&XattrKillSgid != 0 {
		a.Mode &^= syscall.S_ISGID
	}
	if acl.Minimal() {
		return w.delIfPresent(key)
	}
	return w.put(bXattrs, key, append([]byte{0}, acl.Encode()...))
}

func (w *wtx) delIfPresent(key []byte) error {
	if w.get(bXattrs, key) == nil {
		return nil
	}
	return w.del(bXattrs, key)
}

// chmodACL writes the permission bits of mode into ino's access ACL, if it
// has one. A stored value that does not parse (written before ACLs were
// checked) is dropped: the mode is then the whole truth.
func (w *wtx) chmodACL(ino Ino, mode uint32) error {
	key := xattrKey(ino, posixacl.XattrAccess)
	v := w.get(bXattrs, key)
	if v == nil {
		return nil
	}
	acl, err := posixacl.Parse(v[1:])
	if err != nil || acl == nil || acl.Minimal() {
		return w.del(bXattrs, key)
	}
	return w.put(bXattrs, key, append([]byte{0}, acl.Chmod(mode).Encode()...))
}

// inheritACL returns the mode of a new inode in directory parent and the
// ACL values it starts with (nil for none): the parent's default ACL masked
// by mode, or mode less umask when the parent has no default ACL (or one
// that does not parse). Symbolic links get neither.
func (w *wtx) inheritACL(parent Ino, mode, umask uint32) (uint32, []byte, []byte) {
	if mode&syscall.S_IFMT == syscall.S_IFLNK {
		return mode, nil, nil
	}
	v := w.get(bXattrs, xattrKey(parent, posixacl.XattrDefault))
	var def posixacl.ACL
	if v != nil {
		def, _ = posixacl.Parse(v[1:])
	}
	if def == nil {
		return mode &^ (umask & 0o777), nil, nil
	}
	mode, acl := posixacl.Inherit(def, mode)
	var access, dflt []byte
	if acl != nil {
		access = acl.Encode()
	}
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		dflt = def.Encode()
	}
	return mode, access, dflt
}
