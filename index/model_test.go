package index

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The model test runs random operation sequences against a real index (bbolt
// and journal files in a temporary directory) and against model, a small
// in-memory POSIX tree, and compares the two after every operation.
//
// The model decides every result itself, from what rename(2), renameat2(2),
// link(2), unlink(2), rmdir(2), symlink(2), truncate(2), setxattr(2) and
// removexattr(2) specify and, where several errors apply, in the order Linux
// reports them: arguments copied from the caller first (a symlink target, an
// xattr name and size), then the parent directories (ENOENT, ENOTDIR), then
// each name in turn (ENOENT for a removed directory, ENAMETOOLONG, the lookup
// itself), then the checks on what was found. Permissions, and the checks
// the kernel makes before a filesystem sees a request ("." and "..", unknown
// flags), are not modelled.
//
// Environment, for soak runs:
//
//	WALRUSFS_MODEL_OPS=200000   operations per case (default 1500)
//	WALRUSFS_MODEL_SEED=42      run every case with this seed ("random": a new one)

// modelOpsDefault keeps the whole package under about 20 seconds with -race
// on a small machine.
const modelOpsDefault = 1500

func TestModel(t *testing.T) {
	ops := modelOpsDefault
	if testing.Short() {
		ops = 200
	}
	if s := os.Getenv("WALRUSFS_MODEL_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WALRUSFS_MODEL_OPS=%q: want a positive number", s)
		}
		ops = n
	}
	var seedOverride *uint64
	switch s := os.Getenv("WALRUSFS_MODEL_SEED"); s {
	case "":
	case "random":
		seed := uint64(time.Now().UnixNano())
		seedOverride = &seed
	default:
		seed, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("WALRUSFS_MODEL_SEED=%q: want a number or \"random\"", s)
		}
		seedOverride = &seed
	}
	// With explicit commits the test knows what is durable, so it can also
	// check that staging files are released only once their release is
	// durable, and simulate a power loss.
	explicit := func(c *Config) { c.CommitOps = 1 << 30 }
	for _, tc := range []struct {
		name string
		seed uint64
		tune func(*Config)
	}{
		{name: "explicit-commits-1", seed: 1, tune: explicit},
		{name: "explicit-commits-2", seed: 0x5eed0002, tune: explicit},
		{name: "explicit-commits-3", seed: 977, tune: explicit},
		{name: "early-commits", seed: 7, tune: func(c *Config) { c.CommitOps = 3 }},
		{name: "timed-commits", seed: 11, tune: func(c *Config) { c.CommitInterval, c.CheckpointInterval = time.Millisecond, 5*time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := tc.seed
			if seedOverride != nil {
				seed = *seedOverride
			}
			cfg := testConfig()
			tc.tune(&cfg)
			t.Logf("seed %d, %d operations", seed, ops)
			runModel(t, tc.name, seed, ops, cfg, cfg.CommitOps == 1<<30)
		})
	}
}

// Name pools: small, so that collisions (EEXIST, ENOTEMPTY, ENOENT) are
// frequent, with odd bytes, names of exactly the maximum length and one
// byte over it.
var (
	modelName255   = strings.Repeat("n", MaxNameLen)
	modelName255b  = "\xff" + strings.Repeat(" \xfe", (MaxNameLen-1)/2)
	modelNameLong  = strings.Repeat("L", MaxNameLen+1)
	modelNames     = []string{"a", "b", "c", "sub", "with space", "new\nline", "\xff", "tab\t", modelName255, modelName255b}
	modelXattrLong = "user." + strings.Repeat("k", MaxXattrNameLen-len("user."))
	modelXattrs    = []string{"user.a", "user.b", "trusted.t", "security.s", "security.capability", "user.\xff\n", modelXattrLong}
	modelTargets   = []string{"a", "../up/\xff", "/abs path", strings.Repeat("t", 4095)}
	modelChunkSize = []uint32{1, 7, 4096, 1 << 20}
)

// mnode is one inode of the model.
type mnode struct {
	ino                 Ino // the index's number, learnt when it was created
	mode                uint32
	uid, gid, rdev      uint32
	nlink               uint32
	size                uint64
	atime, mtime, ctime int64
	chunkSize           uint32
	target              string
	xattrs              map[string][]byte
	chunks              map[uint64]ChunkRef
	// Directories only.
	entries map[string]*mnode
	parent  *mnode // kept when the directory is removed
	name    string // its name in parent
}

func (n *mnode) typ() uint32  { return n.mode & syscall.S_IFMT }
func (n *mnode) isDir() bool  { return n.typ() == syscall.S_IFDIR }
func (n *mnode) isReg() bool  { return n.typ() == syscall.S_IFREG }
func (n *mnode) orphan() bool { return n.nlink == 0 }

func (n *mnode) attr() Attr {
	a := Attr{
		Ino: n.ino, Mode: n.mode, Uid: n.uid, Gid: n.gid, Nlink: n.nlink, Rdev: n.rdev, Size: n.size,
		Atime: n.atime, Mtime: n.mtime, Ctime: n.ctime, ChunkSize: n.chunkSize,
	}
	if n.isDir() {
		a.Parent = n.parent.ino
	}
	return a
}

func (n *mnode) names() []string {
	names := make([]string, 0, len(n.entries))
	for name := range n.entries {
		names = append(names, name)
	}
	slices.Sort(names) // byte-wise, as ReadDir returns them
	return names
}

// isAncestor reports whether directory a is d or one of d's ancestors.
func isAncestor(a, d *mnode) bool {
	for {
		if d == a {
			return true
		}
		if d.parent == d {
			return false
		}
		d = d.parent
	}
}

// model is the expected state of the index and of the layer above it.
type model struct {
	root  *mnode
	nodes map[Ino]*mnode // every live inode: named, or orphaned while open
	open  map[Ino]int    // open handles, as the filesystem would count them
	gone  []Ino          // deleted inode numbers, for stale handles
	// maxIno and maxStaging are the highest numbers handed out so far:
	// numbers are never reused, so new ones must be higher.
	maxIno     Ino
	maxStaging uint64
	// Staging IDs: dropped are no longer referenced and wait for
	// Index.TakeReleased; released have been released; lost were dropped
	// when a crash took the callback with it (the mount-time sweep's job).
	dropped, released, lost map[uint64]bool
}

func (m *model) sorted(pred func(*mnode) bool) []*mnode {
	var out []*mnode
	for _, n := range m.nodes {
		if pred == nil || pred(n) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *mnode) int { return cmp.Compare(a.ino, b.ino) })
	return out
}

// clone copies the tree for a snapshot of the durable state; open handles
// and staging bookkeeping are not part of it.
func (m *model) clone() *model {
	c := &model{
		nodes: map[Ino]*mnode{}, open: map[Ino]int{}, gone: slices.Clone(m.gone),
		maxIno: m.maxIno, maxStaging: m.maxStaging, dropped: map[uint64]bool{},
	}
	copies := map[*mnode]*mnode{}
	var cp func(n *mnode) *mnode
	cp = func(n *mnode) *mnode {
		if k, ok := copies[n]; ok {
			return k
		}
		k := new(mnode)
		*k = *n
		copies[n] = k
		k.xattrs, k.chunks = maps.Clone(n.xattrs), maps.Clone(n.chunks)
		if n.entries != nil {
			k.entries = map[string]*mnode{}
			for name, e := range n.entries {
				k.entries[name] = cp(e)
			}
		}
		if n.parent != nil {
			k.parent = cp(n.parent)
		}
		return k
	}
	c.root = cp(m.root)
	for ino, n := range m.nodes {
		c.nodes[ino] = cp(n)
	}
	return c
}

func (m *model) referenced() map[uint64]bool {
	ids := map[uint64]bool{}
	for _, n := range m.nodes {
		for _, r := range n.chunks {
			if r.Kind == ChunkStaged {
				ids[r.StagingID] = true
			}
		}
	}
	return ids
}

// dropRef notes that chunk reference r is no longer in use.
func (m *model) dropRef(r ChunkRef) {
	if r.Kind == ChunkStaged {
		m.dropped[r.StagingID] = true
	}
}

// unlinked is called once a name of n is gone and n.nlink lowered: the last
// name of an inode that is not open deletes it; an open one lives on as an
// orphan.
func (m *model) unlinked(n *mnode) {
	if n.nlink == 0 && m.open[n.ino] == 0 {
		m.delete(n)
	}
}

func (m *model) delete(n *mnode) {
	for _, r := range n.chunks {
		m.dropRef(r)
	}
	delete(m.nodes, n.ino)
	delete(m.open, n.ino)
	m.gone = append(m.gone, n.ino)
}

// dirPick is a parent directory argument: a live or removed directory, or
// an inode number that resolves with err (ENOENT: stale, ENOTDIR).
type dirPick struct {
	ino Ino
	n   *mnode
	err syscall.Errno
}

// modelNameErr is the error resolving name in the directory p gives before the
// entry itself is looked at.
func modelNameErr(p dirPick, name string) syscall.Errno {
	switch {
	case p.err != 0:
		return p.err
	case p.n.nlink == 0:
		return syscall.ENOENT // a removed directory accepts nothing new
	case len(name) > MaxNameLen:
		return syscall.ENAMETOOLONG
	}
	return 0
}

type modelRun struct {
	t    *testing.T
	name string
	seed uint64
	ops  int
	cfg  Config
	dir  string
	rng  *rand.Rand
	x    *Index
	m    *model
	// explicit runs commit only when the test calls Sync, Check or Close,
	// so the test knows what is durable: durable is the model as of the
	// last commit, durableRefs its staging IDs.
	explicit    bool
	durable     *model
	durableRefs map[uint64]bool
	// durableJournal is the journal's length at the last flush: a power
	// loss keeps that much of it.
	durableJournal int64
	now            int64
	step           int
	hist           []string
	touched        []Ino

	// lastX is the index most recently opened, kept after a close or
	// crash so that its last releases can still be taken.
	lastX *Index
}

func runModel(t *testing.T, name string, seed uint64, ops int, cfg Config, explicitCommits bool) {
	r := &modelRun{
		t: t, name: name, seed: seed, ops: ops, cfg: cfg, dir: t.TempDir(),
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		m: &model{
			nodes: map[Ino]*mnode{}, open: map[Ino]int{},
			dropped: map[uint64]bool{}, released: map[uint64]bool{}, lost: map[uint64]bool{},
		},
		now: 1_000_000_000, explicit: explicitCommits,
	}
	t.Cleanup(func() {
		if r.x != nil {
			_ = r.x.Close()
		}
	})
	r.open()
	root, err := r.x.GetAttr(RootIno)
	if err != nil {
		r.fatalf("root: %v", err)
	}
	r.m.root = &mnode{
		ino: RootIno, mode: syscall.S_IFDIR | 0o755, nlink: 2, atime: root.Atime, mtime: root.Mtime, ctime: root.Ctime,
		xattrs: map[string][]byte{}, chunks: map[uint64]ChunkRef{}, entries: map[string]*mnode{},
	}
	r.m.root.parent = r.m.root
	r.m.nodes[RootIno] = r.m.root
	r.m.maxIno = RootIno
	r.committed()
	r.compareAll()
	for r.step = 1; r.step <= ops; r.step++ {
		r.now += 1 + r.rng.Int64N(1000)
		r.touched = r.touched[:0]
		r.randomOp()
		r.drainReleased()
		r.compareTouched()
		if r.step%64 == 0 {
			r.compareAll()
		}
	}
	r.logf("final comparison and close")
	r.compareAll()
	if err := r.x.Close(); err != nil {
		r.fatalf("close: %v", err)
	}
	r.x = nil
	r.committed()
	r.drainReleased()
	r.allReleased("close")
	if err := CheckFile(filepath.Join(r.dir, FileName)); err != nil {
		r.fatalf("check of the closed file: %v", err)
	}
}

func (r *modelRun) open() {
	x, err := Open(r.t.Context(), r.dir, r.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		r.fatalf("open: %v", err)
	}
	r.x, r.lastX = x, x
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d, operation %d: %s\nlast operations, oldest first:\n  %s\nreproduce with: WALRUSFS_MODEL_SEED=%d WALRUSFS_MODEL_OPS=%d go test -count=1 -run 'TestModel/%s$' ./index/",
		r.seed, r.step, fmt.Sprintf(format, args...), strings.Join(r.hist, "\n  "), r.seed, r.step, r.name)
}

func (r *modelRun) logf(format string, args ...any) {
	if len(r.hist) == 40 {
		r.hist = slices.Delete(r.hist, 0, 1)
	}
	r.hist = append(r.hist, fmt.Sprintf("%d: ", r.step)+fmt.Sprintf(format, args...))
}

// qn quotes a name for the log, shortening long ones.
func qn(s string) string {
	if len(s) > 24 {
		return fmt.Sprintf("%q…(%d bytes)", s[:8], len(s))
	}
	return strconv.Quote(s)
}

func (r *modelRun) touch(inos ...Ino) { r.touched = append(r.touched, inos...) }

// expect checks an operation's error against the model's errno (0: success).
func (r *modelRun) expect(what string, err error, want syscall.Errno) {
	r.t.Helper()
	if want == 0 {
		if err != nil {
			r.fatalf("%s: got error %v, model says success", what, err)
		}
		return
	}
	if err == nil {
		r.fatalf("%s: succeeded, model says %s", what, errnoName(want))
	}
	if errno, ok := errors.AsType[syscall.Errno](err); !ok || errno != want || !errors.Is(err, want) {
		r.fatalf("%s: got %v (%T), model says %s", what, err, err, errnoName(want))
	}
}

func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{
		syscall.ENOENT: "ENOENT", syscall.EEXIST: "EEXIST", syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR",
		syscall.ENOTEMPTY: "ENOTEMPTY", syscall.EINVAL: "EINVAL", syscall.EPERM: "EPERM", syscall.ENAMETOOLONG: "ENAMETOOLONG",
		syscall.ENODATA: "ENODATA", syscall.ERANGE: "ERANGE", syscall.E2BIG: "E2BIG",
	}
	if s, ok := names[e]; ok {
		return s
	}
	return fmt.Sprintf("errno %d (%v)", int(e), e)
}

// Random choices.

func (r *modelRun) pct(p int) bool { return r.rng.IntN(100) < p }

func pick[T any](r *modelRun, s []T) T { return s[r.rng.IntN(len(s))] }

// pickName picks a name to use in directory d: often one that exists
// there, and then and again one of an open inode (to make orphans).
func (r *modelRun) pickName(d *mnode) string {
	if d != nil && len(d.entries) > 0 && r.pct(55) {
		names := d.names()
		if r.pct(30) {
			var open []string
			for _, name := range names {
				if r.m.open[d.entries[name].ino] > 0 {
					open = append(open, name)
				}
			}
			if len(open) > 0 {
				return pick(r, open)
			}
		}
		return pick(r, names)
	}
	if r.rng.IntN(40) == 0 {
		return modelNameLong
	}
	return pick(r, modelNames)
}

// pickOpenEntry picks, now and then, the parent and name of an open inode
// satisfying pred, so that removing it leaves an orphan; otherwise it picks
// as pickDir and pickName do.
func (r *modelRun) pickOpenEntry(pred func(*mnode) bool) (dirPick, string) {
	if r.pct(25) {
		type entry struct {
			d    *mnode
			name string
		}
		var open []entry
		for _, d := range r.m.sorted(func(n *mnode) bool { return n.isDir() && !n.orphan() }) {
			for _, name := range d.names() {
				if c := d.entries[name]; r.m.open[c.ino] > 0 && pred(c) {
					open = append(open, entry{d, name})
				}
			}
		}
		if len(open) > 0 {
			e := pick(r, open)
			return dirPick{ino: e.d.ino, n: e.d}, e.name
		}
	}
	p := r.pickDir()
	return p, r.pickName(p.n)
}

// pickDir picks a parent directory argument: mostly a live directory, now
// and then a removed one, a non-directory or a deleted inode.
func (r *modelRun) pickDir() dirPick {
	k := r.rng.IntN(100)
	if k < 2 && len(r.m.gone) > 0 {
		return dirPick{ino: pick(r, r.m.gone), err: syscall.ENOENT}
	}
	if k < 5 {
		if files := r.m.sorted(func(n *mnode) bool { return !n.isDir() }); len(files) > 0 {
			return dirPick{ino: pick(r, files).ino, err: syscall.ENOTDIR}
		}
	}
	if k < 12 {
		if dead := r.m.sorted(func(n *mnode) bool { return n.isDir() && n.orphan() }); len(dead) > 0 {
			d := pick(r, dead)
			return dirPick{ino: d.ino, n: d}
		}
	}
	d := pick(r, r.m.sorted(func(n *mnode) bool { return n.isDir() && !n.orphan() }))
	return dirPick{ino: d.ino, n: d}
}

// pickNode picks an inode argument: mostly one satisfying pred, anyPct
// percent of the time any live one, and now and then a deleted one (nil).
func (r *modelRun) pickNode(pred func(*mnode) bool, anyPct int) (Ino, *mnode) {
	k := r.rng.IntN(100)
	if k < 4 && len(r.m.gone) > 0 {
		return pick(r, r.m.gone), nil
	}
	c := r.m.sorted(pred)
	if k < 4+anyPct || len(c) == 0 {
		c = r.m.sorted(nil)
	}
	n := pick(r, c)
	return n.ino, n
}

func (r *modelRun) randomTime() int64 { return r.rng.Int64N(1<<42) - 1<<40 }

func (r *modelRun) randomOp() {
	ops := []struct {
		weight int
		fn     func()
	}{
		{16, r.opCreate},
		{6, r.opLink},
		{8, r.opUnlink},
		{5, r.opRmdir},
		{18, r.opRename},
		{3, r.opLookup},
		{7, r.opSetAttr},
		{6, r.opSetXattr},
		{3, r.opRemoveXattr},
		{6, r.opNewStagedChunk},
		{4, r.opSetChunk},
		{4, r.opNoteWrite},
		{6, r.opOpen},
		{4, r.opClose},
		{1, r.opPurgeOrphans},
		{2, r.opSync},
		{2, r.opCommit},
		{1, r.opCrash},
		{1, r.opReopen},
		{1, r.opPowerLoss},
		{1, r.compareAll},
	}
	if len(r.m.nodes) > 250 {
		ops[0].weight = 2 // keep the tree small enough to compare often
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	k := r.rng.IntN(total)
	for _, o := range ops {
		if k < o.weight {
			o.fn()
			return
		}
		k -= o.weight
	}
}

// Operations. Each picks its arguments, asks the model for the errno,
// runs the real operation, compares, and on success applies it to the model.

func (r *modelRun) opCreate() {
	p := r.pickDir()
	name := r.pickName(p.n)
	nn := NewNode{Uid: uint32(r.rng.IntN(3)), Gid: uint32(r.rng.IntN(3)), Now: r.now}
	perm := uint32(r.rng.IntN(0o1000))
	var typ uint32
	switch k := r.rng.IntN(100); {
	case k < 40:
		typ = syscall.S_IFREG
		nn.ChunkSize = pick(r, modelChunkSize)
	case k < 70:
		typ = syscall.S_IFDIR
		if r.rng.IntN(6) == 0 {
			perm |= syscall.S_ISGID
		}
	case k < 85:
		typ, perm = syscall.S_IFLNK, 0o777
		switch r.rng.IntN(30) {
		case 0:
			nn.Target = ""
		case 1:
			nn.Target = strings.Repeat("t", 4096)
		default:
			nn.Target = pick(r, modelTargets)
		}
	case k < 93:
		typ = syscall.S_IFIFO
	case k < 97:
		typ = syscall.S_IFCHR
		nn.Rdev = r.rng.Uint32()
	default:
		typ = syscall.S_IFSOCK
	}
	nn.Mode = typ | perm
	what := fmt.Sprintf("create %d/%s mode %o uid %d gid %d target %s", p.ino, qn(name), nn.Mode, nn.Uid, nn.Gid, qn(nn.Target))
	r.logf("%s", what)
	want := func() syscall.Errno {
		if typ == syscall.S_IFLNK {
			if nn.Target == "" {
				return syscall.ENOENT
			}
			if len(nn.Target) >= 4096 {
				return syscall.ENAMETOOLONG
			}
		}
		if e := modelNameErr(p, name); e != 0 {
			return e
		}
		if p.n.entries[name] != nil {
			return syscall.EEXIST
		}
		return 0
	}()
	a, err := r.x.Create(p.ino, name, nn)
	r.touch(p.ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	if a.Ino <= r.m.maxIno {
		r.fatalf("%s: new inode %d, but %d was handed out already", what, a.Ino, r.m.maxIno)
	}
	r.m.maxIno = a.Ino
	d := p.n
	n := &mnode{
		ino: a.Ino, mode: nn.Mode, uid: nn.Uid, gid: nn.Gid, rdev: nn.Rdev, nlink: 1,
		atime: r.now, mtime: r.now, ctime: r.now, xattrs: map[string][]byte{}, chunks: map[uint64]ChunkRef{},
	}
	if d.mode&syscall.S_ISGID != 0 {
		n.gid = d.gid
		if typ == syscall.S_IFDIR {
			n.mode |= syscall.S_ISGID
		}
	}
	switch typ {
	case syscall.S_IFDIR:
		n.nlink, n.entries, n.parent, n.name = 2, map[string]*mnode{}, d, name
		d.nlink++
	case syscall.S_IFREG:
		n.chunkSize = nn.ChunkSize
	case syscall.S_IFLNK:
		n.target, n.size = nn.Target, uint64(len(nn.Target))
	}
	d.entries[name] = n
	d.mtime, d.ctime = r.now, r.now
	r.m.nodes[n.ino] = n
	if a != n.attr() {
		r.fatalf("%s: returned %+v, model %+v", what, a, n.attr())
	}
	r.touch(n.ino)
}

func (r *modelRun) opLink() {
	ino, src := r.pickNode(func(n *mnode) bool { return !n.isDir() }, 10)
	p := r.pickDir()
	name := r.pickName(p.n)
	what := fmt.Sprintf("link %d to %d/%s", ino, p.ino, qn(name))
	r.logf("%s", what)
	want := func() syscall.Errno {
		switch {
		case src == nil:
			return syscall.ENOENT
		case modelNameErr(p, name) != 0:
			return modelNameErr(p, name)
		case p.n.entries[name] != nil:
			return syscall.EEXIST
		case src.isDir():
			return syscall.EPERM
		case src.nlink == 0:
			return syscall.ENOENT // an orphan cannot get a name back
		}
		return 0
	}()
	a, err := r.x.Link(ino, p.ino, name, r.now)
	r.touch(ino, p.ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	src.nlink++
	src.ctime = r.now
	p.n.entries[name] = src
	p.n.mtime, p.n.ctime = r.now, r.now
	if a != src.attr() {
		r.fatalf("%s: returned %+v, model %+v", what, a, src.attr())
	}
}

func (r *modelRun) opUnlink() {
	p, name := r.pickOpenEntry(func(n *mnode) bool { return !n.isDir() })
	what := fmt.Sprintf("unlink %d/%s", p.ino, qn(name))
	r.logf("%s", what)
	var c *mnode
	want := func() syscall.Errno {
		if e := modelNameErr(p, name); e != 0 {
			return e
		}
		if c = p.n.entries[name]; c == nil {
			return syscall.ENOENT
		}
		if c.isDir() {
			return syscall.EISDIR
		}
		return 0
	}()
	err := r.x.Unlink(p.ino, name, r.now)
	r.touch(p.ino)
	if c != nil {
		r.touch(c.ino)
	}
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	delete(p.n.entries, name)
	p.n.mtime, p.n.ctime = r.now, r.now
	c.nlink--
	c.ctime = r.now
	r.m.unlinked(c)
}

func (r *modelRun) opRmdir() {
	p, name := r.pickOpenEntry(func(n *mnode) bool { return n.isDir() && len(n.entries) == 0 })
	what := fmt.Sprintf("rmdir %d/%s", p.ino, qn(name))
	r.logf("%s", what)
	var c *mnode
	want := func() syscall.Errno {
		if e := modelNameErr(p, name); e != 0 {
			return e
		}
		if c = p.n.entries[name]; c == nil {
			return syscall.ENOENT
		}
		if !c.isDir() {
			return syscall.ENOTDIR
		}
		if len(c.entries) > 0 {
			return syscall.ENOTEMPTY
		}
		return 0
	}()
	err := r.x.Rmdir(p.ino, name, r.now)
	r.touch(p.ino)
	if c != nil {
		r.touch(c.ino)
	}
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	delete(p.n.entries, name)
	p.n.nlink--
	p.n.mtime, p.n.ctime = r.now, r.now
	c.nlink = 0
	c.ctime = r.now
	r.m.unlinked(c)
}

// subdirs returns d and every directory below it.
func subdirs(d *mnode) []*mnode {
	out := []*mnode{d}
	for _, name := range d.names() {
		if c := d.entries[name]; c.isDir() {
			out = append(out, subdirs(c)...)
		}
	}
	return out
}

func (r *modelRun) opRename() {
	op := r.pickDir()
	oldName := r.pickName(op.n)
	if op.n != nil && len(op.n.entries) > 0 && r.pct(50) {
		oldName = pick(r, op.n.names())
	}
	var flags uint32
	switch k := r.rng.IntN(100); {
	case k < 55:
	case k < 75:
		flags = RenameNoReplace
	case k < 97:
		flags = RenameExchange
	case k < 99:
		flags = RenameNoReplace | RenameExchange
	default:
		flags = RenameWhiteout
	}
	np := r.pickDir()
	newName := r.pickName(np.n)
	// Aim at the interesting cases now and then: a directory into its own
	// subtree, and onto an ancestor of its parent.
	if op.err == 0 && op.n.nlink > 0 {
		if src := op.n.entries[oldName]; src != nil && src.isDir() && r.pct(20) {
			d := pick(r, subdirs(src))
			np = dirPick{ino: d.ino, n: d}
			newName = r.pickName(d)
		} else if op.n != r.m.root && r.pct(12) {
			var anc []*mnode
			for d := op.n; d != r.m.root; d = d.parent {
				anc = append(anc, d)
			}
			a := pick(r, anc)
			np, newName = dirPick{ino: a.parent.ino, n: a.parent}, a.name
		}
	}
	what := fmt.Sprintf("rename %d/%s → %d/%s flags %d", op.ino, qn(oldName), np.ino, qn(newName), flags)
	r.logf("%s", what)
	exchange := flags&RenameExchange != 0
	var src, dst *mnode
	want := func() syscall.Errno {
		if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
			return syscall.EINVAL
		}
		if op.err != 0 {
			return op.err
		}
		if np.err != 0 {
			return np.err
		}
		if e := modelNameErr(op, oldName); e != 0 {
			return e
		}
		if src = op.n.entries[oldName]; src == nil {
			return syscall.ENOENT
		}
		if e := modelNameErr(np, newName); e != 0 {
			return e
		}
		dst = np.n.entries[newName]
		if flags&RenameNoReplace != 0 && dst != nil {
			return syscall.EEXIST
		}
		if exchange && dst == nil {
			return syscall.ENOENT
		}
		if op.n != np.n {
			if src.isDir() && isAncestor(src, np.n) {
				return syscall.EINVAL // the source would end up inside itself
			}
			if dst != nil && dst.isDir() && isAncestor(dst, op.n) {
				if exchange {
					return syscall.EINVAL
				}
				return syscall.ENOTEMPTY // the target holds the source
			}
		}
		if src == dst || exchange || dst == nil {
			return 0
		}
		switch {
		case src.isDir() && !dst.isDir():
			return syscall.ENOTDIR
		case !src.isDir() && dst.isDir():
			return syscall.EISDIR
		case dst.isDir() && len(dst.entries) > 0:
			return syscall.ENOTEMPTY
		}
		return 0
	}()
	err := r.x.Rename(op.ino, oldName, np.ino, newName, flags, r.now)
	r.touch(op.ino, np.ino)
	for _, n := range []*mnode{src, dst} {
		if n != nil {
			r.touch(n.ino)
		}
	}
	r.expect(what, err, want)
	if want != 0 || src == dst {
		return // two names of one inode (or one name): nothing happens
	}
	move := func(n, from, to *mnode) {
		if n.isDir() && from != to {
			from.nlink--
			to.nlink++
			n.parent = to
		}
	}
	if exchange {
		op.n.entries[oldName], np.n.entries[newName] = dst, src
		move(src, op.n, np.n)
		move(dst, np.n, op.n)
		src.name, dst.name = newName, oldName
		src.ctime, dst.ctime = r.now, r.now
	} else {
		if dst != nil {
			if dst.isDir() {
				np.n.nlink--
				dst.nlink = 0
			} else {
				dst.nlink--
			}
			dst.ctime = r.now
			r.m.unlinked(dst)
		}
		delete(op.n.entries, oldName)
		np.n.entries[newName] = src
		move(src, op.n, np.n)
		src.name = newName
		src.ctime = r.now
	}
	op.n.mtime, op.n.ctime = r.now, r.now
	np.n.mtime, np.n.ctime = r.now, r.now
}

func (r *modelRun) opLookup() {
	p := r.pickDir()
	name := r.pickName(p.n)
	what := fmt.Sprintf("lookup %d/%s", p.ino, qn(name))
	r.logf("%s", what)
	var c *mnode
	want := func() syscall.Errno {
		if e := modelNameErr(p, name); e != 0 {
			return e
		}
		if c = p.n.entries[name]; c == nil {
			return syscall.ENOENT
		}
		return 0
	}()
	a, err := r.x.Lookup(p.ino, name)
	r.expect(what, err, want)
	if want == 0 && a != c.attr() {
		r.fatalf("%s: got %+v, model %+v", what, a, c.attr())
	}
}

func (r *modelRun) opSetAttr() {
	ino, n := r.pickNode(nil, 0)
	in := SetAttrIn{Now: r.now}
	var desc []string
	if r.pct(30) {
		v := uint32(r.rng.IntN(0o10000))
		if r.pct(20) {
			v |= pick(r, []uint32{syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK})
		}
		in.Mode = &v
		desc = append(desc, fmt.Sprintf("mode %o", v))
	}
	if r.pct(20) {
		v := uint32(r.rng.IntN(4))
		in.Uid = &v
		desc = append(desc, fmt.Sprintf("uid %d", v))
	}
	if r.pct(20) {
		v := uint32(r.rng.IntN(4))
		in.Gid = &v
		desc = append(desc, fmt.Sprintf("gid %d", v))
	}
	if r.pct(40) {
		cs := uint64(4096)
		if n != nil && n.isReg() {
			cs = uint64(n.chunkSize)
		}
		v := r.rng.Uint64N(5*cs + 2)
		in.Size = &v
		desc = append(desc, fmt.Sprintf("size %d", v))
	}
	if r.pct(15) {
		v := r.randomTime()
		in.Atime = &v
		desc = append(desc, fmt.Sprintf("atime %d", v))
	}
	if r.pct(15) {
		v := r.randomTime()
		in.Mtime = &v
		desc = append(desc, fmt.Sprintf("mtime %d", v))
	}
	what := fmt.Sprintf("setattr %d %s", ino, strings.Join(desc, " "))
	r.logf("%s", what)
	want := func() syscall.Errno {
		switch {
		case n == nil:
			return syscall.ENOENT
		case in.Size != nil && n.isDir():
			return syscall.EISDIR
		case in.Size != nil && !n.isReg():
			return syscall.EINVAL
		}
		return 0
	}()
	a, err := r.x.SetAttr(ino, in)
	r.touch(ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	if in.Mode != nil {
		n.mode = n.typ() | *in.Mode&0o7777
	}
	chown := (in.Uid != nil || in.Gid != nil) && !n.isDir()
	if chown && in.Mode == nil {
		// chown(2) of anything but a directory clears setuid, and setgid
		// when group execute is on.
		n.mode &^= syscall.S_ISUID
		if n.mode&syscall.S_IXGRP != 0 {
			n.mode &^= syscall.S_ISGID
		}
	}
	if chown || in.Size != nil {
		delete(n.xattrs, "security.capability")
	}
	if in.Uid != nil {
		n.uid = *in.Uid
	}
	if in.Gid != nil {
		n.gid = *in.Gid
	}
	if in.Atime != nil {
		n.atime = *in.Atime
	}
	if in.Mtime != nil {
		n.mtime = *in.Mtime
	}
	if in.Size != nil {
		if *in.Size < n.size {
			// Chunks wholly past the new end go.
			cs := uint64(n.chunkSize)
			for c, ref := range n.chunks {
				if c*cs >= *in.Size {
					r.m.dropRef(ref)
					delete(n.chunks, c)
				}
			}
		}
		n.size = *in.Size
		if in.Mtime == nil {
			n.mtime = r.now
		}
	}
	n.ctime = r.now
	if a != n.attr() {
		r.fatalf("%s: returned %+v, model %+v", what, a, n.attr())
	}
}

func (r *modelRun) pickXattrName(n *mnode) string {
	switch k := r.rng.IntN(100); {
	case k < 3:
		return ""
	case k < 7:
		return modelXattrLong + "k"
	case k < 60 && n != nil && len(n.xattrs) > 0:
		names := make([]string, 0, len(n.xattrs))
		for name := range n.xattrs {
			names = append(names, name)
		}
		slices.Sort(names)
		return pick(r, names)
	}
	return pick(r, modelXattrs)
}

func (r *modelRun) opSetXattr() {
	ino, n := r.pickNode(nil, 0)
	if n == nil {
		return // the order of ENOENT and the argument checks is the kernel's business
	}
	name := r.pickXattrName(n)
	var value []byte
	switch k := r.rng.IntN(100); {
	case k < 2:
		value = make([]byte, MaxXattrValueLen)
	case k < 4:
		value = make([]byte, MaxXattrValueLen+1)
	default:
		value = make([]byte, r.rng.IntN(24))
	}
	for i := range value {
		value[i] = byte(r.rng.IntN(256))
	}
	flags := pick(r, []uint32{0, 0, XattrCreate, XattrReplace, XattrCreate | XattrReplace})
	what := fmt.Sprintf("setxattr %d %s (%d bytes) flags %d", ino, qn(name), len(value), flags)
	r.logf("%s", what)
	_, exists := n.xattrs[name]
	want := func() syscall.Errno {
		switch {
		case name == "" || len(name) > MaxXattrNameLen:
			return syscall.ERANGE
		case len(value) > MaxXattrValueLen:
			return syscall.E2BIG
		case flags&XattrCreate != 0 && exists:
			return syscall.EEXIST
		case flags&XattrReplace != 0 && !exists:
			return syscall.ENODATA
		}
		return 0
	}()
	err := r.x.SetXattr(ino, name, value, flags, r.now)
	r.touch(ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	n.xattrs[name] = value
	n.ctime = r.now
}

func (r *modelRun) opRemoveXattr() {
	ino, n := r.pickNode(nil, 0)
	if n == nil {
		return
	}
	name := r.pickXattrName(n)
	what := fmt.Sprintf("removexattr %d %s", ino, qn(name))
	r.logf("%s", what)
	_, exists := n.xattrs[name]
	want := func() syscall.Errno {
		switch {
		case name == "" || len(name) > MaxXattrNameLen:
			return syscall.ERANGE
		case !exists:
			return syscall.ENODATA
		}
		return 0
	}()
	err := r.x.RemoveXattr(ino, name, r.now)
	r.touch(ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	delete(n.xattrs, name)
	n.ctime = r.now
}

// newStagingID checks a staging ID the index just handed out.
func (r *modelRun) newStagingID(what string, id uint64) {
	if id <= r.m.maxStaging {
		r.fatalf("%s: staging ID %d, but %d was handed out already", what, id, r.m.maxStaging)
	}
	r.m.maxStaging = id
}

// setChunk records ref as chunk c of n in the model.
func (r *modelRun) setChunk(n *mnode, c uint64, ref ChunkRef) {
	if old, ok := n.chunks[c]; ok && (ref.Kind != ChunkStaged || ref.StagingID != old.StagingID) {
		r.m.dropRef(old)
	}
	n.chunks[c] = ref
}

func (r *modelRun) opNewStagedChunk() {
	ino, n := r.pickNode(func(n *mnode) bool { return n.isReg() }, 8)
	c := r.rng.Uint64N(6)
	what := fmt.Sprintf("new staged chunk %d of %d", c, ino)
	r.logf("%s", what)
	want := func() syscall.Errno {
		switch {
		case n == nil:
			return syscall.ENOENT
		case !n.isReg():
			return syscall.EINVAL
		}
		return 0
	}()
	ref, err := r.x.NewStagedChunk(ino, c)
	r.touch(ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	r.newStagingID(what, ref.StagingID)
	if ref.Kind != ChunkStaged || ref.Sealed || ref.Stored != nil {
		r.fatalf("%s: returned %+v", what, ref)
	}
	r.setChunk(n, c, ref)
}

func (r *modelRun) opSetChunk() {
	ino, n := r.pickNode(func(n *mnode) bool { return n.isReg() }, 8)
	c := r.rng.Uint64N(6)
	var ref ChunkRef
	var kind string
	switch k := r.rng.IntN(3); {
	case k == 0 && n != nil && len(n.chunks) > 0:
		// Seal a chunk for upload: same staging file.
		var staged []uint64
		for cn, old := range n.chunks {
			if old.Kind == ChunkStaged {
				staged = append(staged, cn)
			}
		}
		if len(staged) == 0 {
			return
		}
		slices.Sort(staged)
		c = pick(r, staged)
		ref = n.chunks[c]
		ref.Sealed, kind = true, "sealed"
	case k == 1:
		// An upload finished: the chunk now lives in a blob.
		s := &StoredChunk{Offset: r.rng.Uint64N(1 << 30), Length: 1 + r.rng.Uint64N(1<<20), BlockSize: 4096}
		for i := range s.BlobID {
			s.BlobID[i] = byte(r.rng.IntN(256))
		}
		if r.pct(50) {
			s.PatchID = make([]byte, 37)
			for i := range s.PatchID {
				s.PatchID[i] = byte(r.rng.IntN(256))
			}
		}
		s.BlockHashes = make([][32]byte, 1+r.rng.IntN(3))
		for i := range s.BlockHashes {
			for j := range s.BlockHashes[i] {
				s.BlockHashes[i][j] = byte(r.rng.IntN(256))
			}
		}
		ref, kind = ChunkRef{Kind: ChunkStored, Stored: s}, "stored"
	default:
		// Copy-on-write: a new staging file published with SetChunk.
		id, err := r.x.AllocStagingID()
		r.expect("alloc staging ID", err, 0)
		r.newStagingID("alloc staging ID", id)
		ref, kind = ChunkRef{Kind: ChunkStaged, StagingID: id}, fmt.Sprintf("staged %d", id)
	}
	what := fmt.Sprintf("set chunk %d of %d: %s", c, ino, kind)
	r.logf("%s", what)
	want := func() syscall.Errno {
		switch {
		case n == nil:
			return syscall.ENOENT
		case !n.isReg():
			return syscall.EINVAL
		}
		return 0
	}()
	err := r.x.SetChunk(ino, c, ref)
	r.touch(ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	r.setChunk(n, c, ref)
}

func (r *modelRun) opNoteWrite() {
	ino, n := r.pickNode(func(n *mnode) bool { return n.isReg() }, 0)
	if n != nil && !n.isReg() {
		return // only regular files are written
	}
	cs := uint64(4096)
	if n != nil {
		cs = uint64(n.chunkSize)
	}
	end := r.rng.Uint64N(6 * cs)
	what := fmt.Sprintf("note write %d end %d", ino, end)
	r.logf("%s", what)
	want := syscall.Errno(0)
	if n == nil {
		want = syscall.ENOENT
	}
	a, err := r.x.NoteWrite(ino, end, r.now)
	r.touch(ino)
	r.expect(what, err, want)
	if want != 0 {
		return
	}
	n.size = max(n.size, end)
	n.mtime, n.ctime = r.now, r.now
	if a != n.attr() {
		r.fatalf("%s: returned %+v, model %+v", what, a, n.attr())
	}
}

func (r *modelRun) opOpen() {
	if len(r.m.open) >= 16 {
		r.opClose()
		return
	}
	// Mostly regular files and empty directories: those are what unlink
	// and rmdir turn into orphans.
	c := r.m.sorted(func(n *mnode) bool {
		return n.isReg() && n.nlink > 0 || n.isDir() && len(n.entries) == 0 && n.nlink > 0
	})
	if len(c) == 0 || r.pct(15) {
		c = r.m.sorted(func(n *mnode) bool { return n.nlink > 0 && n.typ() != syscall.S_IFLNK })
	}
	n := pick(r, c)
	r.logf("open %d", n.ino)
	r.expect(fmt.Sprintf("open %d", n.ino), r.x.OpenInode(n.ino), 0)
	r.m.open[n.ino]++
}

// opClose drops an open handle; the last close of an orphan releases it.
func (r *modelRun) opClose() {
	var open []Ino
	for ino := range r.m.open {
		open = append(open, ino)
	}
	if len(open) == 0 {
		return
	}
	slices.Sort(open)
	ino := pick(r, open)
	n := r.m.nodes[ino]
	what := fmt.Sprintf("close %d", ino)
	r.logf("%s", what)
	err := r.x.CloseInode(ino)
	r.touch(ino)
	r.expect(what, err, 0)
	if r.m.open[ino]--; r.m.open[ino] > 0 {
		return
	}
	delete(r.m.open, ino)
	if n.orphan() {
		r.m.delete(n)
	}
}

// opPurgeOrphans is the mount-time purge; it is only valid while no orphan
// is open.
func (r *modelRun) opPurgeOrphans() {
	orphans := r.m.sorted(func(n *mnode) bool { return n.orphan() })
	for _, n := range orphans {
		if r.m.open[n.ino] > 0 {
			return
		}
	}
	r.logf("purge orphans (%d)", len(orphans))
	got, err := r.x.PurgeOrphans()
	r.expect("purge orphans", err, 0)
	if got != len(orphans) {
		r.fatalf("purge orphans: purged %d, model has %d", got, len(orphans))
	}
	for _, n := range orphans {
		r.touch(n.ino)
		r.m.delete(n)
	}
}

// opSync flushes the journal: everything so far is durable, but the
// bbolt file is not written and no staging file is released.
func (r *modelRun) opSync() {
	r.logf("sync")
	r.expect("sync", r.x.Sync(r.t.Context()), 0)
	r.committed()
}

// opCommit folds the journal into the bbolt file, which releases the
// staging files nothing refers to any more.
func (r *modelRun) opCommit() {
	r.logf("commit")
	r.expect("commit", r.x.Commit(r.t.Context()), 0)
	r.committed()
	r.drainReleased()
	r.allReleased("commit")
}

// opCrash stops the index the way kill -9 would and opens it again: every
// acknowledged operation must still be there. Release callbacks still due
// are lost with the process.
func (r *modelRun) opCrash() {
	r.logf("crash")
	r.x.Abandon()
	r.x = nil
	r.drainReleased()
	for id := range r.m.dropped {
		r.m.lost[id] = true
	}
	clear(r.m.dropped)
	r.remount()
}

func (r *modelRun) opReopen() {
	r.logf("close and reopen")
	err := r.x.Close()
	r.x = nil
	r.expect("close", err, 0)
	r.committed()
	r.drainReleased()
	r.allReleased("close")
	if err := CheckFile(filepath.Join(r.dir, FileName)); err != nil {
		r.fatalf("check of the closed file: %v", err)
	}
	r.remount()
}

// opPowerLoss stops the index and throws the journal away, as a power loss
// before the journal reached the disk would: the index must come back as of
// its last commit, with no trace of anything after it.
func (r *modelRun) opPowerLoss() {
	if r.durable == nil {
		return
	}
	r.logf("power loss")
	r.x.Abandon()
	r.x = nil
	r.drainReleased()
	// The journal keeps what was flushed: a power loss takes the rest.
	if err := os.Truncate(filepath.Join(r.dir, JournalName), r.durableJournal); err != nil {
		r.fatalf("power loss: %v", err)
	}
	m := r.durable.clone()
	m.released, m.lost = r.m.released, r.m.lost
	refs := m.referenced()
	for id := range r.m.dropped {
		if !refs[id] {
			m.lost[id] = true
		}
	}
	for id := range refs {
		if m.released[id] {
			r.fatalf("power loss: staging ID %d was released, but the durable state refers to it", id)
		}
	}
	// Numbers handed out since the commit are handed out again; the
	// stale-handle pool keeps only numbers that stay unused.
	m.gone = m.gone[:0]
	for _, ino := range slices.Concat(r.m.gone, slices.Collect(maps.Keys(r.m.nodes))) {
		if _, live := m.nodes[ino]; !live && ino <= m.maxIno && !slices.Contains(m.gone, ino) {
			m.gone = append(m.gone, ino)
		}
	}
	slices.Sort(m.gone)
	r.m = m
	r.remount()
}

// remount opens the index again as a fresh mount would: nothing is open,
// and usually the orphans left behind are purged at once.
func (r *modelRun) remount() {
	clear(r.m.open)
	r.open()
	r.committed() // opening folds the journal in and commits
	// The staging sweep at mount keeps exactly the referenced IDs.
	r.compareStaging()
	if r.pct(80) {
		r.opPurgeOrphans()
	}
	r.compareAll()
}

// Checks.

// committed notes that everything so far is durable (in explicit-commit
// runs, where only the test's calls commit).
func (r *modelRun) committed() {
	if !r.explicit {
		return
	}
	r.durable = r.m.clone()
	r.durableRefs = r.durable.referenced()
	fi, err := os.Stat(filepath.Join(r.dir, JournalName))
	if err != nil {
		r.fatalf("journal: %v", err)
	}
	r.durableJournal = fi.Size()
}

func (r *modelRun) drainReleased() {
	ids := r.lastX.TakeReleased()
	for _, id := range ids {
		switch {
		case r.m.released[id]:
			r.fatalf("staging ID %d released twice", id)
		case r.durableRefs[id]:
			r.fatalf("staging ID %d released before the commit that dropped it", id)
		case r.m.dropped[id]:
			delete(r.m.dropped, id)
			r.m.released[id] = true
		case r.m.referenced()[id]:
			r.fatalf("staging ID %d released while a chunk still refers to it", id)
		default:
			r.fatalf("staging ID %d released, but nothing dropped it", id)
		}
	}
}

// allReleased checks, after a commit, that every dropped staging ID has
// been released.
func (r *modelRun) allReleased(when string) {
	if len(r.m.dropped) == 0 {
		return
	}
	var ids []uint64
	for id := range r.m.dropped {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	r.fatalf("after %s: staging IDs %v are no longer referenced but were not released", when, ids)
}

func (r *modelRun) compareStaging() {
	got, err := r.x.StagingIDs()
	r.expect("staging IDs", err, 0)
	want := r.m.referenced()
	for id := range want {
		if !got[id] {
			r.fatalf("staging ID %d is referenced in the model, not in the index", id)
		}
	}
	for id := range got {
		if !want[id] {
			r.fatalf("staging ID %d is referenced in the index, not in the model", id)
		}
	}
}

// compareTouched compares the inodes the last operation touched, whether it
// succeeded (the change is there) or failed (nothing changed).
func (r *modelRun) compareTouched() {
	seen := map[Ino]bool{}
	for _, ino := range r.touched {
		if seen[ino] {
			continue
		}
		seen[ino] = true
		n, ok := r.m.nodes[ino]
		if !ok {
			if _, err := r.x.GetAttr(ino); !errors.Is(err, syscall.ENOENT) {
				r.fatalf("inode %d: deleted in the model, getattr gives %v", ino, err)
			}
			continue
		}
		r.compareNode(n)
		if n.isDir() {
			r.compareEntries(n)
		}
	}
}

// compareAll compares the whole tree, walking it from the root with ReadDir,
// then the orphans, counters and staging IDs, and runs the consistency
// checker (which commits, so every dropped staging ID must be released).
func (r *modelRun) compareAll() {
	r.logf("compare all (%d inodes)", len(r.m.nodes))
	seen := map[Ino]bool{RootIno: true}
	r.compareNode(r.m.root)
	var walk func(d *mnode)
	walk = func(d *mnode) {
		r.compareEntries(d)
		for _, name := range d.names() {
			c := d.entries[name]
			if seen[c.ino] {
				continue
			}
			seen[c.ino] = true
			r.compareNode(c)
			if c.isDir() {
				walk(c)
			}
		}
	}
	walk(r.m.root)
	for _, n := range r.m.sorted(func(n *mnode) bool { return !seen[n.ino] }) {
		if !n.orphan() {
			r.fatalf("model: inode %d has %d links but no name", n.ino, n.nlink)
		}
		r.compareNode(n)
		if n.isDir() {
			r.compareEntries(n)
		}
	}
	for _, ino := range r.m.gone[max(0, len(r.m.gone)-16):] {
		if _, err := r.x.GetAttr(ino); !errors.Is(err, syscall.ENOENT) {
			r.fatalf("inode %d: deleted in the model, getattr gives %v", ino, err)
		}
	}
	st, err := r.x.Stats()
	r.expect("stats", err, 0)
	if st.Inodes != uint64(len(r.m.nodes)) {
		r.fatalf("stats: %d inodes, model has %d", st.Inodes, len(r.m.nodes))
	}
	r.compareStaging()
	if err := r.x.Check(); err != nil {
		r.fatalf("consistency check: %v", err)
	}
	if err := r.x.Verify(func(p Problem) { r.fatalf("fsck's check: %s: %s", p.Kind, p.Detail) }); err != nil {
		r.fatalf("fsck's check: %v", err)
	}
	r.committed()
	r.drainReleased()
	r.allReleased("check")
}

func (r *modelRun) compareEntries(d *mnode) {
	got, err := r.x.ReadDir(d.ino)
	r.expect(fmt.Sprintf("readdir %d", d.ino), err, 0)
	want := d.names()
	if len(got) != len(want) {
		var names []string
		for _, e := range got {
			names = append(names, qn(e.Name))
		}
		r.fatalf("readdir %d: %d entries %v, model has %d", d.ino, len(got), names, len(want))
	}
	for i, e := range got {
		c := d.entries[want[i]]
		if e.Name != want[i] || e.Ino != c.ino || e.Type != c.typ() {
			r.fatalf("readdir %d: entry %d is %s → %d type %o, model %s → %d type %o",
				d.ino, i, qn(e.Name), e.Ino, e.Type, qn(want[i]), c.ino, c.typ())
		}
	}
}

func (r *modelRun) compareNode(n *mnode) {
	a, err := r.x.GetAttr(n.ino)
	r.expect(fmt.Sprintf("getattr %d", n.ino), err, 0)
	if a != n.attr() {
		r.fatalf("inode %d: index %+v, model %+v", n.ino, a, n.attr())
	}
	if n.typ() == syscall.S_IFLNK {
		target, err := r.x.Readlink(n.ino)
		r.expect(fmt.Sprintf("readlink %d", n.ino), err, 0)
		if target != n.target {
			r.fatalf("readlink %d: %s, model %s", n.ino, qn(target), qn(n.target))
		}
	}
	names, err := r.x.ListXattr(n.ino)
	r.expect(fmt.Sprintf("listxattr %d", n.ino), err, 0)
	if len(names) != len(n.xattrs) {
		r.fatalf("listxattr %d: %q, model has %d", n.ino, names, len(n.xattrs))
	}
	for i, name := range names {
		want, ok := n.xattrs[name]
		if !ok || i > 0 && names[i-1] >= name {
			r.fatalf("listxattr %d: %q, not what the model has, or out of order", n.ino, names)
		}
		v, err := r.x.GetXattr(n.ino, name)
		r.expect(fmt.Sprintf("getxattr %d %s", n.ino, qn(name)), err, 0)
		if !bytes.Equal(v, want) {
			r.fatalf("getxattr %d %s: %d bytes, model %d bytes", n.ino, qn(name), len(v), len(want))
		}
	}
	chunks, err := r.x.Chunks(n.ino)
	r.expect(fmt.Sprintf("chunks %d", n.ino), err, 0)
	if len(chunks) != len(n.chunks) {
		r.fatalf("chunks of %d: %+v, model %+v", n.ino, chunks, n.chunks)
	}
	for i, c := range chunks {
		want, ok := n.chunks[c.N]
		if !ok || !chunkRefEqual(c.Ref, want) || i > 0 && chunks[i-1].N >= c.N {
			r.fatalf("chunks of %d: %+v, model %+v", n.ino, chunks, n.chunks)
		}
	}
}

func chunkRefEqual(a, b ChunkRef) bool {
	if a.Kind != b.Kind || a.StagingID != b.StagingID || a.Sealed != b.Sealed || (a.Stored == nil) != (b.Stored == nil) {
		return false
	}
	if a.Stored == nil {
		return true
	}
	s, t := a.Stored, b.Stored
	return s.BlobID == t.BlobID && bytes.Equal(s.PatchID, t.PatchID) && s.Offset == t.Offset &&
		s.Length == t.Length && s.BlockSize == t.BlockSize && slices.Equal(s.BlockHashes, t.BlockHashes)
}
