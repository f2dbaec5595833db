package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
)

// Inputs converts given input values to the types the flow declares,
// applies defaults and checks required inputs. A value may be a string (from
// a command line or a form) or already typed (from JSON). Every problem is
// returned, each naming its input in Error.Msg and Pos.File "input NAME".
func Inputs(f *engine.Flow, given map[string]any) (map[string]any, engine.Errors) {
	out := make(map[string]any, len(f.Inputs))
	var errs engine.Errors
	declared := map[string]bool{}
	for _, in := range f.Inputs {
		declared[in.Name] = true
		v, ok := given[in.Name]
		if !ok || v == nil || v == "" {
			if in.Default != nil {
				v = in.Default
			} else if in.Required {
				errs = append(errs, inputErr(in.Name, "input %s is required; give it a value", in.Name))
				continue
			} else {
				out[in.Name] = zero(in.Type)
				continue
			}
		}
		cv, err := ConvertInput(in, v)
		if err != nil {
			errs = append(errs, inputErr(in.Name, "input %s: %v", in.Name, err))
			continue
		}
		out[in.Name] = cv
	}
	var unknown []string
	for name := range given {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		errs = append(errs, inputErr(name, "unknown input %q; this flow declares %s", name, inputNames(f)))
	}
	return out, errs
}

// InputError is the Pos.File of an input problem: "input NAME".
func inputErr(name, format string, args ...any) *engine.Error {
	return &engine.Error{Pos: engine.Pos{File: "input " + name}, Msg: fmt.Sprintf(format, args...)}
}

func inputNames(f *engine.Flow) string {
	if len(f.Inputs) == 0 {
		return "no inputs"
	}
	var names []string
	for _, in := range f.Inputs {
		names = append(names, in.Name)
	}
	return strings.Join(names, ", ")
}

func zero(t engine.InputType) any {
	switch t {
	case engine.InputNumber:
		return 0
	case engine.InputBoolean:
		return false
	}
	return ""
}

// ConvertInput converts one value to the input's declared type.
func ConvertInput(in engine.Input, v any) (any, error) {
	switch in.Type {
	case engine.InputNumber:
		switch x := v.(type) {
		case float64:
			return number(x), nil
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case json.Number:
			return parseNumber(string(x))
		case string:
			return parseNumber(x)
		}
		return nil, fmt.Errorf("%v is not a number", v)
	case engine.InputBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "yes", "on", "1":
				return true, nil
			case "false", "no", "off", "0":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%q is not a boolean; use true or false", fmt.Sprint(v))
	case engine.InputDate:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a date; use YYYY-MM-DD", v)
		}
		s = strings.TrimSpace(s)
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, fmt.Errorf("%q is not a date; use YYYY-MM-DD", s)
		}
		return s, nil
	case engine.InputSelect:
		s := fmt.Sprint(v)
		if !slices.Contains(in.Options, s) {
			return nil, fmt.Errorf("%q is not one of the options: %s", s, strings.Join(in.Options, ", "))
		}
		return s, nil
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case int, int64, bool, json.Number:
			return fmt.Sprint(x), nil
		}
		return nil, fmt.Errorf("expected text, got %T", v)
	}
}

func parseNumber(s string) (any, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%q is not a number", s)
	}
	return number(f), nil
}

// number keeps integral values as int so they print and compare as integers.
func number(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int(f)
	}
	return f
}

// StoredInputs reads a run's stored inputs (a JSON object) back as a start
// takes them: numbers as their text, converted again by the flow's
// declarations (Inputs), so a large integer keeps its digits.
func StoredInputs(b json.RawMessage) (map[string]any, error) {
	out := map[string]any{}
	if len(b) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("read the run's inputs: %w", err)
	}
	for k, v := range out {
		if n, ok := v.(json.Number); ok {
			out[k] = n.String()
		}
	}
	return out, nil
}
