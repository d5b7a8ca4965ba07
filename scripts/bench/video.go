package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The video rows: what a media player costs after a seek. A 1080p H.264
// video is made with ffmpeg's test source (once per run, untimed) and
// stored through `walrusfs serve` over HTTP; for each of videoSeeks
// positions, ffmpeg seeks there and decodes one frame, cold (the mount
// freshly started with an empty disk cache for the first, the page cache
// dropped before each). The rows report the bytes walrusfs fetched from
// the store per byte ffmpeg read, and the time to the first frame against
// the same video on the loopback.

const (
	videoName    = "video.mp4"
	videoSeconds = 120
	videoSeeks   = 8
)

// videoSpace is about what the video takes (15 Mbit/s), stored and in the
// run directory.
func videoSpace(*config) int64 { return 6 * 240 << 20 }

// ensureVideo makes the video once, in the work directory, which keeps it
// for later runs (making it takes a minute or more of CPU; it depends only
// on ffmpeg and the constants here).
func ensureVideo(ctx context.Context, env *runEnv) (string, error) {
	p := filepath.Join(filepath.Dir(env.dir), fmt.Sprintf("video-%ds-1080p.mp4", videoSeconds))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return "", errors.New("ffmpeg is not installed (apt-get install ffmpeg)")
	}
	tmp := p + ".tmp.mp4"
	start := time.Now()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-t", strconv.Itoa(videoSeconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("making the video: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", err
	}
	env.logf("made a %d s 1080p video in %.1f s", videoSeconds, time.Since(start).Seconds())
	return p, nil
}

// videoSeekTimes are the positions, in seconds, ffmpeg seeks to: spread
// over the video, in an order that never reads on from the last.
func videoSeekTimes() []float64 {
	ts := make([]float64, videoSeeks)
	for i := range ts {
		ts[i] = float64(videoSeconds) * (float64((i*5)%videoSeeks) + 0.5) / videoSeeks
	}
	return ts
}

// firstFrame runs ffmpeg to decode one frame at t seconds of path and
// returns how long it took.
func firstFrame(ctx context.Context, path string, t float64) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-ss", strconv.FormatFloat(t, 'f', 2, 64), "-i", path, "-frames:v", "1", "-f", "null", "-")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ffmpeg at %.1f s: %w: %s", t, err, strings.TrimSpace(string(out)))
	}
	return time.Since(start), nil
}

// bytesDecoded is what ffmpeg reads of path to decode one frame at t: the
// bytes its read calls on the file returned, counted with strace. It
// depends on ffmpeg and the video only, not on the filesystem.
func bytesDecoded(ctx context.Context, path string, t float64) (int64, error) {
	if _, err := exec.LookPath("strace"); err != nil {
		return 0, errors.New("strace is not installed (apt-get install strace)")
	}
	trace := path + ".strace"
	defer func() { _ = os.Remove(trace) }()
	cmd := exec.CommandContext(ctx, "strace", "-f", "-y", "-e", "trace=read,pread64", "-o", trace,
		"ffmpeg", "-hide_banner", "-loglevel", "error",
		"-ss", strconv.FormatFloat(t, 'f', 2, 64), "-i", path, "-frames:v", "1", "-f", "null", "-")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("strace ffmpeg: %w: %s", err, strings.TrimSpace(string(out)))
	}
	f, err := os.Open(trace)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	return sumReads(f, filepath.Base(path))
}

// sumReads adds up the results of the read and pread64 calls in an strace
// log (-y) on a file whose path ends in name.
func sumReads(r io.Reader, name string) (int64, error) {
	var total int64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, name+">") {
			continue
		}
		eq := strings.LastIndex(line, "= ")
		if eq < 0 {
			continue
		}
		n, err := strconv.ParseInt(strings.Fields(line[eq+2:])[0], 10, 64)
		if err == nil && n > 0 {
			total += n
		}
	}
	return total, sc.Err()
}

// storedVideo is storedFile for the video: the subject's HTTP-backend
// mount holding it certified, with no staged copy left, stopped.
func storedVideo(ctx context.Context, s *side) (*walrusMount, error) {
	const key = "video"
	if m := s.fixtures[key]; m != nil {
		return m, nil
	}
	src, err := ensureVideo(ctx, s.env)
	if err != nil {
		return nil, err
	}
	m, err := newWalrusMount(s.env, s.cfg, "stored-video", httpBackend, storeFlags...)
	if err != nil {
		return nil, err
	}
	if err := m.start(ctx); err != nil {
		return nil, err
	}
	err = func() error {
		if err := copyFile(src, m.path(videoName)); err != nil {
			return err
		}
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		if err := waitCertified(ctx, m.d, []string{m.path(videoName)}, certifyTimeout(fi.Size(), 1)); err != nil {
			return err
		}
		return waitUnstaged(ctx, m.backing, time.Minute)
	}()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("storing the video on %s: %w", m.name, err), m.stop())
	}
	if err := m.stop(); err != nil {
		return nil, err
	}
	m.used = usage{}
	if s.fixtures == nil {
		s.fixtures = map[string]*walrusMount{}
	}
	s.fixtures[key] = m
	return m, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// videoSeekResult is what one pass of seeks measured on the subject.
type videoSeekResult struct {
	firstFrame []float64 // seconds, per seek
	fetched    []int64   // bytes fetched from the store, per seek
	decoded    []int64   // bytes ffmpeg read, per seek
}

// videoPass returns the pass of seeks the given row's next measurement
// reads: its first call uses the first pass, its second the second, and
// so on, each pass run when the first row asks for it. Both rows thus
// read one pass per repeat, and each repeat measures anew.
func videoPass(ctx context.Context, s *side, row string) (*videoSeekResult, error) {
	if s.videoUsed == nil {
		s.videoUsed = map[string]int{}
	}
	i := s.videoUsed[row]
	for len(s.video) <= i {
		res, err := videoSeeksOnWalrus(ctx, s)
		if err != nil {
			return nil, err
		}
		s.video = append(s.video, res)
	}
	s.videoUsed[row]++
	return s.video[i], nil
}

// videoSeeksOnWalrus runs the seeks on a freshly started mount of the
// stored video and counts, per seek, the bytes fetched from the store
// (walrusfs_cache_fetched_bytes_total: every block a fetch brought in,
// including those fetched ahead in one request with the one asked for).
func videoSeeksOnWalrus(ctx context.Context, s *side) (*videoSeekResult, error) {
	m, err := storedVideo(ctx, s)
	if err != nil {
		return nil, err
	}
	src, err := ensureVideo(ctx, s.env)
	if err != nil {
		return nil, err
	}
	m.used = usage{}
	if err := coldStart(ctx, m); err != nil {
		return nil, err
	}
	res := &videoSeekResult{}
	err = func() error {
		socket := filepath.Join(m.backing, "control.sock")
		p := m.path(videoName)
		for _, t := range videoSeekTimes() {
			dropCaches(dropPages, m.side, p)
			before, err := scrapeCounters(ctx, socket, "walrusfs_cache_fetched_bytes_total")
			if err != nil {
				return err
			}
			el, err := firstFrame(ctx, p, t)
			if err != nil {
				return err
			}
			// Fetches started for the seek finish after ffmpeg exits.
			time.Sleep(time.Second)
			after, err := scrapeCounters(ctx, socket, "walrusfs_cache_fetched_bytes_total")
			if err != nil {
				return err
			}
			decoded, err := bytesDecoded(ctx, src, t)
			if err != nil {
				return err
			}
			res.firstFrame = append(res.firstFrame, el.Seconds())
			res.fetched = append(res.fetched, int64(after[0]-before[0]))
			res.decoded = append(res.decoded, decoded)
		}
		return nil
	}()
	if serr := m.stop(); serr != nil && err == nil {
		err = serr
	}
	s.own = &m.used
	if err != nil {
		return nil, err
	}
	return res, nil
}

// videoFetchedPerDecoded is the row of bytes fetched per byte read.
func videoFetchedPerDecoded(ctx context.Context, s *side) (float64, string, error) {
	res, err := videoPass(ctx, s, "fetched")
	if err != nil {
		return 0, "", err
	}
	ratios := make([]float64, len(res.fetched))
	var fetched, decoded int64
	for i := range ratios {
		ratios[i] = float64(res.fetched[i]) / float64(max(res.decoded[i], 1))
		fetched += res.fetched[i]
		decoded += res.decoded[i]
	}
	worst := slices.Max(ratios)
	return median(ratios), fmt.Sprintf("%d seeks: %s fetched in all for %s read by ffmpeg; the worst seek %.1f×",
		len(ratios), sizeString(fetched), sizeString(decoded), worst), nil
}

// videoFirstFrameWalrus is the first-frame row on the subject.
func videoFirstFrameWalrus(ctx context.Context, s *side) (float64, string, error) {
	res, err := videoPass(ctx, s, "first-frame")
	if err != nil {
		return 0, "", err
	}
	return median(res.firstFrame), fmt.Sprintf("%d seeks: %.2f–%.2f s", len(res.firstFrame), slices.Min(res.firstFrame), slices.Max(res.firstFrame)), nil
}

// videoFirstFrameLoopback is the first-frame row on the loopback: the
// same video and seeks, page cache dropped before each.
func videoFirstFrameLoopback(ctx context.Context, s *side) (float64, string, error) {
	src, err := ensureVideo(ctx, s.env)
	if err != nil {
		return 0, "", err
	}
	p := s.path(videoName)
	if err := copyFile(src, p); err != nil {
		return 0, "", err
	}
	defer func() { _ = os.Remove(p) }()
	var times []float64
	var note string
	for _, t := range videoSeekTimes() {
		note = dropCaches(dropPages, s, p)
		el, err := firstFrame(ctx, p, t)
		if err != nil {
			return 0, "", err
		}
		times = append(times, el.Seconds())
	}
	return median(times), joinNotes(fmt.Sprintf("%d seeks: %.2f–%.2f s", len(times), slices.Min(times), slices.Max(times)), note), nil
}
