package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The upload queue and the blob records.
//
// Sealing freezes a staged chunk for upload: its reference gets the Sealed
// flag and a queue entry names it, in the same operation, so a crash can
// never leave one without the other. A later write to a sealed chunk copies
// it first (copy-on-write), so the uploader reads a file nobody changes.
//
// When the uploader has stored a batch (one blob, or one quilt of many
// chunks), CompleteUploads swaps each chunk's staged reference for the
// stored one, records the blob, and deletes the queue entries, again in one
// operation. A chunk changed or deleted since it was sealed keeps its new
// reference; its entry is simply dropped. Re-uploading after a crash stores
// the same bytes again (same blob ID) and completes the same entries once.

// Upload is one queue entry: chunk N of Ino, sealed in staging file
// StagingID of Size bytes.
type Upload struct {
	Seq       uint64
	Ino       Ino
	N         uint64
	StagingID uint64
	SealedAt  int64 // ns since the Unix epoch
	// Size is how many bytes the staging file holds (a chunk recorded but
	// never written has no file and size 0). It is SizeUnknown in entries
	// queued before sizes were recorded; SetUploadSizes fills them in.
	Size int64
}

// SizeUnknown is the Size of a queue entry that does not record one.
const SizeUnknown = -1

// Upload records: v1 has no size; v2 appends it.
const (
	uploadRecordV1 = 1
	uploadRecordV2 = 2
	uploadV1Len    = 33
	uploadV2Len    = uploadV1Len + 8
)

func encodeUpload(u *Upload) []byte {
	b := []byte{uploadRecordV2}
	b = binary.BigEndian.AppendUint64(b, uint64(u.Ino))
	b = binary.BigEndian.AppendUint64(b, u.N)
	b = binary.BigEndian.AppendUint64(b, u.StagingID)
	b = binary.BigEndian.AppendUint64(b, uint64(u.SealedAt))
	return binary.BigEndian.AppendUint64(b, uint64(u.Size))
}

func decodeUpload(k, v []byte) (Upload, error) {
	ok := len(k) == 8 && (len(v) == uploadV1Len && v[0] == uploadRecordV1 || len(v) == uploadV2Len && v[0] == uploadRecordV2)
	if !ok {
		return Upload{}, fmt.Errorf("index: upload record %x: %w", k, ErrCorrupt)
	}
	u := Upload{
		Seq:       binary.BigEndian.Uint64(k),
		Ino:       Ino(binary.BigEndian.Uint64(v[1:])),
		N:         binary.BigEndian.Uint64(v[9:]),
		StagingID: binary.BigEndian.Uint64(v[17:]),
		SealedAt:  int64(binary.BigEndian.Uint64(v[25:])),
		Size:      SizeUnknown,
	}
	if v[0] == uploadRecordV2 {
		u.Size = int64(binary.BigEndian.Uint64(v[33:]))
	}
	return u, nil
}

// BlobKind says whether a blob holds one chunk or a quilt of chunks.
type BlobKind uint8

const (
	BlobStandalone BlobKind = 1
	BlobQuilt      BlobKind = 2
)

// BlobState is where a blob is in its life.
type BlobState uint8

const (
	// BlobStored: the store accepted the blob; certification is not yet
	// confirmed, so the staged copies of its chunks are kept.
	BlobStored BlobState = 1
	// BlobCertified: certified on Walrus; staged copies may go.
	BlobCertified BlobState = 2
)

func (s BlobState) String() string {
	switch s {
	case BlobStored:
		return "stored"
	case BlobCertified:
		return "certified"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Blob is what the index knows about one blob or quilt it uploaded.
type Blob struct {
	ID              [32]byte
	Kind            BlobKind
	State           BlobState
	Deletable       bool
	Size            uint64 // unencoded bytes
	EncodedSize     uint64
	RegisteredEpoch uint32
	CertifiedEpoch  uint32
	EndEpoch        uint32
	ObjectID        string
	// LiveBytes and Refs count the chunk references that still point into
	// the blob (plaintext bytes, references). A blob with no references
	// left is garbage.
	LiveBytes uint64
	Refs      uint64
	// UnreferencedSince is the epoch from which chain sync has seen the
	// blob without references (MarkUnreferenced); 0 while it has some.
	// Garbage collection waits a grace period from it.
	UnreferencedSince uint32
	// Pins counts the kept snapshots that need the blob: their own part
	// blobs and every blob their trees refer to. A pinned blob is kept
	// and renewed like a referenced one (see Referenced).
	Pins uint64
}

// Referenced reports whether anything needs the blob: a chunk reference
// or a kept snapshot. Renewal extends referenced blobs; garbage
// collection takes only the others.
func (b *Blob) Referenced() bool { return b.Refs > 0 || b.LiveBytes > 0 || b.Pins > 0 }

// Blob record versions: v2 adds UnreferencedSince, v3 Pins. All are
// read; v3 is written.
const (
	blobRecordV1 = 1
	blobRecordV2 = 2
	blobRecordV3 = 3
)

func encodeBlob(b *Blob) []byte {
	out := []byte{blobRecordV3, byte(b.Kind), byte(b.State), 0}
	if b.Deletable {
		out[3] = 1
	}
	out = binary.BigEndian.AppendUint64(out, b.Size)
	out = binary.BigEndian.AppendUint64(out, b.EncodedSize)
	out = binary.BigEndian.AppendUint32(out, b.RegisteredEpoch)
	out = binary.BigEndian.AppendUint32(out, b.CertifiedEpoch)
	out = binary.BigEndian.AppendUint32(out, b.EndEpoch)
	out = binary.BigEndian.AppendUint64(out, b.LiveBytes)
	out = binary.BigEndian.AppendUint64(out, b.Refs)
	out = binary.BigEndian.AppendUint32(out, b.UnreferencedSince)
	out = binary.BigEndian.AppendUint64(out, b.Pins)
	out = append(out, byte(len(b.ObjectID)))
	return append(out, b.ObjectID...)
}

// blobRecordFixed is the length of a record before its object ID, by
// version.
var blobRecordFixed = map[byte]int{
	blobRecordV1: 4 + 8 + 8 + 4 + 4 + 4 + 8 + 8 + 1,
	blobRecordV2: 4 + 8 + 8 + 4 + 4 + 4 + 8 + 8 + 4 + 1,
	blobRecordV3: 4 + 8 + 8 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 1,
}

func decodeBlob(k, v []byte) (Blob, error) {
	var b Blob
	if len(k) != 32 || len(v) == 0 {
		return b, fmt.Errorf("index: blob record %x: %w", k, ErrCorrupt)
	}
	fixed, ok := blobRecordFixed[v[0]]
	if !ok || len(v) < fixed || len(v) != fixed+int(v[fixed-1]) {
		return b, fmt.Errorf("index: blob record %x: %w", k, ErrCorrupt)
	}
	copy(b.ID[:], k)
	b.Kind, b.State, b.Deletable = BlobKind(v[1]), BlobState(v[2]), v[3] == 1
	p := v[4:]
	u64 := func() uint64 { x := binary.BigEndian.Uint64(p); p = p[8:]; return x }
	u32 := func() uint32 { x := binary.BigEndian.Uint32(p); p = p[4:]; return x }
	b.Size, b.EncodedSize = u64(), u64()
	b.RegisteredEpoch, b.CertifiedEpoch, b.EndEpoch = u32(), u32(), u32()
	b.LiveBytes, b.Refs = u64(), u64()
	if v[0] >= blobRecordV2 {
		b.UnreferencedSince = u32()
	}
	if v[0] >= blobRecordV3 {
		b.Pins = u64()
	}
	b.ObjectID = string(p[1:])
	return b, nil
}

// ChunkUpdate is chunk N of Ino with its reference after an operation
// changed it.
type ChunkUpdate struct {
	Ino Ino
	N   uint64
	Ref ChunkRef
}

// Sealing names one chunk to seal: chunk N of Ino, staged in file StagingID
// of Size bytes.
type Sealing struct {
	Ino       Ino
	N         uint64
	StagingID uint64
	Size      int64
}

// Seal freezes the chunks of todo that are still staged and unsealed in the
// staging file named, and queues them for upload with their sizes, in one
// operation. Chunks that changed meanwhile are left alone. It returns the
// chunks it sealed with their new references.
func (x *Index) Seal(todo []Sealing, now int64) ([]ChunkUpdate, error) {
	var sealed []ChunkUpdate
	err := x.update(func(w *wtx) error {
		sealed = sealed[:0]
		for _, s := range todo {
			key := chunkKey(s.Ino, s.N)
			v := w.get(bChunks, key)
			if v == nil {
				continue
			}
			r, err := decodeChunkRef(v)
			if err != nil {
				return err
			}
			if r.Kind != ChunkStaged || r.Sealed || r.StagingID != s.StagingID {
				continue
			}
			r.Sealed = true
			if err := w.put(bChunks, key, encodeChunkRef(&r)); err != nil {
				return err
			}
			last, err := w.bump(keyLastUpload, 1)
			if err != nil {
				return err
			}
			u := Upload{Seq: last + 1, Ino: s.Ino, N: s.N, StagingID: s.StagingID, SealedAt: now, Size: s.Size}
			if err := w.put(bUploads, u64(u.Seq), encodeUpload(&u)); err != nil {
				return err
			}
			sealed = append(sealed, ChunkUpdate{Ino: s.Ino, N: s.N, Ref: r})
		}
		return nil
	})
	return sealed, err
}

// Unsealed returns the staged, unsealed chunks of ino (of every inode when
// ino is 0), in inode and chunk order: at mount, what a crash left open.
func (x *Index) Unsealed(ino Ino) ([]ChunkUpdate, error) {
	var out []ChunkUpdate
	err := x.view(func(w *wtx) error {
		var prefix []byte
		if ino != 0 {
			prefix = inoKey(ino)
		}
		c := w.bucket(bChunks).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			r, err := decodeChunkRef(v)
			if err != nil {
				return err
			}
			if r.Kind == ChunkStaged && !r.Sealed {
				out = append(out, ChunkUpdate{Ino: Ino(binary.BigEndian.Uint64(k)), N: binary.BigEndian.Uint64(k[8:]), Ref: r})
			}
		}
		return nil
	})
	return out, err
}

// SetUploadSizes records the sizes of queue entries that have none
// (SizeUnknown), by sequence number, in one operation. Entries that are gone
// or already have a size are left alone.
func (x *Index) SetUploadSizes(sizes map[uint64]int64) error {
	return x.update(func(w *wtx) error {
		for seq, size := range sizes {
			k := u64(seq)
			v := w.get(bUploads, k)
			if v == nil {
				continue
			}
			u, err := decodeUpload(k, v)
			if err != nil {
				return err
			}
			if u.Size != SizeUnknown {
				continue
			}
			u.Size = size
			if err := w.put(bUploads, k, encodeUpload(&u)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Uploads returns up to limit queue entries with sequence numbers above
// after, oldest first.
func (x *Index) Uploads(after uint64, limit int) ([]Upload, error) {
	var out []Upload
	err := x.view(func(w *wtx) error {
		c := w.bucket(bUploads).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			u, err := decodeUpload(k, v)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// PendingUploads counts the queue entries of ino (all inodes for ino 0).
func (x *Index) PendingUploads(ino Ino) (int, error) {
	n := 0
	err := x.view(func(w *wtx) error {
		return w.bucket(bUploads).ForEach(func(k, v []byte) error {
			u, err := decodeUpload(k, v)
			if err != nil {
				return err
			}
			if ino == 0 || u.Ino == ino {
				n++
			}
			return nil
		})
	})
	return n, err
}

// Pending sums up the upload queue: chunks waiting, their bytes (as far
// as entries record them) and the distinct files they belong to.
type Pending struct {
	Chunks int
	Bytes  uint64
	Files  int
}

// PendingSummary returns the upload queue's totals, in one read.
func (x *Index) PendingSummary() (Pending, error) {
	var p Pending
	files := map[Ino]bool{}
	err := x.view(func(w *wtx) error {
		return w.bucket(bUploads).ForEach(func(k, v []byte) error {
			u, err := decodeUpload(k, v)
			if err != nil {
				return err
			}
			p.Chunks++
			if u.Size > 0 {
				p.Bytes += uint64(u.Size)
			}
			files[u.Ino] = true
			return nil
		})
	})
	p.Files = len(files)
	return p, err
}

// UploadCurrent reports whether u's chunk still refers to u's staging file
// (so its bytes are still wanted).
func (x *Index) UploadCurrent(u Upload) (bool, error) {
	ok := false
	err := x.view(func(w *wtx) error {
		var err error
		ok, err = w.uploadCurrent(u)
		return err
	})
	return ok, err
}

func (w *wtx) uploadCurrent(u Upload) (bool, error) {
	v := w.get(bChunks, chunkKey(u.Ino, u.N))
	if v == nil {
		return false, nil
	}
	r, err := decodeChunkRef(v)
	if err != nil {
		return false, err
	}
	return r.Kind == ChunkStaged && r.StagingID == u.StagingID, nil
}

// DropUpload deletes queue entry seq: its chunk changed or went away before
// it was uploaded.
func (x *Index) DropUpload(seq uint64) error {
	return x.update(func(w *wtx) error {
		if w.get(bUploads, u64(seq)) == nil {
			return nil
		}
		return w.del(bUploads, u64(seq))
	})
}

// UploadResult is one uploaded chunk: its queue entry and where its bytes
// now live.
type UploadResult struct {
	Upload Upload
	Stored StoredChunk
}

// CompleteUploads records blob b (stored now) and points every chunk of
// results that still refers to its sealed staging file at its stored copy,
// deleting the queue entries, in one operation. The stored references keep
// the staging files as local copies (see DropLocalCopy). It returns the
// chunks it pointed at the blob with their new references (the others'
// chunks changed meanwhile).
func (x *Index) CompleteUploads(b Blob, results []UploadResult) ([]ChunkUpdate, error) {
	var applied []ChunkUpdate
	err := x.update(func(w *wtx) error {
		applied = applied[:0]
		key := b.ID[:]
		rec := b
		rec.LiveBytes, rec.Refs = 0, 0
		if old := w.get(bBlobs, key); old != nil {
			prev, err := decodeBlob(key, old)
			if err != nil {
				return err
			}
			rec.LiveBytes, rec.Refs, rec.UnreferencedSince, rec.Pins = prev.LiveBytes, prev.Refs, prev.UnreferencedSince, prev.Pins
			if rec.ObjectID == "" {
				// Stored again without a new object (already certified):
				// the object on record still holds the blob.
				rec.ObjectID, rec.Deletable = prev.ObjectID, prev.Deletable
			}
			if prev.State > rec.State {
				rec.State, rec.CertifiedEpoch = prev.State, prev.CertifiedEpoch
			}
			rec.EndEpoch = max(rec.EndEpoch, prev.EndEpoch)
		}
		if err := w.put(bBlobs, key, encodeBlob(&rec)); err != nil {
			return err
		}
		for _, r := range results {
			if w.get(bUploads, u64(r.Upload.Seq)) == nil {
				continue // completed before (a retry after a lost reply)
			}
			if err := w.del(bUploads, u64(r.Upload.Seq)); err != nil {
				return err
			}
			current, err := w.uploadCurrent(r.Upload)
			if err != nil {
				return err
			}
			if !current {
				continue
			}
			s := r.Stored
			s.BlobID = b.ID
			// The staged file stays as the chunk's local copy: reads
			// use it, and DropLocalCopy lets it go once the blob is
			// certified.
			ref := ChunkRef{Kind: ChunkStored, Stored: &s, StagingID: r.Upload.StagingID}
			if err := x.setChunk(w, r.Upload.Ino, r.Upload.N, ref); err != nil {
				return err
			}
			applied = append(applied, ChunkUpdate{Ino: r.Upload.Ino, N: r.Upload.N, Ref: ref})
		}
		return nil
	})
	return applied, err
}

// BlobInfo returns the record of blob id; ok is false if the index has none.
func (x *Index) BlobInfo(id [32]byte) (b Blob, ok bool, err error) {
	err = x.view(func(w *wtx) error {
		v := w.get(bBlobs, id[:])
		if v == nil {
			return nil
		}
		ok = true
		b, err = decodeBlob(id[:], v)
		return err
	})
	return b, ok, err
}

// SetBlobEnd records that blob id's lease now ends at epoch end, in one
// operation. A record never moves back: an end before the recorded one is
// ignored. ok is false if the index has no record of the blob.
func (x *Index) SetBlobEnd(id [32]byte, end uint32) (ok bool, err error) {
	err = x.update(func(w *wtx) error {
		v := w.get(bBlobs, id[:])
		if v == nil {
			return nil
		}
		ok = true
		b, err := decodeBlob(id[:], v)
		if err != nil || end <= b.EndEpoch {
			return err
		}
		b.EndEpoch = end
		return w.put(bBlobs, id[:], encodeBlob(&b))
	})
	return ok, err
}

// ChainRecord is what the chain says of a blob: the Blob object that
// keeps it stored and its lease.
type ChainRecord struct {
	ObjectID       string
	Certified      bool
	CertifiedEpoch uint32
	EndEpoch       uint32
	Deletable      bool
}

// RecordChain makes blob id's record say what the chain says, in one
// operation: the chain is the truth, so the end epoch may move either
// way, and a blob becomes BlobCertified only here when chain sync
// confirms certifications (staged copies of its chunks may then go). A
// certified record never goes back to stored. ok is false if the index
// has no record of the blob.
func (x *Index) RecordChain(id [32]byte, c ChainRecord) (ok bool, err error) {
	err = x.update(func(w *wtx) error {
		v := w.get(bBlobs, id[:])
		if v == nil {
			return nil
		}
		ok = true
		b, err := decodeBlob(id[:], v)
		if err != nil {
			return err
		}
		was := b
		if c.Certified && b.State < BlobCertified {
			b.State, b.CertifiedEpoch = BlobCertified, c.CertifiedEpoch
		}
		if c.ObjectID != "" {
			b.ObjectID, b.Deletable = c.ObjectID, c.Deletable
		}
		b.EndEpoch = c.EndEpoch
		if b == was {
			return nil
		}
		return w.put(bBlobs, id[:], encodeBlob(&b))
	})
	return ok, err
}

// MarkUnreferenced records that blob id has been seen without references
// in epoch now, unless it has references or was marked before, in one
// operation, and returns the record. ok is false if the index has no
// record of the blob.
func (x *Index) MarkUnreferenced(id [32]byte, now uint32) (b Blob, ok bool, err error) {
	err = x.update(func(w *wtx) error {
		v := w.get(bBlobs, id[:])
		if v == nil {
			return nil
		}
		ok = true
		if b, err = decodeBlob(id[:], v); err != nil {
			return err
		}
		if b.Referenced() || b.UnreferencedSince != 0 {
			return nil
		}
		b.UnreferencedSince = max(now, 1)
		return w.put(bBlobs, id[:], encodeBlob(&b))
	})
	return b, ok, err
}

// DropBlob removes blob id's record if nothing references the blob (no
// chunk reference and no kept snapshot: see Blob.Referenced), in one operation, and reports whether it did: the
// record of a blob the store has dropped (its lease ended). A blob that
// gained a reference meanwhile keeps its record.
func (x *Index) DropBlob(id [32]byte) (dropped bool, err error) {
	err = x.update(func(w *wtx) error {
		v := w.get(bBlobs, id[:])
		if v == nil {
			return nil
		}
		b, err := decodeBlob(id[:], v)
		if err != nil || b.Referenced() {
			return err
		}
		dropped = true
		return w.del(bBlobs, id[:])
	})
	return dropped, err
}

// Blobs returns every blob record in blob ID order.
func (x *Index) Blobs() ([]Blob, error) {
	var out []Blob
	err := x.view(func(w *wtx) error {
		return w.bucket(bBlobs).ForEach(func(k, v []byte) error {
			b, err := decodeBlob(k, v)
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// refAdded and refDropped keep staging files and blob live-byte counts in
// step with the chunk map: every chunk reference that stops existing goes
// through refDropped.
func (x *Index) refDropped(w *wtx, r ChunkRef, keepStaging uint64) error {
	if r.StagingID != 0 && r.StagingID != keepStaging {
		x.releaseStaging(w, r.StagingID)
	}
	return w.countRef(r, -1)
}

func (w *wtx) countRef(r ChunkRef, sign int64) error {
	if r.Kind != ChunkStored || r.Stored == nil {
		return nil
	}
	key := r.Stored.BlobID[:]
	v := w.get(bBlobs, key)
	if v == nil {
		return nil // a blob this index did not upload
	}
	b, err := decodeBlob(key, v)
	if err != nil {
		return err
	}
	if sign > 0 {
		b.LiveBytes += r.Stored.PlainLen
		b.Refs++
		b.UnreferencedSince = 0
	} else {
		b.LiveBytes -= min(b.LiveBytes, r.Stored.PlainLen)
		b.Refs -= min(b.Refs, 1)
	}
	return w.put(bBlobs, key, encodeBlob(&b))
}

// LocalCopy is a stored chunk that still has its staged file.
type LocalCopy struct {
	Ino       Ino
	N         uint64
	StagingID uint64
	BlobID    [32]byte
	Certified bool // the blob is certified: the copy may go
}

// LocalCopies lists the stored chunks that keep a local copy, in inode and
// chunk order.
func (x *Index) LocalCopies() ([]LocalCopy, error) {
	var out []LocalCopy
	err := x.view(func(w *wtx) error {
		certified := map[[32]byte]bool{}
		return w.bucket(bChunks).ForEach(func(k, v []byte) error {
			r, err := decodeChunkRef(v)
			if err != nil {
				return err
			}
			if r.Kind != ChunkStored || r.StagingID == 0 {
				return nil
			}
			id := r.Stored.BlobID
			c, seen := certified[id]
			if !seen {
				if bv := w.get(bBlobs, id[:]); bv != nil {
					if b, err := decodeBlob(id[:], bv); err == nil {
						c = b.State >= BlobCertified
					}
				}
				certified[id] = c
			}
			out = append(out, LocalCopy{
				Ino: Ino(binary.BigEndian.Uint64(k)), N: binary.BigEndian.Uint64(k[8:]),
				StagingID: r.StagingID, BlobID: id, Certified: c,
			})
			return nil
		})
	})
	return out, err
}

// DropLocalCopy lets chunk c.N of c.Ino forget its local copy if it still
// has that one and its blob is certified; the staged file is released once
// this is durable. It reports whether it did.
func (x *Index) DropLocalCopy(c LocalCopy) (bool, error) {
	dropped := false
	err := x.update(func(w *wtx) error {
		key := chunkKey(c.Ino, c.N)
		v := w.get(bChunks, key)
		if v == nil {
			return nil
		}
		r, err := decodeChunkRef(v)
		if err != nil {
			return err
		}
		if r.Kind != ChunkStored || r.StagingID != c.StagingID {
			return nil
		}
		bv := w.get(bBlobs, r.Stored.BlobID[:])
		if bv == nil {
			return nil
		}
		b, err := decodeBlob(r.Stored.BlobID[:], bv)
		if err != nil || b.State < BlobCertified {
			return err
		}
		r.StagingID = 0
		x.releaseStaging(w, c.StagingID)
		dropped = true
		return w.put(bChunks, key, encodeChunkRef(&r))
	})
	return dropped, err
}
