package engine

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// MarshalJSON writes the result with each row's keys in Columns order, as
// the query returned them (a Go map would sort them). Keys a row has that
// Columns does not name follow, sorted.
func (r SQLResult) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"columns":`)
	cols, err := json.Marshal(r.Columns)
	if err != nil {
		return nil, err
	}
	b.Write(cols)
	b.WriteString(`,"rows":`)
	if r.Rows == nil {
		b.WriteString("null")
	} else {
		b.WriteByte('[')
		for i, row := range r.Rows {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeRow(&b, r.Columns, row); err != nil {
				return nil, err
			}
		}
		b.WriteByte(']')
	}
	b.WriteString(`,"affected":`)
	b.WriteString(strconv.FormatInt(r.Affected, 10))
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeRow(b *bytes.Buffer, cols []string, row map[string]any) error {
	if row == nil {
		b.WriteString("null")
		return nil
	}
	b.WriteByte('{')
	n := 0
	seen := make(map[string]bool, len(cols))
	write := func(k string, v any) error {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		key, err := json.Marshal(k)
		if err != nil {
			return err
		}
		b.Write(key)
		b.WriteByte(':')
		val, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(val)
		return nil
	}
	for _, c := range cols {
		v, ok := row[c]
		if !ok || seen[c] {
			continue
		}
		seen[c] = true
		if err := write(c, v); err != nil {
			return err
		}
	}
	if len(seen) < len(row) {
		for _, k := range slices.Sorted(maps.Keys(row)) {
			if !seen[k] {
				if err := write(k, row[k]); err != nil {
					return err
				}
			}
		}
	}
	b.WriteByte('}')
	return nil
}
