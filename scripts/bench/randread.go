package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Interleaved random reads
//
// Cold 4 KiB random reads wait on the disk for most of their time, and the
// disk of a virtual machine is shared: from one minute to the next the same
// reads of the same file ran anywhere between 1,800 and 8,500 per second
// here. Measured one side after the other, the ratio of the two figures
// then says more about those minutes than about the two filesystems. So
// the random-read rows read both sides' files in alternating slices of
// cfg.randReads/readSlices reads (which side goes first alternates too),
// the same offsets on both, and add up each side's time: both see the
// same minutes of the disk.

// readSlices is how many slices the random-read rows cut their reads into.
const readSlices = 10

// readSlice is how many reads one slice of a random-read row takes.
func readSlice(c *config) int { return max(1, c.randReads/readSlices) }

// randomOffsets returns the page-aligned offsets the random-read rows
// read, the same on both sides.
func randomOffsets(c *config) ([]int64, error) {
	pages := c.size / pageSize
	if pages == 0 {
		return nil, fmt.Errorf("file of %d bytes is smaller than one page", c.size)
	}
	r := rand.New(rand.NewPCG(c.seed, 0x72616e64))
	offs := make([]int64, c.randReads)
	for i := range offs {
		offs[i] = r.Int64N(pages) * pageSize
	}
	return offs, nil
}

// randomReader reads pages of one side's large file at given offsets,
// checks each against the pattern, and adds up the time it took.
type randomReader struct {
	s         *side
	f         *os.File
	buf, want []byte
	reads     int
	took      time.Duration
}

func openRandomReader(s *side) (*randomReader, error) {
	f, err := os.Open(s.path(bigName))
	if err != nil {
		return nil, err
	}
	return &randomReader{s: s, f: f, buf: make([]byte, pageSize), want: make([]byte, pageSize)}, nil
}

// read reads the pages at offs. Checking each read costs well under a
// microsecond, against tens of microseconds for a FUSE round trip, so it
// stays in the timed loop.
func (r *randomReader) read(ctx context.Context, offs []int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	for _, off := range offs {
		if _, err := r.f.ReadAt(r.buf, off); err != nil {
			return fmt.Errorf("%s: pread at %d: %w", r.s.name, off, err)
		}
		r.s.cfg.pattern.fill(r.want, off)
		if !bytes.Equal(r.buf, r.want) {
			return fmt.Errorf("%s: 4 KiB read at offset %d returned wrong content", r.s.name, off)
		}
	}
	r.took += time.Since(start)
	r.reads += len(offs)
	return nil
}

func (r *randomReader) iops() float64 { return float64(r.reads) / r.took.Seconds() }

func (r *randomReader) close() { _ = r.f.Close() }

// interleaveReads reads both sides' large files at the row's random
// offsets, cold, in alternating slices, and returns each side's reads per
// second. pause, when not nil, is called with true before each of the
// loopback's slices and with false after it (see pauseDaemon).
func interleaveReads(ctx context.Context, loop, subj *side, pause func(stop bool) error) (loopIOPS, subjIOPS float64, note string, err error) {
	offs, err := randomOffsets(loop.cfg)
	if err != nil {
		return 0, 0, "", err
	}
	var readers [2]*randomReader
	for i, s := range []*side{loop, subj} {
		if n := dropCaches(dropPages|dropEntries, s, s.path(bigName)); n != "" {
			note = n // the same for both sides
		}
		if readers[i], err = openRandomReader(s); err != nil {
			return 0, 0, "", err
		}
		defer readers[i].close()
	}
	if pause == nil {
		pause = func(bool) error { return nil }
	}
	size := readSlice(loop.cfg)
	for i := 0; i < len(offs); i += size {
		slice := offs[i:min(i+size, len(offs))]
		order := []int{0, 1}
		if (i/size)%2 == 1 {
			order = []int{1, 0}
		}
		for _, k := range order {
			if k == 0 {
				if err := pause(true); err != nil {
					return 0, 0, "", fmt.Errorf("pausing the subject: %w", err)
				}
			}
			err := readers[k].read(ctx, slice)
			if k == 0 {
				if perr := pause(false); perr != nil && err == nil {
					err = fmt.Errorf("continuing the subject: %w", perr)
				}
			}
			if err != nil {
				return 0, 0, "", err
			}
		}
	}
	return readers[0].iops(), readers[1].iops(), note, nil
}

// pauseDaemon returns a pause function for interleaveReads that stops
// the side's daemon (SIGSTOP) and continues it (SIGCONT): whatever it does
// in the background (an upload) then cannot touch the other side's
// figure.
func pauseDaemon(s *side) (func(stop bool) error, error) {
	if s.d == nil || s.d.cmd.Process == nil {
		return nil, fmt.Errorf("%s: no daemon to pause", s.name)
	}
	p := s.d.cmd.Process
	return func(stop bool) error {
		if stop {
			return p.Signal(syscall.SIGSTOP)
		}
		return p.Signal(syscall.SIGCONT)
	}, nil
}

// randReadPaired is the plain random-read row. The subject's daemon is
// paused through the loopback's slices here too: anything it still does
// in the background (the upload of a file an earlier row wrote) counts
// against its own figure only.
func randReadPaired(ctx context.Context, loop, subj *side) (float64, float64, string, error) {
	if err := ensureBigFiles(ctx, loop, subj); err != nil {
		return 0, 0, "", err
	}
	return interleavePausingSubject(ctx, loop, subj)
}

// ensureBigFiles writes each side's large file, where no earlier row has.
func ensureBigFiles(ctx context.Context, sides ...*side) error {
	for _, s := range sides {
		if err := ensureBigFile(ctx, s); err != nil {
			return fmt.Errorf("%s: preparing the file: %w", s.name, err)
		}
	}
	return nil
}

// interleavePausingSubject is interleaveReads with the subject's daemon
// stopped through the loopback's slices (pauseDaemon).
func interleavePausingSubject(ctx context.Context, loop, subj *side) (float64, float64, string, error) {
	pause, err := pauseDaemon(subj)
	if err != nil {
		return 0, 0, "", err
	}
	return interleaveReads(ctx, loop, subj, pause)
}

// uploadLoadName is the file whose upload the reads-during-upload row
// reads beside.
const uploadLoadName = "upload-load"

// writeUploadLoad writes the file of --size whose upload the reads go
// beside, with content no earlier load (or the large file) had: the local
// store, unencrypted, takes bytes it already holds at once.
func writeUploadLoad(ctx context.Context, subj *side) (string, error) {
	p := subj.path(uploadLoadName)
	subj.uploadLoads++
	return p, writePatterned(ctx, p, subj.cfg.size, subj.cfg.pattern, subj.uploadLoads*subj.cfg.size)
}

// randReadDuringUpload is the random-read row while walrusfs uploads a
// file of --size: the file is written and closed, the mount is asked to
// seal and send it at once, and the reads start while it is pending. The
// loopback reads idle, its slices taken while the subject's daemon is
// paused. The note says how much was still pending when the reads ended.
func randReadDuringUpload(ctx context.Context, loop, subj *side) (float64, float64, string, error) {
	if err := ensureBigFiles(ctx, loop, subj); err != nil {
		return 0, 0, "", err
	}
	socket := filepath.Join(subj.backing, "control.sock")
	p, err := writeUploadLoad(ctx, subj)
	if err != nil {
		return 0, 0, "", err
	}
	defer func() { _ = os.Remove(p) }()
	resp, err := controlRequest(ctx, socket, http.MethodPost, "/v1/flush")
	if err != nil {
		return 0, 0, "", err
	}
	_ = resp.Body.Close()
	// The flush seals the file's chunks in the background: wait until all
	// of them are queued (the pending count alone can still include
	// chunks of the previous load, deleted and not yet dropped).
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err := getxattr(p, xattrState)
		if err != nil {
			return 0, 0, "", fmt.Errorf("%s of the upload load: %w", xattrState, err)
		}
		if st == stateUploading {
			break
		}
		if st != stateStaged {
			return 0, 0, "", fmt.Errorf("the upload load was %s before the reads began", st)
		}
		if time.Now().After(deadline) {
			return 0, 0, "", errors.New("the upload load was still not queued 10 s after the flush")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before, err := pendingUploadBytes(ctx, socket)
	if err != nil {
		return 0, 0, "", err
	}
	loopIOPS, subjIOPS, note, err := interleavePausingSubject(ctx, loop, subj)
	if err != nil {
		return 0, 0, "", err
	}
	after, err := pendingUploadBytes(ctx, socket)
	if err != nil {
		return 0, 0, "", err
	}
	if st, err := getxattr(p, xattrState); err != nil || st != stateUploading {
		subj.missed = "the upload finished before the reads did"
	}
	return loopIOPS, subjIOPS, joinNotes(fmt.Sprintf("%s pending for upload when the reads began, %s when they ended", sizeString(int64(before)), sizeString(int64(after))), note), nil
}
