package quilt

import (
	"errors"
	"strings"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

func TestBuildRejects(t *testing.T) {
	p, err := rs2.NewParams(10)
	if err != nil {
		t.Fatal(err)
	}
	part := func(id string) blobstore.QuiltPart { return blobstore.QuiltPart{Identifier: id, Data: []byte("x")} }
	tests := []struct {
		name  string
		parts []blobstore.QuiltPart
		want  error
	}{
		{"empty identifier", []blobstore.QuiltPart{part("")}, blobstore.ErrInvalidArgument},
		{"invalid UTF-8", []blobstore.QuiltPart{part("a\xffb")}, blobstore.ErrInvalidArgument},
		{"trailing space", []blobstore.QuiltPart{part("a ")}, blobstore.ErrInvalidArgument},
		{"trailing ideographic space", []blobstore.QuiltPart{part("a\u3000")}, blobstore.ErrInvalidArgument},
		{"control character", []blobstore.QuiltPart{part("a\tb")}, blobstore.ErrInvalidArgument},
		{"too long", []blobstore.QuiltPart{part(strings.Repeat("x", MaxIdentifierLen+1))}, blobstore.ErrInvalidArgument},
		{"duplicate", []blobstore.QuiltPart{part("a"), part("b"), part("a")}, blobstore.ErrInvalidArgument},
		{"tag not UTF-8", []blobstore.QuiltPart{{Identifier: "a", Tags: map[string]string{"k": "\xff"}}}, blobstore.ErrInvalidArgument},
		{"tags too large", []blobstore.QuiltPart{{Identifier: "a", Tags: map[string]string{"k": strings.Repeat("v", 70000)}}}, blobstore.ErrInvalidArgument},
		{"too many patches", []blobstore.QuiltPart{part("a"), part("b"), part("c"), part("d"), part("e"), part("f"), part("g")}, blobstore.ErrTooLarge},
		{"does not fit", []blobstore.QuiltPart{{Identifier: "big", Data: make([]byte, int(p.MaxBlobSize()))}}, blobstore.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(p, tc.parts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Build error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBuildAccepts(t *testing.T) {
	p, err := rs2.NewParams(10)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		parts []blobstore.QuiltPart
	}{
		{"no parts", nil},
		{"longest identifier", []blobstore.QuiltPart{{Identifier: strings.Repeat("x", MaxIdentifierLen)}}},
		{"inner space and non-ASCII", []blobstore.QuiltPart{{Identifier: "a b/é😀.txt", Data: []byte("hi")}}},
		{"empty data", []blobstore.QuiltPart{{Identifier: "empty"}}},
		{"leading underscores", []blobstore.QuiltPart{{Identifier: "_config.yml"}, {Identifier: "__init__.py", Data: []byte("x")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Build(p, tc.parts)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := ParseIndex(p, q.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(ix.Patches) != len(tc.parts) {
				t.Fatalf("%d patches parsed, want %d", len(ix.Patches), len(tc.parts))
			}
			for _, part := range tc.parts {
				pt, ok := ix.Lookup(part.Identifier)
				if !ok {
					t.Fatalf("%q not in index", part.Identifier)
				}
				pd, err := ExtractPatch(p, q.Bytes(), pt.Start, pt.End)
				if err != nil {
					t.Fatal(err)
				}
				if string(pd.Data) != string(part.Data) || pd.Identifier != part.Identifier {
					t.Errorf("%q read back as %q with %d bytes", part.Identifier, pd.Identifier, len(pd.Data))
				}
			}
		})
	}
}
