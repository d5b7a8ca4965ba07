package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mount settings can live in a TOML file (--config FILE, or the
// WALRUSFS_CONFIG environment variable). Its keys are the mount flags'
// names, with '-' or '_':
//
//	# /etc/walrusfs/walrusfs.toml
//	publisher  = "https://publisher.example.com"
//	aggregator = ["https://agg1.example.com", "https://agg2.example.com"]
//	fsync      = "certified"
//	cache_disk = "20GiB"
//
// A flag on the command line wins over the file. The accepted TOML is the
// flat part of the language: key = value lines with strings, integers,
// booleans and one-line arrays; comments; an optional [mount] table.

// configEnv names the environment variable that points at a config file.
const configEnv = "WALRUSFS_CONFIG"

// applyConfigFile sets every flag of fl that the file at path names and the
// command line did not.
func applyConfigFile(fl *flag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer func() { _ = f.Close() }()
	given := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { given[f.Name] = true })
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		key, value, ok, err := parseConfigLine(sc.Text())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if !ok {
			continue
		}
		name := strings.ReplaceAll(key, "_", "-")
		if fl.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("%s:%d: unknown setting %q (run 'walrusfs mount -h' for the list)", path, line, key)
		}
		if given[name] {
			continue
		}
		if err := fl.Set(name, value); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, line, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// parseConfigLine returns the key and the value (as flag text: arrays are
// joined with commas) of one line; ok is false for blank, comment and
// [mount] lines.
func parseConfigLine(text string) (key, value string, ok bool, err error) {
	s := strings.TrimSpace(text)
	if s == "" || s[0] == '#' || s == "[mount]" {
		return "", "", false, nil
	}
	if s[0] == '[' {
		return "", "", false, fmt.Errorf("table %s: only [mount] is known", s)
	}
	k, v, found := strings.Cut(s, "=")
	if !found {
		return "", "", false, fmt.Errorf("want key = value, got %q", s)
	}
	key = strings.TrimSpace(k)
	if key == "" || strings.ContainsAny(key, " \t\"'") {
		return "", "", false, fmt.Errorf("bad key %q", k)
	}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") {
		items, rest, err := parseArray(v[1:])
		if err != nil {
			return "", "", false, err
		}
		if err := onlyComment(rest); err != nil {
			return "", "", false, err
		}
		return key, strings.Join(items, ","), true, nil
	}
	value, rest, err := parseScalar(v)
	if err != nil {
		return "", "", false, err
	}
	return key, value, true, onlyComment(rest)
}

func onlyComment(rest string) error {
	rest = strings.TrimSpace(rest)
	if rest != "" && rest[0] != '#' {
		return fmt.Errorf("unexpected %q after the value", rest)
	}
	return nil
}

func parseArray(s string) (items []string, rest string, err error) {
	for {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "]") {
			return items, s[1:], nil
		}
		if s == "" {
			return nil, "", fmt.Errorf("array not closed on its line")
		}
		var item string
		if item, s, err = parseScalar(s); err != nil {
			return nil, "", err
		}
		items = append(items, item)
		s = strings.TrimSpace(s)
		s = strings.TrimPrefix(s, ",")
	}
}

// parseScalar reads one string, number or boolean from the front of s.
func parseScalar(s string) (value, rest string, err error) {
	switch {
	case strings.HasPrefix(s, `"`):
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '"':
				return b.String(), s[i+1:], nil
			case '\\':
				if i+1 == len(s) {
					return "", "", fmt.Errorf("string not closed")
				}
				i++
				esc, ok := map[byte]byte{'"': '"', '\\': '\\', 'n': '\n', 't': '\t'}[s[i]]
				if !ok {
					return "", "", fmt.Errorf(`unsupported escape \%c`, s[i])
				}
				b.WriteByte(esc)
			default:
				b.WriteByte(c)
			}
		}
		return "", "", fmt.Errorf("string not closed")
	case strings.HasPrefix(s, "'"):
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", "", fmt.Errorf("string not closed")
		}
		return s[1 : end+1], s[end+2:], nil
	}
	end := strings.IndexAny(s, " \t,]#")
	if end < 0 {
		end = len(s)
	}
	word := s[:end]
	if word == "true" || word == "false" {
		return word, s[end:], nil
	}
	if _, err := strconv.ParseInt(strings.ReplaceAll(word, "_", ""), 10, 64); err != nil {
		return "", "", fmt.Errorf("value %q: want a quoted string, a number, true or false", word)
	}
	return strings.ReplaceAll(word, "_", ""), s[end:], nil
}
