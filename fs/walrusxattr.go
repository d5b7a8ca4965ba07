package fs

import (
	"strconv"
	"strings"
	"syscall"

	"github.com/walrusfs/walrusfs/index"
)

// Per-file upload state, readable as extended attributes. Names under
// user.walrus. are computed from the index and reserved: setting or
// removing one fails with EPERM. They are not listed by listxattr, so
// tools that copy extended attributes (cp -a, rsync -X) do not try to copy
// them onto another walrusfs file.
const (
	walrusXattrPrefix = "user.walrus."
	xattrState        = walrusXattrPrefix + "state"
	xattrBlobID       = walrusXattrPrefix + "blob_id"
	xattrEndEpoch     = walrusXattrPrefix + "end_epoch"
)

func isWalrusXattr(name string) bool { return strings.HasPrefix(name, walrusXattrPrefix) }

// walrusXattr computes the value of a user.walrus.* attribute of ino.
func (f *FS) walrusXattr(ino index.Ino, name string) ([]byte, error) {
	st, err := f.data.Status(ino)
	if err != nil {
		return nil, err
	}
	switch name {
	case xattrState:
		return []byte(st.State.String()), nil
	case xattrBlobID:
		if len(st.Chunks) == 0 {
			return nil, syscall.ENODATA
		}
		return []byte(strings.Join(st.Chunks, " ")), nil
	case xattrEndEpoch:
		if st.EndEpoch == 0 {
			return nil, syscall.ENODATA
		}
		return []byte(strconv.FormatUint(uint64(st.EndEpoch), 10)), nil
	}
	return nil, syscall.ENODATA
}
