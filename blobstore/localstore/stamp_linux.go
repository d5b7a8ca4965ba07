package localstore

import (
	"os"
	"syscall"
)

// fileStamp tells whether a file is still the one seen: a file replaced
// (a new inode), rewritten or removed has another stamp. The zero stamp
// is no file.
type fileStamp struct {
	ino          uint64
	size         int64
	mtime, ctime syscall.Timespec
}

// stampOf returns fi's stamp, and whether this system gives one.
func stampOf(fi os.FileInfo) (fileStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}, false
	}
	return fileStamp{ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}
