package blockcrypt

import (
	"errors"
	"strings"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
)

// testNames are valid identifiers of many shapes.
var testNames = []string{
	"a",
	"chunk-0000000000000001-0003",
	"a b/é😀.txt",
	"x",
	"xQUJD",
	strings.Repeat("n", 1000),
	strings.Repeat("m", MaxNameLen),
}

func TestSealName(t *testing.T) {
	c := newTestCodec(t, 64, true)
	seen := map[string]bool{}
	for _, name := range testNames {
		for range 3 {
			id, err := c.SealName(name)
			if err != nil {
				t.Fatalf("SealName(%.20q): %v", name, err)
			}
			if err := quilt.ValidateIdentifier(id); err != nil {
				t.Fatalf("SealName(%.20q) = %.20q: %v", name, id, err)
			}
			if want := 1 + b64.EncodedLen(len(name)+EncryptedOverhead); len(id) != want {
				t.Fatalf("SealName(%.20q) is %d bytes, want %d", name, len(id), want)
			}
			if got := c.SealedNameLen(len(name)); got != len(id) {
				t.Fatalf("SealedNameLen(%d) = %d, but SealName made %d bytes", len(name), got, len(id))
			}
			if seen[id] {
				t.Fatalf("SealName(%.20q) repeated an identifier", name)
			}
			seen[id] = true
			if len(name) >= 8 && strings.Contains(id, name) {
				t.Fatalf("SealName(%.20q) = %.40q shows the name", name, id)
			}
			got, err := c.OpenName(id)
			if err != nil || got != name {
				t.Fatalf("OpenName(SealName(%.20q)) = %.20q, %v", name, got, err)
			}
		}
	}
}

func TestNameInTheClear(t *testing.T) {
	c := newTestCodec(t, 64, false)
	for _, name := range testNames {
		id, err := c.SealName(name)
		if err != nil || id != name {
			t.Fatalf("SealName(%.20q) in the clear = %.20q, %v; want the name", name, id, err)
		}
		if got := c.SealedNameLen(len(name)); got != len(name) {
			t.Fatalf("SealedNameLen(%d) in the clear = %d", len(name), got)
		}
		got, err := c.OpenName(id)
		if err != nil || got != name {
			t.Fatalf("OpenName(%.20q) in the clear = %.20q, %v; want the name", id, got, err)
		}
	}
	if _, err := c.OpenName("bad "); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("OpenName(%q) in the clear = %v, want ErrInvalidArgument", "bad ", err)
	}
}

func TestSealNameRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"trailing space", "x "},
		{"control character", "a\nb"},
		{"invalid UTF-8", "a\xff"},
		{"too long", strings.Repeat("n", MaxNameLen+1)},
	}
	for _, m := range modes {
		for _, tc := range tests {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				c := newTestCodec(t, 64, m.enc)
				if id, err := c.SealName(tc.in); !errors.Is(err, blobstore.ErrInvalidArgument) {
					t.Fatalf("SealName = %.20q, %v; want ErrInvalidArgument", id, err)
				}
			})
		}
	}
}

func TestOpenNameRejects(t *testing.T) {
	c := newTestCodec(t, 64, true)
	other, err := NewCodec(Layout{BlockSize: 64, Encrypted: true}, testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	good, err := c.SealName("chunk-1")
	if err != nil {
		t.Fatal(err)
	}
	fromOther, err := other.SealName("chunk-1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, id string }{
		{"empty", ""},
		{"plain name", "chunk-1"},
		{"prefix only", "x"},
		{"not base64url", "x" + strings.Repeat("!", 60)},
		{"padded base64", good + "=="},
		{"too short", "x" + b64.EncodeToString(make([]byte, EncryptedOverhead-1))},
		{"all zero", "x" + b64.EncodeToString(make([]byte, EncryptedOverhead+7))},
		{"truncated", good[:len(good)-4]},
		{"extended", good + "AAAA"},
		{"other key", fromOther},
		{"too long", "x" + strings.Repeat("A", quilt.MaxIdentifierLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if name, err := c.OpenName(tc.id); !errors.Is(err, blobstore.ErrIntegrity) {
				t.Fatalf("OpenName = %q, %v; want ErrIntegrity", name, err)
			}
		})
	}
}

// TestOpenNameTampered changes each character of a sealed name in turn.
func TestOpenNameTampered(t *testing.T) {
	c := newTestCodec(t, 64, true)
	id, err := c.SealName("chunk-42")
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(id) {
		for _, r := range []byte{'A', 'B', '-', '_', 'z'} {
			if id[i] == r {
				continue
			}
			bad := id[:i] + string(r) + id[i+1:]
			if name, err := c.OpenName(bad); !errors.Is(err, blobstore.ErrIntegrity) {
				t.Fatalf("OpenName with byte %d set to %q = %q, %v; want ErrIntegrity", i, r, name, err)
			}
		}
	}
}

// TestOpenNameRejectsSealedInvalidName checks that a name which authenticates
// but is no valid identifier is still refused.
func TestOpenNameRejectsSealedInvalidName(t *testing.T) {
	c := newTestCodec(t, 64, true)
	nonce := make([]byte, NonceSize)
	raw := c.aead.Seal(nonce, nonce, []byte("trailing space "), nameAD)
	if name, err := c.OpenName(sealedNamePrefix + b64.EncodeToString(raw)); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Fatalf("OpenName = %q, %v; want ErrIntegrity", name, err)
	}
}
