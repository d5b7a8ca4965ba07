package filedata

import (
	"bytes"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/index"
)

// TestReadStagedInto: a small read inside one staged chunk is answered
// with one pread, and returns exactly what Read returns, zeros past the
// end of a chunk file shorter than the file included; reads across
// chunks or past the end of the file are left to Read.
func TestReadStagedInto(t *testing.T) {
	te := openEngine(t, t.TempDir(), func(c *Config) { c.SealDelay = time.Hour })
	f := te.open(t, te.create(t, "f"))
	defer func() { _ = f.Release() }()
	data := randBytes(3, 2*testChunk+3000)
	if err := f.Write(t.Context(), data, 0); err != nil {
		t.Fatal(err)
	}
	short := te.open(t, te.create(t, "short"))
	defer func() { _ = short.Release() }()
	if err := short.Write(t.Context(), data[:100], 0); err != nil {
		t.Fatal(err)
	}
	size := uint64(10000) // the chunk file keeps its 100 bytes
	if _, err := short.Truncate(index.SetAttrIn{Size: &size, Now: 2}); err != nil {
		t.Fatal(err)
	}
	if r := short.ReadStaged(0, 4096); r != nil {
		r.Done()
		t.Fatal("a range spliced from a chunk file shorter than the read")
	}
	for _, tc := range []struct {
		name   string
		f      *File
		off    int64
		n      int
		staged bool
	}{
		{"first page", f, 0, 4096, true},
		{"inside the second chunk", f, testChunk + 5000, 4096, true},
		{"up to the end of a chunk", f, testChunk - 4096, 4096, true},
		{"across two chunks", f, testChunk - 100, 4096, false},
		{"the end of the file", f, 2*testChunk + 1000, 4096, true},
		{"past the end of the file", f, 2*testChunk + 3000, 4096, false},
		{"past a short chunk file", short, 0, 4096, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bytes.Repeat([]byte{0xaa}, tc.n) // what the zeros must overwrite
			n, ok, err := tc.f.ReadStagedInto(tc.off, got)
			if err != nil || ok != tc.staged {
				t.Fatalf("ReadStagedInto: ok %v, err %v; want ok %v", ok, err, tc.staged)
			}
			if !ok {
				return
			}
			want := make([]byte, tc.n)
			m, err := tc.f.Read(t.Context(), want, tc.off)
			if err != nil {
				t.Fatal(err)
			}
			if n != m || !bytes.Equal(got[:n], want[:m]) {
				t.Fatalf("ReadStagedInto gave %d bytes, Read %d; same bytes: %v", n, m, bytes.Equal(got[:n], want[:m]))
			}
		})
	}
}
