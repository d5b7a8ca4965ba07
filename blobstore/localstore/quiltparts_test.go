//go:build !race

package localstore

// quiltTestParts is how many parts the quilt tests at the default
// configuration store: the most a quilt holds at 1000 shards, far more
// than the 26 it holds at DefaultShards.
const quiltTestParts = 666
