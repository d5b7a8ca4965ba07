package suitest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"
)

// maxVector bounds every decoded vector length: far above anything a
// 128 KiB transaction can hold, and low enough that a hostile length
// cannot make the decoder allocate much.
const maxVector = 1 << 17

// errTruncated is wrapped by every decode error caused by running out of
// bytes.
var errTruncated = errors.New("truncated")

// reader decodes BCS. The first error sticks: every later read returns
// zero values, so decoders check r.err once at the end of a unit.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("at byte %d: need %d bytes, %d left: %w", r.off, n, len(r.b)-r.off, errTruncated)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8() uint8 {
	p := r.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16() uint16 {
	p := r.take(2)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(p)
}

func (r *reader) u32() uint32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (r *reader) u64() uint64 {
	p := r.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (r *reader) bool() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.failf("bool byte %d is neither 0 nor 1", v)
		return false
	}
}

func (r *reader) addr() Address {
	var a Address
	copy(a[:], r.take(32))
	return a
}

// uleb decodes a canonical ULEB128 that fits in 32 bits, as BCS requires
// for lengths and enum tags.
func (r *reader) uleb() uint32 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if r.err != nil {
			return 0
		}
		if shift > 28 {
			r.failf("ULEB128 longer than 5 bytes")
			return 0
		}
		c := r.u8()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if c == 0 && shift > 0 {
				r.failf("ULEB128 is not canonical")
				return 0
			}
			if v > 0xffffffff {
				r.failf("ULEB128 overflows 32 bits")
				return 0
			}
			return uint32(v)
		}
	}
}

// length reads a vector length and checks it against maxVector.
func (r *reader) length() int {
	n := r.uleb()
	if n > maxVector {
		r.failf("vector length %d exceeds %d", n, maxVector)
		return 0
	}
	return int(n)
}

// variant reads an enum tag and checks it is below n.
func (r *reader) variant(what string, n uint32) uint32 {
	v := r.uleb()
	if r.err == nil && v >= n {
		r.failf("%s variant %d does not exist (there are %d)", what, v, n)
	}
	return v
}

func (r *reader) bytes() []byte {
	n := r.length()
	p := r.take(n)
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

func (r *reader) str() string {
	p := r.bytes()
	if r.err == nil && !utf8.Valid(p) {
		r.failf("string is not UTF-8")
	}
	return string(p)
}

func (r *reader) optU64() *uint64 {
	switch r.u8() {
	case 0:
		return nil
	case 1:
		v := r.u64()
		return &v
	default:
		r.failf("option tag is neither 0 nor 1")
		return nil
	}
}

// done reports the sticky error, or trailing bytes.
func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if r.off != len(r.b) {
		return fmt.Errorf("%d trailing bytes after byte %d", len(r.b)-r.off, r.off)
	}
	return nil
}

// writer encodes BCS.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *writer) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}
func (w *writer) addr(a Address) { w.b = append(w.b, a[:]...) }
func (w *writer) raw(p []byte)   { w.b = append(w.b, p...) }
func (w *writer) uleb(v uint32) {
	for v >= 0x80 {
		w.b = append(w.b, byte(v)|0x80)
		v >>= 7
	}
	w.b = append(w.b, byte(v))
}
func (w *writer) bytes(p []byte) { w.uleb(uint32(len(p))); w.raw(p) }
func (w *writer) str(s string)   { w.bytes([]byte(s)) }
func (w *writer) optU32(v *uint32) {
	if v == nil {
		w.u8(0)
		return
	}
	w.u8(1)
	w.u32(*v)
}
func (w *writer) optU64(v *uint64) {
	if v == nil {
		w.u8(0)
		return
	}
	w.u8(1)
	w.u64(*v)
}

// u256 writes a 256-bit unsigned integer given as 32 little-endian bytes
// (the form blob IDs travel in).
func (w *writer) u256(le [32]byte) { w.raw(le[:]) }

// u256FromBig converts a non-negative integer below 2^256 to 32
// little-endian bytes.
func u256FromBig(v *big.Int) ([32]byte, bool) {
	var le [32]byte
	if v.Sign() < 0 || v.BitLen() > 256 {
		return le, false
	}
	be := v.FillBytes(make([]byte, 32))
	for i := range 32 {
		le[i] = be[31-i]
	}
	return le, true
}
