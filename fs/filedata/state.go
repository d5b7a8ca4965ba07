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
	// Detail describes every chunk.
	Detail []ChunkStatus
}

// ChunkStatus is where one chunk of a file is.
type ChunkStatus struct {
	N     uint64 // the chunk's index in the file
	State State
	// Name is the quilt patch ID or blob ID once stored; ObjectID the
	// blob's Sui object when known; EndEpoch its lease end (0: unknown).
	Name      string
	ObjectID  string
	EndEpoch  uint32
	LocalCopy bool // a staged file still holds the chunk's bytes
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
	// One pass, each blob record read once: the state, the names, and the
	// earliest end of a lease (unknown when a record is missing).
	blobs := map[[32]byte]*index.Blob{}
	blob := func(id [32]byte) (*index.Blob, error) {
		if b, seen := blobs[id]; seen {
			return b, nil
		}
		b, ok, err := e.idx.BlobInfo(id)
		if err != nil || !ok {
			blobs[id] = nil
			return nil, err
		}
		blobs[id] = &b
		return &b, nil
	}
	st.State = Certified
	names := make([]string, len(chunks))
	endKnown := true
	st.Detail = make([]ChunkStatus, len(chunks))
	for i, c := range chunks {
		d := &st.Detail[i]
		d.N, d.LocalCopy = c.N, c.Ref.StagingID != 0
		if c.Ref.Kind != index.ChunkStored {
			d.State = refState(c.Ref, nil)
			st.State = min(st.State, d.State)
			continue
		}
		names[i] = storedName(c.Ref.Stored)
		b, err := blob(c.Ref.Stored.BlobID)
		if err != nil {
			return st, err
		}
		d.State, d.Name = refState(c.Ref, b), names[i]
		if b != nil {
			d.ObjectID, d.EndEpoch = b.ObjectID, b.EndEpoch
		}
		st.State = min(st.State, d.State)
		switch {
		case b == nil:
			endKnown = false
		case st.EndEpoch == 0 || b.EndEpoch < st.EndEpoch:
			st.EndEpoch = b.EndEpoch
		}
	}
	if len(chunks) == 0 || st.State < Stored {
		st.EndEpoch = 0
		return st, nil
	}
	st.Chunks = names
	if !endKnown {
		st.EndEpoch = 0
	}
	return st, nil
}

func (e *Engine) chunkState(r index.ChunkRef) (State, error) {
	if r.Kind != index.ChunkStored {
		return refState(r, nil), nil
	}
	b, ok, err := e.idx.BlobInfo(r.Stored.BlobID)
	if err != nil || !ok {
		return refState(r, nil), err
	}
	return refState(r, &b), nil
}

// refState is the state of a chunk with reference r, stored (if it is) in
// blob b (nil when the index has no record of it).
func refState(r index.ChunkRef, b *index.Blob) State {
	switch {
	case r.Kind == index.ChunkStaged && !r.Sealed:
		return Staged
	case r.Kind == index.ChunkStaged:
		return Uploading
	case b != nil && b.State >= index.BlobCertified:
		return Certified
	}
	return Stored
}

// storedName is the Walrus text form of where a chunk lives: the quilt
// patch ID for a packed chunk, else the blob ID.
func storedName(s *index.StoredChunk) string {
	if len(s.PatchID) == blobstore.PatchIDSize {
		return patchID(s).String()
	}
	return blobstore.ID(s.BlobID).String()
}
