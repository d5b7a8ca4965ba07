package filedata

import "iter"

// span is the part of one unit (a chunk of a file, a block of a chunk) that
// a byte range covers.
type span struct {
	N   uint64 // the unit's number
	In  uint64 // where the span starts in the unit
	Off int    // where the span starts in the range
	Len int    // its length
}

// spans splits the byte range of length bytes at off into the spans of
// units of the given size it covers, in order. A unit size of zero yields
// nothing.
func spans(off uint64, length int, unit uint64) iter.Seq[span] {
	return func(yield func(span) bool) {
		if unit == 0 {
			return
		}
		for done := 0; done < length; {
			pos := off + uint64(done)
			in := pos % unit
			n := int(min(uint64(length-done), unit-in))
			if !yield(span{N: pos / unit, In: in, Off: done, Len: n}) {
				return
			}
			done += n
		}
	}
}
