package rs2

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/blake2b"

	"github.com/walrusfs/walrusfs/blobstore"
)

// encodingTypeRS2 is the Walrus EncodingType tag of RS2.
const encodingTypeRS2 = 1

// PairHash holds the two hashes of sliver pair i: the Merkle root of
// row i of the expanded matrix (primary sliver i and its n−Ks repair
// symbols) and of column n−1−i (secondary sliver n−1−i and its repair
// symbols).
type PairHash struct {
	Primary   Hash
	Secondary Hash
}

// Metadata is Walrus BlobMetadataV1 for an RS2 blob: the unencoded length
// and the hashes of all N sliver pairs. It determines the blob ID.
// A Metadata is immutable once built and safe for concurrent reads.
type Metadata struct {
	// Length is the unencoded blob length in bytes.
	Length uint64
	// Pairs has one entry per shard; len(Pairs) is N.
	Pairs []PairHash
}

// Layout returns the blob's layout. It fails if len(Pairs) is not a valid
// shard count or the length does not fit.
func (m *Metadata) Layout() (Layout, error) {
	p, err := NewParams(len(m.Pairs))
	if err != nil {
		return Layout{}, err
	}
	return NewLayout(p, m.Length)
}

// RootHash is the Merkle root over the pair leaves
// H(0x00 ‖ primary ‖ secondary). It is the root_hash registered on chain.
func (m *Metadata) RootHash() Hash {
	x := newHasher()
	nodes := make([]Hash, len(m.Pairs), len(m.Pairs)+1)
	for i := range m.Pairs {
		x.leaf2(&nodes[i], &m.Pairs[i].Primary, &m.Pairs[i].Secondary)
	}
	return x.root(nodes)
}

// BlobID is H(0x01 ‖ u64le(Length) ‖ RootHash).
func (m *Metadata) BlobID() blobstore.ID {
	return blobID(m.Length, m.RootHash())
}

func blobID(length uint64, root Hash) blobstore.ID {
	var buf [1 + 8 + HashSize]byte
	buf[0] = encodingTypeRS2
	binary.LittleEndian.PutUint64(buf[1:], length)
	copy(buf[9:], root[:])
	return blobstore.ID(blake2b.Sum256(buf[:]))
}

// BCS layout of BlobMetadata::V1(BlobMetadataV1 { encoding_type, unencoded_length,
// hashes: Vec<SliverPairMetadata { primary_hash: Node, secondary_hash: Node }> }),
// where Node is the enum { Empty, Digest([u8; 32]) }.
const (
	bcsMetadataV1 = 0
	bcsNodeEmpty  = 0
	bcsNodeDigest = 1
)

// MarshalBinary encodes the metadata as Walrus BCS BlobMetadata::V1
// (the form storage nodes exchange): 0x00 ‖ 0x01 (RS2) ‖ u64le(Length) ‖
// uleb128(N) ‖ N × (0x01 ‖ primary ‖ 0x01 ‖ secondary). It never fails.
func (m *Metadata) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 2+8+binary.MaxVarintLen64+len(m.Pairs)*(2+2*HashSize))
	b = append(b, bcsMetadataV1, encodingTypeRS2)
	b = binary.LittleEndian.AppendUint64(b, m.Length)
	b = binary.AppendUvarint(b, uint64(len(m.Pairs)))
	for _, p := range m.Pairs {
		b = append(b, bcsNodeDigest)
		b = append(b, p.Primary[:]...)
		b = append(b, bcsNodeDigest)
		b = append(b, p.Secondary[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes the form written by [Metadata.MarshalBinary]. An
// Empty node decodes as the zero hash. Malformed input fails with
// [blobstore.ErrInvalidArgument].
func (m *Metadata) UnmarshalBinary(b []byte) error {
	bad := func(what string) error {
		return fmt.Errorf("rs2: metadata: %s: %w", what, blobstore.ErrInvalidArgument)
	}
	if len(b) < 10 {
		return bad("truncated header")
	}
	if b[0] != bcsMetadataV1 {
		return bad(fmt.Sprintf("unknown version tag %d", b[0]))
	}
	if b[1] != encodingTypeRS2 {
		return bad(fmt.Sprintf("encoding type %d is not RS2", b[1]))
	}
	length := binary.LittleEndian.Uint64(b[2:])
	b = b[10:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > MaxShards {
		return bad("bad pair count")
	}
	b = b[k:]
	pairs := make([]PairHash, n)
	readNode := func(dst *Hash) bool {
		if len(b) < 1 {
			return false
		}
		switch b[0] {
		case bcsNodeEmpty:
			*dst = Hash{}
			b = b[1:]
			return true
		case bcsNodeDigest:
			if len(b) < 1+HashSize {
				return false
			}
			copy(dst[:], b[1:1+HashSize])
			b = b[1+HashSize:]
			return true
		}
		return false
	}
	for i := range pairs {
		if !readNode(&pairs[i].Primary) || !readNode(&pairs[i].Secondary) {
			return bad(fmt.Sprintf("bad hash node in pair %d", i))
		}
	}
	if len(b) != 0 {
		return bad(fmt.Sprintf("%d trailing bytes", len(b)))
	}
	m.Length, m.Pairs = length, pairs
	return nil
}
