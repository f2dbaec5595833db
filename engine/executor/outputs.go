package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MaxOutputFile is the largest $OPSBOOK_OUTPUT file read.
const MaxOutputFile = 1 << 20

// readOutputs reads the file a cell wrote its outputs to. A missing or
// empty file gives an empty map.
func readOutputs(path string) (map[string]any, error) {
	// Only a regular file is read: a named pipe would block the run
	// forever, a link could point anywhere.
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err == nil && !fi.Mode().IsRegular() {
		return map[string]any{}, errors.New("$OPSBOOK_OUTPUT is not a regular file; write key=value lines or one JSON object to it with >>")
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return map[string]any{}, fmt.Errorf("read $OPSBOOK_OUTPUT: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxOutputFile+1))
	if err != nil {
		return map[string]any{}, fmt.Errorf("read $OPSBOOK_OUTPUT: %w", err)
	}
	if len(data) > MaxOutputFile {
		return map[string]any{}, fmt.Errorf("$OPSBOOK_OUTPUT is larger than %d KiB: write big data to a file in the working directory and its name to the output", MaxOutputFile>>10)
	}
	out, err := ParseOutputs(data)
	if err != nil {
		return map[string]any{}, err
	}
	return out, nil
}

// ParseOutputs parses what a cell wrote to $OPSBOOK_OUTPUT: one JSON object
// when the content starts with "{", else lines of key=value and
// GitHub-Actions style multi-line values (key<<DELIMITER, the lines, then
// DELIMITER on a line of its own). Errors name the line.
func ParseOutputs(data []byte) (map[string]any, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return map[string]any{}, nil
	}
	if trimmed[0] == '{' {
		return parseJSONOutputs(data)
	}
	out := map[string]any{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSuffix(lines[i], "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		eq := strings.IndexByte(line, '=')
		hd := strings.Index(line, "<<")
		switch {
		case eq > 0 && (hd < 0 || eq < hd):
			key := line[:eq]
			if err := checkOutputKey(key, i+1); err != nil {
				return nil, err
			}
			out[key] = line[eq+1:]
		case hd > 0 && eq != 0: // "=k<<D" has an empty key, not the key "=k"
			key, delim := line[:hd], line[hd+2:]
			if err := checkOutputKey(key, i+1); err != nil {
				return nil, err
			}
			if strings.TrimSpace(delim) == "" {
				return nil, fmt.Errorf("$OPSBOOK_OUTPUT line %d: %q has no delimiter after <<", i+1, key)
			}
			start := i + 1
			var val []string
			closed := false
			for i++; i < len(lines); i++ {
				l := strings.TrimSuffix(lines[i], "\r")
				if l == delim {
					closed = true
					break
				}
				val = append(val, l)
			}
			if !closed {
				return nil, fmt.Errorf("$OPSBOOK_OUTPUT line %d: no line %q ends the value of %q", start, delim, key)
			}
			out[key] = strings.Join(val, "\n")
		default:
			return nil, fmt.Errorf("$OPSBOOK_OUTPUT line %d: expected key=value, key<<DELIMITER or one JSON object, got %q", i+1, shorten(line, 60))
		}
	}
	return out, nil
}

func checkOutputKey(key string, line int) error {
	if strings.ContainsAny(key, " \t") {
		return fmt.Errorf("$OPSBOOK_OUTPUT line %d: key %q contains a space", line, key)
	}
	return nil
}

func parseJSONOutputs(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		return nil, fmt.Errorf("$OPSBOOK_OUTPUT line %d: bad JSON: %w", lineAt(data, off), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("$OPSBOOK_OUTPUT line %d: more after the JSON object: write one object", lineAt(data, dec.InputOffset()))
	}
	for k, v := range m {
		m[k] = convertNumbers(v)
	}
	return m, nil
}

// lineAt is the line (from 1) of byte offset off in data.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// convertNumbers replaces the json.Numbers in v: integers that fit become
// int64, the others float64.
func convertNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		return convertNumber(v)
	case map[string]any:
		for k, e := range v {
			v[k] = convertNumbers(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = convertNumbers(e)
		}
		return v
	}
	return v
}

func convertNumber(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return s
	}
	if math.IsInf(f, 0) {
		return s // too big for a float: keep the digits
	}
	return f
}

// decodeJSON parses data as one JSON value with numbers converted.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more data after the JSON value")
	}
	return convertNumbers(v), nil
}

// shorten cuts s to about n bytes for a message.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	k := n
	for k > 0 && k < len(s) && s[k]&0xC0 == 0x80 {
		k--
	}
	return s[:k] + "…"
}
