package rs2

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/walrusfs/walrusfs/blobstore"
)

func TestLocate(t *testing.T) {
	p, err := NewParams(10) // Kp=4, Ks=7
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLayout(p, 100) // S=4, row = 28 bytes
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		off, n    int64
		want      []Extent
		wantError bool
	}{
		{"empty", 5, 0, nil, false},
		{"inside one row", 3, 10, []Extent{{0, 3, 10}}, false},
		{"across rows", 20, 40, []Extent{{0, 20, 8}, {1, 0, 28}, {2, 0, 4}}, false},
		{"to the end", 84, 16, []Extent{{3, 0, 16}}, false},
		{"past the end", 90, 11, nil, true},
		{"negative", -1, 2, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Locate(tc.off, tc.n)
			if tc.wantError {
				if !errors.Is(err, blobstore.ErrInvalidArgument) {
					t.Fatalf("err = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestSymbolSizeLimit(t *testing.T) {
	p, err := NewParams(1000)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.MaxBlobSize(); got != 14_599_533_452 {
		t.Fatalf("MaxBlobSize = %d", got)
	}
	if s, err := p.SymbolSize(p.MaxBlobSize()); err != nil || s != MaxSymbolSize {
		t.Fatalf("SymbolSize(max) = %d, %v", s, err)
	}
	_, err = p.SymbolSize(p.MaxBlobSize() + 1)
	if !errors.Is(err, blobstore.ErrTooLarge) || !strings.Contains(err.Error(), "14599533453") || !strings.Contains(err.Error(), "14599533452") {
		t.Fatalf("SymbolSize(max+1) error = %v, want ErrTooLarge naming size and limit", err)
	}
	for _, n := range []int{0, 3, MaxShards + 1} {
		if _, err := NewParams(n); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("NewParams(%d) error = %v, want ErrInvalidArgument", n, err)
		}
	}
}

func TestMetadataBinaryRoundTrip(t *testing.T) {
	e, err := NewEncoder(10)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello walrus")
	md, _ := encodeAll(t, e, data)
	b, err := md.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 2+8+1+10*66 {
		t.Fatalf("encoded metadata has %d bytes", len(b))
	}
	var back Metadata
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.BlobID() != md.BlobID() || back.BlobID().String() != "5g7EUy58ReQir0t11jz709ae5cdZT24btlovkXo28U8" {
		t.Fatalf("round trip changed the blob ID to %s", back.BlobID())
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0), b[:5], append([]byte{1}, b[1:]...)} {
		if err := new(Metadata).UnmarshalBinary(bad); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("UnmarshalBinary(%d bytes) error = %v, want ErrInvalidArgument", len(bad), err)
		}
	}
}

func TestEncodeReaderErrors(t *testing.T) {
	e, err := NewEncoder(10)
	if err != nil {
		t.Fatal(err)
	}
	data := lcg32(500, 3)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		r    io.Reader
		size int64
		want error
	}{
		{"short", t.Context(), bytes.NewReader(data[:499]), 500, blobstore.ErrInvalidArgument},
		{"long", t.Context(), bytes.NewReader(data), 499, blobstore.ErrInvalidArgument},
		{"negative size", t.Context(), bytes.NewReader(nil), -1, blobstore.ErrInvalidArgument},
		{"too large", t.Context(), bytes.NewReader(nil), 1_834_953, blobstore.ErrTooLarge},
		{"read error", t.Context(), iotest.ErrReader(iotest.ErrTimeout), 500, iotest.ErrTimeout},
		{"canceled", canceled, bytes.NewReader(data), 500, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Encode(tc.ctx, tc.r, tc.size, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A reader that returns one byte at a time still gives the right ID.
	want, err := e.BlobID(t.Context(), bytes.NewReader(data), 500)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.BlobID(t.Context(), iotest.OneByteReader(bytes.NewReader(data)), 500)
	if err != nil || got != want {
		t.Fatalf("one-byte reader: %s, %v; want %s", got, err, want)
	}
}
