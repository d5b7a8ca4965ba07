package localstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// Sliver trees make reading a patch out of a large quilt cost what the
// patch holds. Verifying a few columns of a primary sliver against its
// primary hash would otherwise take the whole sliver (the hash covers the
// sliver's re-encoding), or re-encoding the columns (rs2
// Encoder.VerifyColumns: about three times their bytes through the
// Reed-Solomon code and the hash). With one level of each systematic
// sliver's Merkle tree at hand (rs2.SliverTree), a reader hashes the
// symbols it reads, rounded out to whole tree nodes, and nothing else.
//
// The trees are computed when a blob encoded at many shards (a quilt, at
// 1000) is stored with symbols of at least treeMinSymbol bytes, and kept
// in the file "trees" of each directory, next to that directory's
// slivers: a header, then the tree of each systematic sliver the
// directory holds, in sliver order. They cost 3–6% of the quilt's size.
// Like everything on disk they are checked before use: every tree of a
// blob is reduced to its sliver's primary hash in the blob's metadata when
// the blob's trees are first loaded, and the checked trees are kept in
// memory (treeCacheBytes). A trees file that is missing, short or wrong
// only costs speed: reads fall back to re-encoding columns.

const (
	treesFile  = "trees"
	treesMagic = "WFST"
	// treesHeaderSize: magic, version, level, reserved, hashes per tree.
	treesHeaderSize = 4 + 1 + 1 + 2 + 4
	treesVersion    = 1
	// treeMinSymbol is the smallest symbol size for which trees are kept:
	// below it (quilts under about 14 MB at 1000 shards) a sliver is short
	// and re-encoding a patch's columns is cheap enough.
	treeMinSymbol = 64
	// treeCacheBytes bounds the checked trees kept in memory.
	treeCacheBytes = 24 << 20
)

// keepsTrees reports whether blobs of rec's shard count and layout get
// sliver trees.
func keepsTrees(shards int, lay rs2.Layout) bool {
	return shards >= sliverCacheMinShards && lay.SymbolSize >= treeMinSymbol
}

// writeTrees computes the trees of the systematic slivers in packs (one
// slivers file per directory, as stage writes them) and writes each
// directory's trees file into its staging directory, returning the files
// (open, not yet synced) for the caller to sync with the rest.
func (s *Store) writeTrees(ctx context.Context, enc *rs2.Encoder, lay rs2.Layout, packs []*os.File, stageDirs []string) ([]*os.File, error) {
	p := enc.Params()
	level := rs2.SliverTreeLevel(p, lay.SymbolSize)
	per := rs2.SliverTreeSize(p, level) * rs2.HashSize
	nd := len(s.dirs)
	size := int64(lay.PrimarySliverSize())
	bufs := make([][]byte, nd)
	for d := range bufs {
		rows := (p.Kp - d + nd - 1) / nd
		b := make([]byte, treesHeaderSize+rows*per)
		copy(b, treesMagic)
		b[4], b[5] = treesVersion, byte(level)
		binary.LittleEndian.PutUint32(b[8:], uint32(rs2.SliverTreeSize(p, level)))
		bufs[d] = b
	}
	workers := min(p.Kp, runtime.GOMAXPROCS(0))
	slivers := make([][]byte, workers)
	err := blobstore.Parallel(ctx, workers, p.Kp, func(wk, row int) error {
		if slivers[wk] == nil {
			slivers[wk] = make([]byte, size)
		}
		d := s.dirOf(row)
		if _, err := packs[d].ReadAt(slivers[wk], s.sliverOffset(row, size)); err != nil {
			return fmt.Errorf("read back sliver %d: %w", row, err)
		}
		t, err := enc.SliverTree(slivers[wk], level)
		if err != nil {
			return err
		}
		putTree(bufs[d][treesHeaderSize+(row/nd)*per:][:per], t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for d, b := range bufs {
		f, err := os.OpenFile(filepath.Join(stageDirs[d], treesFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return files, err
		}
		files = append(files, f)
		if _, err := f.Write(b); err != nil {
			return files, err
		}
	}
	return files, nil
}

func putTree(b []byte, t *rs2.SliverTree) {
	for _, h := range t.Nodes {
		b = b[copy(b, h[:]):]
	}
	for _, h := range t.Tail {
		b = b[copy(b, h[:]):]
	}
}

// blobTrees are the checked trees of one blob's systematic slivers.
type blobTrees struct {
	trees []*rs2.SliverTree // by sliver index
	bytes int
}

// loadTrees returns the checked trees of rec's systematic slivers, from
// memory or from the trees files. It fails when the blob has none or any
// tree fails its check; the caller reads another way. The caller holds
// the blob's stripe for reading.
func (s *Store) loadTrees(rec *record, lay rs2.Layout) (*blobTrees, error) {
	if bt, ok := s.trees.Get(rec.ID); ok {
		return bt, nil
	}
	if !keepsTrees(rec.Shards, lay) {
		return nil, errNoTrees
	}
	enc, err := s.encs.get(rec.Shards)
	if err != nil {
		return nil, err
	}
	p := enc.Params()
	md := rec.metadata()
	bt := &blobTrees{trees: make([]*rs2.SliverTree, p.Kp)}
	nd := len(s.dirs)
	for d := range min(nd, p.Kp) {
		b, err := os.ReadFile(filepath.Join(s.blobDir(d, rec.ID), treesFile))
		if err != nil {
			return nil, err
		}
		if len(b) < treesHeaderSize || string(b[:4]) != treesMagic || b[4] != treesVersion {
			return nil, fmt.Errorf("trees of directory %d: bad header: %w", d, blobstore.ErrIntegrity)
		}
		level := int(b[5])
		n := int(binary.LittleEndian.Uint32(b[8:]))
		if level > 16 || n != rs2.SliverTreeSize(p, level) {
			return nil, fmt.Errorf("trees of directory %d: %d hashes at level %d: %w", d, n, level, blobstore.ErrIntegrity)
		}
		per := n * rs2.HashSize
		rows := (p.Kp - d + nd - 1) / nd
		if len(b) < treesHeaderSize+rows*per {
			return nil, fmt.Errorf("trees of directory %d: %d bytes for %d trees of %d: %w", d, len(b), rows, per, blobstore.ErrIntegrity)
		}
		// One allocation holds the directory's hashes; the trees are
		// checked on every CPU, since a quilt's first read waits for them
		// (334 trees of 500 nodes each for a 90 MB quilt).
		hs := make([]rs2.Hash, rows*n)
		for k := range hs {
			copy(hs[k][:], b[treesHeaderSize+k*rs2.HashSize:])
		}
		nodes := n - rs2.SliverTreeTailLen(p, level)
		workers := min(rows, runtime.GOMAXPROCS(0))
		err = blobstore.Parallel(context.Background(), workers, rows, func(_, i int) error {
			row := d + i*nd
			own := hs[i*n : (i+1)*n : (i+1)*n]
			t := &rs2.SliverTree{Level: level, Nodes: own[:nodes:nodes], Tail: own[nodes:]}
			if err := enc.CheckSliverTree(md, row, t); err != nil {
				return err
			}
			bt.trees[row] = t
			return nil
		})
		if err != nil {
			return nil, err
		}
		bt.bytes += rows * per
	}
	s.trees.Add(rec.ID, bt, bt.bytes)
	return bt, nil
}

var errNoTrees = errors.New("blob keeps no sliver trees")
