package filedata

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/index"
)

// fileData is the I/O state of one regular file while it has open handles
// or I/O in flight: a cache of its chunk map and open chunk files. All
// changes to the file's chunk map go through it, so the cache stays exact.
type fileData struct {
	e   *Engine
	ino index.Ino

	users int // handles plus in-flight path operations (truncate, fallocate); guarded by Engine.openMu

	// io orders data operations: reads share it, writes and truncates
	// hold it exclusively.
	io sync.RWMutex

	// indexPending is set when an index operation that fdatasync must
	// make durable (the file's size or chunk map) may not be on disk yet;
	// an fdatasync after writes that only overwrote staged chunks in
	// place flushes the chunk files and not the index journal, which then
	// holds nothing but new times. It starts set: a file's first fsync
	// always flushes the index.
	indexPending atomic.Bool

	mu     sync.Mutex // guards the fields below
	refs   map[uint64]chunkSlot
	chunks map[uint64]*os.File // staging ID → open chunk file
}

// readRun is one open handle's read-ahead state (see prefetch): where its
// current run of back-to-back reads started and how far it has got, the
// file offset stored data has been asked ahead to in this run, and the
// next chunk whose staging file was asked into the page cache. It is kept
// per handle, since the kernel sends each open file's reads, its readahead
// included, under that file's handle: two players of one video do not
// break each other's runs.
type readRun struct {
	mu         sync.Mutex
	runStart   uint64
	readEnd    int64
	read       uint64 // bytes the run's reads asked for
	ahead      uint64
	prefetched uint64
}

// chunkSlot caches one chunk map entry; ok is false for a hole.
type chunkSlot struct {
	ref index.ChunkRef
	ok  bool
}

// acquire returns the shared I/O state of ino, creating it if needed.
func (e *Engine) acquire(ino index.Ino) *fileData {
	e.openMu.Lock()
	defer e.openMu.Unlock()
	d := e.files[ino]
	if d == nil {
		d = &fileData{e: e, ino: ino, refs: map[uint64]chunkSlot{}, chunks: map[uint64]*os.File{}}
		d.indexPending.Store(true)
		e.files[ino] = d
	}
	d.users++
	return d
}

// release gives up one use of d; the last one closes its chunk files.
func (e *Engine) release(d *fileData) {
	e.openMu.Lock()
	d.users--
	last := d.users == 0
	if last {
		delete(e.files, d.ino)
	}
	e.openMu.Unlock()
	if last {
		d.closeChunks()
	}
}

func (d *fileData) closeChunks() {
	// Spliced reads hold io until their reply is sent: wait for them
	// before closing the descriptors they read from.
	d.io.Lock()
	defer d.io.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range d.chunks {
		_ = c.Close() // read and written through; fsync reported any write error
		delete(d.chunks, id)
	}
}

// File is one open handle of an inode. Its methods are the data
// operations of open(2)'s file description; the inode's state is shared
// with every other handle of it.
type File struct {
	e   *Engine
	d   *fileData
	run readRun
}

// Open opens a handle on ino. The index counts the handle (the inode is
// then "open": unlinking it leaves an orphan), or Open fails with ENOENT if
// the inode was deleted meanwhile (a rename or unlink racing with the
// open).
func (e *Engine) Open(ino index.Ino) (*File, error) {
	if err := e.idx.OpenInode(ino); err != nil {
		return nil, err
	}
	return &File{e: e, d: e.acquire(ino)}, nil
}

// Stored reports whether the file's data is read from the store: its
// first chunk is stored with no staged file or local copy. (One chunk
// stands for the file: looking at every chunk of a large file at each open
// would cost more than the answer is worth, and a file is mostly written,
// and later stored, as a whole.)
func (f *File) Stored() bool {
	ref, ok, err := f.d.ref(0)
	return err == nil && ok && ref.Kind == index.ChunkStored && ref.StagingID == 0
}

// Release closes the handle. The last close of an unlinked file deletes
// it.
func (f *File) Release() error {
	f.e.release(f.d)
	return f.e.idx.CloseInode(f.d.ino)
}

// Flush is called at every close(2). It does nothing: the data is already
// staged (a daemon crash loses nothing), and closing does not seal. A file
// is often written again soon after a close (an editor's save, a
// database's next transaction), and a sealed chunk that is written again
// is copied and uploaded again. Chunks are sealed once they have not been
// written for Config.SealDelay (--upload-delay), at unmount, or early when
// staging needs room.
func (f *File) Flush() error { return nil }

// Fsync makes the file's staged data and all metadata durable on local
// disk. It does not seal (see Flush): a database that fsyncs every
// transaction would otherwise store a new blob per transaction. With
// FsyncCertified it then seals the file's chunks and waits until the data
// is certified in the store.
func (f *File) Fsync(ctx context.Context) error { return f.sync(ctx, false) }

// Fdatasync is Fsync for fdatasync(2): the data and what it takes to read
// it back (the size, the chunk map) are made durable, times and other
// metadata need not be. After writes that only overwrote staged data in
// place it flushes the chunk files alone, as a local filesystem flushes
// the data blocks without its journal.
func (f *File) Fdatasync(ctx context.Context) error { return f.sync(ctx, true) }

func (f *File) sync(ctx context.Context, dataOnly bool) error {
	if err := f.syncLocal(ctx, dataOnly); err != nil {
		return err
	}
	if f.e.cfg.FsyncCertified {
		return f.e.waitCertified(ctx, f.d)
	}
	return nil
}

func (f *File) syncLocal(ctx context.Context, dataOnly bool) error {
	d := f.d
	// Holding io keeps writes and truncates out: no chunk file of this
	// inode is written or closed under us, and indexPending cannot be set
	// meanwhile.
	d.io.RLock()
	defer d.io.RUnlock()
	pending := d.indexPending.Swap(false)
	if dataOnly && !pending {
		return f.e.syncInode(d)
	}
	err := f.e.syncWithIndex(ctx, func() error { return f.e.syncInode(d) })
	if err != nil && pending {
		d.indexPending.Store(true)
	}
	return err
}

// Read fills dest from offset off and returns how many bytes it holds:
// fewer than len(dest) only at the end of the file.
func (f *File) Read(ctx context.Context, dest []byte, off int64) (int, error) {
	defer f.e.reads.Begin()()
	return f.d.read(ctx, &f.run, dest, off)
}

// Write stores p at offset off, waiting for staging room first (see
// Config.StagingBudget).
func (f *File) Write(ctx context.Context, p []byte, off int64) error {
	if off < 0 {
		return syscall.EINVAL
	}
	f.e.NoteChange()
	if err := f.e.waitForRoom(ctx, int64(len(p))); err != nil {
		return err
	}
	return f.d.write(ctx, p, uint64(off))
}

// Truncate applies a setattr that changes the size (O_TRUNC, ftruncate).
func (f *File) Truncate(ch index.SetAttrIn) (index.Attr, error) { return f.d.truncate(ch) }

// Truncate applies a setattr that changes the size of ino, open or not.
func (e *Engine) Truncate(ino index.Ino, ch index.SetAttrIn) (index.Attr, error) {
	d := e.acquire(ino)
	defer e.release(d)
	return d.truncate(ch)
}

// Allocate implements fallocate(2) on ino (see allocate for the modes).
func (e *Engine) Allocate(ctx context.Context, ino index.Ino, off, length uint64, mode uint32) error {
	d := e.acquire(ino)
	defer e.release(d)
	return d.allocate(ctx, off, length, uint64(mode))
}

// syncFiles flushes the data of files to disk. Writeback of all of them is
// started first and the flushes run in parallel, so the local filesystem
// can fold them into a few journal commits instead of one per chunk file.
func syncFiles(files []*os.File) error {
	for _, c := range files {
		_ = unix.SyncFileRange(int(c.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	sem := make(chan struct{}, 16)
	errs := make(chan error, len(files))
	for _, c := range files {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if err := unix.Fdatasync(int(c.Fd())); err != nil {
				errs <- err
			}
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	return <-errs
}

// ref returns chunk n's reference, from the cache or the index.
func (d *fileData) ref(n uint64) (index.ChunkRef, bool, error) {
	d.mu.Lock()
	s, cached := d.refs[n]
	d.mu.Unlock()
	if cached {
		return s.ref, s.ok, nil
	}
	ref, ok, err := d.e.idx.Chunk(d.ino, n)
	if err != nil {
		return ref, false, err
	}
	d.mu.Lock()
	d.refs[n] = chunkSlot{ref: ref, ok: ok}
	d.mu.Unlock()
	return ref, ok, nil
}

// refreshRef drops chunk n's cached reference and reads it again: for a
// reader that found the staged file of a sealed chunk gone (its upload
// finished and the file was released).
func (d *fileData) refreshRef(n uint64) (index.ChunkRef, bool, error) {
	d.mu.Lock()
	delete(d.refs, n)
	d.mu.Unlock()
	return d.ref(n)
}

func (d *fileData) setRef(n uint64, ref index.ChunkRef) {
	d.mu.Lock()
	d.refs[n] = chunkSlot{ref: ref, ok: true}
	d.mu.Unlock()
}

// chunkFile returns the open chunk file of a staging ID. Without create, a
// file that does not exist yet (the chunk was recorded but never written)
// returns nil and no error.
func (d *fileData) chunkFile(id uint64, create bool) (*os.File, error) {
	d.mu.Lock()
	c := d.chunks[id]
	d.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := d.e.stage.open(id, create)
	if err != nil {
		if !create && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev := d.chunks[id]; prev != nil {
		_ = c.Close() // a duplicate open of the same file
		return prev, nil
	}
	d.chunks[id] = c
	return c, nil
}

// read fills dest from offset off and returns how many bytes it holds:
// fewer than len(dest) only at the end of the file.
func (d *fileData) read(ctx context.Context, run *readRun, dest []byte, off int64) (int, error) {
	d.io.RLock()
	defer d.io.RUnlock()
	a, err := d.e.idx.GetAttr(d.ino)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if uint64(off) >= a.Size {
		return 0, nil
	}
	if rest := a.Size - uint64(off); uint64(len(dest)) > rest {
		dest = dest[:rest]
	}
	cs := uint64(a.ChunkSize)
	for sp := range spans(uint64(off), len(dest), cs) {
		if err := d.readChunk(ctx, sp.N, sp.In, dest[sp.Off:sp.Off+sp.Len]); err != nil {
			return 0, err
		}
	}
	d.prefetch(run, off, uint64(off)+uint64(len(dest)), cs, a.Size)
	return len(dest), nil
}

// A read that starts at most runSlackBehind before or runSlackAhead after
// where the current run of reads has got to continues the run.
const (
	runSlackBehind = 4 << 20
	runSlackAhead  = 1 << 20
)

// fetchAheadAfter is how much of a run the application must have read
// (beyond Config.ReadaheadLead) before stored data is fetched ahead of it.
// A player that seeks reads a few MB after each seek before it shows a
// frame (a group of pictures or two of 1080p video: 2–4 MB) and then
// seeks again; fetching ahead of that is fetching what nobody reads.
const fetchAheadAfter = 4 << 20

// maxFetchAheadChunks bounds how far ahead of a sequential reader stored
// data is fetched, in chunks.
const maxFetchAheadChunks = 2

// fetchAheadPiece is the most one fetch ahead of a reader asks for: a
// stretch is fetched in pieces that run at once.
const fetchAheadPiece = 2 << 20

// stageNextAfter is how many bytes a run must have read before the next
// staged chunk is asked into the page cache. The run's span is not
// enough: random reads that land near each other by chance (within the
// slack above) continue a run, and each 8 MiB chunk asked for then is
// disk bandwidth taken from the random reads themselves.
const stageNextAfter = 1 << 20

// prefetch keeps a sequential reader from stalling, without making a
// reader that seeks pay for data it does not read. Called after each read
// of [off, end).
//
// A read that does not continue the current run (a seek) starts a new
// one, and nothing is fetched for it beyond the blocks it touches
// (readStored fetches those, from the block asked for). The reads of a run
// include the kernel's own readahead, which asks for up to
// Config.ReadaheadLead past what the application has read, in requests
// that look like the application's; so only what the run has read beyond
// that lead counts as the application's. Once that passes
// fetchAheadAfter, stored data is fetched ahead of the run, as far ahead as
// the application has read (at most maxFetchAheadChunks chunks): the window
// grows with the run, doubling as the run doubles, and starts again from
// nothing at the next seek. Each fetch starts at the first block after
// where the run has got to; the blocks up to there are the kernel's
// requests' own.
//
// A staged next chunk's file is asked into the page cache as soon as a
// run has read stageNextAfter bytes (the kernel's readahead works per
// file, would start cold there and ramp up from small requests; one
// request for the whole chunk reads about 1.4× faster).
func (d *fileData) prefetch(run *readRun, off int64, end, cs, size uint64) {
	run.mu.Lock()
	// The kernel sends a sequential reader's requests several at a time
	// (its readahead), so they arrive a little out of order: a read that
	// starts near where the run has got to continues it.
	last := uint64(run.readEnd)
	sequential := run.readEnd > 0 && uint64(off)+runSlackBehind >= last && uint64(off) <= last+runSlackAhead
	switch {
	case !sequential:
		run.runStart, run.ahead, run.read, last = uint64(off), 0, 0, end
	case end > last:
		last = end
	}
	run.read += end - uint64(off)
	run.readEnd = int64(last)
	end = last
	var from, to uint64
	fetch := false
	if read := int64(end-run.runStart) - d.e.cfg.ReadaheadLead; sequential && d.e.cfg.FetchAhead && read >= fetchAheadAfter {
		// Like the kernel's readahead, a new stretch is asked for once
		// the reader has used half of what is ahead of it, so the fetches
		// stay few and large.
		window := min(uint64(read), maxFetchAheadChunks*cs)
		from, to = max(end, run.ahead), min(end+window, size)
		fetch = from < to && run.ahead < end+window/2
		if fetch {
			run.ahead = to
		}
	}
	next := end/cs + 1
	stageNext := sequential && run.read >= stageNextAfter && next*cs < size && run.prefetched != next
	if stageNext {
		run.prefetched = next
	}
	run.mu.Unlock()
	if fetch {
		d.fetchAhead(from, to, cs)
	}
	if !stageNext {
		return
	}
	ref, ok, err := d.ref(next)
	if err != nil || !ok || ref.StagingID == 0 {
		return
	}
	if c, err := d.chunkFile(ref.StagingID, false); err == nil && c != nil {
		_ = unix.Fadvise(int(c.Fd()), 0, int64(cs), unix.FADV_WILLNEED)
	}
}

// fetchAhead asks the block cache, without waiting, for the stored data of
// the file from offset from to offset to: one fetch per stored chunk it
// spans, from the first block that starts at or after from.
func (d *fileData) fetchAhead(from, to, cs uint64) {
	for sp := range spans(from, int(to-from), cs) {
		ref, ok, err := d.ref(sp.N)
		if err != nil || !ok || ref.Kind != index.ChunkStored || ref.StagingID != 0 {
			continue // a hole, or read from its staging file
		}
		for piece := range spans(sp.In, sp.Len, fetchAheadPiece) {
			d.e.prefetchStored(ref.Stored, sp.In+uint64(piece.Off), sp.In+uint64(piece.Off+piece.Len))
		}
	}
}

// StagedRange is a read answered straight from a byte range of a staged
// chunk file, so the caller can splice it to the kernel without copying it
// through this process. It holds the file's I/O state shared until Done,
// so no truncate or close can pull the descriptor away meanwhile.
type StagedRange struct {
	File *os.File
	Off  int64
	Size int
	done sync.Once
	d    *fileData
	end  func() // ends the read for the engine's Foreground
}

// Done releases the hold on the file's I/O state. Call it once the reply
// is out; later calls do nothing.
func (r *StagedRange) Done() {
	r.done.Do(func() {
		r.d.io.RUnlock()
		r.end()
	})
}

// ReadStaged returns the staged range that answers a read of n bytes at
// off, or nil when the read does not lie inside one staged chunk whose
// file holds every byte asked for (holes, short chunk files, reads across
// chunks, end of file): Read handles those.
func (f *File) ReadStaged(off int64, n int) *StagedRange {
	d := f.d
	if off < 0 || n <= 0 {
		return nil
	}
	d.io.RLock()
	keep := false
	defer func() {
		if !keep {
			d.io.RUnlock()
		}
	}()
	a, err := d.e.idx.GetAttr(d.ino)
	if err != nil || uint64(off) >= a.Size || a.ChunkSize == 0 {
		return nil
	}
	size := min(uint64(n), a.Size-uint64(off))
	cs := uint64(a.ChunkSize)
	chunk, in := uint64(off)/cs, uint64(off)%cs
	if in+size > cs {
		return nil
	}
	ref, ok, err := d.ref(chunk)
	if err != nil || !ok || ref.StagingID == 0 {
		return nil
	}
	c, err := d.chunkFile(ref.StagingID, false)
	if err != nil || c == nil {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(int(c.Fd()), &st) != nil || uint64(st.Size) < in+size {
		return nil
	}
	d.prefetch(&f.run, off, uint64(off)+size, cs, a.Size)
	keep = true
	return &StagedRange{File: c, Off: int64(in), Size: int(size), d: d, end: d.e.reads.Begin()}
}

// readChunk fills p with chunk n's bytes from offset in; a hole, or a part
// past the end of the chunk's data, reads as zeros. A chunk with a local
// copy is read from it; a stored one from the block cache and the store.
func (d *fileData) readChunk(ctx context.Context, n, in uint64, p []byte) error {
	ref, ok, err := d.ref(n)
	if err != nil {
		return err
	}
	if !ok {
		clear(p)
		return nil
	}
	if ref.StagingID != 0 {
		c, err := d.chunkFile(ref.StagingID, false)
		if err != nil {
			return err
		}
		if c == nil && (ref.Sealed || ref.Kind == index.ChunkStored) {
			// Uploaded and released since the reference was cached.
			if ref, ok, err = d.refreshRef(n); err != nil {
				return err
			}
			if !ok {
				clear(p)
				return nil
			}
			if ref.StagingID != 0 {
				if c, err = d.chunkFile(ref.StagingID, false); err != nil {
					return err
				}
			}
		}
		if c != nil || ref.Kind == index.ChunkStaged {
			got := 0
			if c != nil {
				got, err = c.ReadAt(p, int64(in))
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
			}
			clear(p[got:])
			return nil
		}
	}
	return d.e.readStored(ctx, ref.Stored, in, p)
}

// write stores p at offset off. The bytes land in the chunks' staging
// files; then the new size and mtime go to the index.
func (d *fileData) write(ctx context.Context, p []byte, off uint64) error {
	d.io.Lock()
	defer d.io.Unlock()
	a, err := d.e.idx.GetAttr(d.ino)
	if err != nil {
		return err
	}
	if a.Type() != syscall.S_IFREG {
		return syscall.EINVAL
	}
	if off+uint64(len(p)) > a.Size {
		d.indexPending.Store(true)
	}
	cs := uint64(a.ChunkSize)
	for sp := range spans(off, len(p), cs) {
		n, in, piece := sp.N, sp.In, p[sp.Off:sp.Off+sp.Len]
		c, id, err := d.writableChunk(ctx, n)
		if err != nil {
			return err
		}
		if _, err := c.WriteAt(piece, int64(in)); err != nil {
			return err
		}
		d.e.stage.noteWrite(id, int64(in)+int64(len(piece)))
		d.e.dirty.mark(d.ino, id)
		d.e.writes.mark(d.ino, n, time.Now())
	}
	_, err = d.e.idx.NoteWrite(d.ino, off+uint64(len(p)), now())
	return err
}

// writableChunk returns the open staging file that writes to chunk n go to,
// giving the chunk one if it has none. A sealed or stored chunk is copied
// to a new staging file first (copy-on-write). The caller holds d.io.
func (d *fileData) writableChunk(ctx context.Context, n uint64) (*os.File, uint64, error) {
	ref, ok, err := d.ref(n)
	if err != nil {
		return nil, 0, err
	}
	if ok && ref.Kind == index.ChunkStaged && !ref.Sealed {
		// The file usually exists (a file reopened and written again):
		// open it without O_CREAT (see stagingArea.creatingOpens).
		c, err := d.chunkFile(ref.StagingID, false)
		if err == nil && c == nil {
			c, err = d.chunkFile(ref.StagingID, true)
		}
		return c, ref.StagingID, err
	}
	// The chunk gets a new staging file: the chunk map changes.
	d.indexPending.Store(true)
	if ok {
		return d.copyOnWrite(ctx, n, ref)
	}
	ref, err = d.e.idx.NewStagedChunk(d.ino, n)
	if err != nil {
		return nil, 0, err
	}
	d.setRef(n, ref)
	c, err := d.chunkFile(ref.StagingID, true)
	return c, ref.StagingID, err
}

// truncate applies a setattr that changes the size: the chunk holding the
// new end is cut in its staging file first, then the index drops the whole
// chunks past the end. A crash in between leaves the old size with zeros
// past the cut, never stale bytes past the new end.
func (d *fileData) truncate(ch index.SetAttrIn) (index.Attr, error) {
	d.io.Lock()
	defer d.io.Unlock()
	d.indexPending.Store(true)
	a, err := d.e.idx.GetAttr(d.ino)
	if err != nil {
		return a, err
	}
	size := *ch.Size
	if a.Type() == syscall.S_IFREG && size < a.Size {
		cs := uint64(a.ChunkSize)
		if in := size % cs; in != 0 {
			n := size / cs
			ref, ok, err := d.ref(n)
			if err != nil {
				return a, err
			}
			if ok {
				var c *os.File
				var id uint64
				if ref.Kind == index.ChunkStaged && !ref.Sealed {
					if c, err = d.chunkFile(ref.StagingID, false); err != nil {
						return a, err
					}
					id = ref.StagingID
				} else if c, id, err = d.copyOnWrite(context.Background(), n, ref); err != nil {
					return a, err
				}
				if c != nil {
					if err := c.Truncate(int64(in)); err != nil {
						return a, err
					}
					d.e.stage.noteSize(id, int64(in))
				}
			}
		}
	}
	na, err := d.e.idx.SetAttr(d.ino, ch)
	if err != nil {
		return na, err
	}
	if a.Type() == syscall.S_IFREG && size < a.Size {
		d.forgetChunks((size+uint64(a.ChunkSize)-1)/uint64(a.ChunkSize), math.MaxUint64)
	}
	return na, nil
}

// fallocate(2) modes the engine implements.
const (
	keepSize  = unix.FALLOC_FL_KEEP_SIZE
	punchHole = unix.FALLOC_FL_PUNCH_HOLE
	zeroRange = unix.FALLOC_FL_ZERO_RANGE
)

// allocate implements fallocate(2): mode 0 extends the size (checking the
// staging area has room), FALLOC_FL_KEEP_SIZE only checks; PUNCH_HOLE (with
// KEEP_SIZE, as Linux requires) and ZERO_RANGE (which may extend the size)
// make the range read as zeros. Other modes fail with EOPNOTSUPP.
func (d *fileData) allocate(ctx context.Context, off, length, mode uint64) error {
	switch {
	case mode&^(keepSize|punchHole|zeroRange) != 0:
		return syscall.EOPNOTSUPP
	case mode&punchHole != 0 && (mode&keepSize == 0 || mode&zeroRange != 0):
		return syscall.EOPNOTSUPP // as Linux answers before asking any filesystem
	case length == 0 || off+length < off:
		return syscall.EINVAL
	}
	a, err := d.e.idx.GetAttr(d.ino)
	if err != nil {
		return err
	}
	if a.Type() != syscall.S_IFREG {
		return syscall.ENODEV
	}
	if mode&(punchHole|zeroRange) != 0 {
		return d.zero(ctx, off, length, mode&keepSize != 0)
	}
	if err := d.reserve(length); err != nil {
		return err
	}
	end := off + length
	if mode&keepSize != 0 || end <= a.Size {
		return nil
	}
	_, err = d.truncate(index.SetAttrIn{Size: &end, Now: now()})
	return err
}

// zero makes length bytes at off read as zeros (punch-hole, zero-range):
// whole chunks become holes in the index; the parts of others are punched
// out of their staging files, copying a sealed or stored chunk first.
// Without keepSize the size grows to cover the range.
func (d *fileData) zero(ctx context.Context, off, length uint64, keepSize bool) error {
	d.io.Lock()
	defer d.io.Unlock()
	d.indexPending.Store(true)
	a, err := d.e.idx.GetAttr(d.ino)
	if err != nil {
		return err
	}
	cs := uint64(a.ChunkSize)
	end := min(off+length, a.Size)      // nothing past the end to clear
	first, last := uint64(1), uint64(0) // whole chunks to drop: [first, last)
	for sp := range spans(off, int(max(end, off)-off), cs) {
		whole := sp.In == 0 && (uint64(sp.Len) == cs || sp.N*cs+uint64(sp.Len) >= a.Size)
		if whole {
			if first > last {
				first = sp.N
			}
			last = sp.N + 1
			continue
		}
		if err := d.zeroInChunk(ctx, sp.N, sp.In, uint64(sp.Len)); err != nil {
			return err
		}
	}
	if first < last {
		if _, err := d.e.idx.PunchChunks(d.ino, first, last, now()); err != nil {
			return err
		}
		d.forgetChunks(first, last)
	}
	newEnd := uint64(0)
	if !keepSize {
		newEnd = off + length
	}
	_, err = d.e.idx.NoteWrite(d.ino, newEnd, now())
	return err
}

// zeroInChunk zeroes n bytes at in of chunk n's data. A hole, or bytes past
// the end of the staged data, already read as zeros.
func (d *fileData) zeroInChunk(ctx context.Context, chunk, in, n uint64) error {
	if _, ok, err := d.ref(chunk); err != nil || !ok {
		return err
	}
	c, id, err := d.writableChunk(ctx, chunk)
	if err != nil {
		return err
	}
	size := d.e.stage.sizeOf(id)
	if int64(in) >= size {
		return nil
	}
	n = min(n, uint64(size)-in)
	if err := unix.Fallocate(int(c.Fd()), punchHole|keepSize, int64(in), int64(n)); err != nil {
		// A staging filesystem that cannot punch holes gets zeros written.
		if _, err := c.WriteAt(make([]byte, n), int64(in)); err != nil {
			return err
		}
	}
	d.e.dirty.mark(d.ino, id)
	d.e.writes.mark(d.ino, chunk, time.Now())
	return nil
}

// forgetChunks drops the cached references and open files of chunks first
// to end (exclusive), which the index no longer holds. The caller holds io.
func (d *fileData) forgetChunks(first, end uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, s := range d.refs {
		if n < first || n >= end {
			continue
		}
		delete(d.refs, n)
		if s.ok && s.ref.StagingID != 0 {
			if c := d.chunks[s.ref.StagingID]; c != nil {
				_ = c.Close() // the chunk is gone from the file
				delete(d.chunks, s.ref.StagingID)
			}
		}
	}
}

// reserve checks that the staging disk has room for length bytes, so that
// fallocate fails with ENOSPC up front as it would on a local disk.
func (d *fileData) reserve(length uint64) error {
	st, err := d.e.stage.statfs()
	if err != nil {
		return err
	}
	if length > st.Bavail*uint64(st.Bsize) {
		return syscall.ENOSPC
	}
	return nil
}

// copyOnWrite gives chunk n a new staging file holding the chunk's current
// bytes (from its local copy, or fetched from the store), records it as the
// chunk's reference and returns it open. The caller holds d.io.
func (d *fileData) copyOnWrite(ctx context.Context, n uint64, ref index.ChunkRef) (*os.File, uint64, error) {
	e := d.e
	id, err := e.idx.AllocStagingID()
	if err != nil {
		return nil, 0, err
	}
	dst, err := d.chunkFile(id, true)
	if err != nil {
		return nil, 0, err
	}
	size, err := d.copyChunk(ctx, n, ref, dst)
	if err != nil {
		return nil, 0, err
	}
	e.stage.noteSize(id, size)
	e.dirty.mark(d.ino, id)
	e.writes.mark(d.ino, n, time.Now()) // sealed again at close or when idle
	newRef := index.ChunkRef{Kind: index.ChunkStaged, StagingID: id}
	if err := e.idx.SetChunk(d.ino, n, newRef); err != nil {
		return nil, 0, err
	}
	d.setRef(n, newRef)
	return dst, id, nil
}

// copyChunk writes chunk n's bytes into dst and returns how many.
func (d *fileData) copyChunk(ctx context.Context, n uint64, ref index.ChunkRef, dst *os.File) (int64, error) {
	if ref.StagingID != 0 {
		src, err := d.chunkFile(ref.StagingID, false)
		if err != nil {
			return 0, err
		}
		if src == nil {
			if ref.Kind == index.ChunkStaged && !ref.Sealed {
				return 0, nil // recorded, never written
			}
			// Uploaded and released since the reference was cached.
			fresh, ok, err := d.refreshRef(n)
			if err != nil {
				return 0, err
			}
			if !ok || fresh.StagingID == ref.StagingID {
				if !ok || fresh.Kind == index.ChunkStaged {
					return 0, nil
				}
				fresh.StagingID = 0 // the local copy is gone: use the store
			}
			return d.copyChunk(ctx, n, fresh, dst)
		} else {
			var st unix.Stat_t
			if err := unix.Fstat(int(src.Fd()), &st); err != nil {
				return 0, err
			}
			return copyRange(dst, src, st.Size)
		}
	}
	if ref.Kind != index.ChunkStored {
		return 0, nil
	}
	buf := make([]byte, min(ref.Stored.PlainLen, 1<<20))
	for off := uint64(0); off < ref.Stored.PlainLen; off += uint64(len(buf)) {
		p := buf[:min(uint64(len(buf)), ref.Stored.PlainLen-off)]
		if err := d.e.readStored(ctx, ref.Stored, off, p); err != nil {
			return 0, err
		}
		if _, err := dst.WriteAt(p, int64(off)); err != nil {
			return 0, err
		}
	}
	return int64(ref.Stored.PlainLen), nil
}

// copyRange copies the first size bytes of src to dst, in the kernel
// (copy_file_range) when it can.
func copyRange(dst, src *os.File, size int64) (int64, error) {
	var done int64
	for done < size {
		offIn, offOut := done, done
		n, err := unix.CopyFileRange(int(src.Fd()), &offIn, int(dst.Fd()), &offOut, int(size-done), 0)
		if err != nil || n == 0 {
			// Not supported across these files: copy through memory.
			w, err := io.Copy(io.NewOffsetWriter(dst, done), io.NewSectionReader(src, done, size-done))
			return done + w, err
		}
		done += int64(n)
	}
	return done, nil
}
