package localstore

// MaxQuiltPatches is the most patches a quilt can hold at the store's
// shard count (Ks−1); it implements blobstore.QuiltLimiter.
func (s *Store) MaxQuiltPatches() int { return s.params.Ks - 1 }
