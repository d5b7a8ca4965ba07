package filedata

import (
	"slices"
	"testing"
)

func TestSpans(t *testing.T) {
	tests := []struct {
		name   string
		off    uint64
		length int
		unit   uint64
		want   []span
	}{
		{"empty", 10, 0, 8, nil},
		{"no unit", 0, 10, 0, nil},
		{"inside one unit", 3, 4, 8, []span{{N: 0, In: 3, Off: 0, Len: 4}}},
		{"a whole unit", 8, 8, 8, []span{{N: 1, In: 0, Off: 0, Len: 8}}},
		{"ends on a boundary", 5, 3, 8, []span{{N: 0, In: 5, Off: 0, Len: 3}}},
		{"across a boundary", 6, 4, 8, []span{{N: 0, In: 6, Off: 0, Len: 2}, {N: 1, In: 0, Off: 2, Len: 2}}},
		{"across three units", 7, 10, 4, []span{
			{N: 1, In: 3, Off: 0, Len: 1}, {N: 2, In: 0, Off: 1, Len: 4}, {N: 3, In: 0, Off: 5, Len: 4}, {N: 4, In: 0, Off: 9, Len: 1},
		}},
		{"far into a file", 1<<40 + 1, 2, 1 << 20, []span{{N: 1 << 20, In: 1, Off: 0, Len: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slices.Collect(spans(tt.off, tt.length, tt.unit)); !slices.Equal(got, tt.want) {
				t.Errorf("spans(%d, %d, %d) = %+v, want %+v", tt.off, tt.length, tt.unit, got, tt.want)
			}
		})
	}
}

// FuzzSpans checks that the spans of a range tile it exactly: in order,
// without gaps or overlaps, each inside its unit, only the first starting
// inside a unit and only the last ending inside one.
func FuzzSpans(f *testing.F) {
	f.Add(uint64(0), uint16(100), uint32(8))
	f.Add(uint64(1<<40+7), uint16(65535), uint32(4096))
	f.Fuzz(func(t *testing.T, off uint64, length uint16, unit uint32) {
		if unit == 0 || off > 1<<62 {
			return
		}
		u := uint64(unit)
		got := slices.Collect(spans(off, int(length), u))
		done := 0
		for i, sp := range got {
			if sp.Off != done || sp.Len <= 0 {
				t.Fatalf("span %d %+v: want it to start at %d with a positive length", i, sp, done)
			}
			pos := off + uint64(done)
			if sp.N != pos/u || sp.In != pos%u {
				t.Fatalf("span %d %+v: range offset %d is unit %d at %d", i, sp, pos, pos/u, pos%u)
			}
			if sp.In+uint64(sp.Len) > u {
				t.Fatalf("span %d %+v: passes the end of its unit of %d", i, sp, u)
			}
			if i > 0 && sp.In != 0 {
				t.Fatalf("span %d %+v: only the first span may start inside a unit", i, sp)
			}
			if i < len(got)-1 && sp.In+uint64(sp.Len) != u {
				t.Fatalf("span %d %+v: only the last span may end inside a unit", i, sp)
			}
			done += sp.Len
		}
		if done != int(length) {
			t.Fatalf("spans cover %d bytes of %d", done, length)
		}
	})
}
