package filedata

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcache"
	"github.com/walrusfs/walrusfs/index"
)

// errNotCached is what a cache-only read gets for a block the cache does
// not hold.
var errNotCached = errors.New("block not in the cache")

// cachedOnly is a stored block read from the block cache alone: its
// fetch fails instead of going to the store.
type cachedOnly struct{ *storedBlock }

var _ blockcache.Source = cachedOnly{}

func (cachedOnly) Fetch(context.Context) ([]byte, []blockcache.Block, error) {
	return nil, nil, errNotCached
}

// RestoreFromCache rebuilds stored chunk n of ino, whose reference is
// ref, from the block cache alone (memory, then disk, every block checked
// against its recorded hash; never the store) into a new staging file,
// and queues that for upload in place of the stored reference
// (index.Index.Requeue): the repair of a chunk whose blob is lost when no
// local copy is left. ok is false, and nothing changed, when a block is
// not cached or the chunk changed meanwhile. Open files switch to the
// staged copy.
func (e *Engine) RestoreFromCache(ctx context.Context, ino index.Ino, n uint64, ref index.ChunkRef) (index.ChunkRef, bool, error) {
	s := ref.Stored
	if ref.Kind != index.ChunkStored || s == nil {
		return index.ChunkRef{}, false, nil
	}
	codec, err := e.codecFor(s)
	if err != nil {
		return index.ChunkRef{}, false, err
	}
	if codec.Layout().Blocks(int64(s.PlainLen)) != len(s.BlockHashes) {
		return index.ChunkRef{}, false, nil
	}
	plain := make([]byte, s.PlainLen)
	for i := range s.BlockHashes {
		b := &storedBlock{e: e, s: s, i: i, codec: codec}
		data, err := e.cfg.Cache.Get(ctx, b.key(), cachedOnly{b})
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return index.ChunkRef{}, false, ctxErr
			}
			return index.ChunkRef{}, false, nil // not cached (or not whole): nothing to restore from
		}
		off := uint64(i) * uint64(s.BlockSize)
		if off+uint64(len(data)) > s.PlainLen {
			return index.ChunkRef{}, false, nil
		}
		copy(plain[off:], data)
	}
	id, err := e.idx.AllocStagingID()
	if err != nil {
		return index.ChunkRef{}, false, err
	}
	f, err := e.stage.open(id, true)
	if err != nil {
		return index.ChunkRef{}, false, fmt.Errorf("restore chunk %d of inode %d: %w", n, ino, err)
	}
	_, err = f.Write(plain)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	drop := func() { _ = os.Remove(e.stage.path(id)) }
	if err != nil {
		drop()
		return index.ChunkRef{}, false, fmt.Errorf("restore chunk %d of inode %d: %w", n, ino, err)
	}
	e.stage.noteSize(id, int64(len(plain)))
	newRef, ok, err := e.idx.Requeue(ino, n, s.BlobID, ref.StagingID, id, int64(len(plain)), now())
	if err != nil || !ok {
		e.stage.noteSize(id, -1)
		drop()
		return index.ChunkRef{}, false, err
	}
	e.Requeued([]index.ChunkUpdate{{Ino: ino, N: n, Ref: newRef}})
	e.log.Info("chunk restored from the block cache and queued for upload", "ino", ino, "chunk", n, "blob", blobstore.ID(s.BlobID))
	return newRef, true, nil
}
