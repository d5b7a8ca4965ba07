package index

import (
	"sync"
	"syscall"
)

// Open inodes and released staging files: the two things the layer above
// tells the index, and the index tells it back, without either calling the
// other while holding its lock.
//
// An inode whose last name goes away while it has open handles becomes an
// orphan instead of being deleted: it stays readable and writable through
// those handles until the last one closes. The layer above counts handles
// into the index with OpenInode and CloseInode; the counts live in memory
// only, since a new mount starts with nothing open (PurgeOrphans).
//
// A staging file that no durable state refers to any more is released:
// after the commit that made it unreferenced, its ID is queued and Released
// signals. The layer above takes the IDs with TakeReleased and removes the
// files. A crash loses the queue; the staging sweep at mount removes what it
// held.

// OpenInode counts one more open handle of ino. It fails with ENOENT if ino
// no longer exists, so an open racing with the inode's deletion either
// fails or keeps the inode alive as an orphan.
func (x *Index) OpenInode(ino Ino) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tx == nil {
		return ErrClosed
	}
	if (&wtx{tx: x.tx}).get(bInodes, inoKey(ino)) == nil {
		return syscall.ENOENT
	}
	x.open[ino]++
	return nil
}

// CloseInode counts one open handle of ino fewer; the last close of an
// orphan deletes it.
func (x *Index) CloseInode(ino Ino) error {
	x.mu.Lock()
	n := x.open[ino] - 1
	if n > 0 {
		x.open[ino] = n
		x.mu.Unlock()
		return nil
	}
	delete(x.open, ino)
	x.mu.Unlock()
	return x.update(func(w *wtx) error {
		if w.get(bOrphans, inoKey(ino)) == nil || x.isOpen(ino) {
			return nil
		}
		return x.deleteInode(w, ino)
	})
}

// isOpen reports whether ino has open handles. The caller holds x.mu.
func (x *Index) isOpen(ino Ino) bool { return x.open[ino] > 0 }

// Released returns a channel that receives a value whenever staging IDs
// have been released since the last TakeReleased.
func (x *Index) Released() <-chan struct{} { return x.rel.ready }

// TakeReleased returns the staging IDs released since the last call and
// forgets them: no durable state refers to these files, so the caller may
// remove them. It works after Close too, so the releases of the final
// commit are not lost.
func (x *Index) TakeReleased() []uint64 { return x.rel.take() }

// releasedSet is the queue behind Released and TakeReleased. It has its own
// lock so that taking never waits for a commit.
type releasedSet struct {
	mu    sync.Mutex
	ids   []uint64
	ready chan struct{}
}

func (r *releasedSet) add(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	r.mu.Lock()
	r.ids = append(r.ids, ids...)
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
}

func (r *releasedSet) take() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.ids
	r.ids = nil
	return ids
}
