package fs

import (
	"errors"
	"log/slog"
	"os"
	"syscall"
)

// toErrno maps an error to the errno the kernel gets. Errnos pass through;
// anything unexpected becomes EIO with a log line, so a person can find out
// what happened.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	if errors.Is(err, os.ErrNotExist) {
		return syscall.ENOENT
	}
	log.Error("I/O error", "op", op, "err", err)
	return syscall.EIO
}
