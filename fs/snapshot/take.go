package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// Config tunes snapshots. Start from DefaultConfig.
type Config struct {
	// PartSize is the most plaintext one part blob holds. It must fit the
	// store's largest blob with the sealing overhead.
	PartSize int
	// Put are the storage options of the snapshot's blobs.
	Put blobstore.PutOptions
	// CertifiedByChain: the store's word that a blob is certified is not
	// taken (chain sync confirms it), as for file data.
	CertifiedByChain bool
	// Attempts is how many times a snapshot flushes and copies the index
	// while chunks written meanwhile are still staged, before it fails.
	Attempts int
	// TempDir holds the index copy while it is dumped (the state
	// directory: the copy is as large as the index).
	TempDir string
}

// DefaultConfig returns the configuration walrusfs uses.
func DefaultConfig() Config {
	return Config{PartSize: 8 << 20, Attempts: 5}
}

// ErrBusy means chunks kept being written while the snapshot flushed, so
// no dump without staged data could be read.
var ErrBusy = errors.New("chunks written during the snapshot are not stored yet")

// Progress reports a snapshot or restore under way: bytes of the dump
// stream done, of Total (0 while unknown).
type Progress struct {
	Phase       string // "flush", "dump", "restore"
	Done, Total int64
}

// Taker takes snapshots of one volume. It is safe for concurrent use;
// snapshots run one at a time.
type Taker struct {
	Index *index.Index
	Store blobstore.Store
	// Key seals the snapshot; nil for a volume in the clear.
	Key *blockcrypt.Key
	// Flush seals and uploads everything written so far and waits for
	// it (the engine's WaitUploaded).
	Flush func(context.Context) error
	Cfg   Config
	Log   *slog.Logger

	mu sync.Mutex // one snapshot at a time
}

// Result is a snapshot taken.
type Result struct {
	ID       blobstore.ID
	Manifest Manifest
}

// Take takes a snapshot, records it in the index (pinning its blobs) and
// returns its ID. progress, when not nil, is called as it goes.
func (t *Taker) Take(ctx context.Context, progress func(Progress)) (Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if progress == nil {
		progress = func(Progress) {}
	}
	d, err := t.dump(ctx, progress)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = d.Close() }()
	// A volume in the clear may still hold chunks written encrypted
	// before: the manifest names the key the index records, so a restore
	// records it too and a mount asks for that key.
	fp := d.VolumeKey
	if t.Key != nil {
		fp = t.Key.Fingerprint()
	}
	m := Manifest{Format: Format, Created: time.Unix(0, d.Created).UTC(), VolumeKey: fp, Schema: index.SchemaVersion,
		NextIno: d.NextIno, Inodes: d.Inodes}
	blobs := d.Blobs()
	m.Blobs = len(blobs)
	var own []index.Blob
	w := &partWriter{t: t, m: &m, own: &own, ctx: ctx, fingerprint: fp}
	var rec []byte
	err = d.Each(ctx, func(r index.DumpRecord) error {
		rec = append(rec[:0], byte(r.Bucket))
		rec = binary.AppendUvarint(rec, uint64(len(r.Key)))
		rec = append(rec, r.Key...)
		rec = binary.AppendUvarint(rec, uint64(len(r.Value)))
		rec = append(rec, r.Value...)
		m.Records++
		if err := w.write(rec); err != nil {
			return err
		}
		if m.Records%4096 == 0 {
			progress(Progress{Phase: "dump", Done: int64(m.Bytes)})
		}
		return nil
	})
	if err == nil {
		err = w.write([]byte{0})
	}
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return Result{}, fmt.Errorf("snapshot: %w", err)
	}
	progress(Progress{Phase: "dump", Done: int64(m.Bytes), Total: int64(m.Bytes)})
	root, err := encodeRoot(&m, t.Key)
	if err != nil {
		return Result{}, fmt.Errorf("snapshot: %w", err)
	}
	info, err := t.Store.Put(ctx, bytes.NewReader(root), int64(len(root)), t.Cfg.Put)
	if err != nil {
		return Result{}, fmt.Errorf("snapshot: store the root: %w", err)
	}
	own = append(own, t.record(info))
	s := index.Snapshot{Root: info.ID, Created: d.Created, Inodes: m.Inodes, Bytes: m.Bytes}
	if err := t.Index.AddSnapshot(s, own, blobs); err != nil {
		return Result{}, fmt.Errorf("snapshot: record it: %w", err)
	}
	t.Log.Info("snapshot taken", "id", info.ID, "inodes", m.Inodes, "records", m.Records, "bytes", m.Bytes, "parts", len(m.Parts), "blobs", m.Blobs)
	return Result{ID: info.ID, Manifest: m}, nil
}

// dump flushes and copies the index until the copy has no staged chunks.
func (t *Taker) dump(ctx context.Context, progress func(Progress)) (*index.Dump, error) {
	var staged uint64
	for range max(t.Cfg.Attempts, 1) {
		if t.Flush != nil {
			progress(Progress{Phase: "flush"})
			if err := t.Flush(ctx); err != nil {
				return nil, fmt.Errorf("snapshot: upload what is written: %w", err)
			}
		}
		d, err := t.Index.OpenDump(ctx, t.Cfg.TempDir)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		if d.Staged == 0 {
			return d, nil
		}
		staged = d.Staged
		_ = d.Close()
		if t.Flush == nil {
			break
		}
	}
	return nil, fmt.Errorf("snapshot: %d %w (files keep being written); try again when writes pause", staged, ErrBusy)
}

func (t *Taker) record(info blobstore.Info) index.Blob {
	b := index.Blob{
		ID: info.ID, Kind: index.BlobStandalone, State: index.BlobStored, Deletable: info.Deletable,
		Size: uint64(info.Size), EncodedSize: uint64(info.EncodedSize),
		RegisteredEpoch: info.RegisteredEpoch, EndEpoch: info.EndEpoch, ObjectID: info.ObjectID,
	}
	if info.Certified && (!t.Cfg.CertifiedByChain || info.AlreadyCertified && info.ObjectID == "") {
		b.State, b.CertifiedEpoch = index.BlobCertified, info.CertifiedEpoch
	}
	return b
}

// partWriter cuts the dump stream into parts and stores each.
type partWriter struct {
	t           *Taker
	m           *Manifest
	own         *[]index.Blob
	ctx         context.Context
	fingerprint string
	buf         []byte
	sealed      []byte
}

func (w *partWriter) write(p []byte) error {
	w.m.Bytes += uint64(len(p))
	for len(p) > 0 {
		n := min(len(p), w.t.Cfg.PartSize-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		if len(w.buf) == w.t.Cfg.PartSize {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *partWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	i := len(w.m.Parts)
	stored := w.buf
	if w.t.Key != nil {
		var err error
		if w.sealed, err = blockcrypt.SealRecord(w.t.Key, w.sealed[:0], w.buf, partAssociated(i, w.fingerprint)); err != nil {
			return err
		}
		stored = w.sealed
	}
	sum := sha256.Sum256(stored)
	info, err := w.t.Store.Put(w.ctx, bytes.NewReader(stored), int64(len(stored)), w.t.Cfg.Put)
	if err != nil {
		return fmt.Errorf("store part %d: %w", i, err)
	}
	// Recorded at once: should the snapshot fail, the part is garbage
	// that collection takes, not a blob nobody knows of.
	rec := w.t.record(info)
	if err := w.t.Index.RecordBlob(rec); err != nil {
		return fmt.Errorf("record part %d: %w", i, err)
	}
	w.m.Parts = append(w.m.Parts, Part{ID: info.ID, Size: int64(len(stored)), SHA256: hex.EncodeToString(sum[:])})
	*w.own = append(*w.own, rec)
	w.buf = w.buf[:0]
	return nil
}
