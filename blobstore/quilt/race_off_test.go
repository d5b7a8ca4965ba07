//go:build !race

package quilt

// raceEnabled reports whether the race detector is on; it slows the
// RS2 encoding by an order of magnitude.
const raceEnabled = false
