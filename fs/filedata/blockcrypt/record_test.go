package blockcrypt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

func TestRecordSealOpen(t *testing.T) {
	k1, k2 := Key{1}, Key{2}
	plain := []byte("the tree")
	sealed, err := SealRecord(&k1, nil, plain, []byte("ad"))
	if err != nil || len(sealed) != len(plain)+EncryptedOverhead {
		t.Fatalf("sealed %d bytes, %v", len(sealed), err)
	}
	got, err := OpenRecord(&k1, nil, sealed, []byte("ad"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("opened %q, %v", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 1
	for name, tc := range map[string]struct {
		key    *Key
		sealed []byte
		ad     string
	}{
		"other key": {&k2, sealed, "ad"},
		"other ad":  {&k1, sealed, "da"},
		"damaged":   {&k1, flipped, "ad"},
		"short":     {&k1, sealed[:10], "ad"},
	} {
		if _, err := OpenRecord(tc.key, nil, tc.sealed, []byte(tc.ad)); !errors.Is(err, blobstore.ErrIntegrity) {
			t.Errorf("%s: %v, want ErrIntegrity", name, err)
		}
	}
}
