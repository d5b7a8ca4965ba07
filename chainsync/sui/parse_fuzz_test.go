package sui

import (
	"errors"
	"testing"
)

// FuzzParseObjects feeds every object parser the same bytes: none may
// panic, and what one accepts must be consistent with its fixed layout.
func FuzzParseObjects(f *testing.F) {
	for _, o := range loadFixtures(f).Objects {
		f.Add(b64(f, o.Contents))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if blob, err := ParseBlob(b); err == nil {
			if want := 127 + 4*btoi(blob.Certified()); len(b) != want {
				t.Fatalf("a Blob of %d bytes parsed (want %d)", len(b), want)
			}
		}
		if _, err := ParseStorage(b); err == nil && len(b) != 48 {
			t.Fatalf("a Storage of %d bytes parsed", len(b))
		}
		if _, err := ParseCoin(b); err == nil && len(b) != 40 {
			t.Fatalf("a Coin of %d bytes parsed", len(b))
		}
		_, _ = ParseSystem(b)
		_, _ = ParseSystemInner(b, 3)
		_, _ = ParseStakingInner(b, 3)
		_, _ = ParseStakingPool(b)
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzBCSReader reads arbitrary bytes as nested values; the sticky error
// must be the only outcome of bad input.
func FuzzBCSReader(f *testing.F) {
	for _, tt := range loadFixtures(f).TypeTags {
		f.Add(b64(f, tt.BCS))
	}
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x10})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newBCSReader(b)
		r.typeTag(0)
		r.bytes()
		r.str()
		r.option()
		r.u64()
		if r.err == nil && r.off > len(b) {
			t.Fatal("read past the end without an error")
		}
		r2 := newBCSReader(b)
		for r2.err == nil && r2.off < len(b) {
			r2.bytes()
		}
		if r2.err != nil && !errors.Is(r2.err, ErrTruncated) && r2.err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

func TestParseRejectsTrailingAndTruncated(t *testing.T) {
	for _, o := range loadFixtures(t).Objects {
		if o.Name != "blob_certified" && o.Name != "coin_wal" {
			continue
		}
		b := b64(t, o.Contents)
		parse := func(b []byte) error { _, err := ParseBlob(b); return err }
		if o.Name == "coin_wal" {
			parse = func(b []byte) error { _, err := ParseCoin(b); return err }
		}
		if err := parse(append(b, 0)); err == nil {
			t.Errorf("%s with a trailing byte parsed", o.Name)
		}
		if err := parse(b[:len(b)-1]); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s truncated: %v, want ErrTruncated", o.Name, err)
		}
	}
}
