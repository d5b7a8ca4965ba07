package index

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// storeChunk gives chunk n of ino a stored reference into blob id, as an
// upload would.
func storeChunk(t *testing.T, x *Index, ino Ino, n uint64, id byte, size uint64) {
	t.Helper()
	ref := must(x.NewStagedChunk(ino, n))
	sealed := must(x.Seal([]Sealing{{Ino: ino, N: n, StagingID: ref.StagingID, Size: int64(size)}}, 1))
	if len(sealed) != 1 {
		t.Fatalf("sealing chunk %d of %d: %+v", n, ino, sealed)
	}
	ups := must(x.Uploads(0, 1000))
	var u Upload
	for _, q := range ups {
		if q.Ino == ino && q.N == n {
			u = q
		}
	}
	must(x.CompleteUploads(Blob{ID: [32]byte{id}, Kind: BlobQuilt, State: BlobCertified, EndEpoch: 20},
		[]UploadResult{{Upload: u, Stored: storedAt(size)}}))
}

// dumpAll reads every record of a dump of x, copied.
func dumpAll(t *testing.T, x *Index) (*Dump, []DumpRecord) {
	t.Helper()
	d := must(x.OpenDump(t.Context(), t.TempDir()))
	t.Cleanup(func() { _ = d.Close() })
	var recs []DumpRecord
	noErr(t, d.Each(t.Context(), func(r DumpRecord) error {
		recs = append(recs, DumpRecord{Bucket: r.Bucket, Key: append([]byte(nil), r.Key...), Value: append([]byte(nil), r.Value...)})
		return nil
	}))
	return d, recs
}

func loadAll(t *testing.T, dir string, recs []DumpRecord, info LoadInfo) (LoadStats, error) {
	t.Helper()
	i := 0
	return Load(t.Context(), dir, testConfig(), func() (DumpRecord, error) {
		if i == len(recs) {
			return DumpRecord{}, io.EOF
		}
		i++
		return recs[i-1], nil
	}, info)
}

// A dump loaded into a new index gives back the tree: names, attributes,
// links, symlinks, xattrs and stored chunks, with the blob records counted
// again; an inode unlinked while open and local copies are left out.
func TestDumpLoadRoundTrip(t *testing.T) {
	x := openTest(t, t.TempDir())
	d := must(x.Create(RootIno, "dir", dirNode()))
	f := must(x.Create(d.Ino, "f", file(0o640)))
	must(x.Link(f.Ino, RootIno, "hard", 2))
	must(x.Create(RootIno, "ln", NewNode{Mode: syscall.S_IFLNK | 0o777, Target: "dir/f", Now: 3}))
	noErr(t, x.SetXattr(f.Ino, "user.k", []byte("v"), 0, 4))
	storeChunk(t, x, f.Ino, 0, 7, 1<<20)
	storeChunk(t, x, f.Ino, 2, 8, 100)
	g := must(x.Create(RootIno, "gone", file(0o600)))
	storeChunk(t, x, g.Ino, 0, 9, 10)
	noErr(t, x.OpenInode(g.Ino))
	noErr(t, x.Unlink(RootIno, "gone", 5))

	dump, recs := dumpAll(t, x)
	if dump.Staged != 0 || dump.Inodes != 4 {
		t.Fatalf("dump: %d staged, %d inodes; want 0 and 4", dump.Staged, dump.Inodes)
	}
	if blobs := dump.Blobs(); len(blobs) != 2 {
		t.Fatalf("dump refers to %d blobs, want 2 (the orphan's is left out)", len(blobs))
	}
	dir := t.TempDir()
	root := [32]byte{42}
	st, err := loadAll(t, dir, recs, LoadInfo{VolumeKey: "aaaa-bbbb", RestoredFrom: root, NextIno: dump.NextIno})
	noErr(t, err)
	if st.Inodes != 4 || st.Blobs != 2 {
		t.Fatalf("load stats %+v", st)
	}
	noErr(t, CheckFile(filepath.Join(dir, FileName)))
	y := openTest(t, dir)
	for _, ino := range []Ino{RootIno, d.Ino, f.Ino} {
		want, got := must(x.GetAttr(ino)), must(y.GetAttr(ino))
		if want != got {
			t.Fatalf("inode %d: %+v, want %+v", ino, got, want)
		}
	}
	if got := must(y.ReadDir(RootIno)); len(got) != 3 {
		t.Fatalf("root entries %+v", got)
	}
	if tg := must(y.Readlink(must(y.Lookup(RootIno, "ln")).Ino)); tg != "dir/f" {
		t.Fatalf("symlink target %q", tg)
	}
	if v := must(y.GetXattr(f.Ino, "user.k")); string(v) != "v" {
		t.Fatalf("xattr %q", v)
	}
	chunks := must(y.Chunks(f.Ino))
	if len(chunks) != 2 || chunks[0].Ref.StagingID != 0 || chunks[1].N != 2 || chunks[1].Ref.Stored.BlobID != [32]byte{8} {
		t.Fatalf("chunks %+v", chunks)
	}
	if b, ok := must2(y.BlobInfo([32]byte{7})); !ok || b.Refs != 1 || b.LiveBytes != 1<<20 || b.State != BlobCertified {
		t.Fatalf("blob record %+v", b)
	}
	if _, ok := must2(y.BlobInfo([32]byte{9})); ok {
		t.Fatal("the orphan's blob was loaded")
	}
	if fp := must(y.VolumeKey()); fp != "aaaa-bbbb" {
		t.Fatalf("volume key %q", fp)
	}
	if r, ok := must2(y.RestoredFrom()); !ok || r != root {
		t.Fatalf("restored from %x %v", r, ok)
	}
	// New inodes continue after the loaded ones.
	if n := must(y.Create(RootIno, "new", file(0o644))); n.Ino <= g.Ino {
		t.Fatalf("new inode %d reuses a number", n.Ino)
	}
	noErr(t, x.CloseInode(g.Ino))
}

func TestDumpRefusesStagedChunks(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	must(x.NewStagedChunk(f.Ino, 0))
	d := must(x.OpenDump(t.Context(), t.TempDir()))
	defer func() { _ = d.Close() }()
	if d.Staged != 1 {
		t.Fatalf("staged %d, want 1", d.Staged)
	}
	wantErr(t, d.Each(t.Context(), func(DumpRecord) error { return nil }), ErrStagedData)
}

func TestLoadRefusesAnExistingIndexAndBadRecords(t *testing.T) {
	x := openTest(t, t.TempDir())
	_, recs := dumpAll(t, x)
	dir := t.TempDir()
	_, err := loadAll(t, dir, recs, LoadInfo{})
	noErr(t, err)
	_, err = loadAll(t, dir, recs, LoadInfo{})
	wantErr(t, err, syscall.EEXIST)

	for name, bad := range map[string]DumpRecord{
		"short inode":      {Bucket: DumpInodes, Key: inoKey(5), Value: []byte{1, 2}},
		"name with slash":  {Bucket: DumpDirents, Key: direntKey(1, "a/b"), Value: encodeDirent(5, syscall.S_IFREG)},
		"staged chunk":     {Bucket: DumpChunks, Key: chunkKey(5, 0), Value: encodeChunkRef(&ChunkRef{Kind: ChunkStaged, StagingID: 3})},
		"unknown bucket":   {Bucket: DumpBucket(bUploads), Key: u64(1), Value: []byte{1}},
		"blob of bad kind": {Bucket: DumpBlobs, Key: make([]byte, 32), Value: encodeBlob(&Blob{Kind: 9})},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadAll(t, t.TempDir(), append(append([]DumpRecord(nil), recs...), bad), LoadInfo{})
			wantErr(t, err, ErrCorrupt)
		})
	}
	_, err = loadAll(t, t.TempDir(), nil, LoadInfo{})
	wantErr(t, err, ErrCorrupt) // no root
}

// A kept snapshot pins its own blobs and every blob its tree refers to:
// they stay referenced after the files go, are neither marked nor dropped,
// and become garbage once the snapshot is retired.
func TestSnapshotPins(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	storeChunk(t, x, f.Ino, 0, 7, 100)
	root, part := [32]byte{100}, [32]byte{101}
	own := []Blob{{ID: root, Kind: BlobStandalone, State: BlobStored, EndEpoch: 12}, {ID: part, Kind: BlobStandalone, State: BlobStored, EndEpoch: 12}}
	noErr(t, x.AddSnapshot(Snapshot{Root: root, Created: 5, Inodes: 2}, own, [][32]byte{{7}, {99}}))
	noErr(t, x.AddSnapshot(Snapshot{Root: root, Created: 6}, own, [][32]byte{{7}})) // again: no change
	snaps := must(x.Snapshots())
	if len(snaps) != 1 || snaps[0].Pinned != 3 || snaps[0].Created != 5 {
		t.Fatalf("snapshots %+v", snaps)
	}
	noErr(t, x.Unlink(RootIno, "f", 2))
	for _, id := range [][32]byte{{7}, root, part} {
		b, _ := must2(x.BlobInfo(id))
		if !b.Referenced() || b.Pins != 1 {
			t.Fatalf("blob %x after the file went: %+v", id[0], b)
		}
		if m, _ := must2(x.MarkUnreferenced(id, 3)); m.UnreferencedSince != 0 {
			t.Fatalf("pinned blob %x marked unreferenced", id[0])
		}
		if must(x.DropBlob(id)) {
			t.Fatalf("pinned blob %x dropped", id[0])
		}
	}
	noErr(t, x.Check())
	if !must(x.RetireSnapshot(root)) || must(x.RetireSnapshot(root)) {
		t.Fatal("retiring: want true once, then false")
	}
	for _, id := range [][32]byte{{7}, root, part} {
		if b, _ := must2(x.BlobInfo(id)); b.Referenced() {
			t.Fatalf("blob %x still referenced after retiring: %+v", id[0], b)
		}
		if !must(x.DropBlob(id)) {
			t.Fatalf("blob %x not dropped after retiring", id[0])
		}
	}
	if s := must(x.Snapshots()); len(s) != 0 {
		t.Fatalf("snapshots after retiring %+v", s)
	}
}

// A version 1 file (no snapshot buckets, v2 blob records) is upgraded in
// place: the buckets appear and its blob records read as unpinned.
func TestMigrationV1ToV2(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	f := must(x.Create(RootIno, "f", file(0o644)))
	storeChunk(t, x, f.Ino, 0, 7, 100)
	noErr(t, x.Close())

	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	noErr(t, err)
	noErr(t, db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSnapshots, bucketSnapPins} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		// The blob record as version 1 wrote it (record v2, no pins).
		bk := tx.Bucket(bucketBlobs)
		k := make([]byte, 32)
		k[0] = 7
		b, err := decodeBlob(k, bk.Get(k))
		if err != nil {
			return err
		}
		old := []byte{blobRecordV2, byte(b.Kind), byte(b.State), 0}
		old = binary.BigEndian.AppendUint64(old, b.Size)
		old = binary.BigEndian.AppendUint64(old, b.EncodedSize)
		old = binary.BigEndian.AppendUint32(old, b.RegisteredEpoch)
		old = binary.BigEndian.AppendUint32(old, b.CertifiedEpoch)
		old = binary.BigEndian.AppendUint32(old, b.EndEpoch)
		old = binary.BigEndian.AppendUint64(old, b.LiveBytes)
		old = binary.BigEndian.AppendUint64(old, b.Refs)
		old = binary.BigEndian.AppendUint32(old, 0)
		old = append(old, 0)
		if err := bk.Put(k, old); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, 1))
	}))
	noErr(t, db.Close())

	y := openTest(t, dir)
	b, ok := must2(y.BlobInfo([32]byte{7}))
	if !ok || b.Refs != 1 || b.Pins != 0 || b.LiveBytes != 100 {
		t.Fatalf("blob after migration %+v", b)
	}
	noErr(t, y.AddSnapshot(Snapshot{Root: [32]byte{1}}, nil, [][32]byte{{7}}))
	if b, _ := must2(y.BlobInfo([32]byte{7})); b.Pins != 1 {
		t.Fatalf("pins after migration %+v", b)
	}
	var v uint32
	noErr(t, y.view(func(w *wtx) error { v = binary.BigEndian.Uint32(w.get(bMeta, keySchema)); return nil }))
	if v != 2 {
		t.Fatalf("schema %d after migration, want 2", v)
	}
}

// fsck's Verify reports a pin count that does not match the kept
// snapshots, and RecountBlobs sets it right.
func TestVerifyAndRecountPins(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	storeChunk(t, x, f.Ino, 0, 7, 100)
	noErr(t, x.AddSnapshot(Snapshot{Root: [32]byte{1}}, nil, [][32]byte{{7}}))
	problems := func() []Problem {
		var out []Problem
		noErr(t, x.Verify(func(p Problem) { out = append(out, p) }))
		return out
	}
	if p := problems(); len(p) != 0 {
		t.Fatalf("problems of a sound index: %+v", p)
	}
	noErr(t, x.update(func(w *wtx) error {
		b, err := decodeBlob(make32(7), w.get(bBlobs, make32(7)))
		if err != nil {
			return err
		}
		b.Pins = 5
		return w.put(bBlobs, make32(7), encodeBlob(&b))
	}))
	if p := problems(); len(p) != 1 || p[0].Kind != ProblemBlobCount || !p[0].Repairable {
		t.Fatalf("problems with a wrong pin count: %+v", p)
	}
	changed := must(x.RecountBlobs([][32]byte{{7}}))
	if len(changed) != 1 || changed[0].Pins != 5 {
		t.Fatalf("recount changed %+v", changed)
	}
	if b, _ := must2(x.BlobInfo([32]byte{7})); b.Pins != 1 || b.Refs != 1 {
		t.Fatalf("after the recount: %+v", b)
	}
	if p := problems(); len(p) != 0 {
		t.Fatalf("problems after the recount: %+v", p)
	}
}

func make32(b byte) []byte { k := make([]byte, 32); k[0] = b; return k }

func TestRemoveStaleDumps(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	d := must(x.OpenDump(t.Context(), dir))
	if n := must(RemoveStaleDumps(dir)); n != 1 {
		t.Fatalf("removed %d copies, want the one left open", n)
	}
	_ = d.Close()
	if n := must(RemoveStaleDumps(dir)); n != 0 {
		t.Fatalf("removed %d copies of none", n)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("the index itself: %v", err)
	}
}
