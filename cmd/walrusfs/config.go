package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/spf13/pflag"
)

// Mount settings can live in a TOML file (--config FILE, or the
// WALRUSFS_CONFIG environment variable). Its keys are the mount flags'
// names, with '-' or '_', at the top level or in a [mount] table:
//
//	# /etc/walrusfs/walrusfs.toml
//	publisher  = "https://publisher.example.com"
//	aggregator = ["https://agg1.example.com", "https://agg2.example.com"]
//	fsync      = "certified"
//	cache_disk = "20GiB"
//
// A flag on the command line wins over the file. The file is read by a
// TOML library (pelletier/go-toml/v2) and checked strictly: an unknown key,
// another table, or a value of the wrong type is an error naming its line
// and the type the setting takes.

// configEnv names the environment variable that points at a config file.
const configEnv = "WALRUSFS_CONFIG"

// listFlags are the string flags that take a comma-separated list, and so
// a TOML array too.
var listFlags = map[string]bool{"aggregator": true, "store": true}

// configSetting is one key = value of the file.
type configSetting struct {
	key   string // as written
	line  int
	value any // as go-toml decodes it: string, int64, bool, float64, []any, ...
}

// applyConfigFile sets every flag of fl that the file at path names and the
// command line did not.
func applyConfigFile(fl *pflag.FlagSet, path string) error {
	return applyConfigFileSkipping(fl, path, nil)
}

// applyConfigFileSkipping is applyConfigFile for a command that takes only
// some of the settings: keys in skip that fl lacks are passed over (the
// chain commands read a mount's file).
func applyConfigFileSkipping(fl *pflag.FlagSet, path string, skip map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	settings, err := readConfig(data)
	if err != nil {
		return fmt.Errorf("%s:%w", path, err)
	}
	given := map[string]bool{}
	fl.Visit(func(f *pflag.Flag) { given[f.Name] = true })
	for _, s := range settings {
		name := strings.ReplaceAll(s.key, "_", "-")
		f := fl.Lookup(name)
		if f == nil && skip[name] {
			continue
		}
		if f == nil || name == "config" {
			return fmt.Errorf("%s:%d: unknown setting %q (run 'walrusfs mount -h' for the list)", path, s.line, s.key)
		}
		text, err := flagText(f, s.value)
		if err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, s.line, s.key, err)
		}
		if given[name] {
			continue
		}
		if err := fl.Set(name, text); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, s.line, s.key, err)
		}
	}
	return nil
}

// readConfig decodes the file and returns its settings in file order with
// their lines. Errors start with the line (and column) they are on.
func readConfig(data []byte) ([]configSetting, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%d:%d: %s", row, col, de.Error())
		}
		return nil, fmt.Errorf(" %w", err)
	}
	// The decoded document has the values; a walk over the parsed
	// expressions has the order and the lines.
	var p unstable.Parser
	p.Reset(data)
	var out []configSetting
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			name, line := keyOf(&p, e)
			if e.Kind == unstable.ArrayTable || name != "mount" {
				return nil, fmt.Errorf("%d: table [%s]: settings go at the top level or in [mount]", line, name)
			}
			table = name
		case unstable.KeyValue:
			key, line := keyOf(&p, e)
			if strings.Contains(key, ".") {
				return nil, fmt.Errorf("%d: dotted key %q: settings are plain names", line, key)
			}
			values := doc
			if table != "" {
				values, _ = doc[table].(map[string]any)
			}
			out = append(out, configSetting{key: key, line: line, value: values[key]})
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf(" %w", err) // toml.Unmarshal has seen it first
	}
	return out, nil
}

// keyOf returns the (dotted) key of a key-value or table expression and
// the line it starts on.
func keyOf(p *unstable.Parser, e *unstable.Node) (string, int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = p.Shape(n.Raw).Start.Line
		}
		parts = append(parts, string(n.Data))
	}
	return strings.Join(parts, "."), line
}

// flagText checks that v has the type flag f takes and returns it as the
// flag's text.
func flagText(f *pflag.Flag, v any) (string, error) {
	wrong := func(want string) error {
		return fmt.Errorf("want %s, got %s", want, tomlType(v))
	}
	if _, ok := f.Value.(*sizeFlag); ok {
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			if x < 0 {
				return "", errors.New("want a size, got a negative number")
			}
			return strconv.FormatInt(x, 10), nil
		}
		return "", wrong(`a size: a string such as "8MiB", or a number of bytes`)
	}
	switch f.Value.Type() {
	case "bool":
		if x, ok := v.(bool); ok {
			return strconv.FormatBool(x), nil
		}
		return "", wrong("true or false")
	case "int", "int64", "uint", "uint64":
		if x, ok := v.(int64); ok {
			return strconv.FormatInt(x, 10), nil
		}
		return "", wrong("an integer")
	case "duration":
		if x, ok := v.(string); ok {
			return x, nil
		}
		return "", wrong(`a duration: a string such as "10s" or "5m"`)
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case []any:
		if !listFlags[f.Name] {
			return "", wrong("a string")
		}
		items := make([]string, len(x))
		for i, item := range x {
			s, ok := item.(string)
			if !ok {
				return "", fmt.Errorf("want an array of strings, item %d is %s", i+1, tomlType(item))
			}
			items[i] = s
		}
		return strings.Join(items, ","), nil
	}
	if listFlags[f.Name] {
		return "", wrong("a string or an array of strings")
	}
	return "", wrong("a string")
}

// tomlType names the TOML type of a decoded value, for error messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}
