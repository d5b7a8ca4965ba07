package localstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// willNeed asks the kernel to start reading [off, off+n) of f into the
// page cache, without waiting. Reads of many small pieces of a cold file
// announced this way reach the disk together instead of one at a time.
// It is advice: errors are ignored.
func willNeed(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_WILLNEED)
}
