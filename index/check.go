package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the index: bbolt's own page-level consistency check, then
// the tree's invariants: every entry names a live inode of the right type,
// link counts match the entries, directories have one parent, no inode is
// unreachable unless it is an orphan, every chunk, xattr and symlink
// record belongs to a live inode, and every blob's live-byte count matches
// the chunk references into it, and its pin count the kept snapshots that
// pin it. It commits pending operations first.
func (x *Index) Check() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tx == nil {
		return ErrClosed
	}
	if err := x.commitLocked(); err != nil {
		return err
	}
	return x.db.View(checkTx)
}

// CheckFile runs the same checks on a closed index file.
func CheckFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	return db.View(checkTx)
}

func checkTx(tx *bolt.Tx) error {
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
	}
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	inodes := map[Ino]Attr{}
	_ = tx.Bucket(bucketInodes).ForEach(func(k, v []byte) error {
		ino := Ino(binary.BigEndian.Uint64(k))
		a, err := decodeInode(ino, v)
		if err != nil {
			bad("%v", err)
			return nil
		}
		inodes[ino] = a
		return nil
	})
	links := map[Ino]uint32{}
	subdirs := map[Ino]uint32{}
	parents := map[Ino]Ino{}
	_ = tx.Bucket(bucketDirents).ForEach(func(k, v []byte) error {
		parent, name := Ino(binary.BigEndian.Uint64(k)), string(k[8:])
		child, typ, err := decodeDirent(v)
		if err != nil {
			bad("%v", err)
			return nil
		}
		p, ok := inodes[parent]
		if !ok || !p.IsDir() {
			bad("entry %d/%q: parent is not a live directory", parent, name)
		}
		c, ok := inodes[child]
		if !ok {
			bad("entry %d/%q: inode %d does not exist", parent, name, child)
			return nil
		}
		if c.Type() != typ {
			bad("entry %d/%q: type %o, inode %d has %o", parent, name, typ, child, c.Type())
		}
		links[child]++
		if c.IsDir() {
			subdirs[parent]++
			if prev, dup := parents[child]; dup {
				bad("directory %d has two entries (in %d and %d)", child, prev, parent)
			}
			parents[child] = parent
		}
		return nil
	})
	orphans := map[Ino]bool{}
	_ = tx.Bucket(bucketOrphans).ForEach(func(k, _ []byte) error {
		orphans[Ino(binary.BigEndian.Uint64(k))] = true
		return nil
	})
	for ino, a := range inodes {
		switch {
		case ino == RootIno:
			if a.Nlink != 2+subdirs[ino] {
				bad("root: nlink %d, want %d", a.Nlink, 2+subdirs[ino])
			}
		case orphans[ino]:
			if a.Nlink != 0 || links[ino] != 0 {
				bad("orphan %d: nlink %d with %d entries", ino, a.Nlink, links[ino])
			}
		case a.IsDir():
			if a.Nlink != 2+subdirs[ino] || links[ino] != 1 {
				bad("directory %d: nlink %d, %d subdirectories, %d entries", ino, a.Nlink, subdirs[ino], links[ino])
			}
			if parents[ino] != a.Parent {
				bad("directory %d: parent field %d, entry in %d", ino, a.Parent, parents[ino])
			}
		default:
			if a.Nlink != links[ino] || a.Nlink == 0 {
				bad("inode %d: nlink %d, %d entries", ino, a.Nlink, links[ino])
			}
		}
		if a.Type() == syscall.S_IFLNK && tx.Bucket(bucketSymlinks).Get(inoKey(ino)) == nil {
			bad("symlink %d has no target", ino)
		}
	}
	type blobUse struct{ live, refs uint64 }
	uses := map[[32]byte]blobUse{}
	for _, name := range [][]byte{bucketXattrs, bucketChunks, bucketSymlinks, bucketOrphans} {
		_ = tx.Bucket(name).ForEach(func(k, v []byte) error {
			ino := Ino(binary.BigEndian.Uint64(k))
			if _, ok := inodes[ino]; !ok {
				bad("%s record %x: inode %d does not exist", name, k, ino)
			}
			if bytes.Equal(name, bucketChunks) {
				r, err := decodeChunkRef(v)
				if err != nil {
					bad("%v", err)
				} else if r.Kind == ChunkStored {
					u := uses[r.Stored.BlobID]
					u.live += r.Stored.PlainLen
					u.refs++
					uses[r.Stored.BlobID] = u
				}
			}
			return nil
		})
	}
	pins := map[[32]byte]uint64{}
	_ = tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
		if _, err := decodeSnapshot(k, v); err != nil {
			bad("%v", err)
		}
		return nil
	})
	_ = tx.Bucket(bucketSnapPins).ForEach(func(k, _ []byte) error {
		if len(k) != 64 {
			bad("snapshot pin %x: bad key", k)
			return nil
		}
		if tx.Bucket(bucketSnapshots).Get(k[:32]) == nil {
			bad("snapshot pin %x: no snapshot %x", k, k[:32])
		}
		if tx.Bucket(bucketBlobs).Get(k[32:]) == nil {
			bad("snapshot pin %x: no blob record %x", k, k[32:])
		}
		pins[[32]byte(k[32:])]++
		return nil
	})
	_ = tx.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
		b, err := decodeBlob(k, v)
		if err != nil {
			bad("%v", err)
			return nil
		}
		if u := uses[b.ID]; u.live != b.LiveBytes || u.refs != b.Refs {
			bad("blob %x: live bytes %d in %d references recorded, %d in %d found", b.ID, b.LiveBytes, b.Refs, u.live, u.refs)
		}
		if b.Pins != pins[b.ID] {
			bad("blob %x: %d pins recorded, %d snapshots pin it", b.ID, b.Pins, pins[b.ID])
		}
		return nil
	})
	_ = tx.Bucket(bucketUploads).ForEach(func(k, v []byte) error {
		if _, err := decodeUpload(k, v); err != nil {
			bad("%v", err)
		}
		return nil
	})
	if n := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyInodeCount)); n != uint64(len(inodes)) {
		bad("inode_count %d, %d inodes", n, len(inodes))
	}
	return errors.Join(errs...)
}
