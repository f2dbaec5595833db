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
