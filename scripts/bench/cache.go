package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Levels for /proc/sys/vm/drop_caches.
const (
	dropPages   = 1 // clean page cache
	dropEntries = 2 // dentries and inodes: FUSE lookups start over
)

// dropCaches makes the next access to a side cold. It writes back dirty
// data, then asks the kernel to drop clean caches at level. The FUSE page
// cache is part of the page cache, so this covers the mount as well as the
// disk files behind it.
//
// When /proc/sys/vm/drop_caches cannot be written (an unprivileged run, a
// read-only /proc/sys), pages are dropped with posix_fadvise(DONTNEED) on
// the given files in the mount and on every file under the side's backing
// directory, and dentries by waiting past the 1 s entry and attribute
// timeouts. The returned note says which fallback was used; it is empty
// when the kernel dropped the caches.
func dropCaches(level int, s *side, files ...string) string {
	syscall.Sync()
	if err := os.WriteFile(s.cfg.dropCachesFile, []byte(strconv.Itoa(level)), 0); err == nil {
		return ""
	}
	var note string
	if level&dropPages != 0 {
		for _, f := range files {
			fadviseDontNeed(f)
		}
		_ = filepath.WalkDir(s.backing, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				fadviseDontNeed(p)
			}
			return nil
		})
		note = "drop_caches not writable: pages dropped with posix_fadvise(DONTNEED)"
	}
	if level&dropEntries != 0 {
		time.Sleep(1500 * time.Millisecond)
		note = "drop_caches not writable: waited past the 1 s entry/attr timeouts"
	}
	return note
}

// fadviseDontNeed asks the kernel to drop the cached pages of a file. It is
// advice: errors are ignored.
func fadviseDontNeed(path string) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	defer func() { _ = syscall.Close(fd) }()
	const posixFadvDontneed = 4
	_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, uintptr(fd), 0, 0, posixFadvDontneed, 0, 0)
}
