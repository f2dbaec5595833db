package engine

import "strconv"

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
