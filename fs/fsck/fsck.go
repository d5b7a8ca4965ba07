// Package fsck checks a walrusfs volume and repairs what it can: the
// index's invariants, that every blob and quilt patch the files use is in
// the store, and (with VerifyData) that every stored block still has the
// hash the index recorded at upload. It reports each problem by the path
// of the file concerned. It runs the same against a mounted volume (in
// the daemon, beside the filesystem) and an unmounted one.
//
// # What it reads
//
//  1. The index, on one committed snapshot (index.Index.Verify): entries,
//     link counts, records of missing inodes, blob reference counts, the
//     inode counter.
//  2. The blob records, one Stat each in the store: a blob the store no
//     longer has is lost to every file that uses it.
//  3. The chunk map, page by page (index.Index.ChunkPage): each stored
//     chunk's blob has a record and is in the store, its quilt patch is in
//     its quilt (stores that list patches), its local copy (when it keeps
//     one) is whole; with VerifyData its blocks are read and hashed.
//
// Memory stays bounded by the tree's inode count (a link count each, in
// the index pass) and the number of blobs, never by paths: a path is
// built, from the directory entries, only for a file with a problem.
//
// # Repairs
//
// Repair never deletes data. It fixes what the index can recompute
// (blob reference counts, the inode counter), drops the record of a blob
// that nothing references and the store no longer has, and a chunk whose blob is
// lost or damaged is queued for upload again from its local copy, when it
// has one whose bytes match the recorded hashes (or, for an encrypted
// chunk, whose blocks cannot be compared, its recorded length), or else
// rebuilt from the block cache when it holds every block (Parts.Restore). Every
// other problem is reported as not repaired, with the file's path. Each
// repair is one index operation that checks again what it fixes.
//
// # Stores that repair themselves
//
// The local store checks every sliver it reads and rebuilds a damaged one
// from the others (up to f of n shards), so a flipped byte there is
// repaired under fsck's feet and the block reads back whole: fsck reports
// what a reader would get. Damage beyond what the erasure code recovers
// fails the read and is reported as such.
package fsck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// Config says what to check and whether to repair.
type Config struct {
	// VerifyData reads every stored block and checks its hash.
	VerifyData bool
	// Repair fixes what can be fixed (see the package doc).
	Repair bool
	// MaxFindings bounds how many problems are kept to report by path;
	// the rest are counted.
	MaxFindings int
}

// DefaultConfig checks without reading data and repairs nothing.
func DefaultConfig() Config { return Config{MaxFindings: 10000} }

// Parts are what fsck checks.
type Parts struct {
	Index *index.Index
	Store blobstore.Store
	// StagingDir is the volume's staging area (local copies).
	StagingDir string
	// Requeued is told of chunks a repair queued for upload again (a
	// running mount switches open files to them and wakes its uploader).
	// May be nil.
	Requeued func([]index.ChunkUpdate)
	// Restore, when set, rebuilds a stored chunk that has no whole local
	// copy from the block cache into a new staging file and queues it for
	// upload (filedata.Engine.RestoreFromCache); ok is false when the
	// cache does not hold it. May be nil.
	Restore func(ctx context.Context, ino index.Ino, n uint64, ref index.ChunkRef) (index.ChunkRef, bool, error)
	// Progress, when set, is called as VerifyData reads: bytes read of
	// the total.
	Progress func(done, total int64)
}

// Kinds of problems fsck finds beyond the index's (index.ProblemKind).
// The values are stable: they are part of `walrusfs fsck --json`.
const (
	// KindBlobMissing: the store does not have a blob (or the quilt
	// patch) a chunk uses.
	KindBlobMissing = "blob-missing"
	// KindBlobUnreadable: reading a blob failed for another reason.
	KindBlobUnreadable = "blob-unreadable"
	// KindBlockHash: a stored block does not have its recorded hash (or
	// could not be read whole): the store has lost its bytes.
	KindBlockHash = "block-damaged"
	// KindBlobRecord: a chunk points into a blob the index has no record
	// of, so nothing renews the blob's lease.
	KindBlobRecord = "blob-record-missing"
	// KindLocalCopy: a chunk's local copy is missing or differs from the
	// stored bytes' hashes.
	KindLocalCopy = "local-copy-damaged"
	// KindOrphanBlob: a blob record that nothing references and the store
	// no longer has (a chunk uploaded again into another blob, a crash in
	// garbage collection). Repair drops the record, as gc does.
	KindOrphanBlob = "unreferenced-blob-missing"
)

// Finding is one problem fsck found, and what it did about it.
type Finding struct {
	Kind string `json:"kind"`
	// Path is the file's path inside the volume, when the problem
	// concerns a file that has a name.
	Path string `json:"path,omitempty"`
	// Ino is the inode concerned (0: none).
	Ino uint64 `json:"ino,omitempty"`
	// Chunk is the chunk concerned, when one is.
	Chunk *uint64 `json:"chunk,omitempty"`
	// Blob is the blob (or quilt) ID concerned, when one is.
	Blob string `json:"blob,omitempty"`
	// Detail says what is wrong.
	Detail string `json:"detail"`
	// Repaired says Repair fixed it; Action says how, or why not.
	Repaired bool   `json:"repaired"`
	Action   string `json:"action,omitempty"`
}

// Report is what a run found.
type Report struct {
	Chunks       int64 `json:"chunks"`
	StoredChunks int64 `json:"stored_chunks"`
	Blobs        int   `json:"blobs"`
	// BlocksVerified and BytesVerified count what VerifyData read.
	BlocksVerified int64 `json:"blocks_verified"`
	BytesVerified  int64 `json:"bytes_verified"`
	// Problems counts every problem found, Repaired those fixed;
	// Findings lists them (up to Config.MaxFindings).
	Problems  int       `json:"problems"`
	Repaired  int       `json:"repaired"`
	Findings  []Finding `json:"findings"`
	Truncated bool      `json:"findings_truncated"`
}

// Clean reports that no problem remains.
func (r *Report) Clean() bool { return r.Problems == r.Repaired }

type checker struct {
	cfg      Config
	p        Parts
	rep      Report
	blobs    map[[32]byte]blobState
	quilts   map[[32]byte]map[string]bool // patch lists of recent quilts
	recount  [][32]byte
	requeued []index.ChunkUpdate
}

type blobState struct {
	missing bool
	err     error // a Stat that failed otherwise
}

// Run checks the volume and, with Config.Repair, repairs it. It returns
// an error only when the check itself cannot proceed (the index cannot be
// read, ctx ends); problems go to the report.
func Run(ctx context.Context, cfg Config, p Parts) (*Report, error) {
	if cfg.MaxFindings <= 0 {
		cfg.MaxFindings = DefaultConfig().MaxFindings
	}
	c := &checker{cfg: cfg, p: p, blobs: map[[32]byte]blobState{}, quilts: map[[32]byte]map[string]bool{}}
	c.rep.Findings = []Finding{}
	if err := c.checkIndex(); err != nil {
		return nil, err
	}
	if err := c.checkBlobs(ctx); err != nil {
		return nil, err
	}
	if err := c.checkChunks(ctx); err != nil {
		return nil, err
	}
	if cfg.Repair {
		if err := c.repairCounts(); err != nil {
			return nil, err
		}
		if len(c.requeued) > 0 && p.Requeued != nil {
			p.Requeued(c.requeued)
		}
	}
	if err := c.namePaths(); err != nil {
		return nil, err
	}
	return &c.rep, nil
}

func (c *checker) add(f Finding) *Finding {
	c.rep.Problems++
	if len(c.rep.Findings) >= c.cfg.MaxFindings {
		c.rep.Truncated = true
		return &Finding{}
	}
	c.rep.Findings = append(c.rep.Findings, f)
	return &c.rep.Findings[len(c.rep.Findings)-1]
}

func (c *checker) repaired(f *Finding, action string) {
	f.Repaired, f.Action = true, action
	c.rep.Repaired++
}

func (c *checker) checkIndex() error {
	return c.p.Index.Verify(func(pr index.Problem) {
		f := Finding{Kind: string(pr.Kind), Ino: uint64(pr.Ino), Detail: pr.Detail}
		if pr.Ino == 0 && pr.Parent != 0 {
			// An entry in something that is not a directory: name the
			// entry by its parent.
			f.Ino = uint64(pr.Parent)
			f.Detail = fmt.Sprintf("entry %q: %s", pr.Name, pr.Detail)
		}
		if pr.Kind == index.ProblemBlobCount {
			f.Blob = blobstore.ID(pr.Blob).String()
			c.recount = append(c.recount, pr.Blob)
		}
		if pr.Kind == index.ProblemEntryTarget {
			// The inode does not exist: name the entry through its
			// directory.
			f.Ino = uint64(pr.Parent)
			f.Detail = fmt.Sprintf("entry %q names inode %d, which does not exist", pr.Name, pr.Ino)
		}
		switch {
		case !pr.Repairable:
			f.Action = "not repaired: fsck does not rewrite the tree"
		case !c.cfg.Repair:
			f.Action = "repairable (run with --repair)"
		}
		c.add(f)
	})
}

// checkBlobs looks up every blob record in the store.
func (c *checker) checkBlobs(ctx context.Context) error {
	blobs, err := c.p.Index.Blobs()
	if err != nil {
		return fmt.Errorf("fsck: blob records: %w", err)
	}
	c.rep.Blobs = len(blobs)
	for _, b := range blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := c.stat(ctx, b.ID)
		if !st.missing || b.Referenced() {
			continue
		}
		f := c.add(Finding{Kind: KindOrphanBlob, Blob: blobstore.ID(b.ID).String(),
			Detail: "the record of an unreferenced blob the store no longer has"})
		if !c.cfg.Repair {
			f.Action = "repairable (run with --repair, or walrusfs gc, to drop the record)"
			continue
		}
		// Only a record goes: no data, and nothing refers to it
		// (DropBlob checks again).
		switch dropped, err := c.p.Index.DropBlob(b.ID); {
		case err != nil:
			f.Action = "not repaired: " + err.Error()
		case dropped:
			c.repaired(f, "record dropped")
		default:
			f.Action = "not repaired: the blob gained a reference meanwhile; run fsck again"
		}
	}
	return nil
}

func (c *checker) stat(ctx context.Context, id [32]byte) blobState {
	if st, ok := c.blobs[id]; ok {
		return st
	}
	var st blobState
	if _, err := c.p.Store.Stat(ctx, blobstore.ID(id)); errors.Is(err, blobstore.ErrNotFound) {
		st.missing = true
	} else if err != nil {
		st.err = err
	}
	c.blobs[id] = st
	return st
}

// chunkPage is how many chunk references one index read returns.
const chunkPage = 1024

func (c *checker) checkChunks(ctx context.Context) error {
	var total int64
	if c.cfg.VerifyData && c.p.Progress != nil {
		err := c.walk(ctx, func(e index.StoredChunkEntry) error {
			if e.Ref.Kind == index.ChunkStored {
				total += int64(e.Ref.Stored.Length)
			}
			return nil
		})
		if err != nil {
			return err
		}
		c.p.Progress(0, total)
	}
	var done int64
	return c.walk(ctx, func(e index.StoredChunkEntry) error {
		c.rep.Chunks++
		if e.Ref.Kind != index.ChunkStored {
			return nil
		}
		c.rep.StoredChunks++
		c.checkStored(ctx, e)
		if c.cfg.VerifyData && c.p.Progress != nil {
			done += int64(e.Ref.Stored.Length)
			c.p.Progress(min(done, total), total)
		}
		return nil
	})
}

func (c *checker) walk(ctx context.Context, fn func(index.StoredChunkEntry) error) error {
	var ino index.Ino
	var n uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, more, err := c.p.Index.ChunkPage(ino, n, chunkPage)
		if err != nil {
			return fmt.Errorf("fsck: chunk map: %w", err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if !more || len(page) == 0 {
			return nil
		}
		last := page[len(page)-1]
		ino, n = last.Ino, last.N
	}
}

// checkStored checks one stored chunk and repairs it when it can.
func (c *checker) checkStored(ctx context.Context, e index.StoredChunkEntry) {
	s := e.Ref.Stored
	id := blobstore.ID(s.BlobID)
	chunk := e.N
	base := Finding{Ino: uint64(e.Ino), Chunk: &chunk, Blob: id.String()}
	if len(s.PatchID) == blobstore.PatchIDSize {
		base.Blob = patchOf(s).String()
	}
	if !e.HasRecord {
		f := base
		f.Kind, f.Detail = KindBlobRecord, fmt.Sprintf("chunk %d points into blob %s, which the index has no record of: nothing renews its lease", e.N, id)
		f.Action = "not repaired: rewrite the file to store it again"
		c.add(f)
	}
	st := c.stat(ctx, s.BlobID)
	var problem *Finding
	switch {
	case st.missing:
		f := base
		f.Kind, f.Detail = KindBlobMissing, fmt.Sprintf("chunk %d: the store does not have blob %s", e.N, id)
		problem = &f
	case st.err != nil:
		f := base
		f.Kind, f.Detail = KindBlobUnreadable, fmt.Sprintf("chunk %d: blob %s: %s", e.N, id, brief(st.err))
		problem = &f
	case len(s.PatchID) > 0 && !c.patchListed(ctx, s):
		f := base
		f.Kind, f.Detail = KindBlobMissing, fmt.Sprintf("chunk %d: quilt %s does not list patch %s", e.N, id, base.Blob)
		problem = &f
	case c.cfg.VerifyData:
		if err := c.verify(ctx, s); err != nil {
			if ctx.Err() != nil {
				return
			}
			f := base
			f.Kind, f.Detail = KindBlockHash, fmt.Sprintf("chunk %d: %s", e.N, brief(err))
			if !errors.Is(err, blobstore.ErrIntegrity) {
				f.Kind = KindBlobUnreadable
			}
			problem = &f
		}
	}
	copyOK, copyWhy := c.localCopy(e)
	if problem == nil {
		if e.Ref.StagingID != 0 && !copyOK {
			f := base
			f.Kind, f.Detail = KindLocalCopy, fmt.Sprintf("chunk %d: local copy %s", e.N, copyWhy)
			f.Action = "not repaired: reads fall back to the store, which has the chunk"
			c.add(f)
		}
		return
	}
	f := c.add(*problem)
	switch {
	case f.Kind == KindBlobUnreadable:
		// Perhaps only for now (a store that is down): uploading the
		// chunk again would pay for it twice.
		f.Action = "not repaired: the store could not be read; run fsck again when it answers"
	case !copyOK && c.p.Restore != nil && c.cfg.Repair:
		_, ok, err := c.p.Restore(ctx, e.Ino, e.N, e.Ref)
		switch {
		case err != nil:
			f.Action = "not repaired: " + err.Error()
		case ok:
			c.repaired(f, "rebuilt from the block cache and queued for upload again")
		default:
			f.Action = "not repaired: no whole local copy, and the block cache does not hold the chunk; restore the file from a copy"
		}
	case !copyOK && c.p.Restore != nil:
		f.Action = "no whole local copy (--repair also looks for the chunk in the block cache)"
	case !copyOK && e.Ref.StagingID == 0:
		f.Action = "not repaired: no local copy of the chunk is left; restore the file from a copy"
	case !copyOK:
		f.Action = "not repaired: the local copy " + copyWhy
	case !c.cfg.Repair:
		f.Action = "repairable: a local copy is whole (run with --repair to upload it again)"
	default:
		size := int64(s.PlainLen)
		ref, ok, err := c.p.Index.Requeue(e.Ino, e.N, s.BlobID, e.Ref.StagingID, e.Ref.StagingID, size, time.Now().UnixNano())
		switch {
		case err != nil:
			f.Action = "not repaired: " + err.Error()
		case !ok:
			f.Action = "not repaired: the chunk changed while fsck ran; run fsck again"
		default:
			c.requeued = append(c.requeued, index.ChunkUpdate{Ino: e.Ino, N: e.N, Ref: ref})
			c.repaired(f, "queued for upload again from its local copy")
		}
	}
}

// brief is the first line of err (a store's joined errors list every
// sliver).
func brief(err error) string {
	msg := err.Error()
	if first, _, multi := strings.Cut(msg, "\n"); multi {
		return first + " …"
	}
	return msg
}

func patchOf(s *index.StoredChunk) blobstore.PatchID {
	var p blobstore.PatchID
	copy(p.Quilt[:], s.PatchID[:blobstore.IDSize])
	p.Version = s.PatchID[blobstore.IDSize]
	p.Start = uint16(s.PatchID[blobstore.IDSize+1]) | uint16(s.PatchID[blobstore.IDSize+2])<<8
	p.End = uint16(s.PatchID[blobstore.IDSize+3]) | uint16(s.PatchID[blobstore.IDSize+4])<<8
	return p
}

// patchListed reports whether the quilt lists the chunk's patch; true
// when the store cannot list patches.
func (c *checker) patchListed(ctx context.Context, s *index.StoredChunk) bool {
	l, ok := c.p.Store.(blobstore.QuiltLister)
	if !ok || len(s.PatchID) != blobstore.PatchIDSize {
		return true
	}
	set, ok := c.quilts[s.BlobID]
	if !ok {
		patches, err := l.ListPatches(ctx, blobstore.ID(s.BlobID))
		if err != nil {
			return !errors.Is(err, blobstore.ErrNotFound)
		}
		if len(c.quilts) > 64 {
			clear(c.quilts)
		}
		set = map[string]bool{}
		for _, p := range patches {
			set[string(p.PatchID.Bytes())] = true
		}
		c.quilts[s.BlobID] = set
	}
	return set[string(s.PatchID)]
}

// verify reads the stored chunk and checks every block's hash.
func (c *checker) verify(ctx context.Context, s *index.StoredChunk) error {
	l := blockcrypt.Layout{BlockSize: int(s.BlockSize), Encrypted: s.Encrypted}
	if err := l.Validate(); err != nil {
		return err
	}
	blocks := l.Blocks(int64(s.PlainLen))
	if blocks != len(s.BlockHashes) {
		return fmt.Errorf("%d blocks recorded for %d bytes: %w", len(s.BlockHashes), s.PlainLen, blobstore.ErrIntegrity)
	}
	check := func(data []byte) error {
		for i := range blocks {
			off, n, _ := l.StoredBlock(int64(s.PlainLen), i)
			if off+int64(n) > int64(len(data)) {
				return fmt.Errorf("block %d: short read: %w", i, blobstore.ErrIntegrity)
			}
			if blockcrypt.BlockHash(data[off:off+int64(n)]) != s.BlockHashes[i] {
				return fmt.Errorf("block %d: hash mismatch: %w", i, blobstore.ErrIntegrity)
			}
		}
		c.rep.BlocksVerified += int64(blocks)
		c.rep.BytesVerified += int64(len(data))
		return nil
	}
	if len(s.PatchID) > 0 {
		rc, err := c.p.Store.ReadPatch(ctx, patchOf(s))
		if err != nil {
			return err
		}
		defer func() { _ = rc.Close() }()
		data, err := io.ReadAll(io.LimitReader(rc, int64(s.Offset+s.Length)))
		if err != nil {
			return err
		}
		if uint64(len(data)) < s.Offset+s.Length {
			return fmt.Errorf("patch holds %d bytes, the chunk needs %d: %w", len(data), s.Offset+s.Length, blobstore.ErrIntegrity)
		}
		return check(data[s.Offset:])
	}
	id := blobstore.ID(s.BlobID)
	consume := func(r io.Reader) error {
		data := make([]byte, s.Length)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		return check(data)
	}
	if v, ok := c.p.Store.(blobstore.RangeVerifier); ok {
		return v.ReadRangeVerified(ctx, id, int64(s.Offset), int64(s.Length), consume)
	}
	rc, err := c.p.Store.ReadRange(ctx, id, int64(s.Offset), int64(s.Length))
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	return consume(rc)
}

// localCopy reports whether a stored chunk's local copy is whole: its
// blocks have the recorded hashes (plaintext blocks), or it has the
// recorded length (encrypted blocks, whose stored form has random
// nonces). why says what is wrong otherwise.
func (c *checker) localCopy(e index.StoredChunkEntry) (ok bool, why string) {
	if e.Ref.StagingID == 0 {
		return false, "does not exist"
	}
	s := e.Ref.Stored
	path := filedata.StagingPath(c.p.StagingDir, e.Ref.StagingID)
	fi, err := os.Stat(path)
	if err != nil {
		return false, "is missing (" + path + ")"
	}
	if uint64(fi.Size()) < s.PlainLen {
		return false, fmt.Sprintf("holds %d bytes of %d", fi.Size(), s.PlainLen)
	}
	if s.Encrypted {
		return true, ""
	}
	l := blockcrypt.Layout{BlockSize: int(s.BlockSize)}
	if l.Validate() != nil || l.Blocks(int64(s.PlainLen)) != len(s.BlockHashes) {
		return false, "cannot be compared with the record"
	}
	f, err := os.Open(path)
	if err != nil {
		return false, "cannot be read: " + err.Error()
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, s.BlockSize)
	for i := range s.BlockHashes {
		off, n, _ := l.StoredBlock(int64(s.PlainLen), i)
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return false, "cannot be read: " + err.Error()
		}
		if blockcrypt.BlockHash(buf[:n]) != s.BlockHashes[i] {
			return false, fmt.Sprintf("differs from the stored chunk in block %d", i)
		}
	}
	return true, ""
}

// repairCounts fixes the counters the index can recompute.
func (c *checker) repairCounts() error {
	if len(c.recount) > 0 {
		changed, err := c.p.Index.RecountBlobs(c.recount)
		if err != nil {
			return fmt.Errorf("fsck: recount blob references: %w", err)
		}
		fixed := map[string]bool{}
		for _, b := range changed {
			fixed[blobstore.ID(b.ID).String()] = true
		}
		for i := range c.rep.Findings {
			f := &c.rep.Findings[i]
			if f.Kind == string(index.ProblemBlobCount) && !f.Repaired {
				if fixed[f.Blob] {
					c.repaired(f, "counts recomputed from the chunk map")
				} else {
					// Requeues changed the counts meanwhile, or nothing
					// was wrong any more.
					c.repaired(f, "counts match the chunk map now")
				}
			}
		}
	}
	for i := range c.rep.Findings {
		f := &c.rep.Findings[i]
		if f.Kind == string(index.ProblemInodeCount) && !f.Repaired {
			was, now, err := c.p.Index.RecountInodes()
			if err != nil {
				return fmt.Errorf("fsck: recount inodes: %w", err)
			}
			c.repaired(f, fmt.Sprintf("inode counter set from %d to %d", was, now))
		}
	}
	return nil
}

// namePaths fills in the paths of the findings about inodes.
func (c *checker) namePaths() error {
	seen := map[index.Ino]bool{}
	var inos []index.Ino
	for _, f := range c.rep.Findings {
		if f.Ino != 0 && !seen[index.Ino(f.Ino)] {
			seen[index.Ino(f.Ino)] = true
			inos = append(inos, index.Ino(f.Ino))
		}
	}
	if len(inos) == 0 {
		return nil
	}
	sort.Slice(inos, func(i, j int) bool { return inos[i] < inos[j] })
	paths, err := c.p.Index.Paths(inos)
	if err != nil {
		return fmt.Errorf("fsck: name files: %w", err)
	}
	for i := range c.rep.Findings {
		f := &c.rep.Findings[i]
		if p, ok := paths[index.Ino(f.Ino)]; ok {
			f.Path = p
		}
	}
	return nil
}
