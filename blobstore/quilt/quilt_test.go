package quilt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// Reference vectors from the official TypeScript encoder, blob IDs from
// walrus-core; see the Walrus notes' testdata README.

type content struct {
	UTF8   *string `json:"utf8"`
	Kind   string  `json:"kind"`
	Length int     `json:"length"`
	Start  int     `json:"start"`
	Mul    int     `json:"mul"`
	Add    int     `json:"add"`
	Seed   uint32  `json:"seed"`
}

func (c content) bytes(t *testing.T) []byte {
	t.Helper()
	if c.UTF8 != nil {
		return []byte(*c.UTF8)
	}
	b := make([]byte, c.Length)
	switch c.Kind {
	case "seq":
		for i := range b {
			b[i] = byte(c.Start + i)
		}
	case "affine":
		for i := range b {
			b[i] = byte(c.Mul*i + c.Add)
		}
	case "lcg32":
		x := c.Seed
		for i := range b {
			x = 1664525*x + 1013904223
			b[i] = byte(x >> 24)
		}
	default:
		t.Fatalf("unknown content kind %q", c.Kind)
	}
	return b
}

type patchVector struct {
	Identifier   string            `json:"identifier"`
	Tags         map[string]string `json:"tags"`
	Start        int               `json:"start_index"`
	End          int               `json:"end_index"`
	PatchID      string            `json:"patch_id"`
	PatchIDHex   string            `json:"patch_id_hex"`
	DataLength   int               `json:"data_length"`
	HeaderLength uint32            `json:"header_length_field"`
	PrefixHex    string            `json:"prefix_hex"`
	ColumnsSHA   string            `json:"columns_sha256"`
}

type quiltLayoutVector struct {
	QuiltSHA256 string        `json:"quilt_sha256"`
	QuiltHex    string        `json:"quilt_hex"`
	IndexBCSHex string        `json:"index_bcs_hex"`
	IndexBlob   string        `json:"index_blob_hex"`
	BlobID      string        `json:"blob_id"`
	BlobIDHex   string        `json:"blob_id_hex"`
	RootHex     string        `json:"metadata_root_hash_hex"`
	Patches     []patchVector `json:"patches"`
}

type quiltVector struct {
	Case   string `json:"case"`
	N      int    `json:"n_shards"`
	Rows   int    `json:"n_rows"`
	Cols   int    `json:"n_columns"`
	NFiles int    `json:"n_files"`
	Inputs []struct {
		Identifier string            `json:"identifier"`
		Tags       map[string]string `json:"tags"`
		Length     int               `json:"length"`
		Content    content           `json:"content"`
		SHA256     string            `json:"sha256"`
	} `json:"inputs"`
	InputsFormula string `json:"inputs_formula"`
	Error         string `json:"error"`
	MaxPatches    int    `json:"max_patches"`
	SymbolSize    int    `json:"symbol_size"`
	ColumnSize    int    `json:"column_size"`
	RowSize       int    `json:"row_size"`
	IndexColumns  int    `json:"index_columns"`
	ColumnsUsed   int    `json:"columns_used"`
	QuiltLength   int    `json:"quilt_length"`
	EncodedLength uint64 `json:"encoded_length"`
	quiltLayoutVector
	RustExpected *quiltLayoutVector `json:"rust_publisher_expected"`
}

func loadVectors(t *testing.T) []quiltVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "quilt_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []quiltVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

// parts returns the vector's files in input order.
func (v *quiltVector) parts(t *testing.T) []blobstore.QuiltPart {
	t.Helper()
	if v.InputsFormula != "" {
		// "m0"… / "m000"…: the names are zero-padded to the width of the
		// largest index; file j is "patch j".
		width := len(fmt.Sprint(v.Cols - 1))
		if !strings.HasPrefix(v.Case, "max_patches") {
			t.Fatalf("%s: unknown formula %q", v.Case, v.InputsFormula)
		}
		ps := make([]blobstore.QuiltPart, v.NFiles)
		for j := range ps {
			ps[j] = blobstore.QuiltPart{Identifier: fmt.Sprintf("m%0*d", width, j), Data: fmt.Appendf(nil, "patch %d", j)}
		}
		return ps
	}
	ps := make([]blobstore.QuiltPart, len(v.Inputs))
	for i, in := range v.Inputs {
		data := in.Content.bytes(t)
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != in.SHA256 || len(data) != in.Length {
			t.Fatalf("input %q: generator disagrees with the vector", in.Identifier)
		}
		ps[i] = blobstore.QuiltPart{Identifier: in.Identifier, Tags: in.Tags, Data: data}
	}
	return ps
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestQuiltVectors(t *testing.T) {
	encoders := map[int]*rs2.Encoder{}
	for _, v := range loadVectors(t) {
		t.Run(fmt.Sprintf("%s/n=%d", v.Case, v.N), func(t *testing.T) {
			p, err := rs2.NewParams(v.N)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kp != v.Rows || p.Ks != v.Cols {
				t.Fatalf("params %+v, want %d×%d", p, v.Rows, v.Cols)
			}
			parts := v.parts(t)
			q, err := Build(p, parts)
			if v.Error != "" {
				if !errors.Is(err, blobstore.ErrTooLarge) {
					t.Fatalf("Build error = %v, want ErrTooLarge (vector: %s)", err, v.Error)
				}
				if v.MaxPatches != p.Ks-1 {
					t.Errorf("max patches %d, vector says %d", p.Ks-1, v.MaxPatches)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := q.Layout
			if l.SymbolSize != v.SymbolSize || l.SecondarySliverSize() != v.ColumnSize || l.PrimarySliverSize() != v.RowSize ||
				q.IndexColumns != v.IndexColumns || int(l.Length) != v.QuiltLength || len(q.Bytes()) != v.QuiltLength ||
				l.EncodedLength() != v.EncodedLength {
				t.Fatalf("S=%d column=%d row=%d idx=%d len=%d encoded=%d, want %d %d %d %d %d %d",
					l.SymbolSize, l.SecondarySliverSize(), l.PrimarySliverSize(), q.IndexColumns, len(q.Bytes()), l.EncodedLength(),
					v.SymbolSize, v.ColumnSize, v.RowSize, v.IndexColumns, v.QuiltLength, v.EncodedLength)
			}
			if got := q.Patches[len(q.Patches)-1].End; got != v.ColumnsUsed {
				t.Errorf("columns used %d, want %d", got, v.ColumnsUsed)
			}
			// walrus-core sorts identifiers by bytes; where the TypeScript
			// encoder's UTF-16 order differs, the vector records what a
			// Rust publisher produces.
			want := v.quiltLayoutVector
			if v.RustExpected != nil {
				want = *v.RustExpected
			}
			blob := q.Bytes()
			if sha(blob) != want.QuiltSHA256 {
				t.Errorf("quilt sha256 %s, want %s", sha(blob), want.QuiltSHA256)
			}
			// The stream gives the same bytes read a byte or half a buffer
			// at a time.
			for _, r := range []io.Reader{iotest.OneByteReader(q.Reader()), iotest.HalfReader(q.Reader())} {
				if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, blob) {
					t.Errorf("streamed quilt: %d bytes, %v; differs from Bytes", len(got), err)
				}
			}
			if want.QuiltHex != "" && hex.EncodeToString(q.Bytes()) != want.QuiltHex {
				t.Errorf("quilt bytes\n got %x\nwant %s", q.Bytes(), want.QuiltHex)
			}
			if got := hex.EncodeToString(q.Index[indexPrefixLen:]); got != want.IndexBCSHex {
				t.Errorf("index BCS\n got %s\nwant %s", got, want.IndexBCSHex)
			}
			if want.IndexBlob == "" {
				hdr := []byte{version, 0, 0, 0, 0}
				binary.LittleEndian.PutUint32(hdr[1:], uint32(len(want.IndexBCSHex)/2))
				want.IndexBlob = hex.EncodeToString(hdr) + want.IndexBCSHex
			}
			if got := hex.EncodeToString(q.Index); got != want.IndexBlob {
				t.Errorf("index blob\n got %s\nwant %s", got, want.IndexBlob)
			}
			byID := map[string]patchVector{}
			for _, pv := range v.Patches {
				byID[pv.Identifier] = pv
			}
			if len(q.Patches) != len(want.Patches) {
				t.Fatalf("%d patches, want %d", len(q.Patches), len(want.Patches))
			}
			ix, err := ParseIndex(p, q.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if ix.Columns != v.IndexColumns || len(ix.Patches) != len(q.Patches) {
				t.Fatalf("parsed index: %d columns, %d patches", ix.Columns, len(ix.Patches))
			}
			read, s, err := BlobColumns(p, q.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			for i, wp := range want.Patches {
				got := q.Patches[i]
				pv := byID[wp.Identifier]
				if got.Identifier != wp.Identifier || got.Start != wp.Start || got.End != wp.End {
					t.Errorf("patch %d: %q [%d,%d), want %q [%d,%d)", i, got.Identifier, got.Start, got.End, wp.Identifier, wp.Start, wp.End)
				}
				if !maps.Equal(got.Tags, pv.Tags) || !maps.Equal(ix.Patches[i].Tags, pv.Tags) {
					t.Errorf("patch %q: tags %v (index %v), want %v", got.Identifier, got.Tags, ix.Patches[i].Tags, pv.Tags)
				}
				if ix.Patches[i].Identifier != got.Identifier || ix.Patches[i].Start != got.Start || ix.Patches[i].End != got.End {
					t.Errorf("parsed index patch %d = %+v, built %+v", i, ix.Patches[i], got)
				}
				var cols []byte
				for c := got.Start; c < got.End; c++ {
					col, err := read(c)
					if err != nil {
						t.Fatal(err)
					}
					cols = append(cols, col...)
				}
				if sha(cols) != pv.ColumnsSHA {
					t.Errorf("patch %q: columns sha256 %s, want %s", got.Identifier, sha(cols), pv.ColumnsSHA)
				}
				if !strings.HasPrefix(hex.EncodeToString(cols), pv.PrefixHex) {
					t.Errorf("patch %q: prefix\n got %x\nwant %s", got.Identifier, cols[:len(pv.PrefixHex)/2], pv.PrefixHex)
				}
				if hdr := uint32(cols[1]) | uint32(cols[2])<<8 | uint32(cols[3])<<16 | uint32(cols[4])<<24; hdr != pv.HeaderLength {
					t.Errorf("patch %q: header length %d, want %d", got.Identifier, hdr, pv.HeaderLength)
				}
				pd, err := ReadPatch(p, s, read, got.Start, got.End)
				if err != nil {
					t.Fatalf("patch %q: %v", got.Identifier, err)
				}
				var orig []byte
				for _, part := range parts {
					if part.Identifier == got.Identifier {
						orig = part.Data
					}
				}
				if pd.Identifier != got.Identifier || !bytes.Equal(pd.Data, orig) || len(pd.Data) != pv.DataLength || !maps.Equal(pd.Tags, pv.Tags) {
					t.Errorf("patch %q read back as %q, %d bytes, tags %v", got.Identifier, pd.Identifier, len(pd.Data), pd.Tags)
				}
				checkHeaderByPrefixes(t, cols, got.Start, pd)
			}
			// The blob ID is the expensive part (an RS2 encoding).
			if raceEnabled && v.N >= 500 {
				t.Skip("blob ID at n≥500 is checked by the run without -race")
			}
			e := encoders[v.N]
			if e == nil {
				if e, err = rs2.NewEncoder(v.N); err != nil {
					t.Fatal(err)
				}
				encoders[v.N] = e
			}
			md, err := e.Encode(t.Context(), bytes.NewReader(q.Bytes()), int64(len(q.Bytes())), nil)
			if err != nil {
				t.Fatal(err)
			}
			id := md.BlobID()
			if root := md.RootHash(); hex.EncodeToString(root[:]) != want.RootHex {
				t.Errorf("root %x, want %s", root, want.RootHex)
			}
			if id.String() != want.BlobID {
				t.Errorf("blob ID %s, want %s", id, want.BlobID)
			}
			if want.BlobIDHex != "" && hex.EncodeToString(id[:]) != want.BlobIDHex {
				t.Errorf("blob ID hex %x, want %s", id[:], want.BlobIDHex)
			}
			for i, sp := range q.StoredPatches(id) {
				wp := want.Patches[i]
				if sp.Identifier != wp.Identifier || sp.PatchID.String() != wp.PatchID {
					t.Errorf("patch %d: %q %s, want %q %s", i, sp.Identifier, sp.PatchID, wp.Identifier, wp.PatchID)
				}
				if pv := byID[wp.Identifier]; v.RustExpected == nil && hex.EncodeToString(sp.PatchID.Bytes()) != pv.PatchIDHex {
					t.Errorf("patch %q: ID hex %x, want %s", wp.Identifier, sp.PatchID.Bytes(), pv.PatchIDHex)
				}
			}
		})
	}
}

// checkHeaderByPrefixes feeds a patch's bytes to PatchSize and
// ParsePatchHeader a byte at a time, as a reader streaming the patch
// does: the parser asks for more until it holds the whole header, never
// for more than the patch has, and then agrees with ReadPatch.
func checkHeaderByPrefixes(t *testing.T, patch []byte, start int, pd *PatchData) {
	t.Helper()
	if _, err := PatchSize(patch[:PatchHeaderLen-1], len(patch), start); err == nil {
		t.Errorf("patch %q: PatchSize of %d bytes succeeded", pd.Identifier, PatchHeaderLen-1)
	}
	size, err := PatchSize(patch[:PatchHeaderLen], len(patch), start)
	if err != nil {
		t.Fatalf("patch %q: PatchSize: %v", pd.Identifier, err)
	}
	for l := 0; l <= size; l++ {
		h, need, err := ParsePatchHeader(patch[:l], size, start)
		if err != nil {
			t.Fatalf("patch %q: ParsePatchHeader of %d bytes: %v", pd.Identifier, l, err)
		}
		if need > size {
			t.Fatalf("patch %q: ParsePatchHeader of %d bytes wants %d, more than the patch's %d", pd.Identifier, l, need, size)
		}
		if need > l {
			continue
		}
		if h.Identifier != pd.Identifier || !maps.Equal(h.Tags, pd.Tags) || h.End != size || !bytes.Equal(patch[h.DataStart:h.End], pd.Data) {
			t.Errorf("patch %q: header parsed from %d bytes = %q, tags %v, data [%d, %d)", pd.Identifier, l, h.Identifier, h.Tags, h.DataStart, h.End)
		}
		return
	}
	t.Errorf("patch %q: the header was never complete within %d bytes", pd.Identifier, size)
}
