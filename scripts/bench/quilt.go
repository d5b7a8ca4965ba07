package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
)

// The quilt row: a Walrus HTTP client reading files back from quilts that
// `walrusfs serve` stores. A mixed set of files (small configuration-sized
// ones, medium ones, a few megabytes each) is stored with PUT /v1/quilts in
// a few large quilts, untimed. Then, in each of quiltRowPasses passes,
// serve is restarted (its caches empty) and the page cache dropped, and
// every file is read with GET /v1/blobs/by-quilt-patch-id/{id}, one
// request at a time in a random order, each reply checked against the
// file's SHA-256. A pass's figure is the bytes of the files over the time
// of its reads; the row is the median pass.

const (
	quiltRowQuilts = 3
	// quiltRowPasses is how many cold passes the row reads: one pass takes
	// about a second and a half, short enough that on a shared 2-core VM
	// two passes in a row differ by up to a fifth.
	quiltRowPasses = 3
	// quiltRowBody bounds one PUT: serve's default largest quilt request
	// is 100 MiB, multipart framing included.
	quiltRowBody = 90 << 20
)

// quiltRowFile is one file of the row, and where it ended up.
type quiltRowFile struct {
	name  string
	data  []byte
	sum   [32]byte
	patch string // quilt patch ID
}

// quiltRowFiles makes the mixed files: per quilt, 40 of 1–64 KiB, 20 of
// 64 KiB–1 MiB and the rest of 1–6 MiB up to about quiltRowBody.
func quiltRowFiles(seed uint64) [][]*quiltRowFile {
	r := rand.New(rand.NewPCG(seed, 0x7175696c74))
	quilts := make([][]*quiltRowFile, quiltRowQuilts)
	for q := range quilts {
		total := 0
		add := func(lo, hi int) bool {
			n := lo + r.IntN(hi-lo)
			if total+n > quiltRowBody-(1<<20) {
				return false
			}
			f := &quiltRowFile{name: fmt.Sprintf("q%d-f%03d.bin", q, len(quilts[q])), data: make([]byte, n)}
			for i := 0; i < n; i += 8 {
				var w [8]byte
				v := r.Uint64()
				for k := range w {
					w[k] = byte(v >> (8 * k))
				}
				copy(f.data[i:], w[:])
			}
			f.sum = sha256.Sum256(f.data)
			quilts[q] = append(quilts[q], f)
			total += n
			return true
		}
		for range 40 {
			add(1<<10, 64<<10)
		}
		for range 20 {
			add(64<<10, 1<<20)
		}
		for add(1<<20, 6<<20) {
		}
	}
	return quilts
}

// putQuilt stores files as one quilt through serve at addr and records
// each file's patch ID.
func putQuilt(ctx context.Context, addr string, files []*quiltRowFile) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range files {
		w, err := mw.CreateFormFile(f.name, f.name)
		if err != nil {
			return err
		}
		if _, err := w.Write(f.data); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/v1/quilts?epochs=5", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /v1/quilts: %s: %s", resp.Status, bytes.TrimSpace(reply))
	}
	var stored struct {
		StoredQuiltBlobs []struct {
			Identifier   string `json:"identifier"`
			QuiltPatchID string `json:"quiltPatchId"`
		} `json:"storedQuiltBlobs"`
	}
	if err := json.Unmarshal(reply, &stored); err != nil {
		return fmt.Errorf("PUT /v1/quilts reply: %w", err)
	}
	byName := map[string]*quiltRowFile{}
	for _, f := range files {
		byName[f.name] = f
	}
	for _, p := range stored.StoredQuiltBlobs {
		if f := byName[p.Identifier]; f != nil {
			f.patch = p.QuiltPatchID
		}
	}
	for _, f := range files {
		if f.patch == "" {
			return fmt.Errorf("PUT /v1/quilts reply names no patch for %s", f.name)
		}
	}
	return nil
}

// getPatch reads one patch and checks it against the file.
func getPatch(ctx context.Context, client *http.Client, addr string, f *quiltRowFile) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/blobs/by-quilt-patch-id/"+f.patch, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return fmt.Errorf("GET patch of %s: %w", f.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET patch of %s: %s", f.name, resp.Status)
	}
	if n != int64(len(f.data)) || !bytes.Equal(h.Sum(nil), f.sum[:]) {
		return fmt.Errorf("GET patch of %s: %d bytes that differ from the %d stored", f.name, n, len(f.data))
	}
	return nil
}

// readPatches reads every file once, one request at a time, and returns
// how long that took.
func readPatches(ctx context.Context, addr string, files []*quiltRowFile) (time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	start := time.Now()
	for _, f := range files {
		if err := getPatch(ctx, client, addr, f); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// joinFloats formats each value with format and joins them with "/".
func joinFloats(v []float64, format string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, "/")
}

// quiltPatchReads is the row: MB/s of patch reads from a freshly started
// serve, the median of quiltRowPasses passes.
func quiltPatchReads(ctx context.Context, s *side) (float64, string, error) {
	m, err := newWalrusMount(s.env, s.cfg, "quilt-serve", httpBackend)
	if err != nil {
		return 0, "", err
	}
	v, note, err := func() (float64, string, error) {
		quilts := quiltRowFiles(s.cfg.seed)
		addr, err := m.startServe(ctx)
		if err != nil {
			return 0, "", err
		}
		var all []*quiltRowFile
		var total int64
		stored := time.Now()
		for _, files := range quilts {
			if err := putQuilt(ctx, addr, files); err != nil {
				return 0, "", err
			}
			all = append(all, files...)
			for _, f := range files {
				total += int64(len(f.data))
			}
		}
		storing := time.Since(stored)
		// Each pass starts serve afresh, with nothing of the quilts in its
		// memory or in the page cache, and reads every file in an order of
		// its own.
		var (
			rates, secs []float64
			dropNote    string
		)
		for pass := range quiltRowPasses {
			m.used.add(m.serve)
			if err := m.stop(); err != nil {
				return 0, "", err
			}
			if addr, err = m.startServe(ctx); err != nil {
				return 0, "", err
			}
			dropNote = dropCaches(dropPages, m.side)
			r := rand.New(rand.NewPCG(s.cfg.seed, uint64(1+pass)))
			r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			el, err := readPatches(ctx, addr, all)
			if err != nil {
				return 0, "", err
			}
			rates, secs = append(rates, mbPerSec(total, el)), append(secs, el.Seconds())
		}
		m.used.add(m.serve)
		note := fmt.Sprintf("%d files (%s) in %d quilts; median of %d cold passes, each read in %s s (%s MB/s); storing them took %.1f s",
			len(all), sizeString(total), len(quilts), quiltRowPasses, joinFloats(secs, "%.2f"), joinFloats(rates, "%.0f"), storing.Seconds())
		return median(rates), joinNotes(note, dropNote), nil
	}()
	if rerr := m.remove(); rerr != nil && err == nil {
		err = rerr
	}
	s.own = &m.used
	return v, note, err
}
