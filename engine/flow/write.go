package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// Files returns the plain files of a valid flow: flow.yaml, then each
// cell's file in cell order. Reading them back with Parse gives the same
// flow, and a folder in canonical form gives back its own bytes.
func Files(f *engine.Flow) ([]File, error) {
	if errs := Validate(f); len(errs) > 0 {
		if f == nil {
			return nil, fmt.Errorf("export flow: %w", errs)
		}
		return nil, fmt.Errorf("export flow %q: %w", f.Name, errs)
	}
	files := files(f)
	if n := len(files[0].Data); n > MaxFileSize {
		return nil, fmt.Errorf("export flow %q: flow.yaml would be %s, more than the 1 MiB a manifest may have; shorten descriptions and env values", f.Name, engine.FormatBytes(int64(n)))
	}
	return files, nil
}

func files(f *engine.Flow) []File {
	out := make([]File, 0, 1+len(f.Cells))
	out = append(out, File{Name: ManifestFile, Data: Manifest(f)})
	for _, c := range f.Cells {
		out = append(out, File{Name: c.File, Data: []byte(c.Source)})
	}
	return out
}

// WriteDir writes the files of a valid flow into dir, creating it if
// needed. Other files already in dir are left alone; a file that would be
// written through a symbolic link is refused.
func WriteDir(dir string, f *engine.Flow) error {
	files, err := Files(f)
	if err != nil {
		return err
	}
	// Files has checked that f is valid, so it is not nil.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write flow %q: %w", f.Name, err)
	}
	for _, fl := range files {
		path := filepath.Join(dir, fl.Name)
		fi, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("write flow %q: %w", f.Name, err)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("write flow %q: %s exists and is not a regular file; remove it first", f.Name, path)
		}
		if err := os.WriteFile(path, fl.Data, 0o644); err != nil {
			return fmt.Errorf("write flow %q: %w", f.Name, err)
		}
	}
	return nil
}

// Hash is the content hash a run is pinned to: the SHA-256, in hex, of the
// exported files, each as its name, its length and its bytes, in order.
func Hash(f *engine.Flow) string {
	h := sha256.New()
	var b []byte
	for _, fl := range files(f) {
		b = b[:0]
		b = append(b, fl.Name...)
		b = append(b, 0)
		b = strconv.AppendInt(b, int64(len(fl.Data)), 10)
		b = append(b, 0)
		h.Write(b)
		h.Write(fl.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Manifest writes the flow.yaml of f in canonical form: keys in a fixed
// order, zero values left out, two-space indentation, LF line endings, and
// strings quoted only where YAML needs it. It does not validate f.
func Manifest(f *engine.Flow) []byte {
	var b []byte
	b = keyString(b, "", "name", f.Name)
	b = keyString(b, "", "description", f.Description)
	b = keyString(b, "", "order", string(f.Order))
	if f.NoNetwork {
		b = append(b, "network: false\n"...)
	}
	if len(f.Inputs) > 0 {
		b = append(b, "inputs:\n"...)
		for _, in := range f.Inputs {
			b = appendInput(b, "", in)
		}
	}
	if len(f.Triggers) > 0 {
		b = append(b, "triggers:\n"...)
		for _, t := range f.Triggers {
			b = append(b, "  - "...)
			first := len(b)
			const ind = "    "
			b = keyString(b, ind, "cron", t.Cron)
			b = keyString(b, ind, "timezone", t.Timezone)
			if t.Webhook {
				b = append(b, ind+"webhook: true\n"...)
			}
			if t.Rate != 0 {
				b = append(b, ind+"rate: "...)
				b = strconv.AppendInt(b, int64(t.Rate), 10)
				b = append(b, '\n')
			}
			b = dedentFirst(b, first, ind)
		}
	}
	if c := f.Concurrency; c.Limit != 0 || c.Overlap != "" {
		b = append(b, "concurrency: {"...)
		if c.Limit != 0 {
			b = append(b, "limit: "...)
			b = strconv.AppendInt(b, int64(c.Limit), 10)
		}
		if c.Overlap != "" {
			if c.Limit != 0 {
				b = append(b, ", "...)
			}
			b = append(b, "overlap: "...)
			b = appendString(b, string(c.Overlap), true)
		}
		b = append(b, "}\n"...)
	}
	if len(f.Notify) > 0 {
		b = append(b, "notify:\n"...)
		for _, w := range f.Notify {
			b = append(b, "  - {to: "...)
			b = appendString(b, w.To, true)
			if w.On != nil {
				on := make([]string, len(w.On))
				for i, e := range w.On {
					on[i] = string(e)
				}
				b = append(b, ", on: "...)
				b = appendList(b, on)
			}
			b = append(b, "}\n"...)
		}
	}
	if len(f.Cells) > 0 {
		b = append(b, "cells:\n"...)
		for _, c := range f.Cells {
			b = append(b, "  - "...)
			first := len(b)
			const ind = "    "
			b = keyString(b, ind, "name", c.Name)
			b = keyString(b, ind, "kind", string(c.Kind))
			b = keyString(b, ind, "file", c.File)
			if len(c.Approvers) > 0 {
				b = append(b, ind+"approvers: "...)
				b = appendList(b, c.Approvers)
				b = append(b, '\n')
			}
			if c.Approvals != 0 {
				b = append(b, ind+"approvals: "...)
				b = strconv.AppendInt(b, int64(c.Approvals), 10)
				b = append(b, '\n')
			}
			if len(c.ExpectStatus) > 0 {
				b = append(b, ind+"expect_status: "...)
				b = appendStatusList(b, c.ExpectStatus)
				b = append(b, '\n')
			}
			if c.Timeout != 0 {
				b = append(b, ind+"timeout: "+formatDuration(c.Timeout)+"\n"...)
			}
			b = keyString(b, ind, "on_timeout", string(c.OnTimeout))
			if c.Retries != 0 {
				b = append(b, ind+"retries: "...)
				b = strconv.AppendInt(b, int64(c.Retries), 10)
				b = append(b, '\n')
			}
			if c.RetryDelay != 0 {
				b = append(b, ind+"retry_delay: "+formatDuration(c.RetryDelay)+"\n"...)
			}
			b = keyString(b, ind, "if", c.If)
			if len(c.Needs) > 0 {
				b = append(b, ind+"needs: "...)
				b = appendList(b, c.Needs)
				b = append(b, '\n')
			}
			b = keyString(b, ind, "connection", c.Connection)
			if len(c.Env) > 0 {
				b = append(b, ind+"env:\n"...)
				for _, e := range c.Env {
					b = append(b, ind+"  "...)
					b = appendString(b, e.Name, false)
					b = append(b, ": "...)
					b = appendString(b, e.Value, false)
					b = append(b, '\n')
				}
			}
			if len(c.Inputs) > 0 {
				b = append(b, ind+"inputs:\n"...)
				for _, in := range c.Inputs {
					b = appendInput(b, ind, in)
				}
			}
			if c.ContinueOnError {
				b = append(b, ind+"continue_on_error: true\n"...)
			}
			b = dedentFirst(b, first, ind)
		}
	}
	return b
}

// appendInput writes one entry of an inputs list whose key sits at
// indentation outer: the flow's (""), or an approval cell's form.
func appendInput(b []byte, outer string, in engine.Input) []byte {
	b = append(b, outer+"  - "...)
	first := len(b)
	ind := outer + "    "
	b = keyString(b, ind, "name", in.Name)
	b = keyString(b, ind, "type", string(in.Type))
	if in.Default != nil {
		b = append(b, ind+"default: "...)
		b = appendValue(b, in.Default)
		b = append(b, '\n')
	}
	if in.Required {
		b = append(b, ind+"required: true\n"...)
	}
	if len(in.Options) > 0 {
		b = append(b, ind+"options: "...)
		b = appendList(b, in.Options)
		b = append(b, '\n')
	}
	b = keyString(b, ind, "label", in.Label)
	b = keyString(b, ind, "description", in.Description)
	b = keyString(b, ind, "placeholder", in.Placeholder)
	return dedentFirst(b, first, ind)
}

// keyString writes `key: value` on a line of its own, unless value is "".
func keyString(b []byte, indent, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, indent...)
	b = append(b, key...)
	b = append(b, ": "...)
	b = appendString(b, value, false)
	return append(b, '\n')
}

// dedentFirst removes the indentation of the first line written after a
// "- " list marker, so the first key sits on the marker's line. An entry
// with no keys at all is written as {}.
func dedentFirst(b []byte, first int, indent string) []byte {
	if len(b) == first {
		return append(b, "{}\n"...)
	}
	return append(b[:first], b[first+len(indent):]...)
}

func appendList(b []byte, items []string) []byte {
	b = append(b, '[')
	for i, s := range items {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendString(b, s, true)
	}
	return append(b, ']')
}

// appendValue writes an input default so that it reads back with the same
// Go type: int64 stays a YAML int, float64 always has a '.' or an exponent.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendString(b, v, false)
	case bool:
		return strconv.AppendBool(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 64)
		switch {
		case s == "NaN":
			s = ".nan"
		case s == "+Inf":
			s = ".inf"
		case s == "-Inf":
			s = "-.inf"
		case !strings.ContainsAny(s, ".e"):
			s += ".0"
		}
		return append(b, s...)
	}
	return appendString(b, fmt.Sprint(v), false)
}

// formatDuration writes d as time.Duration.String does, without its
// trailing zero units: 2h, 1m30s, 100ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// appendString writes s as a YAML scalar that reads back as the string s:
// plain where that is certainly safe, else double-quoted. inFlow is true
// inside [ ], where commas and brackets end a plain scalar.
func appendString(b []byte, s string, inFlow bool) []byte {
	if plain(s, inFlow) {
		return append(b, s...)
	}
	return appendQuoted(b, s)
}

// YAML 1.1 and 1.2 read these words (in any case) as booleans or null.
var reserved = map[string]bool{
	"null": true, "true": true, "false": true, "yes": true, "no": true,
	"on": true, "off": true, "y": true, "n": true,
}

// plain reports whether s can be written without quotes. It is
// deliberately stricter than YAML: the first character must be a letter, _,
// / or $ (so nothing reads as a number, a date, an indicator or a tag),
// and there is no ':' or '#' anywhere, no control or non-printing
// character, no leading or trailing space, and no word YAML reads as a
// boolean or null.
func plain(s string, inFlow bool) bool {
	if s == "" || reserved[strings.ToLower(s)] || s[len(s)-1] == ' ' {
		return false
	}
	r0, _ := utf8.DecodeRuneInString(s)
	if !unicode.IsLetter(r0) && r0 != '_' && r0 != '/' && r0 != '$' {
		return false
	}
	for _, r := range s {
		switch {
		case r == ':' || r == '#':
			return false
		case r == utf8.RuneError:
			return false
		case r < 0x80:
			if r < 0x20 || r == 0x7f {
				return false
			}
			// Inside [ ], yaml reads a '?' followed by ']' or ',' as a
			// key indicator, not as part of the word (`[No?]` does not
			// parse).
			if inFlow && strings.ContainsRune(",[]{}?", r) {
				return false
			}
		case !unicode.IsPrint(r):
			return false
		}
	}
	return true
}

// appendQuoted writes s as a YAML double-quoted scalar, escaping what is
// not printable so the file stays one readable line per value.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\t':
			b = append(b, `\t`...)
		case '\r':
			b = append(b, `\r`...)
		case 0:
			b = append(b, `\0`...)
		default:
			switch {
			case r < 0x20 || r == 0x7f:
				b = append(b, fmt.Sprintf(`\x%02x`, r)...)
			case r >= 0x80 && !unicode.IsPrint(r):
				if r <= 0xffff {
					b = append(b, fmt.Sprintf(`\u%04x`, r)...)
				} else {
					b = append(b, fmt.Sprintf(`\U%08x`, r)...)
				}
			default:
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

// appendStatusList writes expect_status as a flow list: codes as numbers
// and classes bare ([2xx, 404]), anything else quoted as needed.
func appendStatusList(b []byte, items []string) []byte {
	b = append(b, '[')
	for i, s := range items {
		if i > 0 {
			b = append(b, ", "...)
		}
		if engine.ValidStatusPattern(s) {
			b = append(b, s...)
		} else {
			b = appendString(b, s, true)
		}
	}
	return append(b, ']')
}
