package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine/store"
)

// readyStore is what /readyz asks of the database.
type readyStore interface {
	PingDB(ctx context.Context) error
	SchemaVersion(ctx context.Context) (version uint, dirty bool, err error)
	LatestMigration() (uint, error)
}

var _ readyStore = (*store.Store)(nil)

// readyTimeout bounds each of /readyz's checks: a probe must answer even
// when the database hangs.
const readyTimeout = 2 * time.Second

// healthz: the process is alive and serving HTTP. It asks nothing of the
// database, so a database outage does not get every replica restarted.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "uptime_s": int(time.Since(s.started).Seconds())})
}

// readyCheck is one of /readyz's checks.
type readyCheck struct {
	name string
	run  func(ctx context.Context) (problem string)
}

// readyz: the studio can do its work: the database answers, the run queue
// is reachable and the schema is the one this binary expects. 503 names the
// failed checks; the details (which may hold addresses) go to the log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := []readyCheck{
		{"database", func(ctx context.Context) string {
			if err := s.stores.ready.PingDB(ctx); err != nil {
				s.log.Warn("readyz: database", "err", err)
				return "the database does not answer"
			}
			return ""
		}},
		{"queue", func(ctx context.Context) string {
			if _, err := s.runs.queue.Depth(ctx); err != nil {
				s.log.Warn("readyz: queue", "err", err)
				return "the run queue cannot be read"
			}
			return ""
		}},
		{"migrations", func(ctx context.Context) string {
			have, dirty, err := s.stores.ready.SchemaVersion(ctx)
			if err != nil {
				s.log.Warn("readyz: migrations", "err", err)
				return "the schema version cannot be read"
			}
			want, err := s.stores.ready.LatestMigration()
			if err != nil {
				return err.Error()
			}
			switch {
			case dirty:
				return "a migration stopped halfway (opsbook migrate status)"
			case have != want:
				return fmt.Sprintf("the schema is at migration %d, this binary expects %d (opsbook migrate up)", have, want)
			}
			return ""
		}},
	}
	out := map[string]string{}
	var failed []string
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		p := c.run(ctx)
		cancel()
		if p == "" {
			out[c.name] = "ok"
			continue
		}
		out[c.name] = p
		failed = append(failed, c.name)
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "failed": failed, "checks": out})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "checks": out})
}

// socketKind names a run-stream WebSocket by the route it came in on.
func socketKind(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/"):
		return "api"
	case strings.HasPrefix(path, "/s/"):
		return "share"
	default:
		return "run"
	}
}

// registerMetrics adds the gauges only the server can read to its
// registry: the workers, the open collaborative documents.
func (s *Server) registerMetrics() {
	m := s.cfg.Metrics
	if pool := s.runs.pool; pool != nil {
		m.Gauge("opsbook_workers_busy", "Runs executing in this process now.", func() float64 { return float64(pool.Busy()) })
		workers := float64(s.cfg.Workers)
		m.Gauge("opsbook_workers", "How many runs this process executes at once at most (--workers).", func() float64 { return workers })
	}
	m.Gauge("opsbook_collab_documents", "Cell documents open for collaborative editing in this process.", func() float64 {
		docs, _ := s.collab.Stats()
		return float64(docs)
	})
}
