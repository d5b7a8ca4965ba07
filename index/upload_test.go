package index

import (
	"errors"
	"slices"
	"testing"
)

// releases collects the staging IDs the index has released so far.
type releases struct {
	x   *Index
	ids []uint64
}

func (r *releases) has(id uint64) bool {
	r.ids = append(r.ids, r.x.TakeReleased()...)
	return slices.Contains(r.ids, id)
}

// sealAll seals every unsealed chunk of ino with size 0, as a file whose
// chunks were recorded but never written; it returns what Seal returned.
func sealAll(x *Index, ino Ino, now int64) []ChunkUpdate {
	var todo []Sealing
	for _, c := range must(x.Unsealed(ino)) {
		todo = append(todo, Sealing{Ino: c.Ino, N: c.N, StagingID: c.Ref.StagingID})
	}
	return must(x.Seal(todo, now))
}

func storedAt(length uint64) StoredChunk {
	return StoredChunk{Length: length, PlainLen: length, BlockSize: 1 << 20, BlockHashes: make([][32]byte, 1)}
}

func TestSealQueuesEachChunkOnceAndSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	f := must(x.Create(RootIno, "f", file(0o644)))
	r0 := must(x.NewStagedChunk(f.Ino, 0))
	r1 := must(x.NewStagedChunk(f.Ino, 1))
	r2 := must(x.NewStagedChunk(f.Ino, 2))
	sealed := must(x.Seal([]Sealing{{Ino: f.Ino, N: 0, StagingID: r0.StagingID, Size: 100}, {Ino: f.Ino, N: 2, StagingID: r2.StagingID}, {Ino: f.Ino, N: 1, StagingID: r1.StagingID + 100}}, 10))
	if len(sealed) != 2 || sealed[0].N != 0 || sealed[1].N != 2 || !sealed[0].Ref.Sealed {
		t.Fatalf("sealed %+v", sealed)
	}
	if again := must(x.Seal([]Sealing{{Ino: f.Ino, N: 0, StagingID: r0.StagingID, Size: 100}, {Ino: f.Ino, N: 2, StagingID: r2.StagingID}}, 11)); len(again) != 0 {
		t.Fatalf("second seal queued %d more", len(again))
	}
	if ref, _ := must2(x.Chunk(f.Ino, 1)); ref.Sealed || ref.StagingID != r1.StagingID {
		t.Fatalf("chunk 1 sealed though its staging file was not the one named: %+v", ref)
	}
	x.Abandon() // kill -9: the seal is in the journal only

	y := openTest(t, dir)
	ups := must(y.Uploads(0, 100))
	if len(ups) != 2 || ups[0].StagingID != r0.StagingID || ups[1].StagingID != r2.StagingID || ups[0].SealedAt != 10 || ups[0].Size != 100 || ups[1].Size != 0 {
		t.Fatalf("queue after crash %+v", ups)
	}
	if ref := must(y.Chunks(f.Ino)); !ref[0].Ref.Sealed || ref[1].Ref.Sealed || !ref[2].Ref.Sealed {
		t.Fatalf("chunks not sealed after crash: %+v", ref)
	}
	if n := must(y.PendingUploads(f.Ino)); n != 2 {
		t.Fatalf("pending %d", n)
	}
	if more := must(y.Uploads(ups[0].Seq, 100)); len(more) != 1 || more[0].Seq != ups[1].Seq {
		t.Fatalf("uploads after %d: %+v", ups[0].Seq, more)
	}
}

func TestUnsealedListsEveryFile(t *testing.T) {
	x := openTest(t, t.TempDir())
	for _, name := range []string{"a", "b", "c"} {
		f := must(x.Create(RootIno, name, file(0o644)))
		must(x.NewStagedChunk(f.Ino, 0))
		must(x.NewStagedChunk(f.Ino, 1))
	}
	if n := len(sealAll(x, 0, 1)); n != 6 {
		t.Fatalf("sealed %d, want 6", n)
	}
	if left := must(x.Unsealed(0)); len(left) != 0 {
		t.Fatalf("unsealed after sealing all: %+v", left)
	}
	if n := must(x.PendingUploads(0)); n != 6 {
		t.Fatalf("pending %d, want 6", n)
	}
}

func TestCompleteUploadsSwapsReferencesAndCountsLiveBytes(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	rel := releases{x: x}
	a := must(x.Create(RootIno, "a", file(0o644)))
	b := must(x.Create(RootIno, "b", file(0o644)))
	ra := must(x.NewStagedChunk(a.Ino, 0))
	rb := must(x.NewStagedChunk(b.Ino, 0))
	sealAll(x, a.Ino, 1)
	sealAll(x, b.Ino, 1)
	ups := must(x.Uploads(0, 10))

	// b changes after sealing: its upload must not be applied.
	rb2 := must(x.NewStagedChunk(b.Ino, 0))
	if current := must(x.UploadCurrent(ups[1])); current {
		t.Fatal("upload of an overwritten chunk reported current")
	}

	blob := Blob{ID: [32]byte{7}, Kind: BlobQuilt, State: BlobCertified, Size: 300, CertifiedEpoch: 3, EndEpoch: 9}
	res := []UploadResult{{Upload: ups[0], Stored: storedAt(100)}, {Upload: ups[1], Stored: storedAt(200)}}
	applied := must(x.CompleteUploads(blob, res))
	if len(applied) != 1 || applied[0].Ino != a.Ino || applied[0].Ref.Kind != ChunkStored || applied[0].Ref.Stored.BlobID != blob.ID || applied[0].Ref.StagingID != ra.StagingID {
		t.Fatalf("applied %+v", applied)
	}
	if n := must(x.PendingUploads(0)); n != 0 {
		t.Fatalf("%d uploads still queued", n)
	}
	ref, _ := must2(x.Chunk(a.Ino, 0))
	if ref.Kind != ChunkStored || ref.Stored.BlobID != blob.ID || ref.StagingID != ra.StagingID {
		t.Fatalf("chunk of a (stored, keeping its local copy): %+v", ref)
	}
	copies := must(x.LocalCopies())
	if len(copies) != 1 || copies[0].StagingID != ra.StagingID || !copies[0].Certified {
		t.Fatalf("local copies %+v", copies)
	}
	if !must(x.DropLocalCopy(copies[0])) {
		t.Fatal("local copy of a certified chunk not dropped")
	}
	if again := must(x.DropLocalCopy(copies[0])); again {
		t.Fatal("dropped twice")
	}
	if ref, _ := must2(x.Chunk(a.Ino, 0)); ref.StagingID != 0 || ref.Kind != ChunkStored {
		t.Fatalf("after dropping the local copy: %+v", ref)
	}
	if ref, _ := must2(x.Chunk(b.Ino, 0)); ref.StagingID != rb2.StagingID {
		t.Fatalf("overwritten chunk of b lost its new data: %+v", ref)
	}
	rec, ok := must2(x.BlobInfo(blob.ID))
	if !ok || rec.LiveBytes != 100 || rec.Refs != 1 || rec.State != BlobCertified {
		t.Fatalf("blob record %+v", rec)
	}
	// Completing the same batch again (a retry after a lost reply) changes nothing.
	if again := must(x.CompleteUploads(blob, res)); len(again) != 0 {
		t.Fatalf("second completion applied %+v", again)
	}
	noErr(t, x.Commit(t.Context()))
	if !rel.has(ra.StagingID) || !rel.has(rb.StagingID) {
		t.Fatalf("certified staging files not released: %v", rel.ids)
	}
	if ids := must(x.StagingIDs()); ids[ra.StagingID] || !ids[rb2.StagingID] {
		t.Fatalf("staging IDs %v", ids)
	}

	// Live bytes follow the references away: truncate, then unlink.
	must(x.NoteWrite(a.Ino, 100, 2))
	zero := uint64(0)
	must(x.SetAttr(a.Ino, SetAttrIn{Size: &zero, Now: 3}))
	if rec, _ := must2(x.BlobInfo(blob.ID)); rec.LiveBytes != 0 || rec.Refs != 0 {
		t.Fatalf("after truncate: %+v", rec)
	}
}

func TestUncertifiedBlobKeepsTheStagedCopy(t *testing.T) {
	x := openTest(t, t.TempDir())
	rel := releases{x: x}
	f := must(x.Create(RootIno, "f", file(0o644)))
	r := must(x.NewStagedChunk(f.Ino, 0))
	sealAll(x, f.Ino, 1)
	ups := must(x.Uploads(0, 10))
	blob := Blob{ID: [32]byte{9}, Kind: BlobStandalone, State: BlobStored, Size: 50}
	must(x.CompleteUploads(blob, []UploadResult{{Upload: ups[0], Stored: storedAt(50)}}))
	noErr(t, x.Commit(t.Context()))
	ref, _ := must2(x.Chunk(f.Ino, 0))
	if ref.Kind != ChunkStored || ref.StagingID != r.StagingID {
		t.Fatalf("stored reference of an uncertified blob dropped its local copy: %+v", ref)
	}
	if rel.has(r.StagingID) || !must(x.StagingIDs())[r.StagingID] {
		t.Fatal("local copy of an uncertified blob released")
	}
	copies := must(x.LocalCopies())
	if len(copies) != 1 || copies[0].Certified {
		t.Fatalf("local copies %+v", copies)
	}
	if must(x.DropLocalCopy(copies[0])) {
		t.Fatal("the only copy of data in an uncertified blob was dropped")
	}
	// Unlinking the file releases it and the live bytes.
	noErr(t, x.Unlink(RootIno, "f", 2))
	noErr(t, x.Commit(t.Context()))
	if !rel.has(r.StagingID) {
		t.Fatal("local copy not released with its file")
	}
	if rec, _ := must2(x.BlobInfo(blob.ID)); rec.LiveBytes != 0 || rec.Refs != 0 {
		t.Fatalf("after unlink: %+v", rec)
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// storedBlob creates file name with one chunk, uploads it as blob id (100
// bytes, certified, ending at epoch 5) and returns the blob record.
func storedBlob(x *Index, name string, id [32]byte) Blob {
	f := must(x.Create(RootIno, name, file(0o644)))
	must(x.NewStagedChunk(f.Ino, 0))
	sealAll(x, f.Ino, 1)
	ups := must(x.Uploads(0, 10))
	blob := Blob{ID: id, Kind: BlobStandalone, State: BlobCertified, Size: 100, EndEpoch: 5}
	must(x.CompleteUploads(blob, []UploadResult{{Upload: ups[len(ups)-1], Stored: storedAt(100)}}))
	return blob
}

// TestSetBlobEnd: a lease end moves forward only, survives a crash (it is
// journaled like any operation), and a blob without a record is reported.
func TestSetBlobEnd(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	blob := storedBlob(x, "f", [32]byte{9})

	if !must(x.SetBlobEnd(blob.ID, 12)) {
		t.Fatal("SetBlobEnd: no record")
	}
	if !must(x.SetBlobEnd(blob.ID, 7)) {
		t.Fatal("SetBlobEnd to an earlier end: no record")
	}
	if must(x.SetBlobEnd([32]byte{1}, 12)) {
		t.Fatal("SetBlobEnd of an unknown blob reported a record")
	}
	x.Abandon() // kill -9: the change is in the journal only

	y := openTest(t, dir)
	rec, ok := must2(y.BlobInfo(blob.ID))
	if !ok || rec.EndEpoch != 12 || rec.Refs != 1 || rec.LiveBytes != 100 {
		t.Fatalf("after a crash: %+v, want end 12 with its reference", rec)
	}
}

// TestRecordChain: the chain's word sets the end either way, certifies a
// stored blob (its local copies may then go), never un-certifies one, and
// survives a crash.
func TestRecordChain(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	f := must(x.Create(RootIno, "f", file(0o644)))
	must(x.NewStagedChunk(f.Ino, 0))
	sealAll(x, f.Ino, 1)
	ups := must(x.Uploads(0, 10))
	blob := Blob{ID: [32]byte{7}, Kind: BlobStandalone, State: BlobStored, Size: 100, EndEpoch: 20, ObjectID: "0xaa"}
	must(x.CompleteUploads(blob, []UploadResult{{Upload: ups[0], Stored: storedAt(100)}}))
	copies := must(x.LocalCopies())
	if len(copies) != 1 || copies[0].Certified {
		t.Fatalf("before confirmation: %+v", copies)
	}
	if must(x.DropLocalCopy(copies[0])) {
		t.Fatal("dropped the local copy of a blob the chain has not confirmed")
	}
	if !must(x.RecordChain(blob.ID, ChainRecord{ObjectID: "0xbb", Certified: true, CertifiedEpoch: 3, EndEpoch: 15, Deletable: true})) {
		t.Fatal("RecordChain: no record")
	}
	if !must(x.RecordChain(blob.ID, ChainRecord{Certified: false, EndEpoch: 14})) {
		t.Fatal("RecordChain: no record")
	}
	if must(x.RecordChain([32]byte{1}, ChainRecord{EndEpoch: 3})) {
		t.Fatal("RecordChain of an unknown blob reported a record")
	}
	x.Abandon()

	y := openTest(t, dir)
	rec, ok := must2(y.BlobInfo(blob.ID))
	if !ok || rec.State != BlobCertified || rec.CertifiedEpoch != 3 || rec.EndEpoch != 14 || rec.ObjectID != "0xbb" || !rec.Deletable {
		t.Fatalf("after a crash: %+v, want certified at 3, ending at 14, object 0xbb", rec)
	}
	copies = must(y.LocalCopies())
	if len(copies) != 1 || !copies[0].Certified || !must(y.DropLocalCopy(copies[0])) {
		t.Fatalf("the local copy of a confirmed blob: %+v", copies)
	}
}

// TestBlobRecordV1: records written before UnreferencedSince and Pins
// existed still read, with the mark and the pins unset.
func TestBlobRecordV1(t *testing.T) {
	want := Blob{ID: [32]byte{3}, Kind: BlobQuilt, State: BlobCertified, Deletable: true, Size: 1, EncodedSize: 2,
		RegisteredEpoch: 3, CertifiedEpoch: 4, EndEpoch: 5, ObjectID: "0xab", LiveBytes: 6, Refs: 7}
	v3 := encodeBlob(&want)
	// v2 is v3 without the eight bytes of the pins.
	fixed3 := blobRecordFixed[blobRecordV3]
	v2 := append([]byte{blobRecordV2}, v3[1:fixed3-9]...)
	v2 = append(v2, v3[fixed3-1:]...)
	if got, err := decodeBlob(want.ID[:], v2); err != nil || got != want {
		t.Fatalf("v2 record: %+v, %v; want %+v", got, err, want)
	}
	// v1 is v2 without the four bytes of the mark.
	fixed := blobRecordFixed[blobRecordV2]
	v1 := append([]byte{blobRecordV1}, v2[1:fixed-5]...)
	v1 = append(v1, v2[fixed-1:]...)
	got, err := decodeBlob(want.ID[:], v1)
	if err != nil || got != want {
		t.Fatalf("v1 record: %+v, %v; want %+v", got, err, want)
	}
	want.UnreferencedSince, want.Pins = 9, 10
	if got, err := decodeBlob(want.ID[:], encodeBlob(&want)); err != nil || got != want {
		t.Fatalf("v3 record: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {9}, v1[:len(v1)-1], append([]byte{blobRecordV2}, v1[1:]...)} {
		if _, err := decodeBlob(want.ID[:], bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("record %x: %v, want ErrCorrupt", bad, err)
		}
	}
}

// TestMarkUnreferenced: only a blob without references is marked, once;
// a new reference clears the mark; the mark survives a crash.
func TestMarkUnreferenced(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	used := storedBlob(x, "f", [32]byte{1})
	if b, ok := must2b(x.MarkUnreferenced(used.ID, 4)); !ok || b.UnreferencedSince != 0 {
		t.Fatalf("a referenced blob was marked: %+v", b)
	}
	if err := x.Unlink(RootIno, "f", 1); err != nil {
		t.Fatal(err)
	}
	if b, _ := must2b(x.MarkUnreferenced(used.ID, 5)); b.UnreferencedSince != 5 {
		t.Fatalf("mark %d, want 5", b.UnreferencedSince)
	}
	if b, _ := must2b(x.MarkUnreferenced(used.ID, 8)); b.UnreferencedSince != 5 {
		t.Fatalf("marked again: %d", b.UnreferencedSince)
	}
	x.Abandon()

	y := openTest(t, dir)
	rec, _ := must2(y.BlobInfo(used.ID))
	if rec.UnreferencedSince != 5 {
		t.Fatalf("after a crash the mark is %d", rec.UnreferencedSince)
	}
	// The same bytes stored again: the blob gains a reference.
	storedBlob(y, "g", used.ID)
	rec, _ = must2(y.BlobInfo(used.ID))
	if rec.UnreferencedSince != 0 || rec.Refs != 1 {
		t.Fatalf("a blob referenced again keeps its mark: %+v", rec)
	}
}

func must2b(b Blob, ok bool, err error) (Blob, bool) {
	if err != nil {
		panic(err)
	}
	return b, ok
}

// TestDropBlob: only a record nothing references is dropped, durably.
func TestDropBlob(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	used := storedBlob(x, "f", [32]byte{1})
	garbage := Blob{ID: [32]byte{2}, Kind: BlobQuilt, State: BlobCertified, Size: 100, EndEpoch: 5}
	must(x.CompleteUploads(garbage, nil))

	if must(x.DropBlob(used.ID)) {
		t.Fatal("dropped the record of a referenced blob")
	}
	if !must(x.DropBlob(garbage.ID)) {
		t.Fatal("kept the record of an unreferenced blob")
	}
	if must(x.DropBlob([32]byte{3})) {
		t.Fatal("dropped a record that does not exist")
	}
	x.Abandon()

	y := openTest(t, dir)
	if _, ok := must2(y.BlobInfo(garbage.ID)); ok {
		t.Fatal("dropped record back after a crash")
	}
	if _, ok := must2(y.BlobInfo(used.ID)); !ok {
		t.Fatal("referenced record lost")
	}
}

// TestVolumeKey: the fingerprint is recorded like any operation (it
// survives a crash) and HasStoredData sees queued and stored data.
func TestVolumeKey(t *testing.T) {
	dir := t.TempDir()
	x := openTest(t, dir)
	if fp := must(x.VolumeKey()); fp != "" {
		t.Fatalf("fresh index records key %q", fp)
	}
	if must(x.HasStoredData()) {
		t.Fatal("fresh index has stored data")
	}
	noErr(t, x.SetVolumeKey("1234-abcd"))
	f := must(x.Create(RootIno, "f", file(0o644)))
	must(x.NewStagedChunk(f.Ino, 0))
	sealAll(x, f.Ino, 1)
	if !must(x.HasStoredData()) {
		t.Fatal("a queued upload is not stored data")
	}
	x.Abandon() // kill -9: both are in the journal only

	y := openTest(t, dir)
	if fp := must(y.VolumeKey()); fp != "1234-abcd" {
		t.Fatalf("after a crash: key %q", fp)
	}
	if !must(y.HasStoredData()) {
		t.Fatal("after a crash: no stored data")
	}
	ups := must(y.Uploads(0, 10))
	must(y.CompleteUploads(Blob{ID: [32]byte{5}, Kind: BlobStandalone, State: BlobCertified}, []UploadResult{{Upload: ups[0], Stored: storedAt(10)}}))
	if !must(y.HasStoredData()) {
		t.Fatal("a blob record is not stored data")
	}
}

// TestPendingSummary: the queue's chunks, bytes and files.
func TestPendingSummary(t *testing.T) {
	x := openTest(t, t.TempDir())
	for _, name := range []string{"a", "b"} {
		f := must(x.Create(RootIno, name, file(0o644)))
		must(x.NewStagedChunk(f.Ino, 0))
		must(x.NewStagedChunk(f.Ino, 1))
		sealAll(x, f.Ino, 2)
	}
	p := must(x.PendingSummary())
	if p.Chunks != 4 || p.Files != 2 {
		t.Fatalf("summary %+v, want 4 chunks of 2 files", p)
	}
	ups := must(x.Uploads(0, 10))
	must(x.CompleteUploads(Blob{ID: [32]byte{1}, State: BlobStored}, []UploadResult{{Upload: ups[0], Stored: storedAt(100)}}))
	if p := must(x.PendingSummary()); p.Chunks != 3 || p.Files != 2 {
		t.Fatalf("after one upload: %+v", p)
	}
}
