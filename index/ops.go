package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"syscall"

	"github.com/walrusfs/walrusfs/index/posixacl"
)

// MaxNameLen is the longest name a directory entry may have, in bytes.
const MaxNameLen = 255

// Limits on extended attributes, as Linux has them.
const (
	MaxXattrNameLen  = 255
	MaxXattrValueLen = 64 << 10
)

// Rename flags, as renameat2(2) defines them.
const (
	RenameNoReplace = 1 << 0
	RenameExchange  = 1 << 1
	RenameWhiteout  = 1 << 2
)

// Xattr flags, as setxattr(2) defines them.
const (
	XattrCreate  = 1
	XattrReplace = 2
)

// NewNode describes an inode to create.
type NewNode struct {
	Mode      uint32 // type and permission bits, as the creating call asked
	Umask     uint32 // applied to Mode unless the parent has a default ACL
	Uid, Gid  uint32
	Rdev      uint32
	ChunkSize uint32 // regular files only
	Target    string // symlinks only
	Now       int64
}

// nameErr is the error that resolving name in the directory p gives before
// the entry itself is looked at, in Linux's order: ENOENT when p has been
// removed (nothing can appear in it any more), then ENAMETOOLONG.
func nameErr(p *Attr, name string) error {
	if p.Nlink == 0 {
		return syscall.ENOENT
	}
	if len(name) > MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	return nil
}

// freeName checks that name can be added to directory parent: parent is a
// live directory, name is valid and not taken. It returns parent's
// attributes, with errors in Linux's order.
func (w *wtx) freeName(parent Ino, name string) (Attr, error) {
	p, err := w.dir(parent)
	if err != nil {
		return p, err
	}
	if err := nameErr(&p, name); err != nil {
		return p, err
	}
	if err := checkName(name); err != nil {
		return p, err
	}
	if _, _, err := w.lookup(parent, name); err == nil {
		return p, syscall.EEXIST
	}
	return p, nil
}

// checkName validates a name for a new entry.
func checkName(name string) error {
	if len(name) > MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	if name == "" || name == "." || name == ".." || bytes.ContainsAny([]byte(name), "/\x00") {
		return syscall.EINVAL
	}
	return nil
}

func (w *wtx) inode(ino Ino) (Attr, error) {
	v := w.get(bInodes, inoKey(ino))
	if v == nil {
		return Attr{}, syscall.ENOENT
	}
	return decodeInode(ino, v)
}

func (w *wtx) putInode(a *Attr) error { return w.put(bInodes, inoKey(a.Ino), encodeInode(a)) }

func (w *wtx) dir(ino Ino) (Attr, error) {
	a, err := w.inode(ino)
	if err != nil {
		return a, err
	}
	if !a.IsDir() {
		return a, syscall.ENOTDIR
	}
	return a, nil
}

func (w *wtx) lookup(parent Ino, name string) (Ino, uint32, error) {
	v := w.get(bDirents, direntKey(parent, name))
	if v == nil {
		return 0, 0, syscall.ENOENT
	}
	return decodeDirent(v)
}

func (w *wtx) counter(key []byte) uint64 {
	v := w.get(bMeta, key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (w *wtx) bump(key []byte, delta int64) (uint64, error) {
	v := w.counter(key)
	return v, w.put(bMeta, key, u64(uint64(int64(v)+delta)))
}

// Lookup returns the attributes of name in directory parent.
func (x *Index) Lookup(parent Ino, name string) (Attr, error) {
	var a Attr
	err := x.view(func(w *wtx) error {
		p, err := w.dir(parent)
		if err != nil {
			return err
		}
		if err := nameErr(&p, name); err != nil {
			return err
		}
		child, _, err := w.lookup(parent, name)
		if err != nil {
			return err
		}
		a, err = w.inode(child)
		return err
	})
	return a, err
}

// GetAttr returns an inode's attributes.
func (x *Index) GetAttr(ino Ino) (Attr, error) {
	var a Attr
	err := x.view(func(w *wtx) error {
		var err error
		a, err = w.inode(ino)
		return err
	})
	return a, err
}

// checkNewNode validates what Create is given before anything is looked up,
// as symlink(2) copies its target in first: ENOENT for an empty target,
// ENAMETOOLONG for one of PATH_MAX (4096) bytes or more.
func checkNewNode(n *NewNode) error {
	switch n.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		if n.ChunkSize == 0 {
			return syscall.EINVAL
		}
	case syscall.S_IFLNK:
		if len(n.Target) == 0 {
			return syscall.ENOENT
		}
		if len(n.Target) > 4095 {
			return syscall.ENAMETOOLONG
		}
	case syscall.S_IFDIR, syscall.S_IFIFO, syscall.S_IFSOCK, syscall.S_IFCHR, syscall.S_IFBLK:
	default:
		return syscall.EINVAL
	}
	return nil
}

// Create makes a new inode of any type named name in parent and returns
// its attributes. A name that exists gives EEXIST; a parent that has been
// removed gives ENOENT. New inodes in a setgid directory take the
// directory's group, and new directories there are setgid too. A parent
// with a default ACL gives the new inode its ACLs and limits its mode (see
// acl.go); otherwise the umask applies.
func (x *Index) Create(parent Ino, name string, n NewNode) (Attr, error) {
	var a Attr
	err := x.update(func(w *wtx) error {
		if err := checkNewNode(&n); err != nil {
			return err
		}
		p, err := w.freeName(parent, name)
		if err != nil {
			return err
		}
		mode, access, dflt := w.inheritACL(parent, n.Mode, n.Umask)
		ino, err := w.bump(keyNextIno, 1)
		if err != nil {
			return err
		}
		a = Attr{
			Ino: Ino(ino), Mode: mode, Uid: n.Uid, Gid: n.Gid, Rdev: n.Rdev, Nlink: 1,
			Atime: n.Now, Mtime: n.Now, Ctime: n.Now,
		}
		if p.Mode&syscall.S_ISGID != 0 {
			a.Gid = p.Gid
			if a.IsDir() {
				a.Mode |= syscall.S_ISGID
			}
		}
		switch a.Type() {
		case syscall.S_IFDIR:
			a.Nlink = 2
			a.Parent = parent
			p.Nlink++
		case syscall.S_IFREG:
			a.ChunkSize = n.ChunkSize
		case syscall.S_IFLNK:
			a.Size = uint64(len(n.Target))
			if err := w.put(bSymlinks, inoKey(a.Ino), []byte(n.Target)); err != nil {
				return err
			}
		}
		if err := w.putInode(&a); err != nil {
			return err
		}
		for _, acl := range []struct {
			name  string
			value []byte
		}{{posixacl.XattrAccess, access}, {posixacl.XattrDefault, dflt}} {
			if acl.value != nil {
				if err := w.put(bXattrs, xattrKey(a.Ino, acl.name), append([]byte{0}, acl.value...)); err != nil {
					return err
				}
			}
		}
		if err := w.put(bDirents, direntKey(parent, name), encodeDirent(a.Ino, a.Type())); err != nil {
			return err
		}
		p.Mtime, p.Ctime = n.Now, n.Now
		if err := w.putInode(&p); err != nil {
			return err
		}
		_, err = w.bump(keyInodeCount, 1)
		return err
	})
	return a, err
}

// Readlink returns a symlink's target.
func (x *Index) Readlink(ino Ino) (string, error) {
	var target string
	err := x.view(func(w *wtx) error {
		v := w.get(bSymlinks, inoKey(ino))
		if v == nil {
			if _, err := w.inode(ino); err != nil {
				return err
			}
			return syscall.EINVAL
		}
		target = string(v)
		return nil
	})
	return target, err
}

// Link adds the name newName in newParent for the existing inode ino.
// Errors come in link(2)'s order: the new name (ENOENT for a removed
// directory, ENAMETOOLONG, EEXIST), then the inode (EPERM for a directory,
// ENOENT for an orphan).
func (x *Index) Link(ino, newParent Ino, newName string, now int64) (Attr, error) {
	var a Attr
	err := x.update(func(w *wtx) error {
		var err error
		if a, err = w.inode(ino); err != nil {
			return err
		}
		p, err := w.freeName(newParent, newName)
		if err != nil {
			return err
		}
		if a.IsDir() {
			return syscall.EPERM
		}
		if a.Nlink == 0 {
			return syscall.ENOENT
		}
		a.Nlink++
		a.Ctime = now
		if err := w.putInode(&a); err != nil {
			return err
		}
		if err := w.put(bDirents, direntKey(newParent, newName), encodeDirent(ino, a.Type())); err != nil {
			return err
		}
		p.Mtime, p.Ctime = now, now
		return w.putInode(&p)
	})
	return a, err
}

// Unlink removes the non-directory name from parent. When that was the last
// name, the inode is deleted, or kept as an orphan while it is open.
func (x *Index) Unlink(parent Ino, name string, now int64) error {
	return x.update(func(w *wtx) error {
		p, err := w.dir(parent)
		if err != nil {
			return err
		}
		if err := nameErr(&p, name); err != nil {
			return err
		}
		child, typ, err := w.lookup(parent, name)
		if err != nil {
			return err
		}
		if typ == syscall.S_IFDIR {
			return syscall.EISDIR
		}
		a, err := w.inode(child)
		if err != nil {
			return err
		}
		if err := w.del(bDirents, direntKey(parent, name)); err != nil {
			return err
		}
		if err := x.dropLink(w, &a, now); err != nil {
			return err
		}
		p.Mtime, p.Ctime = now, now
		return w.putInode(&p)
	})
}

// Rmdir removes the empty directory name from parent.
func (x *Index) Rmdir(parent Ino, name string, now int64) error {
	return x.update(func(w *wtx) error {
		p, err := w.dir(parent)
		if err != nil {
			return err
		}
		if err := nameErr(&p, name); err != nil {
			return err
		}
		child, typ, err := w.lookup(parent, name)
		if err != nil {
			return err
		}
		if typ != syscall.S_IFDIR {
			return syscall.ENOTDIR
		}
		a, err := w.inode(child)
		if err != nil {
			return err
		}
		if !w.dirEmpty(child) {
			return syscall.ENOTEMPTY
		}
		if err := w.del(bDirents, direntKey(parent, name)); err != nil {
			return err
		}
		if err := x.dropDir(w, &a, &p, now); err != nil {
			return err
		}
		p.Mtime, p.Ctime = now, now
		return w.putInode(&p)
	})
}

func (w *wtx) dirEmpty(dir Ino) bool {
	prefix := inoKey(dir)
	k, _ := w.bucket(bDirents).Cursor().Seek(prefix)
	return k == nil || !bytes.HasPrefix(k, prefix)
}

// dropLink takes one link away from a non-directory whose dirent is already
// gone, deleting it or making it an orphan when it was the last.
func (x *Index) dropLink(w *wtx, a *Attr, now int64) error {
	a.Nlink--
	a.Ctime = now
	if a.Nlink > 0 {
		return w.putInode(a)
	}
	if x.isOpen(a.Ino) {
		if err := w.putInode(a); err != nil {
			return err
		}
		return w.put(bOrphans, inoKey(a.Ino), []byte{1})
	}
	return x.deleteInode(w, a.Ino)
}

// dropDir deletes the empty directory a whose dirent in p is already gone.
func (x *Index) dropDir(w *wtx, a, p *Attr, now int64) error {
	p.Nlink--
	a.Nlink = 0
	a.Ctime = now
	if x.isOpen(a.Ino) {
		if err := w.putInode(a); err != nil {
			return err
		}
		return w.put(bOrphans, inoKey(a.Ino), []byte{1})
	}
	return x.deleteInode(w, a.Ino)
}

// deleteInode removes an inode with everything hanging off it, and releases
// its staging files once that is durable.
func (x *Index) deleteInode(w *wtx, ino Ino) error {
	key := inoKey(ino)
	for _, b := range []bucketID{bInodes, bSymlinks, bOrphans} {
		if w.get(b, key) != nil {
			if err := w.del(b, key); err != nil {
				return err
			}
		}
	}
	if err := x.dropChunks(w, ino, 0); err != nil {
		return err
	}
	var keys [][]byte
	c := w.bucket(bXattrs).Cursor()
	for k, _ := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := w.del(bXattrs, k); err != nil {
			return err
		}
	}
	_, err := w.bump(keyInodeCount, -1)
	return err
}

func (x *Index) releaseStaging(w *wtx, ids ...uint64) {
	w.releasing = append(w.releasing, ids...)
}

// Rename moves oldName in oldParent to newName in newParent, atomically.
// flags are RenameNoReplace or RenameExchange (RenameWhiteout is not
// supported: EINVAL). A plain rename replaces an existing target of a
// compatible type; an empty directory can be replaced by a directory.
// Renaming a name onto another name of the same inode does nothing. Errors
// come in renameat2(2)'s order on Linux: flags, the parents, the old name,
// the new name, NoReplace and Exchange, a directory moved under itself
// (EINVAL) or onto an ancestor of its source (ENOTEMPTY, EINVAL for
// Exchange), then the types of the two entries.
func (x *Index) Rename(oldParent Ino, oldName string, newParent Ino, newName string, flags uint32, now int64) error {
	return x.update(func(w *wtx) error {
		if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
			return syscall.EINVAL
		}
		same := oldParent == newParent
		opAttr, err := w.dir(oldParent)
		if err != nil {
			return err
		}
		op, np := &opAttr, &opAttr
		if !same {
			npAttr, err := w.dir(newParent)
			if err != nil {
				return err
			}
			np = &npAttr
		}
		if err := nameErr(op, oldName); err != nil {
			return err
		}
		src, srcType, err := w.lookup(oldParent, oldName)
		if err != nil {
			return err
		}
		if err := nameErr(np, newName); err != nil {
			return err
		}
		if err := checkName(newName); err != nil {
			return err
		}
		dst, dstType, derr := w.lookup(newParent, newName)
		if derr != nil && !errors.Is(derr, syscall.ENOENT) {
			return derr
		}
		exists := derr == nil
		if flags&RenameExchange != 0 && !exists {
			return syscall.ENOENT
		}
		if flags&RenameNoReplace != 0 && exists {
			return syscall.EEXIST
		}
		if !same {
			// Moving a directory under itself would cut the subtree loose.
			if srcType == syscall.S_IFDIR {
				if under, err := w.isUnder(newParent, src); err != nil {
					return err
				} else if under {
					return syscall.EINVAL
				}
			}
			// The target holds the source (so it is not empty).
			if exists && dstType == syscall.S_IFDIR {
				if under, err := w.isUnder(oldParent, dst); err != nil {
					return err
				} else if under {
					if flags&RenameExchange != 0 {
						return syscall.EINVAL
					}
					return syscall.ENOTEMPTY
				}
			}
		}
		if exists && dst == src {
			return nil // one name, or two names of one inode: POSIX says do nothing
		}
		// From here on: mutations only.
		if flags&RenameExchange != 0 {
			if err := w.put(bDirents, direntKey(oldParent, oldName), encodeDirent(dst, dstType)); err != nil {
				return err
			}
			if err := w.put(bDirents, direntKey(newParent, newName), encodeDirent(src, srcType)); err != nil {
				return err
			}
			if !same {
				if err := w.reparent(src, srcType, op, np, now); err != nil {
					return err
				}
				if err := w.reparent(dst, dstType, np, op, now); err != nil {
					return err
				}
			} else {
				if err := w.touchCtime(src, now); err != nil {
					return err
				}
				if err := w.touchCtime(dst, now); err != nil {
					return err
				}
			}
			return w.finishParents(op, np, same, now)
		}
		if exists {
			if srcType == syscall.S_IFDIR && dstType != syscall.S_IFDIR {
				return syscall.ENOTDIR
			}
			if srcType != syscall.S_IFDIR && dstType == syscall.S_IFDIR {
				return syscall.EISDIR
			}
			if dstType == syscall.S_IFDIR && !w.dirEmpty(dst) {
				return syscall.ENOTEMPTY
			}
			da, err := w.inode(dst)
			if err != nil {
				return err
			}
			if dstType == syscall.S_IFDIR {
				if err := x.dropDir(w, &da, np, now); err != nil {
					return err
				}
			} else if err := x.dropLink(w, &da, now); err != nil {
				return err
			}
		}
		if err := w.del(bDirents, direntKey(oldParent, oldName)); err != nil {
			return err
		}
		if err := w.put(bDirents, direntKey(newParent, newName), encodeDirent(src, srcType)); err != nil {
			return err
		}
		if same {
			if err := w.touchCtime(src, now); err != nil {
				return err
			}
		} else if err := w.reparent(src, srcType, op, np, now); err != nil {
			return err
		}
		return w.finishParents(op, np, same, now)
	})
}

// isUnder reports whether dir is anc or lies below it.
func (w *wtx) isUnder(dir, anc Ino) (bool, error) {
	for depth := 0; ; depth++ {
		if dir == anc {
			return true, nil
		}
		if dir == RootIno || depth > 1<<16 {
			return false, nil
		}
		a, err := w.inode(dir)
		if err != nil {
			return false, err
		}
		if a.Parent == 0 {
			return false, fmt.Errorf("index: directory %d has no parent: %w", dir, ErrCorrupt)
		}
		dir = a.Parent
	}
}

// reparent records that ino moved from directory from to directory to.
func (w *wtx) reparent(ino Ino, typ uint32, from, to *Attr, now int64) error {
	a, err := w.inode(ino)
	if err != nil {
		return err
	}
	a.Ctime = now
	if typ == syscall.S_IFDIR {
		a.Parent = to.Ino
		from.Nlink--
		to.Nlink++
	}
	return w.putInode(&a)
}

func (w *wtx) touchCtime(ino Ino, now int64) error {
	a, err := w.inode(ino)
	if err != nil {
		return err
	}
	a.Ctime = now
	return w.putInode(&a)
}

func (w *wtx) finishParents(op, np *Attr, same bool, now int64) error {
	op.Mtime, op.Ctime = now, now
	if same {
		return w.putInode(op)
	}
	np.Mtime, np.Ctime = now, now
	if err := w.putInode(op); err != nil {
		return err
	}
	return w.putInode(np)
}

// SetAttrIn lists the attribute changes of a setattr; nil fields stay.
type SetAttrIn struct {
	Mode         *uint32 // permission bits only; the type is kept
	Uid, Gid     *uint32
	Size         *uint64
	Atime, Mtime *int64
	Now          int64 // becomes ctime
	// KillPrivileges clears the setuid bit and the setgid bit when group
	// execute is on, as Linux does when a caller without CAP_FSETID
	// truncates a file. A change of owner or group of a file that is not
	// a directory does the same by itself (unless it sets the mode too),
	// as chown(2) does; a truncate or a chown also removes the file's
	// capabilities (security.capability), whoever makes it.
	KillPrivileges bool
}

// xattrCapability is the file capabilities attribute (setcap) that a
// write, truncate or chown removes with the setuid bit.
const xattrCapability = "security.capability"

// KillPrivileges is what a write does to a file's privileges, as on any
// Linux filesystem: it removes the file's capabilities
// (security.capability), and when suidgid is set (the writer lacks
// CAP_FSETID) it clears the setuid bit and the setgid bit when group
// execute is on. When there is nothing to clear, as for almost every
// write, it changes nothing and journals nothing.
func (x *Index) KillPrivileges(ino Ino, suidgid bool, now int64) error {
	return x.update(func(w *wtx) error {
		a, err := w.inode(ino)
		if err != nil {
			return err
		}
		capKey := xattrKey(ino, xattrCapability)
		hasCap := w.get(bXattrs, capKey) != nil
		if !hasCap && (!suidgid || !hasPrivilegeBits(a.Mode)) {
			return nil
		}
		if hasCap {
			if err := w.del(bXattrs, capKey); err != nil {
				return err
			}
		}
		if suidgid {
			a.Mode = withoutPrivilegeBits(a.Mode)
		}
		a.Ctime = now
		return w.putInode(&a)
	})
}

// hasPrivilegeBits reports whether a write by a caller without CAP_FSETID
// would change mode.
func hasPrivilegeBits(mode uint32) bool { return withoutPrivilegeBits(mode) != mode }

// withoutPrivilegeBits is mode without the setuid bit, and without the
// setgid bit when group execute is on (setgid without it marks mandatory
// locking, which a write leaves alone).
func withoutPrivilegeBits(mode uint32) uint32 {
	mode &^= syscall.S_ISUID
	if mode&syscall.S_IXGRP != 0 {
		mode &^= syscall.S_ISGID
	}
	return mode
}

// SetAttr changes attributes. Changing Size of a regular file drops the
// chunk references wholly past the new end (their staging files are
// released); the filesystem shortens the last partial chunk's data itself
// before calling.
func (x *Index) SetAttr(ino Ino, in SetAttrIn) (Attr, error) {
	var a Attr
	err := x.update(func(w *wtx) error {
		var err error
		if a, err = w.inode(ino); err != nil {
			return err
		}
		if in.Size != nil {
			switch a.Type() {
			case syscall.S_IFREG:
			case syscall.S_IFDIR:
				return syscall.EISDIR
			default:
				return syscall.EINVAL
			}
		}
		if in.Mode != nil {
			a.Mode = a.Type() | *in.Mode&^uint32(syscall.S_IFMT)
			if err := w.chmodACL(ino, a.Mode); err != nil {
				return err
			}
		}
		chown := (in.Uid != nil || in.Gid != nil) && !a.IsDir()
		if (in.KillPrivileges || chown) && in.Mode == nil {
			a.Mode = withoutPrivilegeBits(a.Mode)
		}
		if chown || in.Size != nil {
			if key := xattrKey(ino, xattrCapability); w.get(bXattrs, key) != nil {
				if err := w.del(bXattrs, key); err != nil {
					return err
				}
			}
		}
		if in.Uid != nil {
			a.Uid = *in.Uid
		}
		if in.Gid != nil {
			a.Gid = *in.Gid
		}
		if in.Atime != nil {
			a.Atime = *in.Atime
		}
		if in.Mtime != nil {
			a.Mtime = *in.Mtime
		}
		if in.Size != nil {
			if *in.Size < a.Size {
				if err := x.dropChunks(w, a.Ino, chunksCovering(*in.Size, a.ChunkSize)); err != nil {
					return err
				}
			}
			a.Size = *in.Size
			if in.Mtime == nil {
				a.Mtime = in.Now
			}
		}
		a.Ctime = in.Now
		return w.putInode(&a)
	})
	return a, err
}

// chunksCovering is the number of chunks needed to hold size bytes.
func chunksCovering(size uint64, chunkSize uint32) uint64 {
	cs := uint64(chunkSize)
	return (size + cs - 1) / cs
}

// dropChunks deletes the chunks of ino numbered first and up, releasing
// their staging files and their share of their blobs' live bytes.
func (x *Index) dropChunks(w *wtx, ino Ino, first uint64) error {
	return x.dropChunkRange(w, ino, first, math.MaxUint64)
}

// dropChunkRange deletes the references of chunks first to end (exclusive)
// of ino: they become holes.
func (x *Index) dropChunkRange(w *wtx, ino Ino, first, end uint64) error {
	prefix := inoKey(ino)
	var keys [][]byte
	var refs []ChunkRef
	c := w.bucket(bChunks).Cursor()
	for k, v := c.Seek(chunkKey(ino, first)); k != nil && bytes.HasPrefix(k, prefix) && binary.BigEndian.Uint64(k[8:]) < end; k, v = c.Next() {
		r, err := decodeChunkRef(v)
		if err != nil {
			return err
		}
		keys = append(keys, append([]byte(nil), k...))
		refs = append(refs, r)
	}
	for i, k := range keys {
		if err := w.del(bChunks, k); err != nil {
			return err
		}
		if err := x.refDropped(w, refs[i], 0); err != nil {
			return err
		}
	}
	return nil
}

// ReadDir returns the entries of directory dir in name order (byte-wise).
func (x *Index) ReadDir(dir Ino) ([]DirEntry, error) {
	var out []DirEntry
	err := x.view(func(w *wtx) error {
		if _, err := w.dir(dir); err != nil {
			return err
		}
		prefix := inoKey(dir)
		c := w.bucket(bDirents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			ino, typ, err := decodeDirent(v)
			if err != nil {
				return err
			}
			out = append(out, DirEntry{Name: string(k[8:]), Ino: ino, Type: typ})
		}
		return nil
	})
	return out, err
}

// Xattr operations. Names are full names ("user.x", "trusted.y").

// checkXattrName gives ERANGE for a name that is empty or too long, as the
// xattr system calls do.
func checkXattrName(name string) error {
	if len(name) == 0 || len(name) > MaxXattrNameLen {
		return syscall.ERANGE
	}
	return nil
}

// GetXattr returns the value of an extended attribute, or ENODATA.
func (x *Index) GetXattr(ino Ino, name string) ([]byte, error) {
	var val []byte
	err := x.view(func(w *wtx) error {
		if err := checkXattrName(name); err != nil {
			return err
		}
		if _, err := w.inode(ino); err != nil {
			return err
		}
		v := w.get(bXattrs, xattrKey(ino, name))
		if v == nil {
			return syscall.ENODATA
		}
		val = append([]byte{}, v[1:]...)
		return nil
	})
	return val, err
}

// ListXattr returns the names of an inode's extended attributes, in order.
func (x *Index) ListXattr(ino Ino) ([]string, error) {
	var names []string
	err := x.view(func(w *wtx) error {
		if _, err := w.inode(ino); err != nil {
			return err
		}
		prefix := inoKey(ino)
		c := w.bucket(bXattrs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			names = append(names, string(k[8:]))
		}
		return nil
	})
	return names, err
}

// SetXattr sets an extended attribute. flags may be XattrCreate (fail with
// EEXIST if it exists) or XattrReplace (fail with ENODATA if it does not).
// ACLs are validated and kept in step with the mode (see acl.go).
func (x *Index) SetXattr(ino Ino, name string, value []byte, flags uint32, now int64) error {
	return x.update(func(w *wtx) error {
		if err := checkXattrName(name); err != nil {
			return err
		}
		if len(value) > MaxXattrValueLen {
			return syscall.E2BIG
		}
		a, err := w.inode(ino)
		if err != nil {
			return err
		}
		key := xattrKey(ino, name)
		exists := w.get(bXattrs, key) != nil
		if flags&XattrCreate != 0 && exists {
			return syscall.EEXIST
		}
		if flags&XattrReplace != 0 && !exists {
			return syscall.ENODATA
		}
		if isACLName(name) {
			if err := w.setACL(&a, name, value, flags); err != nil {
				return err
			}
			a.Ctime = now
			return w.putInode(&a)
		}
		// A leading zero byte keeps empty values distinguishable from
		// absent ones (bbolt returns nil for both).
		if err := w.put(bXattrs, key, append([]byte{0}, value...)); err != nil {
			return err
		}
		a.Ctime = now
		return w.putInode(&a)
	})
}

// RemoveXattr removes an extended attribute, or fails with ENODATA.
// Removing an ACL that is not there succeeds, as on Linux; removing one
// leaves the mode as it is.
func (x *Index) RemoveXattr(ino Ino, name string, now int64) error {
	return x.update(func(w *wtx) error {
		if err := checkXattrName(name); err != nil {
			return err
		}
		a, err := w.inode(ino)
		if err != nil {
			return err
		}
		key := xattrKey(ino, name)
		if w.get(bXattrs, key) == nil {
			if isACLName(name) {
				return nil
			}
			return syscall.ENODATA
		}
		if err := w.del(bXattrs, key); err != nil {
			return err
		}
		a.Ctime = now
		return w.putInode(&a)
	})
}

// Stats are the counts statfs reports.
type Stats struct {
	Inodes uint64
}

// Stats returns filesystem-wide counts.
func (x *Index) Stats() (Stats, error) {
	var s Stats
	err := x.view(func(w *wtx) error {
		s.Inodes = w.counter(keyInodeCount)
		return nil
	})
	return s, err
}

// PurgeOrphans deletes every orphan inode. Call it at mount, before anything
// is open: orphans are left by a crash while unlinked files were open.
func (x *Index) PurgeOrphans() (int, error) {
	n := 0
	err := x.update(func(w *wtx) error {
		var inos []Ino
		c := w.bucket(bOrphans).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			inos = append(inos, Ino(binary.BigEndian.Uint64(k)))
		}
		for _, ino := range inos {
			if err := x.deleteInode(w, ino); err != nil {
				return err
			}
		}
		n = len(inos)
		return nil
	})
	return n, err
}
