//go:build !race

package rs2

// raceEnabled reports whether the race detector is on; it slows the
// encoder's hashing loops by an order of magnitude.
const raceEnabled = false
