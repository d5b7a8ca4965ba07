package localstore

// MaxQuiltPatches is the most patches a quilt can hold at the store's
// quilt shard count, Config.QuiltShards (Ks−1: 666 at the default 1000).
func (s *Store) MaxQuiltPatches() int { return s.QuiltParams().Ks - 1 }

// QuiltShards returns the shard count quilts are laid out and encoded at,
// Config.QuiltShards; it implements blobstore.QuiltLimiter.
func (s *Store) QuiltShards() int { return s.QuiltParams().N }
