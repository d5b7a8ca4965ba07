package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// FuzzParseQuiltMetadata feeds arbitrary bytes to the _metadata parser: it
// must never panic, and what it accepts must survive a round trip through
// its own JSON form.
func FuzzParseQuiltMetadata(f *testing.F) {
	for _, s := range []string{
		`[{"identifier":"a","tags":{"k":"v"}}]`,
		`[{"identifier":"a","tags":{"n":1,"b":true,"o":{"x":[1,2]},"z":null}},{"identifier":"b"}]`,
		`[{"identifier":"a","extra":{"deep":[{}]}}]`,
		`[{"identifier":"a","identifier":"b"}]`,
		`[{"identifier":"a"},{"identifier":"a"}]`,
		`[{"tags":{}}]`, `[{"identifier":null}]`, `[{"identifier":"a","tags":null}]`,
		`[]`, `{}`, `null`, `[null]`, `["a"]`, `[{"identifier":"\u0000\ud800"}]`, `[{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tags := make(map[string]map[string]string)
		if err := parseQuiltMetadata(b, tags); err != nil {
			return
		}
		var items []wire.QuiltMetadataItem
		for id, m := range tags {
			if m == nil {
				t.Fatalf("identifier %q accepted with nil tags", id)
			}
			items = append(items, wire.QuiltMetadataItem{Identifier: id, Tags: m})
		}
		again, err := json.Marshal(items)
		if err != nil {
			t.Fatal(err)
		}
		back := make(map[string]map[string]string)
		if err := parseQuiltMetadata(again, back); err != nil {
			t.Fatalf("re-parsing %s: %v", again, err)
		}
		if len(back) != len(tags) {
			t.Fatalf("round trip of %s: %d identifiers, want %d", b, len(back), len(tags))
		}
		for id, m := range tags {
			if !maps.Equal(m, back[id]) {
				t.Fatalf("round trip of %q: tags %v, want %v", id, back[id], m)
			}
		}
	})
}

// FuzzReadQuiltForm feeds arbitrary multipart bodies to the quilt form
// reader: it must never panic, and every part it returns is a named file.
func FuzzReadQuiltForm(f *testing.F) {
	add := func(fields ...[2]string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.SetBoundary("fuzzboundary")
		for _, fl := range fields {
			if fl[0] == wire.MetadataFormField {
				_ = mw.WriteField(fl[0], fl[1])
				continue
			}
			w, _ := mw.CreateFormFile(fl[0], fl[0])
			_, _ = w.Write([]byte(fl[1]))
		}
		_ = mw.Close()
		f.Add(buf.Bytes(), "fuzzboundary")
	}
	add([2]string{"a.txt", "hello"}, [2]string{wire.MetadataFormField, `[{"identifier":"a.txt","tags":{"k":"v"}}]`})
	add([2]string{"x", ""}, [2]string{"y", "2"}, [2]string{wire.MetadataFormField, `[{"identifier":"x"}]`}, [2]string{wire.MetadataFormField, `[{"identifier":"y"}]`})
	add([2]string{wire.MetadataFormField, `[{"identifier":"a"},{"identifier":"a"}]`})
	add()
	f.Add([]byte("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n"), "b")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"\\\"q\\\"\"\r\n\r\nx\r\n--b--"), "b")
	f.Add([]byte("garbage"), "")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		req, err := http.NewRequest(http.MethodPut, "/v1/quilts", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", `multipart/form-data; boundary="`+strings.ReplaceAll(boundary, `"`, ``)+`"`)
		parts, err := readQuiltForm(req)
		if err != nil {
			return
		}
		total := 0
		for _, p := range parts {
			if p.Identifier == "" || p.Identifier == wire.MetadataFormField {
				t.Fatalf("part with identifier %q accepted", p.Identifier)
			}
			total += len(p.Data)
		}
		if total > len(body) {
			t.Fatalf("%d bytes of parts from a %d-byte body", total, len(body))
		}
	})
}

// FuzzParseStoreParams feeds arbitrary query strings to the publisher query
// parser: it must never panic, every failure is a query or rule error, and
// what it accepts is within the publisher's rules.
func FuzzParseStoreParams(f *testing.F) {
	for _, s := range []string{
		"", "epochs=5", "epochs=%2B5&permanent=true", "epochs=0", "epochs=54", "epochs=4294967296",
		"permanent=true&deletable=true", "send_object_to=0xAbC1&force=true", "send_object_to=0x1&share=false",
		"share=true", "encoding_type=RS2&quilt_version=V1&reuse_resources=false", "foo=1", "epochs=1&epochs=1",
		"epochs=1;force=true", "%zz", "epochs", "force=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseStoreParams(raw, wire.MaxEpochsAhead)
		if err != nil {
			var qe *queryError
			var re *ruleError
			if !errors.As(err, &qe) && !errors.As(err, &re) {
				t.Fatalf("parseStoreParams(%q): %T %v", raw, err, err)
			}
			return
		}
		if p.epochs < 1 || p.epochs > wire.MaxEpochsAhead || p.opts.Epochs != p.epochs {
			t.Fatalf("parseStoreParams(%q) accepted epochs %d", raw, p.epochs)
		}
		if p.opts.SendObjectTo != "" && !isSuiAddress(p.opts.SendObjectTo) {
			t.Fatalf("parseStoreParams(%q) accepted address %q", raw, p.opts.SendObjectTo)
		}
	})
}
