package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a progress bar drawn only on a terminal: draining at
// unmount, status --wait, snapshot, restore and fsck --verify-data. Its
// methods do nothing on a nil *progress, which is what newProgress gives
// for a pipe or a file, so callers never test for a terminal themselves.
type progress struct {
	bar *progressbar.ProgressBar
	w   io.Writer
	max int64
}

// newProgress starts a bar of total units (bytes when bytes is true) on w,
// or returns nil when w is not a terminal.
func newProgress(w io.Writer, total int64, bytes bool, description string) *progress {
	if !isTerminal(w) {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionFullWidth(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true))
	}
	return &progress{bar: progressbar.NewOptions64(max(total, 1), opts...), w: w, max: max(total, 1)}
}

// set moves the bar to done of total units; total may grow (more was
// written meanwhile).
func (p *progress) set(done, total int64) {
	if p == nil {
		return
	}
	if total > p.max {
		p.max = total
		p.bar.ChangeMax64(total)
	}
	_ = p.bar.Set64(min(done, p.max))
}

// describe changes the text in front of the bar.
func (p *progress) describe(text string) {
	if p != nil {
		p.bar.Describe(text)
	}
}

// finish completes the bar and ends its line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
	_, _ = io.WriteString(p.w, "\n")
}

// stop ends the bar's line where it stands (a failure or a timeout).
func (p *progress) stop() {
	if p == nil {
		return
	}
	_ = p.bar.Exit()
	_, _ = io.WriteString(p.w, "\n")
}
