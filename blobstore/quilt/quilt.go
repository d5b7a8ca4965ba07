// Package quilt implements Walrus QuiltV1: many small files ("patches")
// stored as one RS2 blob, each still readable on its own. It builds the
// quilt blob, parses its index and extracts patches, byte for byte as the
// Walrus Rust encoder (walrus-core) does.
//
// # Layout
//
// A quilt is an ordinary RS2 blob whose Kp × Ks message matrix (see package
// rs2) is filled column by column: a column is Kp symbols of S bytes, read
// top to bottom, and is exactly one secondary sliver, so a reader can fetch
// one patch by fetching its columns. The blob is the matrix row-major, so
// byte t of an item starting at column c lies at row (t mod S·Kp)/S,
// column c + t/(S·Kp):
//
//	         column 0    1 … idx−1   idx … e₀−1   e₀ … e₁−1       … Ks−1
//	        ┌──────────┬───────────┬────────────┬────────────┬───┬──────┐
//	row 0   │ 01 len   │  index    │ patch 0    │ patch 1    │ … │ zero │
//	 …      │ index …  │  (cont.)  │ header,    │            │   │      │
//	row Kp−1│          │           │ id, data ↓ │            │   │      │
//	        └──────────┴───────────┴────────────┴────────────┴───┴──────┘
//
// The first idx columns hold the index: 0x01 ‖ u32le(L) ‖ the L bytes of
// BCS QuiltIndexV1, a vector of {end_index u16, identifier String, tags
// BTreeMap<String,String>}, one entry per patch in identifier order. The
// index may take up to 10 columns; idx = ceil((5+L)/(S·Kp)) is all a reader
// needs to find the first patch, and each later patch starts where the
// previous one ended. Each patch starts at the top of a fresh column with
// BlobHeaderV1 (0x01 ‖ u32le(length) ‖ mask, bit 0 = has tags), then
// u16le(len(bcs(id))) ‖ bcs(id), then, when it has tags,
// u16le(len(bcs(tags))) ‖ bcs(tags), then the data; length counts
// everything after the 6-byte header. The rest of the last column is zero.
//
// The symbol size is the smallest even S for which the index (≤ 10
// columns) and all patches fit in Ks columns. The blob is always exactly
// Kp·Ks·S bytes, so its RS2 symbol size is S as well.
//
// # Ordering rules
//
// Patches are sorted by identifier bytes (Go's string order, as walrus-core
// does; the TypeScript SDK compares UTF-16 units and disagrees for some
// non-BMP identifiers). Tag maps are written in BCS order: by the
// serialized key, whose length prefix comes first, so shorter keys sort
// first ({b, aa, content-type}).
//
// # Patch IDs
//
// A patch is named by [blobstore.PatchID]: the quilt's blob ID, version 1
// and its column range [start, end).
package quilt

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

const (
	// version is the QuiltV1 version byte of the index and patch headers.
	version = 1
	// MaxIndexColumns is the most columns the index may take.
	MaxIndexColumns = 10
	// MaxIdentifierLen is the longest identifier in bytes: its BCS form
	// (with a 3-byte length prefix) must stay below 65535 bytes.
	MaxIdentifierLen = 65531
	// maxTagsLen bounds the BCS form of a patch's tags (a u16 field).
	maxTagsLen = 65535
	// indexPrefixLen is the version byte and the u32 index length.
	indexPrefixLen = 5
	// headerLen is BlobHeaderV1: version, u32 length, mask.
	headerLen = 6
	// tagsMask is the BlobHeaderV1 mask bit saying tags follow the identifier.
	tagsMask = 1
)

// Patch describes one patch of a quilt.
type Patch struct {
	Identifier string
	// Tags are the patch's tags; nil when it has none.
	Tags map[string]string
	// Start and End are the half-open range of matrix columns (secondary
	// slivers) the patch occupies.
	Start, End int
}

// ID returns the patch ID of the patch in the quilt with blob ID quilt.
func (p Patch) ID(quilt blobstore.ID) blobstore.PatchID {
	return blobstore.PatchID{Quilt: quilt, Version: blobstore.PatchIDVersion, Start: uint16(p.Start), End: uint16(p.End)}
}

// Quilt is a laid-out quilt: where each patch goes, and the blob bytes on
// demand ([Quilt.Reader]), made from the parts' data without a copy of the
// whole blob.
type Quilt struct {
	// Layout is the RS2 layout of the quilt blob; Layout.SymbolSize is the
	// quilt's symbol size S and Layout.Length = Kp·Ks·S.
	Layout rs2.Layout
	// IndexColumns is the number of columns the index takes.
	IndexColumns int
	// Index is the encoded index, 0x01 ‖ u32le(L) ‖ BCS QuiltIndexV1: what
	// column 0 starts with.
	Index []byte
	// Patches are in quilt order (sorted by identifier).
	Patches []Patch

	// segs are the index and the patches, in column order.
	segs []segment
}

// segment is what fills columns [start, end) from the top: pieces,
// concatenated.
type segment struct {
	start, end int
	pieces     [][]byte
}

// readAt copies the segment's bytes from off into dst, as many as there
// are; dst past the segment's end is left as it is.
func (g *segment) readAt(dst []byte, off int) {
	for _, p := range g.pieces {
		if off >= len(p) {
			off -= len(p)
			continue
		}
		k := copy(dst, p[off:])
		dst, off = dst[k:], 0
		if len(dst) == 0 {
			return
		}
	}
}

// Reader returns the quilt blob, Kp·Ks·S bytes to be stored as an ordinary
// RS2 blob, as a stream made row by row (Ks·S bytes at a time) from the
// parts, which must not change until it is read.
func (q *Quilt) Reader() io.Reader {
	p, s := q.Layout.Params, q.Layout.SymbolSize
	return &rowReader{q: q, buf: make([]byte, p.Ks*s)}
}

// Bytes returns the whole quilt blob in one slice.
func (q *Quilt) Bytes() []byte {
	b := make([]byte, q.Layout.Length)
	if _, err := io.ReadFull(q.Reader(), b); err != nil {
		panic(err) // a rowReader yields exactly Layout.Length bytes
	}
	return b
}

// rowReader streams a quilt blob: row r of the message matrix holds symbol
// r of every column, so each segment contributes S bytes per column it
// covers, from offset (column − start)·S·Kp + r·S.
type rowReader struct {
	q   *Quilt
	r   int    // next row to make
	row []byte // unread bytes of the current row, in buf
	buf []byte // one row, Ks·S bytes
}

func (rr *rowReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if len(rr.row) == 0 {
			if rr.r == rr.q.Layout.Kp {
				return n, io.EOF
			}
			rr.fill()
		}
		k := copy(b[n:], rr.row)
		rr.row = rr.row[k:]
		n += k
	}
	return n, nil
}

// fill makes row rr.r.
func (rr *rowReader) fill() {
	p, s := rr.q.Layout.Params, rr.q.Layout.SymbolSize
	colBytes := s * p.Kp
	row := rr.buf
	clear(row) // the ends of last columns, and the columns after the patches
	for i := range rr.q.segs {
		g := &rr.q.segs[i]
		for c := g.start; c < g.end; c++ {
			g.readAt(row[c*s:(c+1)*s], (c-g.start)*colBytes+rr.r*s)
		}
	}
	rr.row = row
	rr.r++
}

// StoredPatches returns the identifier and patch ID of every patch, in
// quilt order, given the quilt blob's ID.
func (q *Quilt) StoredPatches(quiltID blobstore.ID) []blobstore.StoredPatch {
	out := make([]blobstore.StoredPatch, len(q.Patches))
	for i, p := range q.Patches {
		out[i] = blobstore.StoredPatch{Identifier: p.Identifier, PatchID: p.ID(quiltID)}
	}
	return out
}

// ValidateIdentifier checks the QuiltV1 rules for a patch identifier, as
// walrus-core checks them: non-empty valid UTF-8 of at most
// [MaxIdentifierLen] bytes, no control characters, no trailing whitespace.
// A leading '_' is fine (_config.yml, __init__.py): the publisher reserves
// only the multipart field name _metadata, which the HTTP client refuses
// to send as an identifier. It fails with [blobstore.ErrInvalidArgument].
func ValidateIdentifier(id string) error {
	bad := func(why string) error {
		return fmt.Errorf("quilt: identifier %q: %s: %w", truncate(id), why, blobstore.ErrInvalidArgument)
	}
	switch {
	case id == "":
		return bad("empty")
	case !utf8.ValidString(id):
		return bad("not valid UTF-8")
	case len(id) > MaxIdentifierLen:
		return bad(fmt.Sprintf("%d bytes, more than %d", len(id), MaxIdentifierLen))
	}
	if r, _ := utf8.DecodeLastRuneInString(id); unicode.IsSpace(r) {
		return bad("trailing whitespace")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return bad("contains a control character")
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// item is one patch being built.
type item struct {
	part   *blobstore.QuiltPart
	prefix []byte // header ‖ identifier section ‖ tags section
	tags   []byte // BCS of the tags (for the index)
	size   int    // len(prefix) + len(data)
}

// Build lays out parts as a QuiltV1 quilt for the shard parameters p. It
// does not compute the blob ID: store q.Reader() as an RS2 blob (or call
// rs2.Encoder.BlobID on it) and pass the ID to [Quilt.StoredPatches].
//
// Errors: invalid identifiers or tags, and duplicate identifiers, wrap
// [blobstore.ErrInvalidArgument]; more than Ks−1 parts, or parts that do
// not fit at the largest symbol size, wrap [blobstore.ErrTooLarge]. The
// quilt refers to the parts' data, which must not change while the quilt
// is in use.
func Build(p rs2.Params, parts []blobstore.QuiltPart) (*Quilt, error) {
	if limit := p.Ks - 1; len(parts) > limit {
		return nil, fmt.Errorf("quilt: too many blobs to fit in the quilt: %d > max number of blobs: %d: %w", len(parts), limit, blobstore.ErrTooLarge)
	}
	items := make([]item, len(parts))
	for i := range parts {
		it, err := newItem(&parts[i])
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.part.Identifier, b.part.Identifier) })
	for i := 1; i < len(items); i++ {
		if items[i].part.Identifier == items[i-1].part.Identifier {
			return nil, fmt.Errorf("quilt: duplicate identifier %q: %w", truncate(items[i].part.Identifier), blobstore.ErrInvalidArgument)
		}
	}
	// The index's size does not depend on the symbol size (end indices
	// are fixed-width u16), so encode it once with placeholder ends.
	index := encodeIndex(items, make([]int, len(items)))
	s, err := symbolSize(p, len(index), items)
	if err != nil {
		return nil, err
	}
	l, err := rs2.NewLayout(p, uint64(p.Kp)*uint64(p.Ks)*uint64(s))
	if err != nil {
		return nil, err
	}
	colBytes := s * p.Kp
	q := &Quilt{
		Layout:       l,
		IndexColumns: ceilDiv(len(index), colBytes),
		Patches:      make([]Patch, len(items)),
		segs:         make([]segment, 1, 1+len(items)),
	}
	ends := make([]int, len(items))
	col := q.IndexColumns
	for i, it := range items {
		start := col
		// An item takes at least one column, even an empty one.
		col = start + max(1, ceilDiv(it.size, colBytes))
		ends[i] = col
		q.Patches[i] = Patch{Identifier: it.part.Identifier, Tags: cloneTags(it.part.Tags), Start: start, End: col}
		q.segs = append(q.segs, segment{start: start, end: col, pieces: [][]byte{it.prefix, it.part.Data}})
	}
	q.Index = encodeIndex(items, ends)
	q.segs[0] = segment{start: 0, end: q.IndexColumns, pieces: [][]byte{q.Index}}
	return q, nil
}

func cloneTags(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func newItem(part *blobstore.QuiltPart) (item, error) {
	if err := ValidateIdentifier(part.Identifier); err != nil {
		return item{}, err
	}
	for k, v := range part.Tags {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return item{}, fmt.Errorf("quilt: %q: tag %q is not valid UTF-8: %w", truncate(part.Identifier), truncate(k), blobstore.ErrInvalidArgument)
		}
	}
	tags := appendTags(nil, part.Tags)
	if len(part.Tags) > 0 && len(tags) > maxTagsLen {
		return item{}, fmt.Errorf("quilt: %q: tags take %d bytes, more than %d: %w", truncate(part.Identifier), len(tags), maxTagsLen, blobstore.ErrInvalidArgument)
	}
	id := appendString(nil, part.Identifier)
	pre := make([]byte, headerLen, headerLen+2+len(id)+2+len(tags))
	pre = binary.LittleEndian.AppendUint16(pre, uint16(len(id)))
	pre = append(pre, id...)
	mask := byte(0)
	if len(part.Tags) > 0 {
		mask |= tagsMask
		pre = binary.LittleEndian.AppendUint16(pre, uint16(len(tags)))
		pre = append(pre, tags...)
	}
	length := uint64(len(pre)-headerLen) + uint64(len(part.Data))
	if length > 1<<32-1 {
		return item{}, fmt.Errorf("quilt: %q: patch of %d bytes exceeds the 4 GiB patch limit: %w", truncate(part.Identifier), length, blobstore.ErrTooLarge)
	}
	pre[0] = version
	binary.LittleEndian.PutUint32(pre[1:], uint32(length))
	pre[5] = mask
	return item{part: part, prefix: pre, tags: tags, size: len(pre) + len(part.Data)}, nil
}

// symbolSize returns the smallest even S ≤ rs2.MaxSymbolSize at which an
// index of indexLen bytes (≤ 10 columns) and the items fit in Ks columns.
func symbolSize(p rs2.Params, indexLen int, items []item) (int, error) {
	fits := func(s int) bool {
		colBytes := s * p.Kp
		idx := ceilDiv(indexLen, colBytes)
		if idx > MaxIndexColumns {
			return false
		}
		cols := idx
		for _, it := range items {
			cols += max(1, ceilDiv(it.size, colBytes))
			if cols > p.Ks {
				return false
			}
		}
		return true
	}
	// Binary search over even sizes 2·lo … 2·hi.
	lo, hi := 1, rs2.MaxSymbolSize/2
	if !fits(2 * hi) {
		total := indexLen
		for _, it := range items {
			total += it.size
		}
		return 0, fmt.Errorf("quilt: %d patches of %d bytes in total do not fit in a quilt at %d shards: %w", len(items), total, p.N, blobstore.ErrTooLarge)
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fits(2 * mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return 2 * lo, nil
}

// encodeIndex returns 0x01 ‖ u32le(L) ‖ BCS QuiltIndexV1 for items with
// the given end columns.
func encodeIndex(items []item, ends []int) []byte {
	b := []byte{version, 0, 0, 0, 0}
	b = binary.AppendUvarint(b, uint64(len(items)))
	for i, it := range items {
		b = binary.LittleEndian.AppendUint16(b, uint16(ends[i]))
		b = appendString(b, it.part.Identifier)
		if len(it.tags) == 0 {
			b = append(b, 0) // empty map
		} else {
			b = append(b, it.tags...)
		}
	}
	binary.LittleEndian.PutUint32(b[1:], uint32(len(b)-indexPrefixLen))
	return b
}

// appendString appends BCS String: uleb128(len) ‖ bytes.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTags appends BCS BTreeMap<String,String>: uleb128(count) then the
// entries ordered by their serialized keys.
func appendTags(b []byte, tags map[string]string) []byte {
	type entry struct{ key, val []byte }
	es := make([]entry, 0, len(tags))
	for k, v := range tags {
		es = append(es, entry{appendString(nil, k), appendString(nil, v)})
	}
	slices.SortFunc(es, func(a, b entry) int { return slices.Compare(a.key, b.key) })
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = append(b, e.key...)
		b = append(b, e.val...)
	}
	return b
}
