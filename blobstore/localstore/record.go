package localstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// The metadata file ("meta") of a blob. Every shard directory holding the
// blob has a copy. It is small and fixed-layout, all integers little-endian:
//
//	off  size  field
//	0    4     magic "WLSM"
//	4    1     format version (1)
//	5    1     flags: bit 0 = deletable
//	6    2     n, the shard count the blob was encoded with
//	8    8     unencoded length L
//	16   32    blob ID
//	48   8     generation: bumped each time the record is rewritten
//	56   4     registered epoch
//	60   4     certified epoch
//	64   4     end epoch (exclusive)
//	68   8     creation time, Unix nanoseconds
//	76   64·n  sliver pair hashes: primary_hash[i] ‖ secondary_hash[i]
//	..   4     CRC-32C of all preceding bytes
//
// The pair hashes are the Walrus BlobMetadataV1 hashes. They are
// authenticated by the blob ID itself (the ID commits to their Merkle root),
// so a record whose hashes do not reproduce its ID is rejected even if its
// checksum matches; the checksum covers the bookkeeping fields, which the ID
// does not.
const (
	recordMagic      = "WLSM"
	recordVersion    = 1
	recordHeaderSize = 76
	pairHashSize     = 64
	recordCRCSize    = 4
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

var errBadRecord = errors.New("malformed metadata record")

// record is everything the store knows about one blob: its RS2 metadata and
// the ledger-like bookkeeping a chain would hold.
type record struct {
	ID         blobstore.ID
	Shards     int
	Size       int64
	Gen        uint64
	Registered uint32
	Certified  uint32
	End        uint32
	Deletable  bool
	Created    time.Time
	Hashes     []rs2.PairHash
}

func recordSize(n int) int { return recordHeaderSize + pairHashSize*n + recordCRCSize }

// marshal encodes r in the format above.
func (r *record) marshal() []byte {
	b := make([]byte, recordSize(len(r.Hashes)))
	copy(b, recordMagic)
	b[4] = recordVersion
	if r.Deletable {
		b[5] |= 1
	}
	binary.LittleEndian.PutUint16(b[6:], uint16(r.Shards))
	binary.LittleEndian.PutUint64(b[8:], uint64(r.Size))
	copy(b[16:48], r.ID[:])
	binary.LittleEndian.PutUint64(b[48:], r.Gen)
	binary.LittleEndian.PutUint32(b[56:], r.Registered)
	binary.LittleEndian.PutUint32(b[60:], r.Certified)
	binary.LittleEndian.PutUint32(b[64:], r.End)
	binary.LittleEndian.PutUint64(b[68:], uint64(r.Created.UnixNano()))
	p := b[recordHeaderSize:]
	for _, h := range r.Hashes {
		copy(p, h.Primary[:])
		copy(p[32:], h.Secondary[:])
		p = p[pairHashSize:]
	}
	binary.LittleEndian.PutUint32(p, crc32.Checksum(b[:len(b)-recordCRCSize], crc32c))
	return b
}

// unmarshalRecord decodes and checks the framing of a metadata record. It
// does not check the hashes against the ID; see store.verifyRecord.
func unmarshalRecord(b []byte) (*record, error) {
	if len(b) < recordHeaderSize+recordCRCSize {
		return nil, fmt.Errorf("%w: %d bytes", errBadRecord, len(b))
	}
	if string(b[:4]) != recordMagic {
		return nil, fmt.Errorf("%w: bad magic %q", errBadRecord, b[:4])
	}
	if b[4] != recordVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errBadRecord, b[4])
	}
	n := int(binary.LittleEndian.Uint16(b[6:]))
	if n < 4 || n > maxShards {
		return nil, fmt.Errorf("%w: shard count %d", errBadRecord, n)
	}
	if len(b) != recordSize(n) {
		return nil, fmt.Errorf("%w: %d bytes for %d shards, want %d", errBadRecord, len(b), n, recordSize(n))
	}
	body := b[:len(b)-recordCRCSize]
	if got, want := crc32.Checksum(body, crc32c), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", errBadRecord, got, want)
	}
	if b[5]&^1 != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", errBadRecord, b[5])
	}
	size := binary.LittleEndian.Uint64(b[8:])
	if size > 1<<62 {
		return nil, fmt.Errorf("%w: size %d", errBadRecord, size)
	}
	r := &record{
		Shards:     n,
		Size:       int64(size),
		Deletable:  b[5]&1 != 0,
		Gen:        binary.LittleEndian.Uint64(b[48:]),
		Registered: binary.LittleEndian.Uint32(b[56:]),
		Certified:  binary.LittleEndian.Uint32(b[60:]),
		End:        binary.LittleEndian.Uint32(b[64:]),
		Created:    time.Unix(0, int64(binary.LittleEndian.Uint64(b[68:]))).UTC(),
		Hashes:     make([]rs2.PairHash, n),
	}
	copy(r.ID[:], b[16:48])
	p := b[recordHeaderSize:]
	for i := range r.Hashes {
		copy(r.Hashes[i].Primary[:], p)
		copy(r.Hashes[i].Secondary[:], p[32:])
		p = p[pairHashSize:]
	}
	return r, nil
}

// metadata returns the record's RS2 metadata.
func (r *record) metadata() *rs2.Metadata {
	return &rs2.Metadata{Length: uint64(r.Size), Pairs: r.Hashes}
}

// recordCacheBytes bounds the loaded records kept in memory: about 60 at
// 1000 shards (64 KiB of hashes each), thousands at 40.
const recordCacheBytes = 4 << 20

// cachedRecord is a record as load found it, verified, while its stripe
// had ended writes write sections, and its files then.
type cachedRecord struct {
	rec    *record
	writes uint64
	files  []fileStamp // by directory; the zero stamp where there was none
}

// recordCost estimates the memory a cached record takes.
func recordCost(r *record) int { return 128 + len(r.Hashes)*pairHashSize }

// verifyRecord checks that the record's pair hashes reproduce its blob ID,
// which authenticates them: every sliver is then checked against them.
func verifyRecord(r *record) error {
	if got := r.metadata().BlobID(); got != r.ID {
		return fmt.Errorf("%w: hashes give blob ID %s, record says %s", errBadRecord, got, r.ID)
	}
	return nil
}
