package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Dumps and bulk loads: the index side of snapshots.
//
// A dump is the tree at one point in time as a stream of records, each a
// key and value of one bucket in the index's own encoding: inodes,
// entries, symlink targets, xattrs, chunk references and the records of
// the blobs they refer to. Unlinked-while-open inodes are left out, and
// chunk references lose their local copies (a dump is read elsewhere). A
// chunk that is only staged cannot be in a dump: its bytes are on this
// machine only (Dump.Staged says how many there are).
//
// OpenDump commits, then copies the committed file (bbolt's Tx.WriteTo)
// to a temporary file and reads the dump from the copy, so that neither
// the index mutex nor a read transaction of the live file is held while
// the dump is streamed out, however long that takes.
//
// Load builds a new index file from a dump in large transactions, then
// recounts what a dump does not carry (blob references, the inode count,
// the next inode number).

// DumpBucket names the bucket of a dump record.
type DumpBucket byte

// The buckets a dump carries, in the order it carries them.
const (
	DumpInodes   DumpBucket = DumpBucket(bInodes)
	DumpDirents  DumpBucket = DumpBucket(bDirents)
	DumpSymlinks DumpBucket = DumpBucket(bSymlinks)
	DumpXattrs   DumpBucket = DumpBucket(bXattrs)
	DumpChunks   DumpBucket = DumpBucket(bChunks)
	DumpBlobs    DumpBucket = DumpBucket(bBlobs)
)

var dumpOrder = []DumpBucket{DumpInodes, DumpDirents, DumpSymlinks, DumpXattrs, DumpChunks, DumpBlobs}

// DumpRecord is one record of a dump. Key and Value are valid only until
// the callback that received them returns.
type DumpRecord struct {
	Bucket     DumpBucket
	Key, Value []byte
}

// ErrStagedData means the tree has chunks whose bytes are only on this
// machine (staged, not yet in a blob), so a dump of it could not be
// restored elsewhere.
var ErrStagedData = errors.New("chunks not yet stored")

// Dump is a point-in-time copy of the index to read a dump from. Close
// removes it.
type Dump struct {
	path    string
	db      *bolt.DB
	tx      *bolt.Tx
	orphans map[Ino]bool
	blobs   map[[32]byte]bool

	// Created is when the copy was taken (ns since the Unix epoch).
	Created int64
	// VolumeKey is the fingerprint recorded for the volume's key ("" for
	// none).
	VolumeKey string
	// Inodes counts the inodes the dump carries; Staged the chunks of
	// them that are only staged.
	Inodes, Staged uint64
	// NextIno is the next inode number the volume would hand out: a
	// loaded index continues from it, so no number is used twice.
	NextIno uint64
}

// OpenDump commits every acknowledged operation and copies the index as
// it then is into a temporary file in dir. The copy is taken under a read
// transaction of the live file (which delays a commit that grows the file
// for as long as the copy takes) and without the index mutex.
func (x *Index) OpenDump(ctx context.Context, dir string) (*Dump, error) {
	x.mu.Lock()
	if x.tx == nil {
		x.mu.Unlock()
		return nil, ErrClosed
	}
	if err := x.commitLocked(); err != nil {
		x.mu.Unlock()
		return nil, err
	}
	rtx, err := x.db.Begin(false)
	x.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("index: dump: %w", err)
	}
	created := time.Now().UnixNano()
	f, err := os.CreateTemp(dir, dumpPattern)
	if err != nil {
		_ = rtx.Rollback()
		return nil, fmt.Errorf("index: dump: %w", err)
	}
	path := f.Name()
	_, err = rtx.WriteTo(f)
	_ = rtx.Rollback()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("index: dump: copy: %w", err)
	}
	d := &Dump{path: path, Created: created, orphans: map[Ino]bool{}, blobs: map[[32]byte]bool{}}
	if d.db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second}); err == nil {
		d.tx, err = d.db.Begin(false)
	}
	if err == nil {
		err = d.scan(ctx)
	}
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("index: dump: %w", err)
	}
	return d, nil
}

// scan reads what the dump needs to know before it streams: the orphans
// to leave out, staged chunks, the blobs the tree refers to.
func (d *Dump) scan(ctx context.Context) error {
	d.VolumeKey = string(d.tx.Bucket(bucketMeta).Get(keyVolumeKey))
	d.NextIno = binary.BigEndian.Uint64(d.tx.Bucket(bucketMeta).Get(keyNextIno))
	_ = d.tx.Bucket(bucketOrphans).ForEach(func(k, _ []byte) error {
		d.orphans[Ino(binary.BigEndian.Uint64(k))] = true
		return nil
	})
	d.Inodes = uint64(d.tx.Bucket(bucketInodes).Stats().KeyN) - uint64(len(d.orphans))
	n := 0
	return d.tx.Bucket(bucketChunks).ForEach(func(k, v []byte) error {
		if n++; n%65536 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if d.orphans[Ino(binary.BigEndian.Uint64(k))] {
			return nil
		}
		r, err := decodeChunkRef(v)
		if err != nil {
			return err
		}
		if r.Kind != ChunkStored {
			d.Staged++
			return nil
		}
		d.blobs[r.Stored.BlobID] = true
		return nil
	})
}

// dumpPattern names the copies OpenDump makes.
const dumpPattern = "dump-*.db"

// RemoveStaleDumps removes the copies of the index that dumps in dir left
// behind (a daemon that died during a snapshot) and returns how many it
// removed. Call it while holding the state directory, before any dump.
func RemoveStaleDumps(dir string) (int, error) {
	names, err := filepath.Glob(filepath.Join(dir, dumpPattern))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}

// Blobs returns the IDs of the blobs the dump's tree refers to.
func (d *Dump) Blobs() [][32]byte {
	out := make([][32]byte, 0, len(d.blobs))
	for id := range d.blobs {
		out = append(out, id)
	}
	return out
}

// Each calls fn with every record of the dump, bucket by bucket. It fails
// with ErrStagedData when the tree has staged chunks.
func (d *Dump) Each(ctx context.Context, fn func(DumpRecord) error) error {
	if d.Staged > 0 {
		return fmt.Errorf("index: dump: %d %w", d.Staged, ErrStagedData)
	}
	n := 0
	for _, b := range dumpOrder {
		c := d.tx.Bucket(bucketNames[bucketID(b)]).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%65536 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if b != DumpBlobs && d.orphans[Ino(binary.BigEndian.Uint64(k))] {
				continue
			}
			switch b {
			case DumpChunks:
				r, err := decodeChunkRef(v)
				if err != nil {
					return err
				}
				r.StagingID, r.Sealed = 0, false
				v = encodeChunkRef(&r)
			case DumpBlobs:
				var id [32]byte
				copy(id[:], k)
				if !d.blobs[id] {
					continue
				}
				bl, err := decodeBlob(k, v)
				if err != nil {
					return err
				}
				bl.Refs, bl.LiveBytes, bl.Pins, bl.UnreferencedSince = 0, 0, 0, 0
				v = encodeBlob(&bl)
			}
			if err := fn(DumpRecord{Bucket: b, Key: k, Value: v}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close releases the copy and removes its file.
func (d *Dump) Close() error {
	if d.tx != nil {
		_ = d.tx.Rollback()
	}
	var err error
	if d.db != nil {
		err = d.db.Close()
	}
	if rerr := os.Remove(d.path); err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}

// LoadInfo is what Load records besides the dump.
type LoadInfo struct {
	// VolumeKey is the fingerprint of the key the volume's data is
	// encrypted with ("" for none).
	VolumeKey string
	// RestoredFrom is the snapshot's root blob ID.
	RestoredFrom [32]byte
	// NextIno is the dumped volume's next inode number (Dump.NextIno);
	// the loaded index hands out numbers from it, or from above the
	// largest loaded inode when that is higher.
	NextIno uint64
}

// LoadStats counts what Load wrote.
type LoadStats struct {
	Records, Inodes, Blobs uint64
}

// loadBatch is how many records one load transaction writes: bbolt holds
// a transaction's pages in memory until it commits.
const loadBatch = 20_000

// Load writes a new index file into dir from a dump: next returns its
// records in order and io.EOF at the end. dir must hold no index; Load
// fails without touching an existing one. The slices of a record next
// returned need to stay valid only until the next call. Each record is decoded before
// it is written, so a damaged dump fails with an error wrapping
// ErrCorrupt; the file is then incomplete and the caller discards dir.
// The blob records' reference counts, the inode count and the next
// numbers are computed from the records, and info is recorded.
func Load(ctx context.Context, dir string, cfg Config, next func() (DumpRecord, error), info LoadInfo) (LoadStats, error) {
	var st LoadStats
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err == nil {
		return st, fmt.Errorf("index: load: %s exists: %w", path, syscall.EEXIST)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.OpenTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return st, fmt.Errorf("index: load: %w", err)
	}
	defer func() { _ = db.Close() }()
	if err := migrateDB(db); err != nil {
		return st, err
	}
	db.NoSync = true
	var maxIno Ino
	done, root := false, false
	for !done {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		err := db.Update(func(tx *bolt.Tx) error {
			for range loadBatch {
				r, err := next()
				if errors.Is(err, io.EOF) {
					done = true
					return nil
				}
				if err != nil {
					return err
				}
				ino, err := checkDumpRecord(r)
				if err != nil {
					return err
				}
				bk := tx.Bucket(bucketNames[bucketID(r.Bucket)])
				bk.FillPercent = 0.9 // records arrive in key order
				// bbolt keeps the slices until the commit.
				if err := bk.Put(bytes.Clone(r.Key), bytes.Clone(r.Value)); err != nil {
					return err
				}
				st.Records++
				if r.Bucket == DumpInodes {
					st.Inodes++
					maxIno = max(maxIno, ino)
					root = root || ino == RootIno
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("index: load: %w", err)
		}
	}
	db.NoSync = false
	err = db.Update(func(tx *bolt.Tx) error {
		if !root {
			return fmt.Errorf("the dump has no root directory: %w", ErrCorrupt)
		}
		type use struct{ live, refs uint64 }
		uses := map[[32]byte]use{}
		err := tx.Bucket(bucketChunks).ForEach(func(k, v []byte) error {
			r, err := decodeChunkRef(v)
			if err != nil {
				return err
			}
			if r.Kind == ChunkStored {
				u := uses[r.Stored.BlobID]
				u.live += r.Stored.PlainLen
				u.refs++
				uses[r.Stored.BlobID] = u
			}
			return nil
		})
		if err != nil {
			return err
		}
		blobs := tx.Bucket(bucketBlobs)
		var drop [][]byte
		err = blobs.ForEach(func(k, v []byte) error {
			b, err := decodeBlob(k, v)
			if err != nil {
				return err
			}
			u := uses[b.ID]
			if u.refs == 0 {
				drop = append(drop, append([]byte(nil), k...))
				return nil
			}
			b.LiveBytes, b.Refs, b.Pins, b.UnreferencedSince = u.live, u.refs, 0, 0
			st.Blobs++
			return blobs.Put(k, encodeBlob(&b))
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := blobs.Delete(k); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		puts := map[string][]byte{
			string(keyNextIno):      u64(max(uint64(maxIno)+1, info.NextIno)),
			string(keyInodeCount):   u64(st.Inodes),
			string(keyRestoredFrom): info.RestoredFrom[:],
		}
		if info.VolumeKey != "" {
			puts[string(keyVolumeKey)] = []byte(info.VolumeKey)
		}
		for k, v := range puts {
			if err := meta.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("index: load: %w", err)
	}
	return st, nil
}

// checkDumpRecord decodes r as its bucket's record, so nothing malformed
// enters a loaded index, and returns the inode it belongs to.
func checkDumpRecord(r DumpRecord) (Ino, error) {
	bad := func(what string) (Ino, error) {
		return 0, fmt.Errorf("dump record in bucket %d: %s: %w", r.Bucket, what, ErrCorrupt)
	}
	if r.Bucket == DumpBlobs {
		b, err := decodeBlob(r.Key, r.Value)
		if err != nil {
			return 0, err
		}
		if b.Kind != BlobStandalone && b.Kind != BlobQuilt {
			return bad("blob kind")
		}
		return 0, nil
	}
	if len(r.Key) < 8 {
		return bad("short key")
	}
	ino := Ino(binary.BigEndian.Uint64(r.Key))
	if ino == 0 {
		return bad("inode 0")
	}
	switch r.Bucket {
	case DumpInodes:
		if len(r.Key) != 8 {
			return bad("inode key")
		}
		_, err := decodeInode(ino, r.Value)
		return ino, err
	case DumpDirents:
		name := r.Key[8:]
		if len(name) == 0 || len(name) > 255 {
			return bad("entry name length")
		}
		for _, c := range name {
			if c == '/' || c == 0 {
				return bad("entry name")
			}
		}
		_, _, err := decodeDirent(r.Value)
		return ino, err
	case DumpSymlinks:
		if len(r.Key) != 8 {
			return bad("symlink key")
		}
	case DumpXattrs:
		if len(r.Key) == 8 || len(r.Value) == 0 {
			return bad("xattr record")
		}
	case DumpChunks:
		if len(r.Key) != 16 {
			return bad("chunk key")
		}
		ref, err := decodeChunkRef(r.Value)
		if err != nil {
			return 0, err
		}
		if ref.Kind != ChunkStored || ref.StagingID != 0 {
			return bad("a chunk that is not stored")
		}
	default:
		return bad("unknown bucket")
	}
	return ino, nil
}
