package sui

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrTruncated means BCS input ended before the value it should hold.
var ErrTruncated = errors.New("sui: bcs: truncated input")

// maxBCSLength bounds any length prefix read from untrusted bytes: no Sui
// object or transaction is larger (transactions are at most 128 KiB,
// objects at most 250 KB), so a larger prefix is corruption, not data.
const maxBCSLength = 1 << 20

// bcsWriter appends BCS (Binary Canonical Serialization) values to a
// buffer: little-endian fixed-width integers, ULEB128 lengths before
// vectors and strings, one byte for a bool or an Option's tag.
type bcsWriter struct{ buf []byte }

func (w *bcsWriter) u8(v uint8)   { w.buf = append(w.buf, v) }
func (w *bcsWriter) u16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }
func (w *bcsWriter) u32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }
func (w *bcsWriter) u64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

func (w *bcsWriter) boolean(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// uleb128 writes a length or an enum variant index.
func (w *bcsWriter) uleb128(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }

// fixed writes bytes with no length prefix (addresses, u256).
func (w *bcsWriter) fixed(b []byte) { w.buf = append(w.buf, b...) }

// bytes writes a vector<u8>: its length, then the bytes.
func (w *bcsWriter) bytes(b []byte) {
	w.uleb128(uint64(len(b)))
	w.buf = append(w.buf, b...)
}

func (w *bcsWriter) str(s string) {
	w.uleb128(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

// bcsReader reads BCS values from untrusted bytes. The first error sticks:
// every later read returns a zero value, so a parser reads a whole struct
// and checks err once.
type bcsReader struct {
	buf []byte
	off int
	err error
}

func newBCSReader(b []byte) *bcsReader { return &bcsReader{buf: b} }

func (r *bcsReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *bcsReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.fail(fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrTruncated, n, r.off, len(r.buf)-r.off))
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

func (r *bcsReader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *bcsReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *bcsReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *bcsReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *bcsReader) boolean() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("sui: bcs: bool byte %d at offset %d", v, r.off-1))
		return false
	}
}

// uleb128 reads a canonical ULEB128 value that fits in 32 bits, as BCS
// requires for lengths and variant indexes.
func (r *bcsReader) uleb128() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	switch {
	case n == 0:
		r.fail(fmt.Errorf("%w: ULEB128 at offset %d", ErrTruncated, r.off))
		return 0
	case n < 0 || v > math.MaxUint32:
		r.fail(fmt.Errorf("sui: bcs: ULEB128 overflow at offset %d", r.off))
		return 0
	case n > 1 && r.buf[r.off+n-1] == 0:
		r.fail(fmt.Errorf("sui: bcs: non-canonical ULEB128 at offset %d", r.off))
		return 0
	}
	r.off += n
	return v
}

// length reads a vector length and checks it against what is left, with
// each element at least minElem bytes long.
func (r *bcsReader) length(minElem int) int {
	n := r.uleb128()
	if r.err != nil {
		return 0
	}
	if n > maxBCSLength || int(n)*minElem > len(r.buf)-r.off {
		r.fail(fmt.Errorf("%w: vector of %d elements at offset %d", ErrTruncated, n, r.off))
		return 0
	}
	return int(n)
}

// bytes reads a vector<u8> and returns a copy.
func (r *bcsReader) bytes() []byte {
	n := r.length(1)
	b := r.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (r *bcsReader) str() string { return string(r.bytes()) }

func (r *bcsReader) address() Address {
	var a Address
	copy(a[:], r.take(32))
	return a
}

// option reads an Option's tag and reports whether a value follows.
func (r *bcsReader) option() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(fmt.Errorf("sui: bcs: option tag %d at offset %d", v, r.off-1))
		return false
	}
}

// variant reads an enum's variant index and checks it is below n.
func (r *bcsReader) variant(what string, n uint64) uint64 {
	v := r.uleb128()
	if r.err == nil && v >= n {
		r.fail(fmt.Errorf("sui: bcs: %s variant %d (known: 0..%d)", what, v, n-1))
	}
	return v
}

// done reports the sticky error, or an error when bytes are left over:
// BCS has one encoding per value, so trailing bytes mean the wrong type.
func (r *bcsReader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("sui: decode %s: %w", what, r.err)
	}
	if r.off != len(r.buf) {
		return fmt.Errorf("sui: decode %s: %d trailing bytes (wrong type?)", what, len(r.buf)-r.off)
	}
	return nil
}
