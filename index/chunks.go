package index

import (
	"bytes"
	"encoding/binary"
	"syscall"
)

// ChunkEntry is one entry of a file's chunk map.
type ChunkEntry struct {
	N   uint64 // chunk number: the chunk covers [N·ChunkSize, (N+1)·ChunkSize)
	Ref ChunkRef
}

// Chunk returns the reference of chunk n of ino; ok is false for a hole.
func (x *Index) Chunk(ino Ino, n uint64) (ref ChunkRef, ok bool, err error) {
	err = x.view(func(w *wtx) error {
		v := w.get(bChunks, chunkKey(ino, n))
		if v == nil {
			return nil
		}
		ok = true
		ref, err = decodeChunkRef(v)
		return err
	})
	return ref, ok, err
}

// Chunks returns the chunk map of ino in chunk order. Holes are absent.
func (x *Index) Chunks(ino Ino) ([]ChunkEntry, error) {
	var out []ChunkEntry
	err := x.view(func(w *wtx) error {
		prefix := inoKey(ino)
		c := w.bucket(bChunks).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			r, err := decodeChunkRef(v)
			if err != nil {
				return err
			}
			out = append(out, ChunkEntry{N: binary.BigEndian.Uint64(k[8:]), Ref: r})
		}
		return nil
	})
	return out, err
}

// NewStagedChunk gives chunk n of the regular file ino a fresh, empty
// staging file ID and records it as the chunk's reference, replacing any
// previous one (whose staging file is released once this is durable). The
// caller creates the staging file afterwards; a staged reference whose file
// does not exist yet reads as zeros.
func (x *Index) NewStagedChunk(ino Ino, n uint64) (ChunkRef, error) {
	var ref ChunkRef
	err := x.update(func(w *wtx) error {
		a, err := w.inode(ino)
		if err != nil {
			return err
		}
		if a.Type() != syscall.S_IFREG {
			return syscall.EINVAL
		}
		id, err := w.bump(keyNextStaging, 1)
		if err != nil {
			return err
		}
		ref = ChunkRef{Kind: ChunkStaged, StagingID: id}
		return x.setChunk(w, ino, n, ref)
	})
	return ref, err
}

// AllocStagingID reserves a staging file ID for a copy the caller is about
// to make (copy-on-write); SetChunk then publishes it.
func (x *Index) AllocStagingID() (uint64, error) {
	var id uint64
	err := x.update(func(w *wtx) error {
		var err error
		id, err = w.bump(keyNextStaging, 1)
		return err
	})
	return id, err
}

// SetChunk records ref as the reference of chunk n of the regular file ino
// (EINVAL for other types). A previous staged reference with another staging
// file is released once this is durable.
func (x *Index) SetChunk(ino Ino, n uint64, ref ChunkRef) error {
	return x.update(func(w *wtx) error {
		a, err := w.inode(ino)
		if err != nil {
			return err
		}
		if a.Type() != syscall.S_IFREG {
			return syscall.EINVAL
		}
		return x.setChunk(w, ino, n, ref)
	})
}

func (x *Index) setChunk(w *wtx, ino Ino, n uint64, ref ChunkRef) error {
	key := chunkKey(ino, n)
	if old := w.get(bChunks, key); old != nil {
		r, err := decodeChunkRef(old)
		if err != nil {
			return err
		}
		if err := x.refDropped(w, r, ref.StagingID); err != nil {
			return err
		}
	}
	if err := w.countRef(ref, 1); err != nil {
		return err
	}
	return w.put(bChunks, key, encodeChunkRef(&ref))
}

// NoteWrite records a completed write ending at end: the size grows to end
// if it was smaller, and mtime and ctime become now.
func (x *Index) NoteWrite(ino Ino, end uint64, now int64) (Attr, error) {
	var a Attr
	err := x.update(func(w *wtx) error {
		var err error
		if a, err = w.inode(ino); err != nil {
			return err
		}
		if end > a.Size {
			a.Size = end
		}
		a.Mtime, a.Ctime = now, now
		return w.putInode(&a)
	})
	return a, err
}

// PunchChunks turns chunks first to end (exclusive) of the regular file
// ino into holes and sets its mtime and ctime, in one operation (the whole
// chunks of fallocate's punch-hole and zero-range). The size is unchanged.
// Staging files the chunks held are released once this is durable.
func (x *Index) PunchChunks(ino Ino, first, end uint64, now int64) (Attr, error) {
	var a Attr
	err := x.update(func(w *wtx) error {
		var err error
		if a, err = w.inode(ino); err != nil {
			return err
		}
		if a.Type() != syscall.S_IFREG {
			return syscall.EINVAL
		}
		if err := x.dropChunkRange(w, ino, first, end); err != nil {
			return err
		}
		a.Mtime, a.Ctime = now, now
		return w.putInode(&a)
	})
	return a, err
}

// StagingIDs returns every staging file ID a chunk reference names (staged
// chunks, and stored chunks whose local copy is kept until certified). Files in
// the staging area with other IDs belong to nothing and may be removed.
func (x *Index) StagingIDs() (map[uint64]bool, error) {
	ids := map[uint64]bool{}
	err := x.view(func(w *wtx) error {
		return w.bucket(bChunks).ForEach(func(k, v []byte) error {
			r, err := decodeChunkRef(v)
			if err != nil {
				return err
			}
			if r.StagingID != 0 {
				ids[r.StagingID] = true
			}
			return nil
		})
	})
	return ids, err
}
