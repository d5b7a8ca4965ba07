package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The data-plane rows measure what happens after a close: uploads, and
// reads that go to the blob store. Each runs on walrusfs mounts of its own
// (walrusMount), started with the flags the row needs and stopped when it
// is done, so they neither disturb nor depend on the shared mount.

// storeFlags make a mount whose reads of certified data go to the store:
// local copies of uploaded chunks are dropped as soon as their blob is
// certified. The block cache keeps its defaults; coldStart empties its disk
// layer before each measurement.
var storeFlags = []string{"--local-copies", "0"}

// storedFile returns the subject's mount for backend holding the large
// file in certified blobs with no staged copy left, creating it on first
// use (untimed). The mount is left stopped: each measurement starts it
// afresh, so the daemon holds nothing in memory from an earlier read.
func storedFile(ctx context.Context, s *side, backend string) (*walrusMount, error) {
	if m := s.fixtures[backend]; m != nil {
		return m, nil
	}
	m, err := newWalrusMount(s.env, s.cfg, "stored-"+backend, backend, storeFlags...)
	if err != nil {
		return nil, err
	}
	if err := m.start(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	err = func() error {
		if _, _, err := seqWrite(ctx, m.side); err != nil {
			return fmt.Errorf("writing %s: %w", bigName, err)
		}
		if err := waitCertified(ctx, m.d, []string{m.path(bigName)}, certifyTimeout(s.cfg.size, 1)); err != nil {
			return err
		}
		return waitUnstaged(ctx, m.backing, time.Minute)
	}()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("preparing a certified %s file on %s: %w", sizeString(s.cfg.size), m.name, err), m.stop())
	}
	s.env.logf("%s: wrote %s and saw it certified in %.1f s", m.name, sizeString(s.cfg.size), time.Since(start).Seconds())
	if err := m.stop(); err != nil {
		return nil, err
	}
	m.used = usage{} // preparing is not what the rows measure
	if s.fixtures == nil {
		s.fixtures = map[string]*walrusMount{}
	}
	s.fixtures[backend] = m
	return m, nil
}

// coldStart starts a stored file's mount with its disk cache emptied and
// checks that no staged copy came back.
func coldStart(ctx context.Context, m *walrusMount) error {
	if err := os.RemoveAll(filepath.Join(m.backing, "cache")); err != nil {
		return err
	}
	if err := m.start(ctx); err != nil {
		return err
	}
	if n, files, err := stagedBytes(m.backing); err != nil || files > 0 {
		return errors.Join(fmt.Errorf("%d chunk files (%s) staged after a restart", files, sizeString(n)), err, m.stop())
	}
	return nil
}

// onStoredFile runs fn on backend's stored file, on a daemon started for
// it, and charges that daemon to the measurement.
func onStoredFile(ctx context.Context, s *side, backend string, fn func(*side) (float64, string, error)) (float64, string, error) {
	m, err := storedFile(ctx, s, backend)
	if err != nil {
		return 0, "", err
	}
	m.used = usage{}
	if err := coldStart(ctx, m); err != nil {
		return 0, "", err
	}
	v, note, err := fn(m.side)
	if serr := m.stop(); serr != nil && err == nil {
		err = serr
	}
	s.own = &m.used
	return v, note, err
}

func storeRead(backend string) func(context.Context, *side) (float64, string, error) {
	return func(ctx context.Context, s *side) (float64, string, error) {
		return onStoredFile(ctx, s, backend, func(m *side) (float64, string, error) { return seqRead(ctx, m, true) })
	}
}

func coldSeqRead(ctx context.Context, s *side) (float64, string, error) { return seqRead(ctx, s, true) }

// seekSize is what a media player reads after a seek before it can show a
// frame.
const seekSize = 64 << 10

// seekOffsets returns n page-aligned offsets for seekSize reads in a file
// of size bytes, in a random order. The file is cut into n regions and
// each offset lies in the first half of its own, so any two are at least
// half a region apart (25 MiB for 20 seeks in 1 GiB, more than a
// walrusfs chunk): no read can be served by what an earlier one fetched
// or read ahead.
func seekOffsets(size int64, n int, seed uint64) ([]int64, error) {
	if n < 1 {
		return nil, fmt.Errorf("%d seeks", n)
	}
	region := size / int64(n) / pageSize * pageSize
	span := (region/2 - seekSize) / pageSize // page choices per region
	if span < 1 {
		return nil, fmt.Errorf("a %s file is too small for %d seeks %s apart", sizeString(size), n, sizeString(2*seekSize))
	}
	r := rand.New(rand.NewPCG(seed, 0x7365656b))
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = int64(i)*region + r.Int64N(span)*pageSize
	}
	r.Shuffle(n, func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
	return offs, nil
}

// seekReads opens the large file and times single 64 KiB preads at
// cfg.seeks offsets, each after the page cache is dropped, and returns the
// median in milliseconds.
func seekReads(ctx context.Context, s *side) (float64, string, error) {
	offs, err := seekOffsets(s.cfg.size, s.cfg.seeks, s.cfg.seed)
	if err != nil {
		return 0, "", err
	}
	p := s.path(bigName)
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, seekSize)
	want := make([]byte, seekSize)
	var lat []float64
	var note string
	for _, off := range offs {
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
		note = dropCaches(dropPages, s, p)
		start := time.Now()
		_, err := f.ReadAt(buf, off)
		el := time.Since(start)
		if err != nil {
			return 0, "", fmt.Errorf("pread at %d: %w", off, err)
		}
		s.cfg.pattern.fill(want, off)
		if !bytes.Equal(buf, want) {
			return 0, "", fmt.Errorf("64 KiB read at offset %d returned wrong content", off)
		}
		lat = append(lat, float64(el.Microseconds())/1e3)
	}
	spread := fmt.Sprintf("%d seeks: %.2f–%.2f ms", len(lat), slices.Min(lat), slices.Max(lat))
	return median(lat), joinNotes(spread, note), nil
}

func seekRead(backend string) func(context.Context, *side) (float64, string, error) {
	return func(ctx context.Context, s *side) (float64, string, error) {
		return onStoredFile(ctx, s, backend, func(m *side) (float64, string, error) { return seekReads(ctx, m) })
	}
}

func loopbackSeekReads(ctx context.Context, s *side) (float64, string, error) {
	if err := ensureBigFile(ctx, s); err != nil {
		return 0, "", fmt.Errorf("preparing the file: %w", err)
	}
	return seekReads(ctx, s)
}

// smallFileSize is the size of each file in the small-files rows.
const smallFileSize = 4 << 10

// smallFilesResult is what the small-files row leaves for the blob count.
type smallFilesResult struct {
	blobs  blobCount
	shards int // the local store's quilt shard count, if its log said
}

// smallFiles writes cfg.files files of 4 KiB on a fresh local-store mount
// with the default flags, each created, written and closed, and returns
// the time from the last close until every file reads certified. It then
// tallies the blobs behind the files for the next row.
func smallFiles(ctx context.Context, s *side) (float64, string, error) {
	m, err := newWalrusMount(s.env, s.cfg, "small-files", localBackend)
	if err != nil {
		return 0, "", err
	}
	if err := m.start(ctx); err != nil {
		return 0, "", err
	}
	v, note, err := func() (float64, string, error) {
		dir := m.path(manyName)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return 0, "", err
		}
		names := fileNames(dir, s.cfg.files)
		buf := make([]byte, smallFileSize)
		start := time.Now()
		for i, n := range names {
			if i&255 == 0 {
				if err := ctx.Err(); err != nil {
					return 0, "", err
				}
			}
			s.cfg.pattern.fill(buf, int64(i)*smallFileSize)
			if err := os.WriteFile(n, buf, 0o644); err != nil {
				return 0, "", err
			}
		}
		closed := time.Now()
		if err := waitCertified(ctx, m.d, names, certifyTimeout(int64(len(names))*smallFileSize, len(names))); err != nil {
			return 0, "", err
		}
		el := time.Since(closed)

		res := &smallFilesResult{shards: m.shards()}
		for _, n := range names {
			ids, err := getxattr(n, xattrBlobID)
			if err != nil {
				return 0, "", fmt.Errorf("%s of %s: %w", xattrBlobID, n, err)
			}
			if err := res.blobs.add(ids); err != nil {
				return 0, "", fmt.Errorf("%s of %s: %w", xattrBlobID, n, err)
			}
		}
		s.small = res
		w := closed.Sub(start).Seconds()
		return el.Seconds(), fmt.Sprintf("writing took %.1f s (%.0f files/s)", w, float64(len(names))/w), nil
	}()
	if rerr := m.remove(); rerr != nil && err == nil {
		err = rerr
	}
	s.own = &m.used
	return v, note, err
}

// smallFileBlobs counts the blobs holding the small files: quilts plus
// standalone blobs. None may be standalone.
func smallFileBlobs(ctx context.Context, s *side) (float64, string, error) {
	if s.small == nil {
		if _, _, err := smallFiles(ctx, s); err != nil {
			return 0, "", fmt.Errorf("preparing %d small files: %w", s.cfg.files, err)
		}
	}
	res := s.small
	quilts, alone := len(res.blobs.quilts), len(res.blobs.standalone)
	note := fmt.Sprintf("%d quilts of up to %d patches, %d standalone blobs", quilts, res.blobs.largestQuilt(), alone)
	if res.shards > 0 {
		c := quiltCapacity(res.shards)
		note += fmt.Sprintf("; quilts at %d shards hold at most %d patches, so at least %d quilts",
			res.shards, c, (s.cfg.files+c-1)/c)
	}
	if alone > 0 {
		s.missed = fmt.Sprintf("%d standalone blobs, want none", alone)
	}
	return float64(quilts + alone), note, nil
}

// smallFilesLimit is the most blobs the small files may take: 16 for
// 10,000 files, in proportion for other counts.
func smallFilesLimit(files int) float64 {
	return float64(max(1, (16*files+9999)/10000))
}

// rssConfig is cfg with the large file at --rss-size.
func rssConfig(cfg *config) *config {
	c := *cfg
	c.size = cfg.rssSize
	return &c
}

// rssWalrus writes a file of --rss-size on a fresh local-store mount,
// waits until it is certified and its staged copy dropped, then reads it
// back cold from the store, and returns the daemon's peak resident size
// over its life in MiB.
func rssWalrus(ctx context.Context, s *side) (float64, string, error) {
	c := rssConfig(s.cfg)
	m, err := newWalrusMount(s.env, c, "rss", localBackend, "--local-copies", "0")
	if err != nil {
		return 0, "", err
	}
	if err := m.start(ctx); err != nil {
		return 0, "", err
	}
	// The kernel's high-water mark after each phase shows which one
	// needed the memory.
	hwm := func() string {
		pm, err := readProcMem(m.d.cmd.Process.Pid)
		if err != nil {
			return "?"
		}
		return fmt.Sprintf("%.0f", float64(pm.Peak)/(1<<20))
	}
	note, err := func() (string, error) {
		w, _, err := seqWrite(ctx, m.side)
		if err != nil {
			return "", fmt.Errorf("write: %w", err)
		}
		closed := time.Now()
		afterWrite := hwm()
		if err := waitCertified(ctx, m.d, []string{m.path(bigName)}, certifyTimeout(c.size, 1)); err != nil {
			return "", err
		}
		up := time.Since(closed)
		if err := waitUnstaged(ctx, m.backing, time.Minute); err != nil {
			return "", err
		}
		afterUpload := hwm()
		r, _, err := seqRead(ctx, m.side, true)
		if err != nil {
			return "", fmt.Errorf("read: %w", err)
		}
		return fmt.Sprintf("VmHWM %s MiB after the write (%.0f MB/s), %s once certified (%.1f s after close), %s after the read (%.0f MB/s)",
			afterWrite, w, afterUpload, up.Seconds(), hwm(), r), nil
	}()
	if rerr := m.remove(); rerr != nil && err == nil {
		err = rerr
	}
	s.own = &m.used
	if err != nil {
		return 0, "", err
	}
	return float64(m.used.peak) / (1 << 20), note, nil
}

// rssLoopback does the loopback's part of rssWalrus on a fresh loopback
// daemon: write the file, drop caches, read it back.
func rssLoopback(ctx context.Context, s *side) (float64, string, error) {
	env := s.env
	dir := filepath.Join(env.dir, "rss-loopback")
	p := &side{name: "loopback-rss", cfg: rssConfig(s.cfg), env: env, mnt: filepath.Join(dir, "mnt"), backing: filepath.Join(dir, "data")}
	for _, d := range []string{p.mnt, p.backing} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, "", err
		}
	}
	d, err := env.start(ctx, s.cfg, p.name, p.mnt, loopbackArgv(env.self, s.cfg, p))
	if err != nil {
		return 0, "", err
	}
	p.d = d
	_, _, err = seqWrite(ctx, p)
	if err == nil {
		_, _, err = seqRead(ctx, p, true)
	}
	if serr := env.stop(d, 10*time.Second); serr != nil && err == nil {
		err = serr
	}
	var u usage
	u.add(d)
	s.own = &u
	if err == nil && !s.cfg.keep {
		err = removeRunDir(dir)
	}
	if err != nil {
		return 0, "", err
	}
	return float64(u.peak) / (1 << 20), "", nil
}

// uploadFiles is how many files the upload row spreads --size over.
const uploadFiles = 8

// uploadThroughput writes --size in uploadFiles files on a fresh
// local-store mount, then fsyncs them all at once and returns the bytes
// over the time from the fsyncs until every file reads certified. The
// mount's --upload-delay is an hour, so nothing is sealed, and so nothing
// uploaded, before the fsyncs; with --fsync certified an fsync seals the
// file and returns once it is certified.
func uploadThroughput(ctx context.Context, s *side) (float64, string, error) {
	m, err := newWalrusMount(s.env, s.cfg, "upload", localBackend, "--upload-delay", "1h", "--fsync", "certified")
	if err != nil {
		return 0, "", err
	}
	if err := m.start(ctx); err != nil {
		return 0, "", err
	}
	v, note, err := func() (float64, string, error) {
		total := s.cfg.size
		per := total / uploadFiles
		var files []*os.File
		defer func() {
			for _, f := range files {
				_ = f.Close()
			}
		}()
		var names []string
		buf := make([]byte, ioSize)
		start := time.Now()
		for i := range uploadFiles {
			n := per
			if i == uploadFiles-1 {
				n = total - per*(uploadFiles-1)
			}
			name := m.path(fmt.Sprintf("upload%d", i))
			f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return 0, "", err
			}
			files, names = append(files, f), append(names, name)
			for off := int64(0); off < n; off += ioSize {
				if err := ctx.Err(); err != nil {
					return 0, "", err
				}
				b := buf[:min(ioSize, n-off)]
				s.cfg.pattern.fill(b, int64(i)*per+off)
				if _, err := f.Write(b); err != nil {
					return 0, "", fmt.Errorf("write %s at %d: %w", name, off, err)
				}
			}
		}
		wrote := time.Since(start)
		sealed := 0
		for _, n := range names {
			if st, err := getxattr(n, xattrState); err == nil && st != "staged" {
				sealed++
			}
		}
		syncing := time.Now()
		errs := make(chan error, len(files))
		for _, f := range files {
			go func() { errs <- f.Sync() }()
		}
		for range files {
			if err := <-errs; err != nil {
				return 0, "", fmt.Errorf("fsync: %w", err)
			}
		}
		if err := waitCertified(ctx, m.d, names, certifyTimeout(total, len(names))); err != nil {
			return 0, "", err
		}
		el := time.Since(syncing)
		note := fmt.Sprintf("writing took %.1f s", wrote.Seconds())
		if sealed > 0 {
			note += fmt.Sprintf("; %d files were no longer staged before the fsyncs", sealed)
		}
		return mbPerSec(total, el), note, nil
	}()
	if rerr := m.remove(); rerr != nil && err == nil {
		err = rerr
	}
	s.own = &m.used
	return v, note, err
}

func joinNotes(notes ...string) string {
	return strings.Join(slices.DeleteFunc(notes, func(n string) bool { return n == "" }), "; ")
}
