package index

import (
	"encoding/binary"
	"fmt"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the version of the on-disk layout this code writes.
const SchemaVersion = 2

// Bucket names, declared once.
var (
	bucketMeta     = []byte("meta")
	bucketInodes   = []byte("inodes")
	bucketDirents  = []byte("dirents")
	bucketSymlinks = []byte("symlinks")
	bucketXattrs   = []byte("xattrs")
	bucketChunks   = []byte("chunks")
	bucketOrphans  = []byte("orphans")
	bucketBlobs    = []byte("blobs")
	bucketUploads  = []byte("uploads")
	// Since version 2.
	bucketSnapshots = []byte("snapshots")
	bucketSnapPins  = []byte("snapshot_pins")
)

// bucketID is the one-byte name of a bucket inside journal records.
type bucketID byte

const (
	bMeta bucketID = iota + 1
	bInodes
	bDirents
	bSymlinks
	bXattrs
	bChunks
	bOrphans
	bBlobs
	bUploads
	bSnapshots
	bSnapPins
)

var bucketNames = map[bucketID][]byte{
	bMeta:     bucketMeta,
	bInodes:   bucketInodes,
	bDirents:  bucketDirents,
	bSymlinks: bucketSymlinks,
	bXattrs:   bucketXattrs,
	bChunks:   bucketChunks,
	bOrphans:  bucketOrphans,
	bBlobs:    bucketBlobs,
	bUploads:  bucketUploads,
	// Since version 2.
	bSnapshots: bucketSnapshots,
	bSnapPins:  bucketSnapPins,
}

var (
	keySchema       = []byte("schema")
	keyNextIno      = []byte("next_ino")
	keyNextStaging  = []byte("next_staging")
	keyJournalSeq   = []byte("journal_seq")
	keyInodeCount   = []byte("inode_count")
	keyLastUpload   = []byte("last_upload")
	keyVolumeKey    = []byte("volume_key")
	keyRestoredFrom = []byte("restored_from")
)

// migrations[i] upgrades a file at schema version i to version i+1. Version
// 0 is an empty file. Append to this list; never edit an entry.
var migrations = []func(tx *bolt.Tx, now int64) error{
	migrateCreateV1,
	migrateSnapshotsV2,
}

// migrateCreateV1 creates the buckets and the root directory.
func migrateCreateV1(tx *bolt.Tx, now int64) error {
	for id, name := range bucketNames {
		if id >= bSnapshots {
			continue // later versions' buckets come with their migrations
		}
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyNextIno, u64(uint64(RootIno)+1)); err != nil {
		return err
	}
	if err := meta.Put(keyNextStaging, u64(1)); err != nil {
		return err
	}
	if err := meta.Put(keyJournalSeq, u64(0)); err != nil {
		return err
	}
	if err := meta.Put(keyInodeCount, u64(1)); err != nil {
		return err
	}
	root := Attr{
		Ino: RootIno, Parent: RootIno, Mode: syscall.S_IFDIR | 0o755, Nlink: 2,
		Atime: now, Mtime: now, Ctime: now,
	}
	return tx.Bucket(bucketInodes).Put(u64(uint64(RootIno)), encodeInode(&root))
}

// migrateSnapshotsV2 adds the snapshot buckets. Blob records need no
// rewrite: records before v3 read as unpinned.
func migrateSnapshotsV2(tx *bolt.Tx, _ int64) error {
	for _, name := range [][]byte{bucketSnapshots, bucketSnapPins} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Ino is an inode number. Numbers are never reused.
type Ino uint64

// RootIno is the root directory's inode number.
const RootIno Ino = 1

// Attr is an inode's attributes. Times are nanoseconds since the Unix epoch.
type Attr struct {
	Ino   Ino
	Mode  uint32 // file type bits (S_IFMT) and permission bits
	Uid   uint32
	Gid   uint32
	Nlink uint32
	Rdev  uint32
	Size  uint64
	Atime int64
	Mtime int64
	Ctime int64
	// Parent is a directory's parent directory (the root is its own
	// parent). Zero for other types, which may have many parents.
	Parent Ino
	// ChunkSize is the chunk size the file's chunk map was cut with. It is
	// fixed when the file is created, so changing the configured chunk size
	// never reinterprets existing files. Zero for non-regular files.
	ChunkSize uint32
}

// Type returns the file type bits of the mode.
func (a *Attr) Type() uint32 { return a.Mode & syscall.S_IFMT }

// IsDir reports whether the inode is a directory.
func (a *Attr) IsDir() bool { return a.Type() == syscall.S_IFDIR }

const inodeRecordV1 = 1
const inodeRecordLen = 1 + 4*5 + 8*5 + 4

func encodeInode(a *Attr) []byte {
	b := make([]byte, inodeRecordLen)
	b[0] = inodeRecordV1
	p := b[1:]
	for _, v := range []uint32{a.Mode, a.Uid, a.Gid, a.Nlink, a.Rdev} {
		binary.BigEndian.PutUint32(p, v)
		p = p[4:]
	}
	for _, v := range []uint64{a.Size, uint64(a.Atime), uint64(a.Mtime), uint64(a.Ctime), uint64(a.Parent)} {
		binary.BigEndian.PutUint64(p, v)
		p = p[8:]
	}
	binary.BigEndian.PutUint32(p, a.ChunkSize)
	return b
}

func decodeInode(ino Ino, b []byte) (Attr, error) {
	if len(b) != inodeRecordLen || b[0] != inodeRecordV1 {
		return Attr{}, fmt.Errorf("index: inode %d: bad record (%d bytes): %w", ino, len(b), ErrCorrupt)
	}
	p := b[1:]
	u32 := func() uint32 { v := binary.BigEndian.Uint32(p); p = p[4:]; return v }
	u64 := func() uint64 { v := binary.BigEndian.Uint64(p); p = p[8:]; return v }
	a := Attr{Ino: ino}
	a.Mode, a.Uid, a.Gid, a.Nlink, a.Rdev = u32(), u32(), u32(), u32(), u32()
	a.Size, a.Atime, a.Mtime, a.Ctime, a.Parent = u64(), int64(u64()), int64(u64()), int64(u64()), Ino(u64())
	a.ChunkSize = u32()
	return a, nil
}

// DirEntry is one name in a directory.
type DirEntry struct {
	Name string
	Ino  Ino
	Type uint32 // S_IFMT bits
}

func direntKey(parent Ino, name string) []byte {
	k := make([]byte, 8+len(name))
	binary.BigEndian.PutUint64(k, uint64(parent))
	copy(k[8:], name)
	return k
}

func encodeDirent(child Ino, typ uint32) []byte {
	v := make([]byte, 12)
	binary.BigEndian.PutUint64(v, uint64(child))
	binary.BigEndian.PutUint32(v[8:], typ)
	return v
}

func decodeDirent(v []byte) (Ino, uint32, error) {
	if len(v) != 12 {
		return 0, 0, fmt.Errorf("index: dirent value of %d bytes: %w", len(v), ErrCorrupt)
	}
	return Ino(binary.BigEndian.Uint64(v)), binary.BigEndian.Uint32(v[8:]), nil
}

func xattrKey(ino Ino, name string) []byte { return direntKey(ino, name) }

func chunkKey(ino Ino, n uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(ino))
	binary.BigEndian.PutUint64(k[8:], n)
	return k
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func inoKey(ino Ino) []byte { return u64(uint64(ino)) }

// ChunkKind says where a chunk's bytes live.
type ChunkKind uint8

const (
	// ChunkStaged: the bytes are in a local staging file.
	ChunkStaged ChunkKind = 1
	// ChunkStored: the bytes are in a blob or quilt patch.
	ChunkStored ChunkKind = 2
)

// ChunkRef says where one chunk of a file lives. A chunk with no reference
// is a hole and reads as zeros.
type ChunkRef struct {
	Kind ChunkKind
	// StagingID names the staging file of a staged chunk.
	StagingID uint64
	// Sealed marks a staged chunk whose content is frozen for upload: a
	// write to it must first copy it to a new staging file.
	Sealed bool
	// Stored is set for ChunkStored.
	Stored *StoredChunk
}

// StoredChunk locates a chunk inside a stored blob or quilt patch, in its
// stored form: a run of blocks, each plaintext or sealed (see
// fs/filedata/blockcrypt), each with the hash of its stored bytes.
type StoredChunk struct {
	BlobID  [32]byte // the blob, or the quilt holding the patch
	PatchID []byte   // 37-byte quilt patch ID when the chunk is a patch
	Offset  uint64   // offset of the stored chunk in the blob or patch
	Length  uint64   // stored length (blocks plus their sealing overhead)
	// PlainLen is the chunk's plaintext length: reads past it (up to the
	// file size) are zeros.
	PlainLen uint64
	// Encrypted says whether blocks are sealed with the filesystem key.
	Encrypted bool
	// BlockSize is the plaintext block size; BlockHashes[i] is the SHA-256
	// of stored block i.
	BlockSize   uint32
	BlockHashes [][32]byte
}

const (
	chunkRecordV1      = 1
	chunkFlagSeal      = 1 << 0
	chunkFlagEncrypted = 1 << 1
)

func encodeChunkRef(r *ChunkRef) []byte {
	b := []byte{chunkRecordV1, byte(r.Kind), 0}
	if r.Sealed {
		b[2] |= chunkFlagSeal
	}
	if r.Stored != nil && r.Stored.Encrypted {
		b[2] |= chunkFlagEncrypted
	}
	b = binary.BigEndian.AppendUint64(b, r.StagingID)
	if r.Kind == ChunkStored && r.Stored != nil {
		s := r.Stored
		b = append(b, s.BlobID[:]...)
		b = append(b, byte(len(s.PatchID)))
		b = append(b, s.PatchID...)
		b = binary.BigEndian.AppendUint64(b, s.Offset)
		b = binary.BigEndian.AppendUint64(b, s.Length)
		b = binary.BigEndian.AppendUint64(b, s.PlainLen)
		b = binary.BigEndian.AppendUint32(b, s.BlockSize)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s.BlockHashes)))
		for _, h := range s.BlockHashes {
			b = append(b, h[:]...)
		}
	}
	return b
}

func decodeChunkRef(v []byte) (ChunkRef, error) {
	bad := func(what string) (ChunkRef, error) {
		return ChunkRef{}, fmt.Errorf("index: chunk record: %s: %w", what, ErrCorrupt)
	}
	if len(v) < 11 || v[0] != chunkRecordV1 {
		return bad("bad header")
	}
	r := ChunkRef{Kind: ChunkKind(v[1]), Sealed: v[2]&chunkFlagSeal != 0, StagingID: binary.BigEndian.Uint64(v[3:])}
	p := v[11:]
	switch r.Kind {
	case ChunkStaged:
		if len(p) != 0 {
			return bad("trailing bytes")
		}
	case ChunkStored:
		if len(p) < 33 {
			return bad("short stored reference")
		}
		s := &StoredChunk{Encrypted: v[2]&chunkFlagEncrypted != 0}
		copy(s.BlobID[:], p)
		pl := int(p[32])
		p = p[33:]
		if len(p) < pl+32 {
			return bad("short stored reference")
		}
		if pl > 0 {
			s.PatchID = append([]byte(nil), p[:pl]...)
		}
		p = p[pl:]
		s.Offset = binary.BigEndian.Uint64(p)
		s.Length = binary.BigEndian.Uint64(p[8:])
		s.PlainLen = binary.BigEndian.Uint64(p[16:])
		s.BlockSize = binary.BigEndian.Uint32(p[24:])
		n := int(binary.BigEndian.Uint32(p[28:]))
		p = p[32:]
		if len(p) != 32*n {
			return bad("block hash count")
		}
		s.BlockHashes = make([][32]byte, n)
		for i := range s.BlockHashes {
			copy(s.BlockHashes[i][:], p[32*i:])
		}
		r.Stored = s
	default:
		return bad(fmt.Sprintf("unknown kind %d", r.Kind))
	}
	return r, nil
}
