//go:build race

package localstore

// quiltTestParts is how many parts the quilt tests at the default
// configuration store. Encoding and verifying at 1000 shards is slow
// under the race detector, so fewer than the 666 a quilt holds there, but
// still far more than the 26 it holds at DefaultShards.
const quiltTestParts = 100
