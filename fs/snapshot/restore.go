package snapshot

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// Snapshot is a snapshot read from the store: its root checked and its
// manifest opened.
type Snapshot struct {
	ID       blobstore.ID
	Manifest Manifest
	store    blobstore.Store
	key      *blockcrypt.Key
	sealed   bool // the parts are sealed under key
}

// Open reads and checks the root blob of snapshot id. key is the volume
// key (nil for a snapshot in the clear). Errors: the blob is missing
// (wrapping blobstore.ErrNotFound), not a snapshot (ErrNotSnapshot), of
// another volume or encrypted without a key (ErrWrongKey), or damaged
// (ErrDamaged).
func Open(ctx context.Context, store blobstore.Store, id blobstore.ID, key *blockcrypt.Key) (*Snapshot, error) {
	info, err := store.Stat(ctx, id)
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %s: the store has no such blob (check the ID, and that the store flags name the volume's store): %w", id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", id, err)
	}
	if info.Size < int64(len(magic)) || info.Size > maxRootSize {
		return nil, fmt.Errorf("blob %s (%d bytes) is %w: give the ID walrusfs snapshot printed", id, info.Size, ErrNotSnapshot)
	}
	b, err := readBlob(ctx, store, id, info.Size, nil)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: read the root: %w", id, err)
	}
	m, sealed, err := decodeRoot(id, b, key)
	if err != nil {
		return nil, err
	}
	return &Snapshot{ID: id, Manifest: *m, store: store, key: key, sealed: sealed}, nil
}

// maxRecordPart bounds a key or value in the dump stream (a chunk
// reference of 256 MiB in 4 KiB blocks has 2 MiB of hashes).
const maxRecordPart = 16 << 20

// records returns an iterator over the records of the snapshot's dump
// (io.EOF after the last), reading the parts in order and checking each
// before use. A record's slices are valid until the next call.
func (s *Snapshot) records(ctx context.Context, progress func(Progress)) (next func() (index.DumpRecord, error)) {
	pr := &partReader{ctx: ctx, s: s}
	d := &streamReader{r: bufio.NewReaderSize(pr, 1<<20)}
	total := int64(s.Manifest.Bytes)
	return func() (index.DumpRecord, error) {
		rec, err := d.next()
		switch {
		case errors.Is(err, io.EOF):
			if d.n != s.Manifest.Records {
				return index.DumpRecord{}, fmt.Errorf("snapshot %s: %d records, the manifest says %d: %w", s.ID, d.n, s.Manifest.Records, ErrDamaged)
			}
			progress(Progress{Phase: "restore", Done: total, Total: total})
			return rec, err
		case err != nil:
			return rec, fmt.Errorf("snapshot %s: %w", s.ID, err)
		}
		if d.n%4096 == 0 {
			progress(Progress{Phase: "restore", Done: pr.done, Total: total})
		}
		return rec, nil
	}
}

// streamReader decodes the dump stream (see the package doc). next
// returns the records in order and io.EOF once it has read the end marker
// and found nothing after it; a stream that ends early or holds an
// impossible length fails with ErrDamaged. A record's slices are valid
// until the next call.
type streamReader struct {
	r        *bufio.Reader
	key, val []byte
	n        uint64 // records read
	ended    bool
}

func (d *streamReader) next() (index.DumpRecord, error) {
	if d.ended {
		return index.DumpRecord{}, io.EOF
	}
	fail := func(err error) (index.DumpRecord, error) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("the dump ends early: %w", ErrDamaged)
		}
		return index.DumpRecord{}, err
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return fail(err)
	}
	if b == 0 {
		d.ended = true
		if _, err := d.r.ReadByte(); !errors.Is(err, io.EOF) {
			if err == nil {
				err = fmt.Errorf("bytes after the end of the dump: %w", ErrDamaged)
			}
			return index.DumpRecord{}, err
		}
		return index.DumpRecord{}, io.EOF
	}
	if d.key, err = d.readPart(d.key); err != nil {
		return fail(err)
	}
	if d.val, err = d.readPart(d.val); err != nil {
		return fail(err)
	}
	d.n++
	return index.DumpRecord{Bucket: index.DumpBucket(b), Key: d.key, Value: d.val}, nil
}

// uvarint reads a length: errors of the reader pass through, a length
// that overflows 64 bits is damage.
func (d *streamReader) uvarint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := d.r.ReadByte()
		if err != nil {
			return 0, err
		}
		if shift == 63 && b > 1 {
			break
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("a length overflows 64 bits: %w", ErrDamaged)
}

// readPart reads one length-prefixed key or value into dst's storage.
func (d *streamReader) readPart(dst []byte) ([]byte, error) {
	l, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if l > maxRecordPart {
		return nil, fmt.Errorf("record of %d bytes: %w", l, ErrDamaged)
	}
	if uint64(cap(dst)) < l {
		dst = make([]byte, l)
	}
	dst = dst[:l]
	_, err = io.ReadFull(d.r, dst)
	return dst, err
}

// partReader reads the dump stream part by part, each read whole,
// checked against its hash and opened.
type partReader struct {
	ctx  context.Context
	s    *Snapshot
	i    int
	buf  []byte
	done int64
}

func (p *partReader) Read(b []byte) (int, error) {
	for len(p.buf) == 0 {
		if p.i == len(p.s.Manifest.Parts) {
			return 0, io.EOF
		}
		part := p.s.Manifest.Parts[p.i]
		want, _ := hex.DecodeString(part.SHA256)
		stored, err := readBlob(p.ctx, p.s.store, part.ID, part.Size, want)
		if errors.Is(err, blobstore.ErrIntegrity) {
			return 0, fmt.Errorf("part %d (blob %s) does not match its SHA-256 in any copy the store has: %w", p.i, part.ID, ErrDamaged)
		}
		if err != nil {
			return 0, fmt.Errorf("read part %d (blob %s): %w", p.i, part.ID, err)
		}
		if p.s.sealed {
			if stored, err = blockcrypt.OpenRecord(p.s.key, nil, stored, partAssociated(p.i, p.s.Manifest.VolumeKey)); err != nil {
				return 0, fmt.Errorf("part %d (blob %s) failed authentication: %w", p.i, part.ID, ErrDamaged)
			}
		}
		p.buf = stored
		p.done += int64(len(stored))
		p.i++
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

// RestoreTo builds a new state directory at target holding the
// snapshot's index (and nothing else: the caller adds the key file). It
// builds in a temporary directory next to target and moves the result into
// place only when every part has been read and checked, the index written
// and the tree found consistent (index.VerifyFile), so a failed restore leaves target as it was. A target that
// holds an index is refused (wrapping syscall.EEXIST); an existing target
// without one (holding, say, the key file) receives the new index.
func (s *Snapshot) RestoreTo(ctx context.Context, target string, cfg index.Config, progress func(Progress)) (index.LoadStats, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	var st index.LoadStats
	target = filepath.Clean(target)
	if _, err := os.Stat(filepath.Join(target, index.FileName)); err == nil {
		return st, fmt.Errorf("%s already holds an index (%s); restore into a new state directory: %w", target, index.FileName, syscall.EEXIST)
	}
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return st, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".restore-")
	if err != nil {
		return st, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	info := index.LoadInfo{VolumeKey: s.Manifest.VolumeKey, RestoredFrom: s.ID, NextIno: s.Manifest.NextIno}
	st, err = index.Load(ctx, tmp, cfg, s.records(ctx, progress), info)
	if err != nil {
		return st, err
	}
	if st.Inodes != s.Manifest.Inodes {
		return st, fmt.Errorf("snapshot %s: %d inodes, the manifest says %d: %w", s.ID, st.Inodes, s.Manifest.Inodes, ErrDamaged)
	}
	// Every record decoded; now the tree as a whole (fsck's check: links,
	// parents, counts), before anything is moved into place.
	var problems []index.Problem
	err = index.VerifyFile(filepath.Join(tmp, index.FileName), func(p index.Problem) {
		if len(problems) < 3 {
			problems = append(problems, p)
		}
	})
	if err != nil {
		return st, fmt.Errorf("snapshot %s: check the restored index: %w", s.ID, err)
	}
	if len(problems) > 0 {
		return st, fmt.Errorf("snapshot %s: the restored tree fails its check (%s: %s): %w", s.ID, problems[0].Kind, problems[0].Detail, ErrDamaged)
	}
	if err := syncDir(tmp); err != nil {
		return st, err
	}
	if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(tmp, target); err != nil {
			return st, err
		}
		return st, syncDir(parent)
	}
	// The target exists without an index: the index file is the one thing
	// moved in, and the rename is the commit point.
	if err := os.Rename(filepath.Join(tmp, index.FileName), filepath.Join(target, index.FileName)); err != nil {
		return st, err
	}
	return st, syncDir(target)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
