package fs

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/index"
)

// TestErrno: the one map from errors to errnos. Errnos pass through however
// wrapped, an interrupted request is EINTR, and everything else is EIO
// with a log line that names the operation and the inode.
func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		want   syscall.Errno
		logged bool
	}{
		{"nil", nil, 0, false},
		{"errno", syscall.ENOSPC, syscall.ENOSPC, false},
		{"wrapped errno", fmt.Errorf("write chunk: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}), syscall.EDQUOT, false},
		{"interrupted", fmt.Errorf("block 3: %w", context.Canceled), syscall.EINTR, false},
		{"not found", fmt.Errorf("open: %w", os.ErrNotExist), syscall.ENOENT, false},
		{"index closed", fmt.Errorf("x: %w", index.ErrClosed), syscall.EIO, false},
		{"store down", fmt.Errorf("block 3 of blob x: %w", blobstore.ErrUnavailable), syscall.EIO, true},
		{"bad bytes", fmt.Errorf("block 3 of blob x: %w", blobstore.ErrIntegrity), syscall.EIO, true},
		{"no key", fmt.Errorf("stored chunk: %w", filedata.ErrNoKey), syscall.EIO, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := &FS{log: slog.New(slog.NewTextHandler(&logs, nil))}
			if got := f.errno("read", 42, tc.err); got != tc.want {
				t.Errorf("errno %v, want %v", got, tc.want)
			}
			line := logs.String()
			if logged := line != ""; logged != tc.logged {
				t.Fatalf("logged %q, want a log line: %v", line, tc.logged)
			}
			if tc.logged && (!strings.Contains(line, "op=read") || !strings.Contains(line, "ino=42")) {
				t.Errorf("log line %q does not name the operation and the inode", line)
			}
		})
	}
}
