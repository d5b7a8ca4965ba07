package rs2

import (
	"encoding/binary"
	"sync"
)

// GF(2^16) arithmetic in the element representation of the Leopard engines
// (reed-solomon-simd, klauspost/reedsolomon): polynomial 0x1002D with
// elements written in a Cantor basis. Addition is XOR. The engines keep
// their tables private; gfTables rebuilds them the way Leopard does
// (klauspost leopard.go initLUTs), and the tests check the result against
// the engine's own encoding.

const (
	gfBits       = 16
	gfOrder      = 1 << gfBits
	gfModulus    = gfOrder - 1
	gfPolynomial = 0x1002D
)

// gfCantorBasis is the Cantor basis of Leopard's GF(2^16).
var gfCantorBasis = [gfBits]uint16{
	0x0001, 0xACCA, 0x3C0E, 0x163E,
	0xC582, 0xED2E, 0x914C, 0x4012,
	0x6C98, 0x10D8, 0x6A72, 0xB900,
	0xFDB8, 0xFB34, 0xFF38, 0x991E,
}

// gfLUT holds logarithm and exponential tables: for a ≠ 0,
// exp[log[a]] = a, and exp[gfModulus] = exp[0].
type gfLUT struct {
	log [gfOrder]uint16
	exp [gfOrder]uint16
}

// gfTables returns the shared tables, building them on first use.
var gfTables = sync.OnceValue(func() *gfLUT {
	t := new(gfLUT)
	// LFSR over the polynomial basis: exp[x^i] = i.
	state := 1
	for i := range gfModulus {
		t.exp[state] = uint16(i)
		state <<= 1
		if state >= gfOrder {
			state ^= gfPolynomial
		}
	}
	t.exp[0] = gfModulus
	// Map the Cantor-basis representation to the polynomial one, then take
	// logarithms.
	t.log[0] = 0
	for i := range gfBits {
		width := 1 << i
		for j := range width {
			t.log[j+width] = t.log[j] ^ gfCantorBasis[i]
		}
	}
	for i := range gfOrder {
		t.log[i] = t.exp[t.log[i]]
	}
	for i := range gfOrder {
		t.exp[t.log[i]] = uint16(i)
	}
	t.exp[gfModulus] = t.exp[0]
	return t
})

// mul returns a·b.
func (t *gfLUT) mul(a, b uint16) uint16 {
	if a == 0 || b == 0 {
		return 0
	}
	s := uint32(t.log[a]) + uint32(t.log[b])
	s = (s & gfModulus) + s>>gfBits
	return t.exp[s]
}

// inv returns 1/a for a ≠ 0.
func (t *gfLUT) inv(a uint16) uint16 {
	return t.exp[(gfModulus-uint32(t.log[a]))%gfModulus]
}

// mulTable multiplies engine-layout data by one constant: an element with
// low byte l and high byte h times the constant is lo[l] ^ hi[h].
type mulTable struct {
	lo, hi [256]uint16
}

func (m *mulTable) set(t *gfLUT, c uint16) {
	var lo, hi [8]uint16
	for b := range 8 {
		lo[b] = t.mul(c, 1<<b)
		hi[b] = t.mul(c, 1<<(b+8))
	}
	m.lo[0], m.hi[0] = 0, 0
	for b := range 8 {
		w := 1 << b
		for x := range w {
			m.lo[w+x] = m.lo[x] ^ lo[b]
			m.hi[w+x] = m.hi[x] ^ hi[b]
		}
	}
}

// mulAdd sets dst ^= c·src element-wise, where m is c's table. dst and src
// are in engine layout (64-byte blocks of 32 elements stored as
// [lo0…lo31, hi0…hi31]) and have the same length, a multiple of 64.
func (m *mulTable) mulAdd(dst, src []byte) {
	for len(src) >= blockSize && len(dst) >= blockSize {
		s := (*[blockSize]byte)(src)
		d := (*[blockSize]byte)(dst)
		for i := 0; i < blockSize/2; i += 8 {
			var lo, hi uint64
			for b := range 8 {
				p := m.lo[s[i+b]] ^ m.hi[s[i+b+blockSize/2]]
				lo |= uint64(byte(p)) << (8 * b)
				hi |= uint64(p>>8) << (8 * b)
			}
			binary.LittleEndian.PutUint64(d[i:], binary.LittleEndian.Uint64(d[i:])^lo)
			j := i + blockSize/2
			binary.LittleEndian.PutUint64(d[j:], binary.LittleEndian.Uint64(d[j:])^hi)
		}
		src, dst = src[blockSize:], dst[blockSize:]
	}
}

// gfInvert inverts the k×k matrix a (row-major) in place by Gauss–Jordan
// elimination. It reports false if a is singular.
func gfInvert(t *gfLUT, a []uint16, k int) bool {
	inv := make([]uint16, k*k)
	for i := range k {
		inv[i*k+i] = 1
	}
	for col := range k {
		piv := -1
		for r := col; r < k; r++ {
			if a[r*k+col] != 0 {
				piv = r
				break
			}
		}
		if piv < 0 {
			return false
		}
		if piv != col {
			for c := range k {
				a[piv*k+c], a[col*k+c] = a[col*k+c], a[piv*k+c]
				inv[piv*k+c], inv[col*k+c] = inv[col*k+c], inv[piv*k+c]
			}
		}
		ar, ir := a[col*k:(col+1)*k], inv[col*k:(col+1)*k]
		if s := t.inv(ar[col]); s != 1 {
			for c := range k {
				ar[c] = t.mul(ar[c], s)
				ir[c] = t.mul(ir[c], s)
			}
		}
		for r := range k {
			f := a[r*k+col]
			if r == col || f == 0 {
				continue
			}
			xr, yr := a[r*k:(r+1)*k], inv[r*k:(r+1)*k]
			for c := range k {
				xr[c] ^= t.mul(f, ar[c])
				yr[c] ^= t.mul(f, ir[c])
			}
		}
	}
	copy(a, inv)
	return true
}
