package flow

import (
	"reflect"
	"testing"

	"github.com/opsbook/opsbook/engine"
)

func TestFindSecrets(t *testing.T) {
	t.Parallel()
	f := &engine.Flow{Name: "F", Cells: []engine.Cell{
		{Name: "a", Kind: engine.KindShell, File: "a.sh", Source: "echo one\necho s3cr3t-value twice s3cr3t-value\n"},
		{Name: "b", Kind: engine.KindExpr, File: "b.expr", Source: "\"other-secret\" + \"\"\n"},
	}}
	files := []File{
		{Name: ManifestFile, Data: []byte("name: F\ninputs:\n  - name: x\n    default: other-secret\n")},
		{Name: "a.sh", Data: []byte(f.Cells[0].Source)},
		{Name: "b.expr", Data: []byte(f.Cells[1].Source)},
	}
	got := FindSecrets(f, files, map[string]string{"A": "s3cr3t-value", "B": "other-secret", "EMPTY": "", "NOPE": "absent-value"})
	want := []SecretFinding{
		{Secret: "B", File: ManifestFile, Line: 4},
		{Secret: "A", File: "a.sh", Cell: "a", Line: 2},
		{Secret: "B", File: "b.expr", Cell: "b", Line: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("found %+v\nwant %+v", got, want)
	}
	if s := got[1].String(); s != "cell a (line 2) holds the value of the secret A" {
		t.Fatalf("String() = %q", s)
	}
	if FindSecrets(nil, files, nil) != nil {
		t.Fatal("found secrets among none")
	}
}
