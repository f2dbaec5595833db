package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatBytes writes a size for people: "512 bytes", "64 KiB", "16 MiB",
// and one decimal where the size is not a whole number of its unit
// ("1.5 MiB"; "1.0 MiB" is a little over one, never rounded to "1 MiB"
// where it is compared with a limit of 1 MiB).
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return unit(n, 1<<20, "MiB")
	case n >= 1<<10:
		if s := unit(n, 1<<10, "KiB"); s != "1024.0 KiB" {
			return s
		}
		return "1.0 MiB" // just under one, rounded up
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func unit(n, size int64, name string) string {
	if n%size == 0 {
		return strconv.FormatInt(n/size, 10) + " " + name
	}
	return strconv.FormatFloat(float64(n)/float64(size), 'f', 1, 64) + " " + name
}

// byteUnits are the units ParseBytes reads, lower-cased: binary (KiB, and
// K as dd and ulimit mean it) and decimal (kB, as disks are sold).
var byteUnits = map[string]float64{
	"": 1, "b": 1, "byte": 1, "bytes": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseBytes reads a size people write: "100MiB", "512 KiB", "1.5G",
// "10MB" (decimal), "4096" (bytes). Units are case-insensitive; a size
// must come to a whole number of bytes.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := byteUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("size %q: write a number and a unit, e.g. 100MiB, 512KiB or 4096 (bytes)", s)
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		// Whole numbers exactly (a float64 is exact only to 2^53).
		if n > math.MaxInt64/int64(mult) {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n * int64(mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %q is not a number; write it like 100MiB or 1.5GiB", s, num)
	}
	n := f * mult
	if n >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if n != math.Trunc(n) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return int64(n), nil
}
