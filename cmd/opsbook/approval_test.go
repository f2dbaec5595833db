package main

import (
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestApprovalSurvivesRestarts: a run waiting for an approval on a web
// replica and a worker on PostgreSQL outlives both processes killed; new
// ones take the decision and finish the run after the approval, with the
// earlier cell's result.
func TestApprovalSurvivesRestarts(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bwrap is not installed")
	}
	p := newPlane(t)
	a := p.replica(freeAddr(t))
	w := p.worker(1)
	p.flow(a.url, "deploy", map[string]string{
		"flow.yaml": "name: Deploy\ncells:\n  - name: dry\n    kind: expr\n    file: dry.expr\n" +
			"  - name: approve\n    kind: approval\n    file: approve.md\n    approvers: [editor]\n" +
			"  - name: final\n    kind: expr\n    file: final.expr\n",
		"dry.expr":   "3\n",
		"approve.md": "Restart {{ cells.dry.value }} hosts?\n",
		"final.expr": "cells.approve.by + \" restarts \" + string(cells.dry.value)\n",
	})
	id := p.startRun(a.url, "deploy")
	if !waitFor(func() bool { st, _ := p.runStatus(a.url, id); return st == "waiting" }, 30*time.Second) {
		st, e := p.runStatus(a.url, id)
		t.Fatalf("run %s is %s (%s), not waiting", id, st, e)
	}
	for _, pr := range []*proc{a, w} {
		pr.cmd.Process.Signal(syscall.SIGKILL)
		pr.wait()
	}

	b := p.replica(freeAddr(t))
	p.worker(1)
	if st, _ := p.runStatus(b.url, id); st != "waiting" {
		t.Fatalf("after the restart the run is %s", st)
	}
	code, out := p.api("POST", b.url+"/api/v1/runs/"+id+"/approvals/approve", `{"approve":true,"comment":"after the restart"}`)
	if code != http.StatusOK {
		t.Fatalf("decide: %d %v", code, out)
	}
	if st, e := p.waitEnd(b.url, id, 60*time.Second); st != "succeeded" {
		t.Fatalf("run %s ended %s (%s)", id, st, e)
	}
	_, run := p.api("GET", b.url+"/api/v1/runs/"+id, "")
	var final string
	cells, _ := run["cells"].([]any)
	for _, c := range cells {
		m, _ := c.(map[string]any)
		if m["name"] == "final" {
			r, _ := m["result"].(map[string]any)
			final, _ = r["value"].(string)
		}
	}
	if !strings.HasSuffix(final, " restarts 3") {
		t.Fatalf("the final cell gave %q; run %v", final, run)
	}
}
