package quilt

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// ColumnReader returns column col of a quilt's message matrix: Kp·S bytes,
// its symbols top to bottom. That is secondary sliver col of the quilt
// blob, so a store can serve it without decoding the whole quilt. The
// returned slice is only read.
type ColumnReader func(col int) ([]byte, error)

// BlobColumns returns a ColumnReader over a whole quilt blob (as built by
// [Build] or read back from a store) and the quilt's symbol size. The blob
// must be exactly Kp·Ks·S bytes for an even S; otherwise BlobColumns fails
// with [blobstore.ErrInvalidArgument].
func BlobColumns(p rs2.Params, blob []byte) (ColumnReader, int, error) {
	cells := p.Kp * p.Ks
	if len(blob) == 0 || len(blob)%cells != 0 || (len(blob)/cells)%2 != 0 || len(blob)/cells > rs2.MaxSymbolSize {
		return nil, 0, fmt.Errorf("quilt: blob of %d bytes is not a quilt at %d shards (want %d × an even symbol size): %w",
			len(blob), p.N, cells, blobstore.ErrInvalidArgument)
	}
	s := len(blob) / cells
	read := func(col int) ([]byte, error) {
		if col < 0 || col >= p.Ks {
			return nil, fmt.Errorf("quilt: column %d out of range [0, %d): %w", col, p.Ks, blobstore.ErrInvalidArgument)
		}
		out := make([]byte, 0, p.Kp*s)
		for r := range p.Kp {
			off := (r*p.Ks + col) * s
			out = append(out, blob[off:off+s]...)
		}
		return out, nil
	}
	return read, s, nil
}

// Index is a parsed quilt index.
type Index struct {
	// Columns is the number of columns the index takes; the first patch
	// starts there.
	Columns int
	// Patches are in quilt order.
	Patches []Patch
}

// Lookup returns the first patch with the given identifier.
func (ix *Index) Lookup(identifier string) (Patch, bool) {
	for _, p := range ix.Patches {
		if p.Identifier == identifier {
			return p, true
		}
	}
	return Patch{}, false
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("quilt: malformed: "+format+": %w", append(args, blobstore.ErrInvalidArgument)...)
}

// ReadIndex reads and parses the index of a quilt with symbol size s from
// its first columns. Bytes that are not a valid QuiltV1 index fail with
// [blobstore.ErrInvalidArgument]; errors of read are returned wrapped.
func ReadIndex(p rs2.Params, s int, read ColumnReader) (*Index, error) {
	if s <= 0 || s%2 != 0 || s > rs2.MaxSymbolSize {
		return nil, fmt.Errorf("quilt: bad symbol size %d: %w", s, blobstore.ErrInvalidArgument)
	}
	colBytes := s * p.Kp
	col0, err := readColumn(read, 0, colBytes)
	if err != nil {
		return nil, err
	}
	if len(col0) < indexPrefixLen {
		return nil, malformed("column of %d bytes cannot hold the index header", len(col0))
	}
	if col0[0] != version {
		return nil, malformed("unknown quilt version %d", col0[0])
	}
	l := uint64(binary.LittleEndian.Uint32(col0[1:]))
	total := indexPrefixLen + l
	idx := int((total + uint64(colBytes) - 1) / uint64(colBytes))
	if idx > MaxIndexColumns || idx >= p.Ks {
		return nil, malformed("index of %d bytes would take %d columns", l, idx)
	}
	buf := col0
	for c := 1; c < idx; c++ {
		col, err := readColumn(read, c, colBytes)
		if err != nil {
			return nil, err
		}
		buf = append(buf[:len(buf):len(buf)], col...)
	}
	d := decoder{b: buf[indexPrefixLen:total]}
	count := d.uleb()
	if d.err == nil && count > uint64(p.Ks-idx) {
		return nil, malformed("index lists %d patches, at most %d fit", count, p.Ks-idx)
	}
	ix := &Index{Columns: idx, Patches: make([]Patch, 0, count)}
	start := idx
	for i := uint64(0); i < count && d.err == nil; i++ {
		end := int(d.u16())
		id := d.str()
		tags := d.tags()
		if d.err != nil {
			break
		}
		if end <= start || end > p.Ks {
			return nil, malformed("patch %d (%q) ends at column %d, after start %d and within %d columns", i, truncate(id), end, start, p.Ks)
		}
		ix.Patches = append(ix.Patches, Patch{Identifier: id, Tags: tags, Start: start, End: end})
		start = end
	}
	if d.err != nil {
		return nil, malformed("index: %v", d.err)
	}
	if len(d.b) != 0 {
		return nil, malformed("index has %d trailing bytes", len(d.b))
	}
	return ix, nil
}

// ParseIndex parses the index of a whole quilt blob; see [BlobColumns] and
// [ReadIndex].
func ParseIndex(p rs2.Params, blob []byte) (*Index, error) {
	read, s, err := BlobColumns(p, blob)
	if err != nil {
		return nil, err
	}
	return ReadIndex(p, s, read)
}

// PatchData is one patch read back from a quilt.
type PatchData struct {
	Identifier string
	// Tags are the patch's tags; nil when it has none.
	Tags map[string]string
	// Data is the file content, without header or padding.
	Data []byte
}

// ReadPatch reads the patch occupying columns [start, end) of a quilt with
// symbol size s, reading only those columns. The identifier and tags come
// from the patch's own header. Bytes that are not a valid QuiltV1 patch,
// or a bad column range, fail with [blobstore.ErrInvalidArgument].
//
// ReadPatch holds the whole patch in memory; a reader that streams it
// uses [PatchSize] and [ParsePatchHeader] on the patch's first bytes.
func ReadPatch(p rs2.Params, s int, read ColumnReader, start, end int) (*PatchData, error) {
	if s <= 0 || s%2 != 0 || s > rs2.MaxSymbolSize {
		return nil, fmt.Errorf("quilt: bad symbol size %d: %w", s, blobstore.ErrInvalidArgument)
	}
	if start < 0 || end <= start || end > p.Ks {
		return nil, fmt.Errorf("quilt: bad patch column range [%d, %d) at %d columns: %w", start, end, p.Ks, blobstore.ErrInvalidArgument)
	}
	colBytes := s * p.Kp
	buf := make([]byte, 0, (end-start)*colBytes)
	for c := start; c < end; c++ {
		col, err := readColumn(read, c, colBytes)
		if err != nil {
			return nil, err
		}
		buf = append(buf, col...)
	}
	size, err := PatchSize(buf, len(buf), start)
	if err != nil {
		return nil, err
	}
	h, _, err := ParsePatchHeader(buf, size, start)
	if err != nil {
		return nil, err
	}
	return &PatchData{Identifier: h.Identifier, Tags: h.Tags, Data: buf[h.DataStart:h.End]}, nil
}

// PatchHeaderLen is the fixed start of a patch's header (BlobHeaderV1:
// version, u32 length, mask): enough bytes for [PatchSize].
const PatchHeaderLen = headerLen

// PatchHeader is what the header of a patch says.
type PatchHeader struct {
	Identifier string
	// Tags are the patch's tags; nil when it has none.
	Tags map[string]string
	// DataStart and End bound the patch's data within the patch's bytes,
	// which begin with the first symbol of its first column.
	DataStart, End int
}

// PatchSize returns how many bytes the patch whose bytes begin with first
// takes, header and data, without the padding of its last column. first
// holds at least the patch's first [PatchHeaderLen] bytes; room is what
// its columns hold, and start its first column (for messages). A patch
// with an unknown version, or one that does not fit in room, is malformed
// ([blobstore.ErrInvalidArgument]).
func PatchSize(first []byte, room, start int) (int, error) {
	if room < headerLen || len(first) < headerLen {
		return 0, malformed("patch at column %d: too short for a header", start)
	}
	if first[0] != version {
		return 0, malformed("patch at column %d: unknown version %d", start, first[0])
	}
	length := uint64(binary.LittleEndian.Uint32(first[1:]))
	if length > uint64(room-headerLen) {
		return 0, malformed("patch at column %d: %d bytes do not fit in %d bytes of columns", start, length, room)
	}
	return headerLen + int(length), nil
}

// ParsePatchHeader parses the header at the start of a patch of size bytes
// (see [PatchSize]) whose bytes begin with prefix. When prefix is too
// short to hold the whole header, it returns the number of bytes it needs
// (more than len(prefix)) and no error; otherwise it returns the header
// and its length. A header that does not parse, or does not fit in size,
// is malformed ([blobstore.ErrInvalidArgument]).
func ParsePatchHeader(prefix []byte, size, start int) (PatchHeader, int, error) {
	if len(prefix) < headerLen || size < headerLen {
		return PatchHeader{}, headerLen, nil
	}
	mask := prefix[5]
	// The identifier section, then the tags section when the mask says so,
	// each a u16 length and that many bytes.
	need := headerLen
	sections := 1
	if mask&tagsMask != 0 {
		sections = 2
	}
	var sec [2][]byte
	for i := range sections {
		if need+2 > size {
			return PatchHeader{}, 0, malformed("patch at column %d: want 2 bytes, %d left", start, size-need)
		}
		if need+2 > len(prefix) {
			return PatchHeader{}, need + 2, nil
		}
		n := int(binary.LittleEndian.Uint16(prefix[need:]))
		need += 2
		if need+n > size {
			return PatchHeader{}, 0, malformed("patch at column %d: want %d bytes, %d left", start, n, size-need)
		}
		if need+n > len(prefix) {
			return PatchHeader{}, need + n, nil
		}
		sec[i] = prefix[need : need+n]
		need += n
	}
	idSec := decoder{b: sec[0]}
	h := PatchHeader{Identifier: idSec.str(), DataStart: need, End: size}
	if idSec.err == nil && len(idSec.b) != 0 {
		idSec.err = fmt.Errorf("identifier section has %d extra bytes", len(idSec.b))
	}
	if idSec.err != nil {
		return PatchHeader{}, 0, malformed("patch at column %d: %v", start, idSec.err)
	}
	if sections == 2 {
		tagSec := decoder{b: sec[1]}
		h.Tags = tagSec.tags()
		if tagSec.err == nil && len(tagSec.b) != 0 {
			tagSec.err = fmt.Errorf("tags section has %d extra bytes", len(tagSec.b))
		}
		if tagSec.err != nil {
			return PatchHeader{}, 0, malformed("patch at column %d: %v", start, tagSec.err)
		}
	}
	return h, need, nil
}

// ExtractPatch reads the patch occupying columns [start, end) of a whole
// quilt blob; see [BlobColumns] and [ReadPatch].
func ExtractPatch(p rs2.Params, blob []byte, start, end int) (*PatchData, error) {
	read, s, err := BlobColumns(p, blob)
	if err != nil {
		return nil, err
	}
	return ReadPatch(p, s, read, start, end)
}

func readColumn(read ColumnReader, c, colBytes int) ([]byte, error) {
	col, err := read(c)
	if err != nil {
		return nil, fmt.Errorf("quilt: read column %d: %w", c, err)
	}
	if len(col) != colBytes {
		return nil, fmt.Errorf("quilt: column %d has %d bytes, want %d: %w", c, len(col), colBytes, blobstore.ErrInvalidArgument)
	}
	return col, nil
}

// decoder reads BCS values; the first error sticks and later reads return
// zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("want %d bytes, %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u16() uint16 {
	b := d.take(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

// uleb reads a BCS ULEB128 length (at most u32).
func (d *decoder) uleb() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > 1<<32-1 {
		d.err = fmt.Errorf("bad ULEB128 length")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uleb()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = fmt.Errorf("string of %d bytes, %d left", n, len(d.b))
	}
	b := d.take(int(n))
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		d.err = fmt.Errorf("string is not valid UTF-8")
		return ""
	}
	return string(b)
}

// tags reads a BCS BTreeMap<String,String>; nil when empty.
func (d *decoder) tags() map[string]string {
	n := d.uleb()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b))/2 {
		d.err = fmt.Errorf("map of %d entries, %d bytes left", n, len(d.b))
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.str()
		v := d.str()
		m[k] = v
	}
	if d.err != nil {
		return nil
	}
	return m
}
