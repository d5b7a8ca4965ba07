package rs2

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// The general decoder. Both RS2 codes are GF(2^16)-linear and MDS: recovery
// symbol i is Σ_j G[i][j]·original_j for an r×k generator matrix G, and any
// k of the k+r symbols determine the originals. The engine's decoder covers
// every pattern at high rate but, at low rate, only the originals and
// recovery chunk 0 (see the package doc); the general decoder solves the
// linear system for any k symbols instead.
//
// With M the missing originals (m of them), Kn the present ones and R any m
// present recovery symbols, y_R = G[R][M]·x_M + G[R][Kn]·x_Kn, so
//
//	x_M = B⁻¹·y_R + B⁻¹·G[R][Kn]·x_Kn,  B = G[R][M],
//
// B being invertible because the code is MDS. The work is m·k
// multiply-adds per element position.

// buildGenerator computes the r×k generator matrix, row-major, by encoding
// the k unit vectors with the code's own encoder: element j of source shard
// j is 1, all others 0, so element j of recovery shard i is G[i][j].
func (c *code) buildGenerator() ([]uint16, error) {
	size := (c.k + blockSize/2 - 1) / (blockSize / 2) * blockSize
	buf := make([]byte, (c.k+c.r)*size)
	src := make([][]byte, c.k)
	dst := make([][]byte, c.r)
	for j := range src {
		src[j] = buf[j*size : (j+1)*size]
		src[j][elemOffset(j)] = 1
	}
	for i := range dst {
		dst[i] = buf[(c.k+i)*size : (c.k+i+1)*size]
	}
	if err := c.encode(src, dst, &codeScratch{}); err != nil {
		return nil, err
	}
	g := make([]uint16, c.r*c.k)
	for i := range c.r {
		for j := range c.k {
			g[i*c.k+j] = elemAt(dst[i], j)
		}
	}
	return g, nil
}

// elemOffset is the offset of the low byte of element j in engine layout;
// its high byte sits blockSize/2 bytes further.
func elemOffset(j int) int {
	return j/(blockSize/2)*blockSize + j%(blockSize/2)
}

// elemAt returns element j of engine-layout data b.
func elemAt(b []byte, j int) uint16 {
	o := elemOffset(j)
	return uint16(b[o]) | uint16(b[o+blockSize/2])<<8
}

// decodeChunk is the byte width of the pieces reconstructGeneral builds an
// output from: a multiple of 64 that keeps a piece in L1 cache.
const decodeChunk = 8 << 10

// reconstructGeneral fills in the first limit missing originals of shards
// (as for code.reconstruct; all of them if limit < 0) from any k present
// shards, using up to workers goroutines.
func (c *code) reconstructGeneral(shards [][]byte, workers, limit int) error {
	g, err := c.generator()
	if err != nil {
		return err
	}
	var missing, known, rec []int
	size := 0
	for i, s := range shards {
		switch {
		case s == nil && i < c.k:
			missing = append(missing, i)
		case s == nil:
		case i < c.k:
			known = append(known, i)
			size = len(s)
		default:
			rec = append(rec, i-c.k)
			size = len(s)
		}
	}
	m := len(missing)
	if m == 0 {
		return nil
	}
	if len(rec) < m {
		return fmt.Errorf("rs2: RS(%d, %d): %d shards present, need %d: %w",
			c.k, c.r, len(known)+len(rec), c.k, ErrTooFewSlivers)
	}
	rec = rec[:m]
	t := gfTables()
	b := make([]uint16, m*m)
	for a, i := range rec {
		for bcol, j := range missing {
			b[a*m+bcol] = g[i*c.k+j]
		}
	}
	if !gfInvert(t, b, m) {
		// Impossible for an MDS code; it would mean a wrong generator.
		return fmt.Errorf("rs2: RS(%d, %d): singular decoding matrix", c.k, c.r)
	}
	// coef[a] holds the coefficients of missing original a over the
	// inputs: the m recovery symbols rec, then the known originals.
	inputs := make([][]byte, 0, m+len(known))
	for _, i := range rec {
		inputs = append(inputs, shards[c.k+i])
	}
	for _, j := range known {
		inputs = append(inputs, shards[j])
	}
	ni := len(inputs)
	coef := make([]uint16, m*ni)
	for a := range m {
		row := coef[a*ni : (a+1)*ni]
		copy(row, b[a*m:(a+1)*m])
		for bi, i := range rec {
			f := b[a*m+bi]
			if f == 0 {
				continue
			}
			gr := g[i*c.k:]
			for kj, j := range known {
				row[m+kj] ^= t.mul(f, gr[j])
			}
		}
	}
	outputs := m
	if limit >= 0 {
		outputs = min(m, limit)
	}
	out := make([][]byte, outputs)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range max(1, min(workers, outputs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tables := make([]mulTable, ni)
			for {
				a := int(next.Add(1) - 1)
				if a >= outputs {
					return
				}
				for q := range inputs {
					tables[q].set(t, coef[a*ni+q])
				}
				// Work through dst in cache-sized pieces, so that each
				// piece is accumulated from all inputs while it is hot.
				dst := make([]byte, size)
				for off := 0; off < size; off += decodeChunk {
					end := min(off+decodeChunk, size)
					for q, in := range inputs {
						if coef[a*ni+q] != 0 {
							tables[q].mulAdd(dst[off:end], in[off:end])
						}
					}
				}
				out[a] = dst
			}
		}()
	}
	wg.Wait()
	for a, j := range missing[:outputs] {
		shards[j] = out[a]
	}
	return nil
}
