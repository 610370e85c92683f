package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// applyConfigFile reads the config file at path and sets each flag of fs it
// names, unless the command line already set that flag (flags override the
// file). Keys are the flag names (client-addr; client_addr and clientAddr
// work too). allowed lists the names a file may set. The file is YAML, JSON,
// or key=value lines; it fails on an unknown key or a bad value.
func applyConfigFile(fs *pflag.FlagSet, path string, allowed []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	kv, err := parseConfig(path, b)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := flagName(k)
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("unknown key %q (known: %s)", k, strings.Join(allowed, ", "))
		}
		f := fs.Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if err := fs.Set(name, kv[k]); err != nil {
			return fmt.Errorf("key %s: %w", k, err)
		}
	}
	return nil
}

// flagName maps a config key to a flag name: client_addr, clientAddr and
// client-addr all give client-addr.
func flagName(key string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(key) {
		switch {
		case r == '_':
			b.WriteByte('-')
		case r >= 'A' && r <= 'Z':
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r + ('a' - 'A'))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseConfig decodes a config file into key -> value text. .json, .yaml
// and .yml files are YAML (a superset of JSON); otherwise a file whose first
// setting looks like key=value is read as key=value lines (# comments),
// anything else as YAML.
func parseConfig(path string, b []byte) (map[string]string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", ".yaml", ".yml":
		return parseYAML(b)
	}
	if looksKeyValue(b) {
		return parseKeyValue(b)
	}
	return parseYAML(b)
}

func looksKeyValue(b []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		eq, colon := strings.IndexByte(line, '='), strings.IndexByte(line, ':')
		return eq > 0 && (colon < 0 || eq < colon)
	}
	return false
}

func parseKeyValue(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("line %d: want key=value", n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}

// configListKeys are the keys whose value may be a YAML or JSON list of
// plain values, read as the same values joined by commas (peers: [...] is
// --peers a,b,c).
var configListKeys = []string{"peers"}

func parseYAML(b []byte) (map[string]string, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case []any:
			if !slices.Contains(configListKeys, flagName(k)) {
				return nil, fmt.Errorf("key %s: want a plain value", k)
			}
			items := make([]string, len(v))
			for i, item := range v {
				s, ok := plainValue(item)
				if !ok || strings.Contains(s, ",") {
					return nil, fmt.Errorf("key %s: item %d: want a plain value without commas", k, i+1)
				}
				items[i] = s
			}
			out[k] = strings.Join(items, ",")
		default:
			s, ok := plainValue(v)
			if !ok {
				return nil, fmt.Errorf("key %s: want a plain value", k)
			}
			out[k] = s
		}
	}
	return out, nil
}

// plainValue returns a YAML scalar as text; false for a map or a list.
func plainValue(v any) (string, bool) {
	switch v.(type) {
	case map[string]any, map[any]any, []any:
		return "", false
	case nil:
		return "", true
	}
	return fmt.Sprint(v), true
}

// newLogger returns a slog logger writing to w at level (debug, info, warn,
// error) in format (text or json).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
