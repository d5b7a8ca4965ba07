package quilt

import (
	"encoding/binary"

	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// Planner predicts the size of a quilt while its patches are chosen, from
// their shapes alone (identifier, tags, data length), so that a packer can
// stop adding patches before the quilt outgrows a limit.
//
// The size of a quilt is not the sum of its patches. Every patch starts a
// fresh column of Kp symbols, and the symbol size S is the smallest at which
// all columns fit in Ks; the blob is always Kp·Ks·S bytes. One large patch
// among many small ones therefore raises S for all of them: at 1000 shards,
// 664 patches of 4 KiB and one of 4 MiB make a quilt of 1.4 GB, while
// either group alone makes one of a few MB. Planner.Add refuses the patch
// that would push the quilt past the caller's limit.
//
// The arithmetic is Build's: the length a Planner reports is exactly the
// length of the blob Build makes from the same patches. A Planner is not
// safe for concurrent use.
type Planner struct {
	p        rs2.Params
	items    []int // the size of each patch in the matrix: prefix and data
	entries  int   // index bytes after the count: Σ u16 end ‖ identifier ‖ tags
	s        int   // the smallest symbol size that fits the patches so far
	itemCols int   // columns the patches take at symbol size s
}

// NewPlanner returns an empty plan for quilts encoded with parameters p.
func NewPlanner(p rs2.Params) *Planner {
	return &Planner{p: p, s: 2}
}

// Reset empties the plan for the next quilt.
func (pl *Planner) Reset() {
	pl.items, pl.entries, pl.s, pl.itemCols = pl.items[:0], 0, 2, 0
}

// Len returns how many patches the plan holds.
func (pl *Planner) Len() int { return len(pl.items) }

// BlobLen returns the length of the quilt blob of the patches added so far:
// Kp·Ks·S bytes.
func (pl *Planner) BlobLen() int64 {
	return int64(pl.p.Kp) * int64(pl.p.Ks) * int64(pl.s)
}

// Add adds a patch with an identifier of identifierLen bytes, the given
// tags and dataLen bytes of data if the quilt then still fits: at most
// Ks−1 patches, and a blob of at most maxBlobLen bytes (when maxBlobLen ≤ 0,
// only the encoding's own limit applies). It reports whether the patch was
// added; a refused patch leaves the plan as it was. Identifiers and tags are
// not validated here; Build does that.
func (pl *Planner) Add(identifierLen int, tags map[string]string, dataLen int, maxBlobLen int64) bool {
	if len(pl.items) >= pl.p.Ks-1 {
		return false
	}
	idLen := uvarintLen(uint64(identifierLen)) + identifierLen
	size := headerLen + 2 + idLen + dataLen
	entry := 2 + idLen + 1 // an empty tag map is one byte
	if len(tags) > 0 {
		t := len(appendTags(nil, tags))
		size += 2 + t
		entry += t - 1
	}
	maxS := rs2.MaxSymbolSize
	if maxBlobLen > 0 {
		cells := int64(pl.p.Kp) * int64(pl.p.Ks)
		maxS = int(min(int64(maxS), maxBlobLen/cells)) &^ 1
	}
	if maxS < max(pl.s, 2) {
		return false // no quilt, even of this patch alone, is that small
	}

	pl.items = append(pl.items, size)
	pl.entries += entry
	indexLen := pl.indexLen()
	// The common case: the patch fits at the current symbol size.
	colBytes := pl.s * pl.p.Kp
	if idx := ceilDiv(indexLen, colBytes); idx <= MaxIndexColumns {
		if cols := pl.itemCols + max(1, ceilDiv(size, colBytes)); idx+cols <= pl.p.Ks {
			pl.itemCols = cols
			return true
		}
	}
	// Otherwise find the smallest even size that takes them all, within
	// the limit.
	lo, hi := pl.s/2+1, maxS/2
	if _, ok := pl.columns(2*hi, indexLen); lo > hi || !ok {
		pl.items = pl.items[:len(pl.items)-1]
		pl.entries -= entry
		return false
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if _, ok := pl.columns(2*mid, indexLen); ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	pl.s = 2 * lo
	pl.itemCols, _ = pl.columns(pl.s, indexLen)
	return true
}

// indexLen is the length of the encoded index: version, u32 length, the
// uleb128 patch count and the entries.
func (pl *Planner) indexLen() int {
	return indexPrefixLen + uvarintLen(uint64(len(pl.items))) + pl.entries
}

// columns returns the columns the patches take at symbol size s, and
// whether they fit with the index: the index in at most MaxIndexColumns,
// everything in Ks.
func (pl *Planner) columns(s, indexLen int) (int, bool) {
	colBytes := s * pl.p.Kp
	idx := ceilDiv(indexLen, colBytes)
	cols := 0
	for _, size := range pl.items {
		cols += max(1, ceilDiv(size, colBytes))
	}
	return cols, idx <= MaxIndexColumns && idx+cols <= pl.p.Ks
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}
