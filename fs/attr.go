package fs

import (
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/walrusfs/walrusfs/index"
)

// fillAttr converts index attributes to FUSE attributes.
func fillAttr(a *index.Attr, out *fuse.Attr) {
	out.Ino = uint64(a.Ino)
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Uid = a.Uid
	out.Gid = a.Gid
	out.Rdev = a.Rdev
	out.Size = a.Size
	out.Blocks = (a.Size + 511) / 512
	out.Blksize = 4096
	setTime := func(ns int64, sec *uint64, nsec *uint32) {
		*sec = uint64(ns / 1e9)
		*nsec = uint32(ns % 1e9)
	}
	setTime(a.Atime, &out.Atime, &out.Atimensec)
	setTime(a.Mtime, &out.Mtime, &out.Mtimensec)
	setTime(a.Ctime, &out.Ctime, &out.Ctimensec)
}
