//go:build race

package fs

// raceEnabled reports a build with the race detector, under which the
// heavy end-to-end tests run smaller.
const raceEnabled = true
