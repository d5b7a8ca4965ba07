package wire

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/walrusfs/walrusfs/blobstore"
)

// ParseRange parses a Range header the way Walrus aggregators accept it:
// exactly "bytes=first-last", decimal, first ≤ last, one range. It returns
// the first byte and the length. Any other form (suffix "bytes=-N",
// open-ended "bytes=N-", several ranges, other units, whitespace) fails with
// an error wrapping [blobstore.ErrInvalidArgument]; servers answer it with
// 416 INVALID_BYTE_RANGE.
func ParseRange(h string) (off, length int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, 0, rangeErr(h, "want bytes=first-last")
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, rangeErr(h, "want bytes=first-last")
	}
	first, err1 := parseDecimal(a)
	last, err2 := parseDecimal(b)
	if err1 != nil || err2 != nil {
		return 0, 0, rangeErr(h, "only a single range bytes=first-last with both bounds is supported")
	}
	if last < first {
		return 0, 0, rangeErr(h, "last byte before first")
	}
	if last == 1<<63-1 {
		return 0, 0, rangeErr(h, "range too large")
	}
	return first, last - first + 1, nil
}

// FormatRange returns the Range header for length bytes at off; length must
// be positive.
func FormatRange(off, length int64) string {
	return fmt.Sprintf("bytes=%d-%d", off, off+length-1)
}

// FormatContentRange returns the Content-Range header of a 206 reply.
func FormatContentRange(off, length, total int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, total)
}

// ParseContentRange parses "bytes first-last/total" as sent with a 206
// reply, checking first ≤ last < total. Unsatisfied ("bytes */total") and
// unknown-total ("/*") forms are rejected.
func ParseContentRange(h string) (off, length, total int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, 0, fmt.Errorf("Content-Range %q: want bytes first-last/total", truncate(h))
	}
	r, t, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, 0, fmt.Errorf("Content-Range %q: no total", truncate(h))
	}
	a, b, ok := strings.Cut(r, "-")
	if !ok {
		return 0, 0, 0, fmt.Errorf("Content-Range %q: want first-last", truncate(h))
	}
	first, err1 := parseDecimal(a)
	last, err2 := parseDecimal(b)
	tot, err3 := parseDecimal(t)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, fmt.Errorf("Content-Range %q: bad number", truncate(h))
	}
	if last < first || last >= tot {
		return 0, 0, 0, fmt.Errorf("Content-Range %q: inconsistent bounds", truncate(h))
	}
	return first, last - first + 1, tot, nil
}

// parseDecimal accepts only ASCII digits (no sign, no spaces) that fit in
// an int64.
func parseDecimal(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, strconv.ErrSyntax
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func rangeErr(h, why string) error {
	return fmt.Errorf("range %q: %s: %w", truncate(h), why, blobstore.ErrInvalidArgument)
}
