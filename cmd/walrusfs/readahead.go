package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/fs"
)

// defaultReadahead is the kernel readahead walrusfs asks for on its mount.
//
// Linux gives every FUSE mount the default readahead of a block device,
// 128 KiB, whatever max_readahead the daemon announces (the kernel keeps
// the smaller of the two). A sequential reader then sends one 128 KiB read
// at a time. At 4 MiB the kernel keeps several 1 MiB reads in flight: a
// cold read of staged data goes about 1.5× faster on the development
// machine, and reads from the blob store overlap their fetches. The
// price is paid by readers that seek and read a few MB (video players):
// the kernel ramps up to 4 MiB windows within those few MB and asks for
// about three times what they read; 256 KiB brings that to about 1.6×.
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

// readaheadLead is how far past an application's reads the kernel's
// readahead of a mount with the given --readahead may ask
// (filedata.Config.ReadaheadLead): two windows, each at least one request.
// With 0 the kernel keeps its 128 KiB; should setting it fail, the lead
// is smaller than assumed and fetch-ahead only starts later.
func readaheadLead(readahead uint64) int64 {
	if readahead == 0 {
		readahead = 128 << 10
	}
	return 2 * int64(max(readahead, fs.MaxRequest))
}
