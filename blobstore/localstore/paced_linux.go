package localstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBack writes the dirty pages of [off, off+n) of f to the disk and
// waits for them. It makes nothing durable (no metadata, no cache flush):
// the fsync of the staged blob still does that, with little left to write.
func writeBack(f *os.File, off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}
