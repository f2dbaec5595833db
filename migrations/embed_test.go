package migrations

import (
	"io/fs"
	"regexp"
	"slices"
	"testing"
)

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$`)

// TestPairs checks that both dialects have the same migrations, each with an
// up and a down file, so `opsbook migrate` behaves alike on either database.
func TestPairs(t *testing.T) {
	t.Parallel()
	names := map[string][]string{}
	for _, dir := range []string{"sqlite", "postgres"} {
		entries, err := fs.ReadDir(FS, dir)
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		if len(entries) == 0 {
			t.Fatalf("%s: no migrations", dir)
		}
		for _, e := range entries {
			if !fileName.MatchString(e.Name()) {
				t.Errorf("%s/%s: want NNNN_title.up.sql or NNNN_title.down.sql", dir, e.Name())
			}
			b, err := fs.ReadFile(FS, dir+"/"+e.Name())
			if err != nil || len(b) == 0 {
				t.Errorf("%s/%s: empty or unreadable (%v)", dir, e.Name(), err)
			}
			names[dir] = append(names[dir], e.Name())
		}
		for _, n := range names[dir] {
			m := fileName.FindStringSubmatch(n)
			if m == nil {
				continue
			}
			other := "down"
			if m[3] == "down" {
				other = "up"
			}
			if want := m[1] + "_" + m[2] + "." + other + ".sql"; !slices.Contains(names[dir], want) {
				t.Errorf("%s/%s has no %s", dir, n, want)
			}
		}
	}
	if !slices.Equal(names["sqlite"], names["postgres"]) {
		t.Errorf("dialects differ:\nsqlite:   %v\npostgres: %v", names["sqlite"], names["postgres"])
	}
}
