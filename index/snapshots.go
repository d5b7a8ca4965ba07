package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
)

// Kept snapshots. A snapshot of the tree lives in the blob store (see
// OpenDump and Load); the index of the volume it was taken from keeps a
// record of each snapshot it keeps, and pins every blob the snapshot needs:
// its own blobs (the root and the parts of the dump) and every blob its
// tree refers to. A pinned blob is kept and renewed however the files
// change (Blob.Referenced), until the snapshot is retired.
//
//	snapshots      root blob ID           → snapshot record (see encodeSnapshot)
//	snapshot_pins  root blob ID ‖ blob ID → empty
//
// A blob's Pins counts the snapshot_pins entries that name it.

// Snapshot is the record of one kept snapshot.
type Snapshot struct {
	// Root is the snapshot's root blob: its ID is the snapshot ID.
	Root [32]byte
	// Created is when the dump was read, ns since the Unix epoch.
	Created int64
	// Inodes and Bytes are the tree's inode count and the bytes of its
	// dump.
	Inodes uint64
	Bytes  uint64
	// Pinned is how many blobs the snapshot pins.
	Pinned uint64
}

const snapshotRecordV1 = 1
const snapshotRecordLen = 1 + 8*4

func encodeSnapshot(s *Snapshot) []byte {
	b := []byte{snapshotRecordV1}
	b = binary.BigEndian.AppendUint64(b, uint64(s.Created))
	b = binary.BigEndian.AppendUint64(b, s.Inodes)
	b = binary.BigEndian.AppendUint64(b, s.Bytes)
	return binary.BigEndian.AppendUint64(b, s.Pinned)
}

func decodeSnapshot(k, v []byte) (Snapshot, error) {
	if len(k) != 32 || len(v) != snapshotRecordLen || v[0] != snapshotRecordV1 {
		return Snapshot{}, fmt.Errorf("index: snapshot record %x: %w", k, ErrCorrupt)
	}
	s := Snapshot{Created: int64(binary.BigEndian.Uint64(v[1:])), Inodes: binary.BigEndian.Uint64(v[9:]),
		Bytes: binary.BigEndian.Uint64(v[17:]), Pinned: binary.BigEndian.Uint64(v[25:])}
	copy(s.Root[:], k)
	return s, nil
}

// AddSnapshot records snapshot s, stored in the blobs own (its root and
// parts, recorded as blobs of this volume), and pins them and every blob
// of tree (the blobs its dump refers to), in one operation. Blobs of tree
// that have no record are not pinned (this index does not keep them). A
// snapshot recorded before is left as it is.
func (x *Index) AddSnapshot(s Snapshot, own []Blob, tree [][32]byte) error {
	return x.update(func(w *wtx) error {
		if w.get(bSnapshots, s.Root[:]) != nil {
			return nil
		}
		var pinned uint64
		pin := func(id [32]byte) error {
			k := append(append([]byte(nil), s.Root[:]...), id[:]...)
			if w.get(bSnapPins, k) != nil {
				return nil
			}
			v := w.get(bBlobs, id[:])
			if v == nil {
				return nil
			}
			b, err := decodeBlob(id[:], v)
			if err != nil {
				return err
			}
			b.Pins++
			b.UnreferencedSince = 0
			if err := w.put(bBlobs, id[:], encodeBlob(&b)); err != nil {
				return err
			}
			pinned++
			return w.put(bSnapPins, k, []byte{})
		}
		for _, b := range own {
			if err := w.recordBlob(b); err != nil {
				return err
			}
			if err := pin(b.ID); err != nil {
				return err
			}
		}
		for _, id := range tree {
			if err := pin(id); err != nil {
				return err
			}
		}
		s.Pinned = pinned
		return w.put(bSnapshots, s.Root[:], encodeSnapshot(&s))
	})
}

// RecordBlob records blob b, stored now and not referenced by anything
// yet (a part of a snapshot being taken), in one operation: if the
// snapshot is never recorded, garbage collection takes the blob like any
// other unreferenced one. A record already there keeps its references and
// object.
func (x *Index) RecordBlob(b Blob) error {
	return x.update(func(w *wtx) error { return w.recordBlob(b) })
}

func (w *wtx) recordBlob(b Blob) error {
	if old := w.get(bBlobs, b.ID[:]); old != nil {
		prev, err := decodeBlob(b.ID[:], old)
		if err != nil {
			return err
		}
		b.LiveBytes, b.Refs, b.Pins, b.UnreferencedSince = prev.LiveBytes, prev.Refs, prev.Pins, prev.UnreferencedSince
		b.State, b.CertifiedEpoch = max(b.State, prev.State), max(b.CertifiedEpoch, prev.CertifiedEpoch)
		b.EndEpoch = max(b.EndEpoch, prev.EndEpoch)
		if b.ObjectID == "" {
			b.ObjectID, b.Deletable = prev.ObjectID, prev.Deletable
		}
	} else {
		b.LiveBytes, b.Refs, b.Pins, b.UnreferencedSince = 0, 0, 0, 0
	}
	return w.put(bBlobs, b.ID[:], encodeBlob(&b))
}

// Snapshots returns the kept snapshots, oldest first.
func (x *Index) Snapshots() ([]Snapshot, error) {
	var out []Snapshot
	err := x.view(func(w *wtx) error {
		return w.bucket(bSnapshots).ForEach(func(k, v []byte) error {
			s, err := decodeSnapshot(k, v)
			if err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created < out[j].Created })
	return out, err
}

// RetireSnapshot forgets snapshot root and unpins the blobs it pinned, in
// one operation; blobs nothing else needs become garbage. It reports
// whether the snapshot was kept.
func (x *Index) RetireSnapshot(root [32]byte) (bool, error) {
	found := false
	err := x.update(func(w *wtx) error {
		if w.get(bSnapshots, root[:]) == nil {
			return nil
		}
		found = true
		var keys [][]byte
		c := w.bucket(bSnapPins).Cursor()
		for k, _ := c.Seek(root[:]); k != nil && bytes.HasPrefix(k, root[:]); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			id := k[32:]
			if v := w.get(bBlobs, id); v != nil {
				b, err := decodeBlob(id, v)
				if err != nil {
					return err
				}
				b.Pins -= min(b.Pins, 1)
				if err := w.put(bBlobs, id, encodeBlob(&b)); err != nil {
					return err
				}
			}
			if err := w.del(bSnapPins, k); err != nil {
				return err
			}
		}
		return w.del(bSnapshots, root[:])
	})
	return found, err
}

// RestoredFrom returns the snapshot ID (its root blob ID) this volume was
// restored from, ok false when it was not.
func (x *Index) RestoredFrom() (root [32]byte, ok bool, err error) {
	err = x.view(func(w *wtx) error {
		v := w.get(bMeta, keyRestoredFrom)
		if len(v) == 32 {
			copy(root[:], v)
			ok = true
		}
		return nil
	})
	return root, ok, err
}
