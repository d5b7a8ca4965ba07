// Package rs2 implements Walrus's RS2 erasure code ("RedStuff" over
// Reed-Solomon) bit for bit: symbol sizes, slivers, sliver hashes, the
// blob metadata, its root hash and the blob ID. It also verifies and
// reconstructs primary slivers, which is what a store holding all N shards
// locally needs.
//
// # Parameters
//
// Everything follows from the shard count N (1000 on Mainnet and Testnet):
//
//	F  = (N−1)/3    faulty shards tolerated
//	Kp = N−2F       primary source symbols   (334 at N=1000)
//	Ks = N−F        secondary source symbols (667 at N=1000)
//
// A blob of L bytes uses symbols of S bytes, the smallest even S with
// Kp·Ks·S ≥ max(L, 1); S may not exceed 65534, which caps a blob at
// Kp·Ks·65534 bytes (about 13.6 GiB at N=1000).
//
// # The matrices
//
// The blob, zero-padded, is laid out row-major as a Kp × Ks message matrix
// of S-byte symbols. Each row is extended with N−Ks repair symbols (the
// secondary encoding), then each of the N columns is extended with N−Kp
// repair symbols (the primary encoding), giving the N × N expanded matrix:
//
//	           columns 0 … Ks−1          Ks … N−1
//	          ┌────────────────────────┬───────────────┐
//	row 0     │ blob bytes             │ row repair    │  ← primary sliver 0
//	  …       │ (message matrix)       │ (secondary    │    (row i, columns < Ks)
//	row Kp−1  │                        │  encoding)    │
//	          ├────────────────────────┼───────────────┤
//	row Kp    │ column repair (primary encoding)       │  ← primary sliver Kp
//	  …       │                                        │    (repair sliver)
//	row N−1   │                                        │
//	          └────────────────────────┴───────────────┘
//	            ↑ secondary sliver j = column j, rows < Kp
//
// Primary sliver i is row i, columns 0…Ks−1 (Ks·S bytes); the first Kp are
// systematic: primary sliver i < Kp holds blob bytes [i·Ks·S, (i+1)·Ks·S)
// (see [Layout.Locate]). Secondary sliver j is column j, rows 0…Kp−1.
// Shard i stores sliver pair i: primary sliver i and secondary sliver N−1−i.
//
// # Hashes and the blob ID
//
// Every symbol of the expanded matrix is a Merkle leaf H(0x00 ‖ symbol),
// H = BLAKE2b-256; inner nodes are H(0x01 ‖ left ‖ right), and a level with
// an odd number of nodes is padded with 32 zero bytes. Pair i has a primary
// hash, the root over row i (all N columns), and a secondary hash, the root
// over column N−1−i (all N rows): each sliver hash commits to the sliver
// and to its full re-encoding. The root hash is the Merkle root over the
// pair leaves H(0x00 ‖ primary ‖ secondary), and the blob ID is
// H(0x01 ‖ u64le(L) ‖ root).
//
// # The Reed-Solomon code
//
// Walrus uses the Rust crate reed-solomon-simd: Leopard-style additive-FFT
// Reed-Solomon over GF(2^16). This package drives
// github.com/klauspost/reedsolomon in Leopard GF(2^16) mode, which shares
// the field, basis and FFT, and bridges three differences:
//
//   - Tail layout. The engines process 64-byte blocks of 32 elements stored
//     as [lo0…lo31, hi0…hi31]. reed-solomon-simd accepts any even symbol
//     size and stores a final partial block of t bytes as t/2 low bytes then
//     t/2 high bytes; klauspost wants whole blocks. Symbols are therefore
//     padded to a multiple of 64 bytes with the tail halves moved to offsets
//     0 and 32 of a zeroed block, and moved back on the way out.
//   - Rate selection. With P(x) the next power of two, reed-solomon-simd
//     encodes k originals into r repair symbols at "high rate" when
//     P(k) > P(r), or P(k) = P(r) and k ≤ r, and at "low rate" otherwise;
//     the two give different repair symbols. The secondary encoding (Ks
//     into F) is always high rate; the primary one (Kp into 2F) is low rate
//     for most N, including 10, 100 and 1000.
//   - Low rate. klauspost has only the high-rate encoder, which places the
//     data after the parity. Low rate puts the originals at positions
//     [0, K), K = P(k), and recovery chunk j at [K(j+1), K(j+2)). Because
//     the additive FFT is invariant under XOR translation of positions,
//     chunk j equals the parity of a high-rate code with K·j+k data shards
//     of which only the last k (the originals) are non-zero. At N=1000 that
//     is two calls per column batch: 334 → 512 and 846 → 512, truncated to
//     666 repair symbols.
//
// The same translation gives decoding: the originals (zero-padded to K)
// with recovery chunk 0 form a high-rate (K, K) codeword, so the engine's
// FFT decoder rebuilds the systematic primary slivers from any Kp among
// indices 0 … Kp+K−1 (0 … 845 at N=1000). Both codes are also plain
// GF(2^16)-linear MDS codes, and any Kp primary slivers determine the blob:
// when too few of the present slivers lie in that window, the package
// solves the linear system (generator matrix from encoding unit vectors,
// Gauss–Jordan inversion with its own copy of Leopard's field tables) for
// just enough missing systematic slivers to complete the window, and lets
// the FFT decoder finish (see [Encoder.ReconstructPrimary]).
//
// # Performance
//
// [Encoder.Encode] never materializes the N × N matrix. It holds the Kp rows
// with their row repair symbols (about 1.5× the blob), then runs the
// primary encoding in batches of W columns (W a power of two, so a batch is
// an aligned subtree of every row's Merkle tree). A batch hashes its N·W
// symbols once: each column's tree is finished at once (a secondary hash),
// and each row's W leaves are reduced to one node, kept until all batches
// are done and the row roots (primary hashes) can be finished. Rows and
// batches are spread over GOMAXPROCS goroutines.
//
// Leaf hashing is most of the work: the N² leaves cover about 4.5 times
// the blob's bytes at large N (4.2 at N=40). Leaves are hashed four at a
// time, one message per 64-bit lane of AVX2 registers
// (blake2b4_amd64.s, generated by blake2b4_gen.go), about 2.2 times as
// fast as BLAKE2b on one message at a time; without AVX2 (or with the
// purego build tag) they are hashed one by one with x/crypto.
//
// [Encoder.MetadataAt] bounds memory by a budget instead, for blobs in an
// io.ReaderAt: it computes the rows' repair symbols in a first pass and
// spills them to a temporary file, then reads the expanded matrix's
// source rows in vertical strips of W columns, finishing each column's
// tree at once and growing each row's tree on a stack of O(log N)
// subtree roots. Symbols too large for the budget are cut into ranges of
// 64-byte blocks (the code is element-wise) with streaming leaf hashes.
package rs2
