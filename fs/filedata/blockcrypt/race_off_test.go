//go:build !race

package blockcrypt

// raceEnabled reports whether the race detector is on; it makes allocation
// counts meaningless.
const raceEnabled = false
