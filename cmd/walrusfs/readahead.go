package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// defaultReadahead is the kernel readahead walrusfs asks for on its mount.
//
// Linux gives every FUSE mount the default readahead of a block device,
// 128 KiB, whatever max_readahead the daemon announces (the kernel keeps
// the smaller of the two). A sequential reader then sends one 128 KiB read
// at a time. At 4 MiB the kernel keeps several 1 MiB reads in flight: a
// cold read of staged data goes about 1.5× faster on the development
// machine, and reads from the blob store overlap their fetches.
const defaultReadahead = 4 << 20

// setReadahead sets the readahead of the mount at mnt to bytes, through
// the backing device info the kernel keeps per mount
// (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb). Writing it takes root.
func setReadahead(mnt string, bytes uint64) error {
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		return err
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	return os.WriteFile(p, []byte(strconv.FormatUint(bytes>>10, 10)), 0)
}
