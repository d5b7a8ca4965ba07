package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Checking and repairing the index, for `walrusfs fsck`.
//
// Verify walks one committed snapshot of the file with cursors, bucket by
// bucket, and hands each problem it finds to a callback as it goes. Its
// memory is a link count per inode with a name (a few tens of bytes each)
// and a use count per blob; no path is built. Paths names the few inodes
// that have problems afterwards, from the directory entries.
//
// The snapshot is a bbolt read transaction on the committed file: the
// mount keeps serving (and committing) while it runs. Repairs are index
// operations like any other, each atomic, each checking again inside its
// own transaction what it fixes, so a repair decided from a snapshot that
// has since moved on does nothing wrong.

// ProblemKind names one kind of index problem. The values are stable: they
// are part of `walrusfs fsck --json`.
type ProblemKind string

const (
	// ProblemRecord: a record that cannot be decoded (Detail says which).
	ProblemRecord ProblemKind = "corrupt-record"
	// ProblemPage: bbolt's own page-level check failed.
	ProblemPage ProblemKind = "corrupt-page"
	// ProblemEntryParent: a directory entry in something that is not a
	// live directory.
	ProblemEntryParent ProblemKind = "entry-parent"
	// ProblemEntryTarget: a directory entry names an inode that does not
	// exist.
	ProblemEntryTarget ProblemKind = "entry-missing-inode"
	// ProblemEntryType: an entry's file type differs from its inode's.
	ProblemEntryType ProblemKind = "entry-type"
	// ProblemLinks: an inode's link count differs from its entries.
	ProblemLinks ProblemKind = "link-count"
	// ProblemParent: a directory's parent field differs from its entry.
	ProblemParent ProblemKind = "directory-parent"
	// ProblemOwnerless: a chunk, xattr, symlink or orphan record of an
	// inode that does not exist.
	ProblemOwnerless ProblemKind = "record-without-inode"
	// ProblemSymlink: a symlink without a target.
	ProblemSymlink ProblemKind = "symlink-target"
	// ProblemBlobCount: a blob record's live bytes or reference count
	// differ from the chunk references into the blob. Repairable.
	ProblemBlobCount ProblemKind = "blob-count"
	// ProblemInodeCount: the inode counter differs from the inodes.
	// Repairable.
	ProblemInodeCount ProblemKind = "inode-count"
)

// Problem is one thing wrong with the index.
type Problem struct {
	Kind ProblemKind
	// Ino is the inode concerned, 0 when none is.
	Ino Ino
	// Parent and Name are the directory entry concerned, when one is.
	Parent Ino
	Name   string
	// Blob is the blob concerned (ProblemBlobCount).
	Blob [32]byte
	// Detail says what is wrong, in words.
	Detail string
	// Repairable: Repair fixes it.
	Repairable bool
}

// snapshot commits what is pending and runs fn in a read transaction of
// the committed file, without holding the index lock.
func (x *Index) snapshot(fn func(tx *bolt.Tx) error) error {
	x.mu.Lock()
	if x.tx == nil {
		x.mu.Unlock()
		return ErrClosed
	}
	err := x.commitLocked()
	x.mu.Unlock()
	if err != nil {
		return err
	}
	return x.db.View(fn)
}

// Verify checks the index's invariants on a committed snapshot (see
// Check for the list) and calls report for each problem, in bucket order.
// It returns an error only when the snapshot cannot be read; problems go
// to report.
func (x *Index) Verify(report func(Problem)) error {
	return x.snapshot(func(tx *bolt.Tx) error { return verifyTx(tx, report) })
}

// VerifyFile runs Verify on a closed index file, read-only.
func VerifyFile(path string, report func(Problem)) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	return db.View(func(tx *bolt.Tx) error { return verifyTx(tx, report) })
}

// inodeOf reads inode ino in tx; ok is false when there is none, err set
// when its record cannot be decoded.
func inodeOf(tx *bolt.Tx, ino Ino) (a Attr, ok bool, err error) {
	v := tx.Bucket(bucketInodes).Get(inoKey(ino))
	if v == nil {
		return a, false, nil
	}
	a, err = decodeInode(ino, v)
	return a, err == nil, err
}

func verifyTx(tx *bolt.Tx, report func(Problem)) error {
	for err := range tx.Check() {
		report(Problem{Kind: ProblemPage, Detail: err.Error()})
	}
	// Pass 1, the entries: each names a live inode of its type in a live
	// directory. Count the links of every inode, the subdirectories of
	// every directory and the entry of every directory.
	links := map[Ino]uint32{}
	subdirs := map[Ino]uint32{}
	dirEntry := map[Ino]Ino{} // directory → the parent holding its entry
	var lastParent Ino
	var lastParentOK bool
	c := tx.Bucket(bucketDirents).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) < 8 {
			report(Problem{Kind: ProblemRecord, Detail: fmt.Sprintf("entry key %x", k)})
			continue
		}
		parent, name := Ino(binary.BigEndian.Uint64(k)), string(k[8:])
		if parent != lastParent || lastParent == 0 {
			p, ok, _ := inodeOf(tx, parent)
			lastParent, lastParentOK = parent, ok && p.IsDir()
		}
		if !lastParentOK {
			report(Problem{Kind: ProblemEntryParent, Parent: parent, Name: name, Detail: fmt.Sprintf("entry %q in inode %d, which is not a live directory", name, parent)})
		}
		child, typ, err := decodeDirent(v)
		if err != nil {
			report(Problem{Kind: ProblemRecord, Parent: parent, Name: name, Detail: err.Error()})
			continue
		}
		ca, ok, err := inodeOf(tx, child)
		if err != nil {
			report(Problem{Kind: ProblemRecord, Ino: child, Detail: err.Error()})
			continue
		}
		if !ok {
			report(Problem{Kind: ProblemEntryTarget, Ino: child, Parent: parent, Name: name, Detail: fmt.Sprintf("entry %q names inode %d, which does not exist", name, child)})
			continue
		}
		if ca.Type() != typ {
			report(Problem{Kind: ProblemEntryType, Ino: child, Parent: parent, Name: name, Detail: fmt.Sprintf("entry type %o, inode type %o", typ, ca.Type())})
		}
		links[child]++
		if ca.IsDir() {
			subdirs[parent]++
			if prev, dup := dirEntry[child]; dup {
				report(Problem{Kind: ProblemLinks, Ino: child, Detail: fmt.Sprintf("directory has entries in %d and %d", prev, parent)})
			}
			dirEntry[child] = parent
		}
	}
	// Pass 2, the inodes: link counts, parents, symlink targets.
	var inodes uint64
	orphans := tx.Bucket(bucketOrphans)
	c = tx.Bucket(bucketInodes).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		ino := Ino(binary.BigEndian.Uint64(k))
		inodes++
		a, err := decodeInode(ino, v)
		if err != nil {
			report(Problem{Kind: ProblemRecord, Ino: ino, Detail: err.Error()})
			continue
		}
		bad := func(kind ProblemKind, format string, args ...any) {
			report(Problem{Kind: kind, Ino: ino, Detail: fmt.Sprintf(format, args...)})
		}
		switch {
		case ino == RootIno:
			if a.Nlink != 2+subdirs[ino] {
				bad(ProblemLinks, "root: link count %d, want %d", a.Nlink, 2+subdirs[ino])
			}
		case orphans.Get(k) != nil:
			if a.Nlink != 0 || links[ino] != 0 {
				bad(ProblemLinks, "orphan with link count %d and %d entries", a.Nlink, links[ino])
			}
		case a.IsDir():
			if a.Nlink != 2+subdirs[ino] || links[ino] != 1 {
				bad(ProblemLinks, "directory: link count %d, %d subdirectories, %d entries", a.Nlink, subdirs[ino], links[ino])
			}
			if dirEntry[ino] != a.Parent {
				bad(ProblemParent, "directory: parent field %d, entry in %d", a.Parent, dirEntry[ino])
			}
		default:
			if a.Nlink != links[ino] || a.Nlink == 0 {
				bad(ProblemLinks, "link count %d, %d entries", a.Nlink, links[ino])
			}
		}
		if a.Type() == syscall.S_IFLNK && tx.Bucket(bucketSymlinks).Get(k) == nil {
			bad(ProblemSymlink, "symlink without a target")
		}
	}
	clear(links)
	clear(subdirs)
	clear(dirEntry)
	// Pass 3, the per-inode records: each belongs to a live inode. Sum the
	// chunk references into each blob.
	type blobUse struct{ live, refs uint64 }
	uses := map[[32]byte]blobUse{}
	for _, name := range [][]byte{bucketXattrs, bucketChunks, bucketSymlinks, bucketOrphans} {
		var last Ino
		var lastOK bool
		c := tx.Bucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) < 8 {
				report(Problem{Kind: ProblemRecord, Detail: fmt.Sprintf("%s key %x", name, k)})
				continue
			}
			ino := Ino(binary.BigEndian.Uint64(k))
			if ino != last || last == 0 {
				last, lastOK = ino, tx.Bucket(bucketInodes).Get(k[:8]) != nil
			}
			if !lastOK {
				report(Problem{Kind: ProblemOwnerless, Ino: ino, Detail: fmt.Sprintf("%s record %x of inode %d, which does not exist", name, k, ino)})
			}
			if !bytes.Equal(name, bucketChunks) {
				continue
			}
			r, err := decodeChunkRef(v)
			if err != nil {
				report(Problem{Kind: ProblemRecord, Ino: ino, Detail: err.Error()})
				continue
			}
			if r.Kind == ChunkStored {
				u := uses[r.Stored.BlobID]
				u.live += r.Stored.PlainLen
				u.refs++
				uses[r.Stored.BlobID] = u
			}
		}
	}
	// Pass 4, the blob records: counts match the references, and pins the
	// kept snapshots that pin the blob.
	pins := pinCounts(tx)
	c = tx.Bucket(bucketBlobs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		b, err := decodeBlob(k, v)
		if err != nil {
			report(Problem{Kind: ProblemRecord, Detail: err.Error()})
			continue
		}
		if u := uses[b.ID]; u.live != b.LiveBytes || u.refs != b.Refs {
			report(Problem{Kind: ProblemBlobCount, Blob: b.ID, Repairable: true,
				Detail: fmt.Sprintf("records %d live bytes in %d references, the chunk map has %d in %d", b.LiveBytes, b.Refs, u.live, u.refs)})
		}
		if b.Pins != pins[b.ID] {
			report(Problem{Kind: ProblemBlobCount, Blob: b.ID, Repairable: true,
				Detail: fmt.Sprintf("records %d pins, %d kept snapshots pin it", b.Pins, pins[b.ID])})
		}
	}
	c = tx.Bucket(bucketUploads).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if _, err := decodeUpload(k, v); err != nil {
			report(Problem{Kind: ProblemRecord, Detail: err.Error()})
		}
	}
	if n := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyInodeCount)); n != inodes {
		report(Problem{Kind: ProblemInodeCount, Repairable: true, Detail: fmt.Sprintf("inode counter %d, %d inodes", n, inodes)})
	}
	return nil
}

// Paths names inodes by path from the root ("/dir/file"), for reports: for
// each inode of inos that has an entry, the path of one of its entries
// (hard links have several). Inodes without an entry are left out. It
// reads one committed snapshot: one pass over the entries, then a walk up
// through the directories' parent fields.
func (x *Index) Paths(inos []Ino) (map[Ino]string, error) {
	out := map[Ino]string{}
	err := x.snapshot(func(tx *bolt.Tx) error {
		out = pathsTx(tx, inos)
		return nil
	})
	return out, err
}

func pathsTx(tx *bolt.Tx, inos []Ino) map[Ino]string {
	type entry struct {
		parent Ino
		name   string
	}
	want := map[Ino]bool{}
	for _, ino := range inos {
		want[ino] = true
	}
	found := map[Ino]entry{}
	c := tx.Bucket(bucketDirents).Cursor()
	for k, v := c.First(); k != nil && len(found) < len(want); k, v = c.Next() {
		child, _, err := decodeDirent(v)
		if err != nil || len(k) < 8 || !want[child] {
			continue
		}
		if _, seen := found[child]; !seen {
			found[child] = entry{Ino(binary.BigEndian.Uint64(k)), string(k[8:])}
		}
	}
	// dirPath names a directory by walking up its parent fields and
	// finding each one's entry among its parent's entries.
	dirs := map[Ino]string{RootIno: ""}
	var dirPath func(ino Ino, depth int) (string, bool)
	dirPath = func(ino Ino, depth int) (string, bool) {
		if p, ok := dirs[ino]; ok {
			return p, true
		}
		a, ok, _ := inodeOf(tx, ino)
		if !ok || !a.IsDir() || depth > 4096 {
			return "", false
		}
		prefix := inoKey(a.Parent)
		c := tx.Bucket(bucketDirents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if child, _, err := decodeDirent(v); err == nil && child == ino {
				up, ok := dirPath(a.Parent, depth+1)
				if !ok {
					return "", false
				}
				dirs[ino] = up + "/" + string(k[8:])
				return dirs[ino], true
			}
		}
		return "", false
	}
	out := map[Ino]string{}
	for _, ino := range inos {
		if ino == RootIno {
			out[ino] = "/"
			continue
		}
		e, ok := found[ino]
		if !ok {
			continue
		}
		if up, ok := dirPath(e.parent, 0); ok {
			out[ino] = up + "/" + e.name
		}
	}
	return out
}

// StoredChunkEntry is one chunk reference as ChunkPage returns it.
type StoredChunkEntry struct {
	Ino Ino
	N   uint64
	Ref ChunkRef
	// HasRecord says whether the index has a record of the blob a stored
	// chunk points into.
	HasRecord bool
}

// ChunkPage returns up to limit chunk references after chunk n of ino
// (from the start for ino 0), in inode and chunk order, read from the
// current state under the index lock for a moment: a long walk pages
// through the map without holding the filesystem up. more is false at
// the end.
func (x *Index) ChunkPage(ino Ino, n uint64, limit int) (page []StoredChunkEntry, more bool, err error) {
	err = x.view(func(w *wtx) error {
		c := w.bucket(bChunks).Cursor()
		var k, v []byte
		if ino == 0 {
			k, v = c.First()
		} else {
			k, v = c.Seek(chunkKey(ino, n))
			if k != nil && bytes.Equal(k, chunkKey(ino, n)) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(page) == limit {
				more = true
				return nil
			}
			if len(k) != 16 {
				continue
			}
			r, err := decodeChunkRef(v)
			if err != nil {
				continue // Verify reports it
			}
			e := StoredChunkEntry{Ino: Ino(binary.BigEndian.Uint64(k)), N: binary.BigEndian.Uint64(k[8:]), Ref: r}
			if r.Kind == ChunkStored {
				e.HasRecord = w.get(bBlobs, r.Stored.BlobID[:]) != nil
			}
			page = append(page, e)
		}
		return nil
	})
	return page, more, err
}

// pinCounts counts, per blob, the kept snapshots that pin it.
func pinCounts(tx *bolt.Tx) map[[32]byte]uint64 {
	pins := map[[32]byte]uint64{}
	if b := tx.Bucket(bucketSnapPins); b != nil {
		_ = b.ForEach(func(k, _ []byte) error {
			if len(k) == 64 {
				pins[[32]byte(k[32:])]++
			}
			return nil
		})
	}
	return pins
}

// RecountBlobs sets the live bytes, reference and pin counts of the blob
// records ids to what the chunk map and the kept snapshots hold, in one operation (it reads the
// whole chunk map under the index lock). It returns the records it
// changed, as they were before.
func (x *Index) RecountBlobs(ids [][32]byte) ([]Blob, error) {
	var changed []Blob
	err := x.update(func(w *wtx) error {
		changed = changed[:0]
		type use struct{ live, refs uint64 }
		uses := map[[32]byte]*use{}
		for _, id := range ids {
			uses[id] = &use{}
		}
		err := w.bucket(bChunks).ForEach(func(_, v []byte) error {
			r, err := decodeChunkRef(v)
			if err != nil || r.Kind != ChunkStored {
				return nil
			}
			if u := uses[r.Stored.BlobID]; u != nil {
				u.live += r.Stored.PlainLen
				u.refs++
			}
			return nil
		})
		if err != nil {
			return err
		}
		pins := pinCounts(w.tx)
		for id, u := range uses {
			v := w.get(bBlobs, id[:])
			if v == nil {
				continue
			}
			b, err := decodeBlob(id[:], v)
			if err != nil {
				return err
			}
			pinned := pins[id]
			if b.LiveBytes == u.live && b.Refs == u.refs && b.Pins == pinned {
				continue
			}
			changed = append(changed, b)
			b.LiveBytes, b.Refs, b.Pins = u.live, u.refs, pinned
			if u.refs > 0 {
				b.UnreferencedSince = 0
			}
			if err := w.put(bBlobs, id[:], encodeBlob(&b)); err != nil {
				return err
			}
		}
		return nil
	})
	return changed, err
}

// RecountInodes sets the inode counter to the number of inodes, in one
// operation, and returns the old and new values.
func (x *Index) RecountInodes() (was, now uint64, err error) {
	err = x.update(func(w *wtx) error {
		now = uint64(w.bucket(bInodes).Stats().KeyN)
		was = w.counter(keyInodeCount)
		if was == now {
			return nil
		}
		return w.put(bMeta, keyInodeCount, u64(now))
	})
	return was, now, err
}

// Requeue turns stored chunk n of ino back into a sealed staged chunk
// whose bytes are in staging file stagingID (size bytes), and queues it
// for upload, in one operation: the repair of a chunk whose blob is lost
// or damaged. stagingID is the chunk's local copy, or a file rebuilt
// from elsewhere (the block cache). It does nothing and returns ok false
// unless the chunk still points into blob with local copy was (0: none);
// a local copy other than stagingID is released. The blob loses the
// reference.
func (x *Index) Requeue(ino Ino, n uint64, blob [32]byte, was, stagingID uint64, size int64, now int64) (ref ChunkRef, ok bool, err error) {
	err = x.update(func(w *wtx) error {
		key := chunkKey(ino, n)
		v := w.get(bChunks, key)
		if v == nil || stagingID == 0 {
			return nil
		}
		old, err := decodeChunkRef(v)
		if err != nil {
			return err
		}
		if old.Kind != ChunkStored || old.Stored.BlobID != blob || old.StagingID != was {
			return nil
		}
		ref = ChunkRef{Kind: ChunkStaged, StagingID: stagingID, Sealed: true}
		if err := w.put(bChunks, key, encodeChunkRef(&ref)); err != nil {
			return err
		}
		if err := x.refDropped(w, old, stagingID); err != nil {
			return err
		}
		last, err := w.bump(keyLastUpload, 1)
		if err != nil {
			return err
		}
		u := Upload{Seq: last + 1, Ino: ino, N: n, StagingID: stagingID, SealedAt: now, Size: size}
		ok = true
		return w.put(bUploads, u64(u.Seq), encodeUpload(&u))
	})
	return ref, ok, err
}

// Referenced returns which of the blobs ids some chunk reference points
// into, from the chunk map itself rather than the records' counts (which
// fsck checks), read on a committed snapshot.
func (x *Index) Referenced(ids [][32]byte) (map[[32]byte]bool, error) {
	want := map[[32]byte]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[[32]byte]bool{}
	err := x.snapshot(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).ForEach(func(_, v []byte) error {
			r, err := decodeChunkRef(v)
			if err == nil && r.Kind == ChunkStored && want[r.Stored.BlobID] {
				out[r.Stored.BlobID] = true
			}
			return nil
		})
	})
	return out, err
}
