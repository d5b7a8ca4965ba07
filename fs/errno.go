package fs

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/walrusfs/walrusfs/index"
)

// errno maps an error from the index or the file data engine to the errno
// the kernel gets, for operation op on inode ino. It is the one place
// errors become errnos:
//
//   - a syscall.Errno anywhere in the chain passes through (the index and
//     the engine speak POSIX where POSIX has a word: ENOENT, ENOSPC, ...);
//   - a cancelled context (the kernel interrupted the request) is EINTR;
//   - os.ErrNotExist is ENOENT;
//   - anything else (a store that failed, data that failed its hash, a
//     missing key, a closed index) is EIO, with a log line naming the
//     operation and the inode, so a person can find out what happened.
func (f *FS) errno(op string, ino uint64, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, index.ErrClosed):
		return syscall.EIO
	}
	f.log.Error("I/O error", "op", op, "ino", ino, "err", err)
	return syscall.EIO
}
