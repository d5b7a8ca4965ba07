package suitest

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestEncodedLengthAndBlobID checks EncodedLength and DeriveBlobID against
// the reference RS2 vectors (n = 4, 10, 100 and 1000).
func TestEncodedLengthAndBlobID(t *testing.T) {
	b, err := os.ReadFile("../../../testdata/blob_id_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			Length  jsonU64 `json:"unencoded_length"` // a number or a decimal string
			NShards jsonU64 `json:"n_shards"`
			Encoded jsonU64 `json:"encoded_length"`
			BlobID  string  `json:"blob_id_bytes_hex"`
			Root    string  `json:"metadata_root_hash_hex"`
			Error   string  `json:"error"` // too large to encode
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	checked := 0
	for _, v := range f.Vectors {
		if v.Error != "" {
			continue
		}
		checked++
		if got := EncodedLength(uint64(v.Length), uint16(v.NShards)); got != uint64(v.Encoded) {
			t.Errorf("EncodedLength(%d, %d) = %d, want %d", v.Length, v.NShards, got, v.Encoded)
		}
		var root [32]byte
		if _, err := hex.Decode(root[:], []byte(v.Root)); err != nil {
			t.Fatal(err)
		}
		if got := DeriveBlobID(root, 1, uint64(v.Length)); hex.EncodeToString(got[:]) != v.BlobID {
			t.Errorf("DeriveBlobID(%s, %d) = %x, want %s", v.Root, v.Length, got, v.BlobID)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d vectors checked", checked)
	}
	if got := EncodedLength(445_556, 1000); got != 66_034_000 {
		t.Errorf("minimum at n=1000: %d, want 66034000", got)
	}
}
