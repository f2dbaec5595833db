package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// FuzzConvertInput: input values come from forms, the command line and
// JSON bodies. Whatever the value, ConvertInput returns the declared type or
// an error; the result converts to itself again, and so does its text, as a
// form would send it back.
func FuzzConvertInput(f *testing.F) {
	for _, s := range []string{
		"3", " 2.5 ", "1e400", "NaN", "-0", "9007199254740993", "0x10", "1_000",
		"true", " Yes ", "off", "2", "2025-01-31", " 2025-02-30", "a", "",
		`3`, `1.5`, `12345678901234567890`, `"x"`, `[1]`, `{"a":1}`, `null`, `true`,
	} {
		for typ := range engine.InputTypes {
			f.Add(uint8(typ), s, false)
			f.Add(uint8(typ), s, true)
			f.Add(uint8(typ+128), s, true)
		}
	}
	options := []string{"a", "b c", "1", "true"}
	f.Fuzz(func(t *testing.T, typ uint8, s string, asJSON bool) {
		in := engine.Input{Name: "x", Type: engine.InputTypes[int(typ)%len(engine.InputTypes)], Options: options}
		var v any = s
		if asJSON {
			// A JSON body's value, decoded as the API does and as a
			// json.Number when a decoder keeps numbers.
			dec := json.NewDecoder(bytes.NewReader([]byte(s)))
			if typ >= 128 {
				dec.UseNumber()
			}
			if err := dec.Decode(&v); err != nil {
				return
			}
		}
		got, err := ConvertInput(in, v)
		if err != nil {
			if got != nil {
				t.Fatalf("ConvertInput(%s, %#v) = %#v with error %v", in.Type, v, got, err)
			}
			return
		}
		switch in.Type {
		case engine.InputNumber:
			switch n := got.(type) {
			case int:
			case float64:
				if math.IsNaN(n) || math.IsInf(n, 0) || (n == math.Trunc(n) && math.Abs(n) < 1<<53) {
					t.Fatalf("number %#v: not finite, or integral and not an int", n)
				}
			default:
				t.Fatalf("number %#v is a %T", got, got)
			}
		case engine.InputBoolean:
			if _, ok := got.(bool); !ok {
				t.Fatalf("boolean %#v is a %T", got, got)
			}
		case engine.InputDate:
			d, ok := got.(string)
			if _, err := time.Parse(time.DateOnly, d); !ok || err != nil {
				t.Fatalf("date %#v: %v", got, err)
			}
		case engine.InputSelect:
			if o, ok := got.(string); !ok || !slices.Contains(options, o) {
				t.Fatalf("select %#v is not an option", got)
			}
		default:
			if _, ok := got.(string); !ok {
				t.Fatalf("text %#v is a %T", got, got)
			}
		}
		for _, again := range []any{got, fmt.Sprint(got)} {
			back, err := ConvertInput(in, again)
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("ConvertInput(%s, %#v) = %#v, %v; want %#v", in.Type, again, back, err, got)
			}
		}
	})
}
