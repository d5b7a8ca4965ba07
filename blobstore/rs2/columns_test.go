package rs2

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// columnsOf cuts columns [c0, c1) out of the systematic primary slivers:
// column c is symbol c of each row, top to bottom.
func columnsOf(l Layout, slivers [][]byte, c0, c1 int) [][]byte {
	s := l.SymbolSize
	cols := make([][]byte, c1-c0)
	for c := range cols {
		cols[c] = make([]byte, 0, l.Kp*s)
		for r := range l.Kp {
			cols[c] = append(cols[c], slivers[r][(c0+c)*s:(c0+c+1)*s]...)
		}
	}
	return cols
}

// The secondary slivers of the official encoder's vectors are columns of
// their blobs: each must pass against the official secondary root, and
// fail with one byte changed. This pins VerifyColumns to walrus-core, not
// to this package's encoder.
func TestVerifyColumnsVectors(t *testing.T) {
	var f blobVectorFile
	readJSON(t, "blob_id_vectors.json", &f)
	encoders := encoderCache{}
	checked := 0
	for _, v := range f.Vectors {
		if v.Error != "" {
			continue
		}
		e := encoders.get(t, v.N)
		md := &Metadata{Length: v.Length, Pairs: make([]PairHash, v.N)}
		for _, p := range append(append([]pairVector(nil), v.Pairs...), v.PairsFirstLast...) {
			copy(md.Pairs[p.Pair].Secondary[:], mustHex(t, p.Secondary))
		}
		sec := v.Secondary
		if v.SecondaryFirst != nil {
			sec = append(sec, *v.SecondaryFirst)
		}
		for _, sv := range sec {
			if sv.Hex == "" || sv.Index >= v.Ks || md.Pairs[v.N-1-sv.Index].Secondary == (Hash{}) {
				continue
			}
			col := mustHex(t, sv.Hex)
			name := fmt.Sprintf("%s/n=%d/column %d", v.Input, v.N, sv.Index)
			if err := e.VerifyColumns(md, sv.Index, [][]byte{col}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			bad := bytes.Clone(col)
			bad[len(bad)-1] ^= 1
			if err := e.VerifyColumns(md, sv.Index, [][]byte{bad}); !errors.Is(err, blobstore.ErrIntegrity) {
				t.Errorf("%s changed: err = %v, want ErrIntegrity", name, err)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d vector columns checked", checked)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Any range of message columns of an encoded blob verifies, spanning
// several re-encoding batches and with odd symbol sizes; a change in any
// one column is found and named; bad arguments are refused.
func TestVerifyColumns(t *testing.T) {
	for _, tc := range []struct{ n, length int }{{4, 3000}, {10, 1 << 20}, {100, 3 << 20}, {1000, 5<<20 + 7}} {
		t.Run(fmt.Sprintf("n=%d", tc.n), func(t *testing.T) {
			skipUnderRace(t, tc.n)
			e, err := NewEncoder(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			md, all := encodeAll(t, e, lcg32(tc.length, uint32(tc.n)))
			l, err := e.Layout(md.Length)
			if err != nil {
				t.Fatal(err)
			}
			ks := l.Ks
			for _, r := range [][2]int{{0, ks}, {0, 1}, {ks - 1, ks}, {ks / 3, ks/3 + min(ks/2, 300)}} {
				cols := columnsOf(l, all, r[0], r[1])
				if err := e.VerifyColumns(md, r[0], cols); err != nil {
					t.Fatalf("columns [%d, %d): %v", r[0], r[1], err)
				}
				k := len(cols) - 1
				cols[k][len(cols[k])/2] ^= 0x80
				err := e.VerifyColumns(md, r[0], cols)
				if !errors.Is(err, blobstore.ErrIntegrity) || !strings.Contains(err.Error(), fmt.Sprintf("column %d:", r[0]+k)) {
					t.Fatalf("columns [%d, %d) with column %d changed: err = %v, want ErrIntegrity naming it", r[0], r[1], r[0]+k, err)
				}
			}
			// A column checked against its neighbour's hash fails.
			if err := e.VerifyColumns(md, 1, columnsOf(l, all, 0, 1)); !errors.Is(err, blobstore.ErrIntegrity) {
				t.Errorf("column 0 as 1: err = %v, want ErrIntegrity", err)
			}
			for _, bad := range []struct {
				c0   int
				cols [][]byte
			}{
				{-1, columnsOf(l, all, 0, 1)},
				{ks, [][]byte{make([]byte, l.SecondarySliverSize())}},
				{0, [][]byte{make([]byte, l.SecondarySliverSize()-2)}},
			} {
				if err := e.VerifyColumns(md, bad.c0, bad.cols); !errors.Is(err, blobstore.ErrInvalidArgument) {
					t.Errorf("c0 %d, %d columns of %d bytes: err = %v, want ErrInvalidArgument", bad.c0, len(bad.cols), len(bad.cols[0]), err)
				}
			}
		})
	}
}
