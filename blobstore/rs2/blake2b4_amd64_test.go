//go:build amd64 && !purego

package rs2

import "testing"

// The one-at-a-time fallback that machines without AVX2 use, checked on
// this one too.
func TestLeafHasher4Fallback(t *testing.T) {
	saved := haveCompress4
	haveCompress4 = false
	defer func() { haveCompress4 = saved }()
	checkLeafHasher4(t)
}
