package engine

import "testing"

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0:             "0 bytes",
		1023:          "1023 bytes",
		1024:          "1 KiB",
		1536:          "1.5 KiB",
		64 << 10:      "64 KiB",
		1<<20 - 1:     "1.0 MiB",
		1<<20 - 60:    "1023.9 KiB",
		1 << 20:       "1 MiB",
		1<<20 + 1:     "1.0 MiB",
		3<<20 + 1<<19: "3.5 MiB",
		16 << 20:      "16 MiB",
		100 << 20:     "100 MiB",
	} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"0":                0,
		"4096":             4096,
		"512 bytes":        512,
		"1b":               1,
		"64KiB":            64 << 10,
		"64k":              64 << 10,
		"100MiB":           100 << 20,
		"100 mib":          100 << 20,
		"1.5G":             3 << 29,
		"10MB":             10_000_000,
		"2kB":              2000,
		"1TiB":             1 << 40,
		" 16M ":            16 << 20,
		".5M":              1 << 19,
		"9007199254740993": 9007199254740993, // past 2^53: exact
		"8388607T":         8388607 << 40,
	} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "ten", "10 parsecs", "-1", "1..5M", "9999999999T", "8388608T", "1e3", "1.5", "0.4", "1.0001KiB"} {
		if n, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, n)
		}
	}
	// What FormatBytes writes, ParseBytes reads back.
	for _, n := range []int64{0, 1023, 1 << 10, 64 << 10, 1 << 20, 100 << 20} {
		if got, err := ParseBytes(FormatBytes(n)); err != nil || got != n {
			t.Errorf("ParseBytes(FormatBytes(%d)) = %d, %v", n, got, err)
		}
	}
}
