package filedata

import (
	"syscall"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/index"
)

// State is how far a file's data has got on its way to the store. A file
// is in the state of its least advanced chunk; a file with no data is
// certified.
type State int

// States from least to most advanced.
const (
	Staged    State = iota // written locally, not yet queued
	Uploading              // sealed and queued for upload
	Stored                 // in a blob the store accepted, not yet certified
	Certified              // in a blob certified on Walrus
)

func (s State) String() string {
	switch s {
	case Staged:
		return "staged"
	case Uploading:
		return "uploading"
	case Stored:
		return "stored"
	case Certified:
		return "certified"
	}
	return "unknown"
}

// FileStatus is where the data of one regular file is.
type FileStatus struct {
	State State
	// Chunks is, per chunk in order, the Walrus name of where it lives:
	// the quilt patch ID of a packed chunk, else the blob ID. Set only
	// when every chunk is at least Stored.
	Chunks []string
	// EndEpoch is the earliest end epoch of the blobs holding the file's
	// chunks; 0 when the file has no chunks or one is not yet Stored, or
	// when a blob's record is missing.
	EndEpoch uint32
}

// Status reports where the data of the regular file ino is. Other types
// fail with ENODATA.
func (e *Engine) Status(ino index.Ino) (FileStatus, error) {
	var st FileStatus
	a, err := e.idx.GetAttr(ino)
	if err != nil {
		return st, err
	}
	if a.Type() != syscall.S_IFREG {
		return st, syscall.ENODATA
	}
	chunks, err := e.idx.Chunks(ino)
	if err != nil {
		return st, err
	}
	st.State = Certified
	for _, c := range chunks {
		s, err := e.chunkState(c.Ref)
		if err != nil {
			return st, err
		}
		st.State = min(st.State, s)
	}
	if len(chunks) == 0 || st.State < Stored {
		return st, nil
	}
	st.Chunks = make([]string, len(chunks))
	for i, c := range chunks {
		st.Chunks[i] = storedName(c.Ref.Stored)
		b, ok, err := e.idx.BlobInfo(c.Ref.Stored.BlobID)
		if err != nil {
			return st, err
		}
		if !ok {
			st.EndEpoch = 0
			break
		}
		if i == 0 || b.EndEpoch < st.EndEpoch {
			st.EndEpoch = b.EndEpoch
		}
	}
	return st, nil
}

func (e *Engine) chunkState(r index.ChunkRef) (State, error) {
	switch {
	case r.Kind == index.ChunkStaged && !r.Sealed:
		return Staged, nil
	case r.Kind == index.ChunkStaged:
		return Uploading, nil
	}
	b, ok, err := e.idx.BlobInfo(r.Stored.BlobID)
	if err != nil {
		return 0, err
	}
	if ok && b.State >= index.BlobCertified {
		return Certified, nil
	}
	return Stored, nil
}

// storedName is the Walrus text form of where a chunk lives: the quilt
// patch ID for a packed chunk, else the blob ID.
func storedName(s *index.StoredChunk) string {
	if len(s.PatchID) == blobstore.PatchIDSize {
		return patchID(s).String()
	}
	return blobstore.ID(s.BlobID).String()
}
