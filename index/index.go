package index

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors returned by the index. Namespace errors are plain errnos
// (syscall.ENOENT, EEXIST, ENOTEMPTY, …) so the filesystem can hand them to
// the kernel unchanged; the ones below describe the index itself.
var (
	// ErrCorrupt means a record in the index file could not be decoded.
	ErrCorrupt = errors.New("index corrupt")
	// ErrClosed means the index has been closed.
	ErrClosed = errors.New("index closed")
	// ErrNewerSchema means the file was written by a newer walrusfs.
	ErrNewerSchema = errors.New("index written by a newer walrusfs")
)

// Config tunes the index. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// CommitInterval is the longest an acknowledged operation waits for
	// its disk flush (an fdatasync of the journal). It bounds what a power
	// loss can take. A daemon crash loses nothing regardless.
	CommitInterval time.Duration
	// CheckpointInterval is how often the journal is folded into the
	// bbolt file (a commit, which holds the index lock through bbolt's
	// own flushes). It bounds the journal replayed at the next open.
	CheckpointInterval time.Duration
	// CommitOps checkpoints early once this many operations are pending.
	CommitOps int
	// OpenTimeout bounds the wait for bbolt's file lock.
	OpenTimeout time.Duration

	// flushJournal replaces the journal's fdatasync in tests that need a
	// flush to take its time.
	flushJournal func(*os.File) error
}

// DefaultConfig returns the configuration walrusfs uses.
func DefaultConfig() Config {
	return Config{CommitInterval: time.Second, CheckpointInterval: 30 * time.Second, CommitOps: 20000, OpenTimeout: time.Second}
}

// FileName and JournalName are the index's files inside the state directory.
const (
	FileName    = "index.db"
	JournalName = "index.journal"
)

// Index is the tree of one walrusfs filesystem. See the package doc.
type Index struct {
	cfg     Config
	log     *slog.Logger
	db      *bolt.DB
	journal *os.File

	// syncMu serializes journal flushes, which run without mu so that
	// operations go on meanwhile. Lock order: syncMu, then mu.
	syncMu sync.Mutex
	// durableSeq is the last journal sequence number known to be on disk,
	// through a journal flush or a commit.
	durableSeq atomic.Uint64
	// journalFlushes counts the journal flushes Sync made.
	journalFlushes atomic.Uint64

	mu      sync.Mutex
	tx      *bolt.Tx // the open write transaction; nil once closed
	seq     uint64   // last journal sequence number written
	pending [][]byte // records written since the last commit, for replay after a rollback
	// releasing holds the staging IDs the pending operations stopped
	// referring to; they become released once those operations are durable.
	releasing []uint64
	commitErr error // sticky: set when a commit fails
	// open counts the open handles of each inode (see OpenInode).
	open map[Ino]int
	rel  releasedSet
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// Open opens or creates the index in dir, upgrading its schema if needed and
// replaying the journal. It fails with a clear error if another process
// holds the index.
func Open(ctx context.Context, dir string, cfg Config, log *slog.Logger) (*Index, error) {
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.OpenTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("index %s: locked by another process", path)
		}
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	x := &Index{cfg: cfg, log: log, db: db, open: map[Ino]int{}, rel: releasedSet{ready: make(chan struct{}, 1)}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if err := migrateDB(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	jpath := filepath.Join(dir, JournalName)
	if err := x.replay(jpath); err != nil {
		_ = db.Close()
		return nil, err
	}
	x.journal, err = os.OpenFile(jpath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("index journal: %w", err)
	}
	if err := x.journal.Truncate(0); err != nil {
		_ = x.journal.Close()
		_ = db.Close()
		return nil, fmt.Errorf("index journal: %w", err)
	}
	if x.tx, err = db.Begin(true); err != nil {
		_ = x.journal.Close()
		_ = db.Close()
		return nil, fmt.Errorf("index: %w", err)
	}
	// Sequence numbers continue after the last folded record: replay skips
	// records at or below it, so restarting from zero would lose them.
	x.seq = binary.BigEndian.Uint64(x.tx.Bucket(bucketMeta).Get(keyJournalSeq))
	x.durableSeq.Store(x.seq)
	x.wg.Add(1)
	go x.committer()
	return x, nil
}

func migrateDB(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		var version uint32
		if m := tx.Bucket(bucketMeta); m != nil {
			if v := m.Get(keySchema); len(v) == 4 {
				version = binary.BigEndian.Uint32(v)
			}
		}
		if version > SchemaVersion {
			return fmt.Errorf("index: schema version %d, this walrusfs understands up to %d: %w", version, SchemaVersion, ErrNewerSchema)
		}
		now := time.Now().UnixNano()
		for v := version; v < SchemaVersion; v++ {
			if err := migrations[v](tx, now); err != nil {
				return fmt.Errorf("index: migrate schema %d→%d: %w", v, v+1, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
}

// Journal records: u32 length of the rest ‖ u32 CRC-32C of the rest ‖ body.
// Body: u64 sequence ‖ mutations. Mutation: u8 op ‖ u8 bucket ‖ u16 key
// length ‖ u32 value length ‖ key ‖ value.
const (
	opPut byte = 1
	opDel byte = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// replay folds journal records newer than the committed sequence number into
// the bbolt file and commits them durably.
func (x *Index) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("index journal: %w", err)
	}
	defer func() { _ = f.Close() }()
	r := bufio.NewReaderSize(f, 1<<20)
	applied, replayed := 0, 0
	err = x.db.Update(func(tx *bolt.Tx) error {
		committed := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyJournalSeq))
		last := committed
		for {
			body, err := readRecord(r)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					x.log.Warn("index journal: ignoring torn tail", "err", err, "after_seq", last)
				}
				break
			}
			seq := binary.BigEndian.Uint64(body)
			if seq <= committed {
				continue
			}
			if seq != last+1 {
				x.log.Warn("index journal: sequence gap, ignoring the rest", "want", last+1, "got", seq)
				break
			}
			if err := applyMutations(tx, body[8:]); err != nil {
				return err
			}
			last = seq
			replayed++
		}
		applied = replayed
		return tx.Bucket(bucketMeta).Put(keyJournalSeq, u64(last))
	})
	if err != nil {
		return fmt.Errorf("index journal replay: %w", err)
	}
	if applied > 0 {
		x.log.Info("index: replayed journal", "operations", applied)
	}
	return nil
}

func readRecord(r *bufio.Reader) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("short record header")
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 8 || n > 1<<30 {
		return nil, fmt.Errorf("bad record length %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("short record body")
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return nil, fmt.Errorf("record checksum mismatch")
	}
	return body, nil
}

func applyMutations(tx *bolt.Tx, p []byte) error {
	for len(p) > 0 {
		if len(p) < 8 {
			return fmt.Errorf("journal mutation header: %w", ErrCorrupt)
		}
		op, b := p[0], bucketID(p[1])
		kl, vl := int(binary.BigEndian.Uint16(p[2:])), int(binary.BigEndian.Uint32(p[4:]))
		p = p[8:]
		if len(p) < kl+vl {
			return fmt.Errorf("journal mutation body: %w", ErrCorrupt)
		}
		name, ok := bucketNames[b]
		if !ok {
			return fmt.Errorf("journal mutation bucket %d: %w", b, ErrCorrupt)
		}
		bk := tx.Bucket(name)
		k, v := p[:kl], p[kl:kl+vl]
		p = p[kl+vl:]
		var err error
		switch op {
		case opPut:
			err = bk.Put(k, v)
		case opDel:
			err = bk.Delete(k)
		default:
			return fmt.Errorf("journal mutation op %d: %w", op, ErrCorrupt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// wtx is the view of the open transaction an operation gets: reads go
// straight to bbolt, writes are applied and also recorded for the journal.
type wtx struct {
	tx  *bolt.Tx
	rec []byte
	// releasing collects the staging IDs this operation stopped referring
	// to.
	releasing []uint64
}

func (w *wtx) bucket(b bucketID) *bolt.Bucket { return w.tx.Bucket(bucketNames[b]) }

func (w *wtx) get(b bucketID, k []byte) []byte { return w.bucket(b).Get(k) }

func (w *wtx) put(b bucketID, k, v []byte) error {
	w.rec = appendMutation(w.rec, opPut, b, k, v)
	return w.bucket(b).Put(k, v)
}

func (w *wtx) del(b bucketID, k []byte) error {
	w.rec = appendMutation(w.rec, opDel, b, k, nil)
	return w.bucket(b).Delete(k)
}

func appendMutation(rec []byte, op byte, b bucketID, k, v []byte) []byte {
	rec = append(rec, op, byte(b))
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(k)))
	rec = binary.BigEndian.AppendUint32(rec, uint32(len(v)))
	rec = append(rec, k...)
	return append(rec, v...)
}

// update runs fn as one atomic operation. fn must return an error only
// before its first mutation, or the whole transaction is rolled back and the
// pending operations replayed (so a half-done operation leaves no trace).
func (x *Index) update(fn func(w *wtx) error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tx == nil {
		return ErrClosed
	}
	if x.commitErr != nil {
		return x.commitErr
	}
	w := &wtx{tx: x.tx}
	err := fn(w)
	if err != nil {
		if len(w.rec) > 0 {
			if rerr := x.rollbackLocked(); rerr != nil {
				return fmt.Errorf("%w (and rolling back failed: %w)", err, rerr)
			}
		}
		return err
	}
	if len(w.rec) == 0 {
		return nil
	}
	if err := x.appendJournalLocked(w.rec); err != nil {
		if rerr := x.rollbackLocked(); rerr != nil {
			return fmt.Errorf("%w (and rolling back failed: %w)", err, rerr)
		}
		return err
	}
	x.releasing = append(x.releasing, w.releasing...)
	if len(x.pending) >= x.cfg.CommitOps {
		select {
		case x.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// view runs fn against the current state, including uncommitted operations.
func (x *Index) view(fn func(w *wtx) error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tx == nil {
		return ErrClosed
	}
	return fn(&wtx{tx: x.tx})
}

func (x *Index) appendJournalLocked(mutations []byte) error {
	body := make([]byte, 8, 8+len(mutations))
	binary.BigEndian.PutUint64(body, x.seq+1)
	body = append(body, mutations...)
	rec := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(rec, uint32(len(body)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(body, crcTable))
	rec = append(rec, body...)
	if _, err := x.journal.Write(rec); err != nil {
		return fmt.Errorf("index journal write: %w", err)
	}
	x.seq++
	x.pending = append(x.pending, body)
	return nil
}

// rollbackLocked discards the open transaction and rebuilds it from the
// committed file plus the pending (journaled) operations.
func (x *Index) rollbackLocked() error {
	if err := x.tx.Rollback(); err != nil {
		x.log.Error("index: rollback", "err", err)
	}
	tx, err := x.db.Begin(true)
	if err != nil {
		x.tx = nil
		return fmt.Errorf("index: begin after rollback: %w", err)
	}
	for _, body := range x.pending {
		if err := applyMutations(tx, body[8:]); err != nil {
			_ = tx.Rollback()
			x.tx = nil
			return fmt.Errorf("index: replay after rollback: %w", err)
		}
	}
	x.tx = tx
	return nil
}

// commitLocked makes every acknowledged operation durable in the bbolt file.
func (x *Index) commitLocked() error {
	if x.commitErr != nil {
		return x.commitErr
	}
	if len(x.pending) == 0 {
		return nil
	}
	if err := x.tx.Bucket(bucketMeta).Put(keyJournalSeq, u64(x.seq)); err != nil {
		return x.failCommitLocked(err)
	}
	if err := x.tx.Commit(); err != nil {
		x.tx = nil
		return x.failCommitLocked(err)
	}
	x.pending = x.pending[:0]
	x.noteDurable(x.seq)
	if err := x.journal.Truncate(0); err != nil {
		x.log.Warn("index: truncating journal", "err", err)
	}
	released := x.releasing
	x.releasing = nil
	var err error
	if x.tx, err = x.db.Begin(true); err != nil {
		x.tx = nil
		return x.failCommitLocked(err)
	}
	x.rel.add(released)
	return nil
}

// failCommitLocked records a commit failure. The journal still holds every
// acknowledged operation, so a restart recovers them; this process stops
// accepting changes.
func (x *Index) failCommitLocked(err error) error {
	x.commitErr = fmt.Errorf("index commit failed, restart walrusfs to recover from the journal: %w", err)
	x.log.Error("index: commit failed", "err", err)
	if x.tx != nil {
		_ = x.tx.Rollback()
		x.tx = nil
	}
	if errors.Is(err, syscall.ENOSPC) {
		return syscall.ENOSPC
	}
	return x.commitErr
}

// committer flushes the journal every CommitInterval and folds it into
// the bbolt file every CheckpointInterval, or at once when CommitOps
// operations are pending.
func (x *Index) committer() {
	defer x.wg.Done()
	t := time.NewTicker(x.cfg.CommitInterval)
	defer t.Stop()
	checkpointed := time.Now()
	for {
		checkpoint := false
		select {
		case <-x.done:
			return
		case <-t.C:
			checkpoint = time.Since(checkpointed) >= x.cfg.CheckpointInterval
		case <-x.kick:
			checkpoint = true
		}
		if !checkpoint {
			if err := x.Sync(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
				x.log.Error("index: background journal flush", "err", err)
			}
			continue
		}
		x.mu.Lock()
		if x.tx != nil {
			if err := x.commitLocked(); err != nil {
				x.log.Error("index: background commit", "err", err)
			}
		}
		x.mu.Unlock()
		checkpointed = time.Now()
	}
}

// Sync makes every operation acknowledged so far durable on disk by
// flushing the journal (fdatasync). The flush runs without the index
// lock, so other operations go on meanwhile, and callers that arrive
// during a flush share the next one. Folding the journal into the bbolt
// file is left to the background checkpoint (see Commit).
func (x *Index) Sync(ctx context.Context) error {
	x.mu.Lock()
	want, err := x.seq, x.usableLocked()
	x.mu.Unlock()
	if err != nil {
		return err
	}
	if x.durableSeq.Load() >= want {
		return nil
	}
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	if x.durableSeq.Load() >= want {
		return nil // a flush or a commit covered it while we waited
	}
	// Everything written so far is covered by the flush below.
	x.mu.Lock()
	upto, err := x.seq, x.usableLocked()
	x.mu.Unlock()
	if err != nil {
		return err
	}
	if err := x.flushJournal(x.journal); err != nil {
		// The kernel may have dropped the pages it failed to write: what
		// the journal holds can no longer be trusted to be on disk.
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.failCommitLocked(fmt.Errorf("journal flush: %w", err))
	}
	x.noteDurable(upto)
	x.journalFlushes.Add(1)
	return nil
}

// JournalFlushes returns how many times Sync has flushed the journal to
// disk since the index was opened: the disk flushes fsync costs.
func (x *Index) JournalFlushes() uint64 { return x.journalFlushes.Load() }

// flushJournal is fdatasync of the journal file.
func (x *Index) flushJournal(f *os.File) error {
	if x.cfg.flushJournal != nil {
		return x.cfg.flushJournal(f)
	}
	return unix.Fdatasync(int(f.Fd()))
}

// usableLocked reports why the index takes no operations, or nil.
func (x *Index) usableLocked() error {
	if x.tx != nil {
		return nil
	}
	if x.commitErr != nil {
		return x.commitErr
	}
	return ErrClosed
}

// noteDurable records that every operation up to seq is on disk.
func (x *Index) noteDurable(seq uint64) {
	for {
		cur := x.durableSeq.Load()
		if cur >= seq || x.durableSeq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Commit folds every acknowledged operation into the bbolt file now (a
// checkpoint) and releases the staging files they stopped referring to.
func (x *Index) Commit(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.usableLocked(); err != nil {
		return err
	}
	return x.commitLocked()
}

// Close commits pending operations and closes the files.
func (x *Index) Close() error {
	close(x.done)
	x.wg.Wait()
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	var err error
	if x.tx != nil {
		err = x.commitLocked()
		if x.tx != nil {
			_ = x.tx.Rollback()
			x.tx = nil
		}
	}
	if cerr := x.journal.Close(); err == nil {
		err = cerr
	}
	if cerr := x.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abandon closes the files without committing, as a crash would. The journal
// keeps every acknowledged operation. Tests use it to check recovery.
func (x *Index) Abandon() {
	close(x.done)
	x.wg.Wait()
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tx != nil {
		_ = x.tx.Rollback()
		x.tx = nil
	}
	_ = x.journal.Close()
	_ = x.db.Close()
}
