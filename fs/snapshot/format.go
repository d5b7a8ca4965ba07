package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
)

// Format is the version of the snapshot format this package writes and
// reads.
const Format = 1

var magic = []byte("walrusfs snapshot\n")

// Associated data of the sealed root manifest and parts.
var (
	rootAD = []byte("walrusfs snapshot root v1\x00")
	partAD = []byte("walrusfs snapshot part v1\x00")
)

// maxRootSize bounds the root blob read before its hash is checked: a
// manifest lists parts, a few hundred bytes each.
const maxRootSize = 64 << 20

// Errors. Each wraps what errors.Is needs; messages say what to do.
var (
	// ErrNotSnapshot means the blob exists but is not a walrusfs snapshot.
	ErrNotSnapshot = errors.New("not a walrusfs snapshot")
	// ErrWrongKey means the key given is not the snapshot volume's key, or
	// an encrypted snapshot was opened without a key.
	ErrWrongKey = errors.New("wrong key for the snapshot")
	// ErrDamaged means a blob of the snapshot does not match its hash or
	// fails authentication; it wraps blobstore.ErrIntegrity.
	ErrDamaged = fmt.Errorf("snapshot damaged: %w", blobstore.ErrIntegrity)
)

// header is the part of the root that is readable without the key.
type header struct {
	Format    int    `json:"format"`
	VolumeKey string `json:"volume_key"`
	Encrypted bool   `json:"encrypted"`
}

// Manifest is the body of the root blob: what a restore needs.
type Manifest struct {
	Format    int       `json:"format"`
	Created   time.Time `json:"created"`
	VolumeKey string    `json:"volume_key"`
	// Schema is the index schema version the records were written by.
	Schema  int    `json:"schema"`
	NextIno uint64 `json:"next_ino"`
	Inodes  uint64 `json:"inodes"`
	Records uint64 `json:"records"`
	// Bytes is the length of the dump stream (the parts' plaintexts).
	Bytes uint64 `json:"bytes"`
	// Blobs counts the data blobs the tree refers to.
	Blobs int    `json:"blobs"`
	Parts []Part `json:"parts"`

	sealed bool // read from an encrypted root
}

// Part is one blob of the dump stream.
type Part struct {
	ID blobstore.ID `json:"id"`
	// Size is the stored size (sealed when encrypted).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// StoredSize is what the snapshot's blobs hold, parts and root.
func (m *Manifest) StoredSize() int64 {
	var n int64
	for _, p := range m.Parts {
		n += p.Size
	}
	return n
}

func partAssociated(i int, fingerprint string) []byte {
	ad := binary.BigEndian.AppendUint32(append([]byte(nil), partAD...), uint32(i))
	return append(ad, fingerprint...)
}

// encodeRoot lays out the root blob.
func encodeRoot(m *Manifest, key *blockcrypt.Key) ([]byte, error) {
	h := header{Format: Format, VolumeKey: m.VolumeKey, Encrypted: key != nil}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), magic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(hb)))
	out = append(out, hb...)
	if key != nil {
		ad := append(append([]byte(nil), rootAD...), out...)
		if out, err = blockcrypt.SealRecord(key, out, body, ad); err != nil {
			return nil, err
		}
	} else {
		out = append(out, body...)
	}
	sum := sha256.Sum256(out)
	return append(out, sum[:]...), nil
}

// decodeRoot checks and opens a root blob. key may be nil for a snapshot
// in the clear.
func decodeRoot(id blobstore.ID, b []byte, key *blockcrypt.Key) (m *Manifest, sealed bool, err error) {
	m, err = decodeRootManifest(id, b, key)
	if err != nil {
		return nil, false, err
	}
	return m, key != nil && m.sealed, nil
}

func decodeRootManifest(id blobstore.ID, b []byte, key *blockcrypt.Key) (*Manifest, error) {
	if !bytes.HasPrefix(b, magic) {
		return nil, fmt.Errorf("blob %s is %w, or its first bytes are damaged: give the ID walrusfs snapshot printed", id, ErrNotSnapshot)
	}
	if len(b) < len(magic)+4+sha256.Size {
		return nil, fmt.Errorf("snapshot %s: the root blob is cut short: %w", id, ErrDamaged)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("snapshot %s: the root blob does not match its SHA-256: %w", id, ErrDamaged)
	}
	n := int(binary.BigEndian.Uint32(body[len(magic):]))
	hdrEnd := len(magic) + 4 + n
	if n > len(body) || hdrEnd > len(body) {
		return nil, fmt.Errorf("snapshot %s: bad header length: %w", id, ErrDamaged)
	}
	var h header
	if err := json.Unmarshal(body[len(magic)+4:hdrEnd], &h); err != nil {
		return nil, fmt.Errorf("snapshot %s: header: %w: %w", id, err, ErrDamaged)
	}
	if h.Format != Format {
		return nil, fmt.Errorf("snapshot %s has format %d; this walrusfs reads format %d: use a walrusfs that does", id, h.Format, Format)
	}
	switch {
	case key != nil && h.VolumeKey != "" && key.Fingerprint() != h.VolumeKey:
		return nil, fmt.Errorf("snapshot %s is of the volume with key %s, and the key file given holds key %s: give that volume's key file: %w", id, h.VolumeKey, key.Fingerprint(), ErrWrongKey)
	case h.Encrypted && key == nil:
		return nil, fmt.Errorf("snapshot %s is encrypted with key %s: give its key file with --key: %w", id, h.VolumeKey, ErrWrongKey)
	}
	mb := body[hdrEnd:]
	if h.Encrypted {
		ad := append(append([]byte(nil), rootAD...), body[:hdrEnd]...)
		var err error
		if mb, err = blockcrypt.OpenRecord(key, nil, mb, ad); err != nil {
			return nil, fmt.Errorf("snapshot %s: the root blob failed authentication: %w", id, ErrDamaged)
		}
	}
	m := Manifest{sealed: h.Encrypted}
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("snapshot %s: manifest: %w: %w", id, err, ErrDamaged)
	}
	if m.Format != h.Format || m.VolumeKey != h.VolumeKey {
		return nil, fmt.Errorf("snapshot %s: the manifest does not match its header: %w", id, ErrDamaged)
	}
	for i, p := range m.Parts {
		if s, err := hex.DecodeString(p.SHA256); err != nil || len(s) != sha256.Size || p.Size <= 0 {
			return nil, fmt.Errorf("snapshot %s: part %d: bad entry: %w", id, i, ErrDamaged)
		}
	}
	return &m, nil
}

// readBlob reads blob id whole (size bytes) and checks it against want
// when want is set; a store with several sources is asked for another copy
// of bytes that do not match.
func readBlob(ctx context.Context, store blobstore.Store, id blobstore.ID, size int64, want []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(size) + bytes.MinRead)
	consume := func(r io.Reader) error {
		buf.Reset()
		if _, err := io.Copy(&buf, r); err != nil {
			return err
		}
		if buf.Len() != int(size) {
			return fmt.Errorf("read %d bytes of %d: %w", buf.Len(), size, blobstore.ErrIntegrity)
		}
		if want != nil {
			if got := sha256.Sum256(buf.Bytes()); !bytes.Equal(got[:], want) {
				return fmt.Errorf("does not match its SHA-256: %w", blobstore.ErrIntegrity)
			}
		}
		return nil
	}
	if rv, ok := store.(blobstore.RangeVerifier); ok && want != nil {
		if err := rv.ReadRangeVerified(ctx, id, 0, size, consume); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	rc, err := store.ReadRange(ctx, id, 0, size)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	if err := consume(rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
