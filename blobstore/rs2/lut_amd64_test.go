//go:build !noasm && !appengine && !gccgo && !nopshufb

package rs2

import (
	"bytes"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// TestUnusedTableDropped: with AVX2, making an encoder frees the
// library's 64 MiB pure-Go multiplication table, and encoding and
// reconstruction (which would panic on the nil table were it read) still
// give Walrus's symbols.
func TestUnusedTableDropped(t *testing.T) {
	if !cpuid.CPU.Supports(cpuid.AVX2) {
		t.Skip("without AVX2 the library multiplies with the table")
	}
	e, err := NewEncoder(1000)
	if err != nil {
		t.Fatal(err)
	}
	if mul16LUTs != nil {
		t.Fatal("the pure-Go GF(2^16) table is still referenced after NewEncoder")
	}
	data := lcg32(200_000, 7)
	md, slivers := encodeAll(t, e, data)
	for i := range e.Params().Kp {
		slivers[i] = nil // only repair slivers left to rebuild from
	}
	var out bytes.Buffer
	if err := e.ReconstructBlob(slivers, md.Length, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("blob rebuilt from repair slivers differs")
	}
}
