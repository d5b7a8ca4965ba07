package fs

import (
	"cmp"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Default kernel readahead sizes (Config.Readahead, StoredReadahead). At 4
// MiB the kernel keeps several 1 MiB reads of a local file in flight: a cold
// sequential read of staged data goes about 1.5 times as fast as at 256
// KiB. For data in the store, 4 MiB had the kernel ask for about three
// times what a video player read after each seek, 512 KiB twice, 256 KiB
// 1.65 times (the store's 1 MiB blocks round the rest up), and sequential
// readers of the store kept their speed at 256 KiB.
const (
	DefaultReadahead       = 4 << 20
	DefaultStoredReadahead = 256 << 10
)

// readahead chooses the kernel readahead of each open file by where its
// data lives.
//
// Linux keeps one readahead size per mount (its backing device info,
// /sys/class/bdi/MAJOR:MINOR/read_ahead_kb) and copies it into each file
// it opens, right after the filesystem has answered the open. The kernel
// ramps its readahead up within the first few MB a reader reads, and
// walrusfs must answer every request it is sent: for a file read from
// local disk (staged chunks, local copies) a large readahead keeps several
// requests in flight and costs nothing, but for a file whose data is in
// the store it fetches what a reader that seeks never reads (a video
// player reads 2–4 MB after each seek). So Open sets the mount's readahead
// to Config.StoredReadahead before it answers for a file whose data is in
// the store, and to Config.Readahead for the others; a sequential reader of
// stored data is kept ahead of by the file data engine's own fetch-ahead.
//
// Two opens answered at the same moment can both get the size the later
// one set: the price is only speed, never bytes.
type readahead struct {
	path           string // the mount's read_ahead_kb
	staged, stored uint64 // bytes

	mu      sync.Mutex
	current uint64
}

// newReadahead sets the readahead of the mount at mnt for files read from
// local disk and returns what switches it per open. Writing it takes root.
func newReadahead(mnt string, staged, stored uint64) (*readahead, error) {
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		return nil, err
	}
	r := &readahead{path: fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))}
	// A size of 0 keeps the kernel's: the one the mount has now.
	b, err := os.ReadFile(r.path)
	if err != nil {
		return nil, err
	}
	kb, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	r.current = kb << 10
	r.staged, r.stored = cmp.Or(staged, r.current), cmp.Or(stored, r.current)
	if err := r.set(r.staged); err != nil {
		return nil, err
	}
	return r, nil
}

// forOpen sets the readahead the file being opened gets: the stored size
// when its data is in the store, else the staged one. Errors are dropped:
// readahead only changes speed.
func (r *readahead) forOpen(stored bool) {
	want := r.staged
	if stored {
		want = r.stored
	}
	_ = r.set(want)
}

// set writes bytes as the mount's readahead unless it is already that.
func (r *readahead) set(bytes uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == bytes {
		return nil
	}
	if err := os.WriteFile(r.path, []byte(strconv.FormatUint(bytes>>10, 10)), 0); err != nil {
		return err
	}
	r.current = bytes
	return nil
}
