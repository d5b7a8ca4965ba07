package fs

import (
	"strconv"
	"strings"
	"syscall"

	"github.com/walrusfs/walrusfs/blobstore"
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

// Upload states of a chunk, from least to most advanced. A file is in the
// state of its least advanced chunk; a file with no data is certified.
const (
	stateStaged = iota
	stateUploading
	stateStored
	stateCertified
)

var fileStates = []string{"staged", "uploading", "stored", "certified"}

func (f *FS) chunkState(r index.ChunkRef) (int, error) {
	switch {
	case r.Kind == index.ChunkStaged && !r.Sealed:
		return stateStaged, nil
	case r.Kind == index.ChunkStaged:
		return stateUploading, nil
	}
	b, ok, err := f.idx.BlobInfo(r.Stored.BlobID)
	if err != nil {
		return 0, err
	}
	if ok && b.State >= index.BlobCertified {
		return stateCertified, nil
	}
	return stateStored, nil
}

// walrusXattr computes the value of a user.walrus.* attribute of ino.
func (f *FS) walrusXattr(ino index.Ino, name string) ([]byte, error) {
	a, err := f.idx.GetAttr(ino)
	if err != nil {
		return nil, err
	}
	if a.Type() != syscall.S_IFREG {
		return nil, syscall.ENODATA
	}
	chunks, err := f.idx.Chunks(ino)
	if err != nil {
		return nil, err
	}
	state := stateCertified
	for _, c := range chunks {
		st, err := f.chunkState(c.Ref)
		if err != nil {
			return nil, err
		}
		state = min(state, st)
	}
	switch name {
	case xattrState:
		return []byte(fileStates[state]), nil
	case xattrBlobID:
		if len(chunks) == 0 || state < stateStored {
			return nil, syscall.ENODATA
		}
		ids := make([]string, len(chunks))
		for i, c := range chunks {
			ids[i] = storedName(c.Ref.Stored)
		}
		return []byte(strings.Join(ids, " ")), nil
	case xattrEndEpoch:
		if len(chunks) == 0 || state < stateStored {
			return nil, syscall.ENODATA
		}
		var end uint32
		for i, c := range chunks {
			b, ok, err := f.idx.BlobInfo(c.Ref.Stored.BlobID)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, syscall.ENODATA
			}
			if i == 0 || b.EndEpoch < end {
				end = b.EndEpoch
			}
		}
		return []byte(strconv.FormatUint(uint64(end), 10)), nil
	}
	return nil, syscall.ENODATA
}

// storedName is the Walrus text form of where a chunk lives: the quilt
// patch ID for a packed chunk, else the blob ID.
func storedName(s *index.StoredChunk) string {
	if len(s.PatchID) == blobstore.PatchIDSize {
		return patchID(s).String()
	}
	return blobstore.ID(s.BlobID).String()
}
