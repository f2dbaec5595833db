package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

const rerunUsage = `usage: opsbook rerun --server URL --token TOKEN RUN [--wait 30s]

Re-runs run RUN of a studio, which failed or was canceled, from the cell
that failed: the same version and inputs, the cells above taken from RUN
without running them again (POST /api/v1/runs/RUN/rerun). Prints the new
run. With --wait, waits for it to end (up to 10m): exit 0 when it
succeeded, 1 when not.

flags:
`

// Rerun is `opsbook rerun`.
func Rerun(ctx context.Context, args []string, std Stdio) int {
	fs := NewFlagSet("rerun", std.Err, rerunUsage)
	server, token := remoteFlags(fs)
	wait := fs.Duration("wait", 0, "wait up to `D` for the new run to end (at most 10m)")
	pos, code, ok := ParseFlags(fs, args, std.Err)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(std.Err, "opsbook rerun: give one run id, e.g. opsbook rerun r_…")
		return ExitInvalid
	}
	if *wait < 0 || *wait > 10*time.Minute {
		fmt.Fprintln(std.Err, "opsbook rerun: --wait is a duration up to 10m")
		return ExitInvalid
	}
	r, err := newRemote(*server, *token)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook rerun:", err)
		return ExitInvalid
	}
	var body []byte
	if *wait > 0 {
		body, _ = json.Marshal(map[string]string{"wait": wait.String()})
		r.client.Timeout = *wait + time.Minute
	}
	b, code, err := r.do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(pos[0])+"/rerun", "application/json", body)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook rerun:", err)
		if code == http.StatusBadRequest || code == http.StatusNotFound {
			return ExitInvalid
		}
		return ExitFailed
	}
	var nr struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		URL       string `json:"url"`
		RerunOf   string `json:"rerun_of"`
		RerunFrom string `json:"rerun_from"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal(b, &nr); err != nil {
		fmt.Fprintln(std.Err, "opsbook rerun: the studio's answer:", err)
		return ExitFailed
	}
	fmt.Fprintf(std.Out, "%s re-runs %s from cell %s: %s %s%s\n", nr.ID, nr.RerunOf, nr.RerunFrom, nr.Status, r.server, nr.URL)
	if nr.Error != "" {
		fmt.Fprintln(std.Out, nr.Error)
	}
	if *wait > 0 && nr.Status != "succeeded" {
		return ExitFailed
	}
	return ExitOK
}
