package rs2

import (
	"fmt"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// blockSize is the byte granularity of the Leopard GF(2^16) engine: 64
// bytes hold 32 field elements as [lo0…lo31, hi0…hi31].
const blockSize = 64

// paddedSize is the size of a symbol of s bytes once re-laid out for the
// engine: s rounded up to a multiple of 64.
func paddedSize(s int) int { return (s + blockSize - 1) &^ (blockSize - 1) }

// relayout copies the s = len(src) byte symbol src into dst
// (len(dst) = paddedSize(s)) in the engine's block layout. Full 64-byte
// blocks are copied as they are. reed-solomon-simd stores a final partial
// block of t bytes as t/2 low bytes followed by t/2 high bytes; the engine
// wants a full block, so the low bytes go to offset 0 and the high bytes
// to offset 32 of a zeroed block.
func relayout(dst, src []byte) {
	full := len(src) &^ (blockSize - 1)
	copy(dst, src[:full])
	t := len(src) - full
	if t == 0 {
		return
	}
	tail := dst[full : full+blockSize]
	clear(tail)
	copy(tail, src[full:full+t/2])
	copy(tail[blockSize/2:], src[full+t/2:])
}

// unrelayout is the inverse of relayout: it writes the len(dst)-byte
// symbol held in the padded src into dst.
func unrelayout(dst, src []byte) {
	full := len(dst) &^ (blockSize - 1)
	copy(dst, src[:full])
	t := len(dst) - full
	if t == 0 {
		return
	}
	copy(dst[full:full+t/2], src[full:])
	copy(dst[full+t/2:], src[full+blockSize/2:full+blockSize/2+t/2])
}

// code is one direction of RS2: k source symbols to r repair symbols,
// bit-identical to reed-solomon-simd 3.1.0 (which Walrus uses). It is safe
// for concurrent use.
//
// reed-solomon-simd picks one of two algorithms (see the package doc):
// high rate maps directly onto klauspost/reedsolomon's Leopard GF(2^16)
// encoder; low rate is emulated with one high-rate call per recovery chunk,
// using that the additive FFT is invariant under XOR translation of
// positions.
type code struct {
	k, r int
	high bool
	// enc is the high-rate encoder New(k, r).
	enc reedsolomon.Encoder
	// bigK is P(k) for low rate; chunks[j] is New(bigK·j + k, bigK), whose
	// data shards bigK·j … bigK·j+k−1 hold the originals and whose parity
	// is recovery chunk j.
	bigK   int
	chunks []reedsolomon.Encoder
	// dec reconstructs originals: New(k, r) at high rate, New(bigK, bigK)
	// at low rate (originals plus recovery chunk 0).
	dec reedsolomon.Encoder
	// generator returns the code's r×k generator matrix (see
	// code.buildGenerator), built on first use.
	generator func() ([]uint16, error)
}

// dropTables runs dropUnusedTables once the library has built its tables.
var dropTables sync.Once

func newCode(k, r int) (c *code, err error) {
	defer func() {
		if err == nil {
			dropTables.Do(dropUnusedTables)
		}
	}()
	c = &code{k: k, r: r, high: highRate(k, r)}
	c.generator = sync.OnceValues(c.buildGenerator)
	if c.high {
		c.enc, err = reedsolomon.New(k, r, engineOptions...)
		if err != nil {
			return nil, fmt.Errorf("rs2: RS(%d, %d) encoder: %w", k, r, err)
		}
		c.dec = c.enc
		return c, nil
	}
	c.bigK = nextPow2(k)
	for j := 0; j*c.bigK < r; j++ {
		e, err := reedsolomon.New(c.bigK*j+k, c.bigK, engineOptions...)
		if err != nil {
			return nil, fmt.Errorf("rs2: RS(%d, %d) low-rate chunk %d encoder: %w", k, r, j, err)
		}
		c.chunks = append(c.chunks, e)
	}
	c.dec, err = reedsolomon.New(c.bigK, c.bigK, engineOptions...)
	if err != nil {
		return nil, fmt.Errorf("rs2: RS(%d, %d) decoder: %w", k, r, err)
	}
	return c, nil
}

// workBytesPerByte is how many bytes of work buffers the engine takes
// per byte of shard length in one encode call: 2·P(parity) buffers.
func (c *code) workBytesPerByte() int {
	if c.high {
		return 2 * nextPow2(c.r)
	}
	return 2 * c.bigK
}

// engineOptions makes every code a Leopard GF(2^16) code drawing its work
// buffers from one pool, shared by all codes and encoders. By default each
// engine has a pool of its own; the two low-rate chunks of the primary
// code would each keep a set of work buffers per goroutine (4 MiB each at
// 1000 shards and 4 KiB batches), where one set per goroutine serves.
var engineOptions = []reedsolomon.Option{
	reedsolomon.WithLeopardGF16(true),
	reedsolomon.WithWorkAllocator(&sharedWork),
}

var sharedWork workPool

// workPool is a reedsolomon.WorkAllocator backed by a sync.Pool, as the
// library's own is.
type workPool struct{ pool sync.Pool }

// Get returns n buffers of size bytes, 64-byte aligned.
func (a *workPool) Get(n, size int) [][]byte {
	work, _ := a.pool.Get().([][]byte)
	if cap(work) < n {
		return reedsolomon.AllocAligned(n, size)
	}
	work = work[:n]
	for i := range work {
		if cap(work[i]) < size {
			work[i] = reedsolomon.AllocAligned(1, size)[0]
		} else {
			work[i] = work[i][:size]
		}
	}
	return work
}

// Put takes back buffers from Get.
func (a *workPool) Put(work [][]byte) { a.pool.Put(work) } //nolint:staticcheck // a slice header per call is cheap next to the buffers

// codeScratch holds reusable buffers for code.encode. Not safe for
// concurrent use.
type codeScratch struct {
	shards [][]byte
	zero   []byte
	spare  [][]byte
}

func (s *codeScratch) zeros(size int) []byte {
	if cap(s.zero) < size {
		s.zero = make([]byte, size)
	}
	return s.zero[:size]
}

// encode computes the r repair shards dst from the k source shards src. All
// shards have the same length, a multiple of 64 bytes, in engine layout;
// each shard may hold many symbols side by side (the code works position
// by position).
func (c *code) encode(src, dst [][]byte, s *codeScratch) error {
	size := len(src[0])
	if c.high {
		s.shards = append(append(s.shards[:0], src...), dst...)
		if err := c.enc.Encode(s.shards); err != nil {
			return fmt.Errorf("rs2: RS(%d, %d) encode: %w", c.k, c.r, err)
		}
		return nil
	}
	zero := s.zeros(size)
	for j, e := range c.chunks {
		sh := s.shards[:0]
		for range c.bigK * j {
			sh = append(sh, zero)
		}
		sh = append(sh, src...)
		spare := 0
		for i := range c.bigK {
			if idx := c.bigK*j + i; idx < c.r {
				sh = append(sh, dst[idx])
				continue
			}
			if spare == len(s.spare) {
				s.spare = append(s.spare, nil)
			}
			if cap(s.spare[spare]) < size {
				s.spare[spare] = make([]byte, size)
			}
			sh = append(sh, s.spare[spare][:size])
			spare++
		}
		s.shards = sh
		if err := e.Encode(sh); err != nil {
			return fmt.Errorf("rs2: RS(%d, %d) low-rate chunk %d encode: %w", c.k, c.r, j, err)
		}
	}
	return nil
}

// reconstruct fills in missing originals. shards has k+r entries: the k
// originals then the r recovery symbols, each either nil (missing) or of a
// common length (a multiple of 64, engine layout). Any k present shards
// suffice; it fails with an error wrapping [ErrTooFewSlivers] otherwise.
//
// The engine's decoder is used when it can be: at high rate always, at low
// rate when k of the originals and recovery symbols 0 … P(k)−1 are
// present. Otherwise [code.reconstructGeneral] first solves the linear
// system for as many missing originals as the engine lacks.
func (c *code) reconstruct(shards [][]byte, workers int) error {
	present, window := 0, 0
	for i, s := range shards {
		if s != nil {
			present++
			if c.high || i < c.k+c.bigK {
				window++
			}
		}
	}
	if present < c.k {
		return fmt.Errorf("rs2: RS(%d, %d): %d shards present, need %d: %w", c.k, c.r, present, c.k, ErrTooFewSlivers)
	}
	if window < c.k {
		// Solve the linear system for just enough missing originals (all
		// inside the window) to give the FFT decoder k shards, and let it
		// do the rest: the system costs k multiply-adds per element and
		// output.
		if err := c.reconstructGeneral(shards, workers, c.k-window); err != nil {
			return err
		}
	}
	return c.reconstructEngine(shards)
}

// reconstructEngine is reconstruct through the engine's decoder. At low
// rate only recovery symbols 0 … P(k)−1 can take part.
func (c *code) reconstructEngine(shards [][]byte) error {
	if c.high {
		if err := c.dec.ReconstructData(shards); err != nil {
			return fmt.Errorf("rs2: RS(%d, %d) reconstruct: %w", c.k, c.r, err)
		}
		return nil
	}
	size := 0
	for _, s := range shards {
		if len(s) > 0 {
			size = len(s)
			break
		}
	}
	// The low-rate codeword restricted to the originals (zero-padded to
	// P(k)) and recovery chunk 0 is the high-rate (P(k), P(k)) codeword:
	// data = originals, parity = recovery chunk 0.
	sh := make([][]byte, 2*c.bigK)
	copy(sh, shards[:c.k])
	zero := make([]byte, size)
	for i := c.k; i < c.bigK; i++ {
		sh[i] = zero
	}
	for i := 0; i < c.bigK && i < c.r; i++ {
		sh[c.bigK+i] = shards[c.k+i]
	}
	if err := c.dec.ReconstructData(sh); err != nil {
		return fmt.Errorf("rs2: RS(%d, %d) reconstruct: %w", c.k, c.r, err)
	}
	copy(shards[:c.k], sh[:c.k])
	return nil
}
