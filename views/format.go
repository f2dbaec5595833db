package views

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine"
)

func (p Page) now() time.Time {
	if p.Now.IsZero() {
		return time.Now()
	}
	return p.Now
}

func title(p Page) string {
	if p.Title == "" {
		return "Opsbook"
	}
	return p.Title + " · Opsbook"
}

// Paths, with each segment escaped.
func wsPath(ws string, rest ...string) string {
	parts := []string{"/w", url.PathEscape(ws)}
	for _, r := range rest {
		parts = append(parts, url.PathEscape(r))
	}
	return strings.Join(parts, "/")
}

func runPath(id string) string { return "/runs/" + url.PathEscape(id) }

func logPath(run, cell string) string {
	if run == "" {
		return ""
	}
	return runPath(run) + "/log?cell=" + url.QueryEscape(cell)
}

func itoa(n int) string     { return strconv.Itoa(n) }
func i64toa(n int64) string { return strconv.FormatInt(n, 10) }

// ago is "just now", "5 min ago", "3 h ago" or "2 d ago".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int((d+30*time.Second)/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int((d+30*time.Minute)/time.Hour))
	default:
		return fmt.Sprintf("%d d ago", int((d+12*time.Hour)/(24*time.Hour)))
	}
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(engine.TimeFormat)
}

func clock(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

// duration is "42 ms", "1.3 s", "2 min 5 s" or "1 h 3 min", as the JS does.
func duration(ms int64) string {
	switch {
	case ms < 1000:
		return fmt.Sprintf("%d ms", ms)
	case ms < 10_000:
		return fmt.Sprintf("%.1f s", float64(ms)/1000)
	case ms < 60_000:
		return fmt.Sprintf("%d s", (ms+500)/1000)
	case ms < 3_600_000:
		s := (ms + 500) / 1000
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	default:
		m := ms / 60_000
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
}

var statusWords = map[string]string{
	"queued":    "Waiting to start",
	"pending":   "Waiting",
	"running":   "Running",
	"waiting":   "Waiting for a decision",
	"succeeded": "Succeeded",
	"failed":    "Failed",
	"skipped":   "Skipped",
	"canceled":  "Canceled",
}

// words says a status in plain words, for people who do not read code.
func words(status string) string {
	if w, ok := statusWords[status]; ok {
		return w
	}
	return status
}

func final(status string) bool {
	return engine.CellStatus(status).Done() || engine.RunStatus(status).Done()
}

func chipClass(status string) string { return "chip chip-" + status }

func version(v int) string {
	if v == 0 {
		return "draft"
	}
	return "v" + strconv.Itoa(v)
}

func display(u *User) string {
	if u.Display != "" {
		return u.Display
	}
	return u.Name
}

func canEdit(role engine.Role) bool { return role.AtLeast(engine.RoleEditor) }
func canRun(role engine.Role) bool  { return role.AtLeast(engine.RoleRunner) }

// boolAttr is a boolean as the page's script reads it from a data attribute.
func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// kinds are the kinds a notebook may add. Approval cells are written in
// flow.yaml for now: the notebook's options panel cannot yet set their
// approvers.
func kinds() []string {
	out := make([]string, 0, len(engine.Kinds))
	for _, k := range engine.Kinds {
		if k != engine.KindApproval {
			out = append(out, string(k))
		}
	}
	return out
}

// sortedKeys returns m's keys in order, for stable pages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonText shows a value as JSON, strings without quotes.
func jsonText(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return v
	case json.Number:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (o *CellOutput) status() string {
	if o == nil {
		return ""
	}
	return o.Status
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

func workspaceName(p Page) string {
	for _, w := range p.Workspaces {
		if w.Slug == p.Workspace {
			return w.Name
		}
	}
	return p.Workspace
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error"
}

func flowName(r RunItem) string {
	if r.FlowName != "" {
		return r.FlowName
	}
	return r.Flow
}

func draftName(p NotebookProps) string {
	if p.Draft.Name != "" {
		return p.Draft.Name
	}
	return p.Slug
}

func lastRunID(p NotebookProps) string {
	if p.LastRun == nil {
		return ""
	}
	return p.LastRun.ID
}

func startedBy(r RunItem) string {
	switch {
	case r.FromForm && r.StartedBy == "":
		return "Someone with a form link"
	case r.FromForm:
		return r.StartedBy + ", from a form link"
	case r.StartedBy == "":
		return "Someone"
	}
	return r.StartedBy
}

// runsStartedBy is a run list's "Started by" cell.
func runsStartedBy(r RunItem) string {
	switch {
	case r.FromForm && r.StartedBy == "":
		return "started from a form link"
	case r.FromForm:
		return r.StartedBy + " · started from a form link"
	}
	return r.StartedBy
}

// startedByShort follows a run's time in a line: " by Ada", " from a
// form link".
func startedByShort(r RunItem) string {
	switch {
	case r.FromForm && r.StartedBy == "":
		return " from a form link"
	case r.FromForm:
		return " by " + r.StartedBy + " from a form link"
	case r.StartedBy == "":
		return ""
	}
	return " by " + r.StartedBy
}
