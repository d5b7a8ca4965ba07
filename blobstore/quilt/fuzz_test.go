package quilt

import (
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// fuzzParams is n=4: Kp=2, Ks=3, so an arbitrary input of 12·S bytes is a
// whole quilt blob with symbol size S.
func fuzzParams(t testing.TB) rs2.Params {
	p, err := rs2.NewParams(4)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzReadIndex feeds arbitrary column bytes to the index parser and
// patch extraction: they must never panic, and whatever index they accept
// must describe a consistent column layout.
func FuzzReadIndex(f *testing.F) {
	p := fuzzParams(f)
	for _, parts := range [][]blobstore.QuiltPart{
		{{Identifier: "a.txt", Data: []byte("hello")}},
		{{Identifier: "x", Tags: map[string]string{"b": "2", "aa": "1"}, Data: []byte("tagged")}, {Identifier: "y"}},
	} {
		q, err := Build(p, parts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(q.Bytes(), 1, 2)
	}
	f.Add([]byte{1, 0, 0, 0, 0}, 0, 1)
	f.Fuzz(func(t *testing.T, data []byte, start, end int) {
		cells := p.Kp * p.Ks
		s := (len(data)/cells + 1) &^ 1
		if s == 0 {
			s = 2
		}
		blob := make([]byte, cells*s)
		copy(blob, data)
		read, gotS, err := BlobColumns(p, blob)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := ReadIndex(p, gotS, read)
		if err == nil {
			prev := ix.Columns
			for _, pt := range ix.Patches {
				if pt.Start != prev || pt.End <= pt.Start || pt.End > p.Ks {
					t.Fatalf("accepted inconsistent index: %+v", ix)
				}
				prev = pt.End
				_, _ = ReadPatch(p, gotS, read, pt.Start, pt.End)
			}
		}
		pd, err := ReadPatch(p, gotS, read, start, end)
		if err == nil && len(pd.Data) > (end-start)*gotS*p.Kp {
			t.Fatalf("patch data of %d bytes from %d columns", len(pd.Data), end-start)
		}
		// Raw, unaligned input must be rejected or parsed, never panic.
		_, _ = ParseIndex(p, data)
		_, _ = ExtractPatch(p, data, start, end)
	})
}
