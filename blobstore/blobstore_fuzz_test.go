package blobstore

import (
	"bytes"
	"testing"
)

// FuzzParseID checks that ParseID never panics and that every accepted
// string round-trips exactly (the strict decoder admits one spelling per ID).
func FuzzParseID(f *testing.F) {
	f.Add("kIrHJ_1VfYJD-OV0O1JicM2lB5swr83ZkfvTD7BWV0I")
	f.Add("3GPQL3HZNnFhN_F7l5Aa-X1VOtAKwIsg9zuWk8R81v4")
	f.Add("kIrHJ_1VfYJD-OV0O1JicM2lB5swr83ZkfvTD7BWV0J")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
		back, err := IDFromBytes(id.Bytes())
		if err != nil || back != id {
			t.Fatalf("IDFromBytes round trip of %q: %v, %v", s, back, err)
		}
		u, err := IDFromU256(id.U256())
		if err != nil || u != id {
			t.Fatalf("U256 round trip of %q: %v, %v", s, u, err)
		}
	})
}

// FuzzParsePatchID checks that ParsePatchID never panics, that accepted
// IDs round-trip exactly and that they satisfy its documented checks.
func FuzzParsePatchID(f *testing.F) {
	f.Add("nlpLUca8uVvopBvU0yZlLD5JsiVNA4UhsBUexwgWGk0BAQAIAA")
	f.Add("DHe0S3qWdS9V1xwiOe8FkjqoiYGxS9riFcR-FeNvvu0BAQACAA")
	f.Add("DJHLsgUoKQKEPcw3uehNQwuJjMu5a2sRdn8r-f7iWSAAC8Pw")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePatchID(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePatchID(%q).String() = %q", s, p.String())
		}
		if p.Version != PatchIDVersion || p.End <= p.Start {
			t.Fatalf("ParsePatchID(%q) accepted %+v", s, p)
		}
		if !bytes.Equal(p.Bytes()[:IDSize], p.Quilt[:]) {
			t.Fatalf("Bytes() of %q does not start with the quilt ID", s)
		}
	})
}
