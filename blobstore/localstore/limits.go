package localstore

// MaxQuiltPatches is the most patches a quilt can hold at the store's
// quilt shard count, Config.QuiltShards (Ks−1: 666 at the default 1000);
// it implements blobstore.QuiltLimiter.
func (s *Store) MaxQuiltPatches() int { return s.qenc.Params().Ks - 1 }
