package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// target is a row's pass mark.
type target struct {
	// Kind is "ratio": the walrusfs/loopback ratio (oriented so that
	// larger is better) must be at least Value; or a limit on the
	// walrusfs figure itself, in the row's unit: "below" (under Value),
	// "max" (at most Value) or "min" (at least Value).
	Kind  string  `json:"kind"`
	Value float64 `json:"value"`
}

func ratioTarget(v float64) target { return target{Kind: "ratio", Value: v} }
func belowTarget(v float64) target { return target{Kind: "below", Value: v} }
func maxTarget(v float64) target   { return target{Kind: "max", Value: v} }
func minTarget(v float64) target   { return target{Kind: "min", Value: v} }

func (t target) String(unit string) string {
	switch t.Kind {
	case "ratio":
		return fmt.Sprintf("≥ %.2f×", t.Value)
	case "below":
		return fmt.Sprintf("< %s %s", formatIn(t.Value, unit), unit)
	case "max":
		return fmt.Sprintf("≤ %s %s", formatIn(t.Value, unit), unit)
	case "min":
		return fmt.Sprintf("≥ %s %s", formatIn(t.Value, unit), unit)
	}
	return ""
}

// met reports whether a walrusfs figure meets a limit (not a ratio).
func (t target) met(v float64) bool {
	switch t.Kind {
	case "below":
		return v < t.Value
	case "max":
		return v <= t.Value
	case "min":
		return v >= t.Value
	}
	return false
}

// measurement is one side's figure for one row.
type measurement struct {
	Value  float64   `json:"value"`            // the median, with --repeat
	Values []float64 `json:"values,omitempty"` // every repetition's, with --repeat
	Err    string    `json:"error,omitempty"`
	Note   string    `json:"note,omitempty"`
	// Missed is a requirement of the row that the figure does not show
	// (no standalone blobs, say) and that was not met: the row fails.
	Missed string `json:"missed,omitempty"`
	// The daemon's CPU time and highest resident size while the row ran
	// (absent for whole-run rows).
	DaemonCPU     *float64 `json:"daemon_cpu_s,omitempty"`
	DaemonPeakMiB float64  `json:"daemon_peak_rss_mib,omitempty"`
}

func (m *measurement) ok() bool { return m != nil && m.Err == "" }

// row is one line of the table.
type row struct {
	Key      string       `json:"key"`
	Name     string       `json:"name"`
	Unit     string       `json:"unit"`
	Higher   bool         `json:"higher_is_better"`
	Target   *target      `json:"target,omitempty"`
	Loopback *measurement `json:"loopback,omitempty"`
	Subject  *measurement `json:"subject,omitempty"`
	Ratio    *float64     `json:"ratio,omitempty"`
	Verdict  string       `json:"verdict,omitempty"`
}

// Verdicts.
const (
	pass    = "pass"
	fail    = "FAIL"
	failed  = "error"
	noMarks = ""
)

// ratio returns how much better the subject is than the loopback: for a
// figure where more is better (MB/s) subject/loopback, for one where less
// is better (seconds, MiB) loopback/subject. Above 1 the subject wins.
func ratio(loopback, subject float64, higher bool) (float64, bool) {
	num, den := subject, loopback
	if !higher {
		num, den = loopback, subject
	}
	if den <= 0 || num < 0 || math.IsInf(num, 0) || math.IsNaN(num) || math.IsNaN(den) {
		return 0, false
	}
	return num / den, true
}

// finish computes the ratio and the verdict from the measurements.
func (r *row) finish() {
	r.Ratio, r.Verdict = nil, noMarks
	if (r.Loopback != nil && !r.Loopback.ok()) || (r.Subject != nil && !r.Subject.ok()) {
		r.Verdict = failed
		return
	}
	if r.Loopback.ok() && r.Subject.ok() {
		if q, ok := ratio(r.Loopback.Value, r.Subject.Value, r.Higher); ok {
			r.Ratio = &q
		}
	}
	if r.Subject.ok() && r.Subject.Missed != "" {
		r.Verdict = fail
		return
	}
	if r.Target == nil || !r.Subject.ok() {
		return
	}
	switch r.Target.Kind {
	case "ratio":
		if r.Ratio == nil {
			return
		}
		r.Verdict = fail
		if *r.Ratio >= r.Target.Value {
			r.Verdict = pass
		}
	default:
		r.Verdict = fail
		if r.Target.met(r.Subject.Value) {
			r.Verdict = pass
		}
	}
}

// report is everything one run produced.
type report struct {
	Started   time.Time `json:"started"`
	Duration  float64   `json:"duration_s"`
	Subject   string    `json:"subject"` // what ran against the loopback: "walrusfs", or "loopback-2" to test the harness
	Size      int64     `json:"size_bytes"`
	RSSSize   int64     `json:"rss_size_bytes"`
	Seeks     int       `json:"seeks"`
	Files     int       `json:"files"`
	RandReads int       `json:"rand_reads"`
	Seed      uint64    `json:"seed"`
	Repeat    int       `json:"repeat"`
	// Passthrough is set when the loopback used FUSE passthrough.
	Passthrough bool              `json:"loopback_passthrough"`
	Host        string            `json:"host"`
	Mounts      map[string]string `json:"mounts"` // side → fstype, source and options from mountinfo
	Rows        []*row            `json:"rows"`
	Errors      []string          `json:"errors,omitempty"`
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeMarkdown prints the table with a short header and the notes that
// qualify some figures.
func (r *report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	mode := "without FUSE passthrough"
	if r.Passthrough {
		mode = "with FUSE passthrough"
	}
	fmt.Fprintf(&b, "### %s vs go-fuse loopback (%s)\n\n", r.Subject, mode)
	reps := ""
	if r.Repeat > 1 {
		reps = fmt.Sprintf("; medians of %d runs", r.Repeat)
	}
	fmt.Fprintf(&b, "%s, %s; %s file, %d files, %d random reads (seed %d)%s; %.0f s.\n\n",
		r.Started.Format("2006-01-02 15:04"), r.Host, sizeString(r.Size), r.Files, r.RandReads, r.Seed, reps, r.Duration)

	head := []string{"workload", "unit", "loopback", r.Subject, "ratio", "target", "result"}
	align := []string{"---", "---", "--:", "--:", "--:", "---", "---"}
	b.WriteString("| " + strings.Join(head, " | ") + " |\n")
	b.WriteString("|" + strings.Join(align, "|") + "|\n")
	var notes []string
	for _, rw := range r.Rows {
		name := rw.Name
		for _, side := range []struct {
			label string
			m     *measurement
		}{{"loopback", rw.Loopback}, {r.Subject, rw.Subject}} {
			if side.m != nil && side.m.Note != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", rw.Key, side.label, side.m.Note))
			}
			if side.m.ok() && len(side.m.Values) > 1 {
				notes = append(notes, fmt.Sprintf("%s, %s: median of %s %s", rw.Key, side.label, formatValues(side.m.Values, rw.Unit), rw.Unit))
			}
			if side.m != nil && side.m.Missed != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: missed: %s", rw.Key, side.label, side.m.Missed))
			}
			if side.m != nil && side.m.Err != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: error: %s", rw.Key, side.label, firstLine(side.m.Err)))
			}
		}
		ratioCell := "—"
		if rw.Ratio != nil {
			ratioCell = fmt.Sprintf("%.2f×", *rw.Ratio)
		}
		targetCell := ""
		if rw.Target != nil {
			targetCell = rw.Target.String(rw.Unit)
		}
		cells := []string{name, rw.Unit, cell(rw.Loopback, rw.Unit), cell(rw.Subject, rw.Unit), ratioCell, targetCell, rw.Verdict}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\nratio > 1: " + r.Subject + " is better (throughput: " + r.Subject + "/loopback; time and memory: loopback/" + r.Subject + ").\n")
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	for _, e := range r.Errors {
		b.WriteString("- error: " + firstLine(e) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatValues lists every pass's figure, in the order measured.
func formatValues(vs []float64, unit string) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = formatIn(v, unit)
	}
	return strings.Join(parts, ", ")
}

func cell(m *measurement, unit string) string {
	switch {
	case m == nil:
		return "—"
	case m.Err != "":
		return "error"
	}
	return formatIn(m.Value, unit)
}

// countUnits are units of things counted, printed as whole numbers.
var countUnits = map[string]bool{"blobs": true}

// formatIn prints a figure in a unit: counts whole, others as formatValue.
func formatIn(v float64, unit string) string {
	if countUnits[unit] {
		return fmt.Sprintf("%.0f", v)
	}
	return formatValue(v)
}

// formatValue prints a figure with three significant digits, more for
// large integers parts.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.3g", v)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// sizeString prints a byte count in binary units: 1 GiB, 256 MiB, 1.5 GiB.
func sizeString(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f %s", f, units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// parseSize parses a byte count with an optional unit: 1GiB, 256MiB, 64k,
// 1G (binary multiples throughout), or a plain number of bytes.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if num == "" || strings.ContainsAny(num, " ") {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB)", s)
	}
	var mult int64
	switch strings.ToLower(strings.TrimSpace(t[len(num):])) {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	case "t", "tb", "tib":
		mult = 1 << 40
	default:
		return 0, fmt.Errorf("size %q: unknown unit", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	if n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q out of range", s)
	}
	return n * mult, nil
}
