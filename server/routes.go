package server

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/opsbook/opsbook/static"
)

// routes is the one route table of the server.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	page, api := s.page, s.api

	// Static files: content-hashed URLs, cached forever.
	mux.Handle("GET /static/{hash}/", http.StripPrefix("/static/", staticHandler()))
	// Browsers ask for /favicon.ico whatever a page links; both get the icon.
	mux.HandleFunc("GET /favicon.ico", favicon)
	// Health and metrics (server/health.go, docs/OPERATING.md).
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.cfg.Metrics.Handler(s.cfg.MetricsToken, func(r *http.Request) netip.Addr { return requestClient(r).Addr }))

	// Pages.
	mux.Handle("GET /{$}", page(s.home))
	mux.Handle("GET /setup", page(s.setupForm))
	mux.Handle("POST /setup", page(s.setupSave))
	mux.Handle("GET /signin", page(s.signinForm))
	mux.Handle("POST /signin", page(s.signinSave))
	mux.Handle("POST /signout", page(s.signout))
	mux.Handle("GET /account", page(s.account))
	mux.Handle("GET /guide/cells", page(s.guideCells))
	mux.Handle("POST /account/password", page(s.accountPassword))
	mux.Handle("GET /w/{ws}", page(s.flowList))
	mux.Handle("POST /w/{ws}/flows", page(s.flowCreate))
	mux.Handle("POST /w/{ws}/flows/import", page(s.flowImport))
	mux.Handle("GET /w/{ws}/flows/{slug}", page(s.notebook))
	mux.Handle("GET /w/{ws}/flows/{slug}/ws", page(s.notebookSocket))
	mux.Handle("POST /w/{ws}/flows/{slug}/markdown", page(s.flowMarkdown))
	mux.Handle("GET /w/{ws}/flows/{slug}/versions", page(s.versionList))
	mux.Handle("POST /w/{ws}/flows/{slug}/versions", page(s.versionSave))
	mux.Handle("POST /w/{ws}/flows/{slug}/versions/import", page(s.versionUpload))
	mux.Handle("POST /w/{ws}/flows/{slug}/versions/{n}/restore", page(s.versionRestore))
	mux.Handle("POST /w/{ws}/flows/{slug}/versions/{n}/publish", page(s.versionPublish))
	mux.Handle("GET /w/{ws}/flows/{slug}/versions/{n}/export", page(s.versionExport))
	mux.Handle("GET /w/{ws}/flows/{slug}/diff", page(s.versionDiff))
	mux.Handle("POST /w/{ws}/flows/{slug}/archive", page(s.flowArchive))
	mux.Handle("POST /w/{ws}/flows/{slug}/unarchive", page(s.flowUnarchive))
	mux.Handle("GET /w/{ws}/flows/{slug}/delete", page(s.flowRemovePage))
	mux.Handle("POST /w/{ws}/flows/{slug}/delete", page(s.flowDelete))
	mux.Handle("GET /w/{ws}/runs", page(s.runList))
	mux.Handle("GET /w/{ws}/settings", page(s.settings))
	mux.Handle("POST /w/{ws}/members", page(s.memberAdd))
	mux.Handle("POST /w/{ws}/members/{name}/remove", page(s.memberRemove))
	mux.Handle("POST /w/{ws}/members/{name}/role", page(s.memberRole))
	mux.Handle("POST /w/{ws}/tokens", page(s.tokenCreate))
	mux.Handle("POST /w/{ws}/tokens/{id}/revoke", page(s.tokenRevoke))
	mux.Handle("GET /runs/{id}", page(s.runPage))
	mux.Handle("GET /runs/{id}/ws", page(s.runSocket))
	mux.Handle("GET /runs/{id}/log", page(s.runLog))
	mux.Handle("POST /runs/{id}/markdown", page(s.runMarkdown))
	mux.Handle("POST /runs/{id}/cancel", page(s.runCancelPage))
	mux.Handle("POST /runs/{id}/approvals/{cell}", page(s.runDecideApproval))
	mux.Handle("POST /runs/{id}/approvals/{cell}/link", page(s.runDecisionLink))
	mux.Handle("POST /runs/{id}/rerun", page(s.runRerunPage))

	// Sharing: links, run forms, secrets, activity (server/share*.go, form_run.go, secret_set.go, activity.go).
	mux.Handle("POST /runs/{id}/shares", page(s.shareRunForm))
	mux.Handle("GET /w/{ws}/flows/{slug}/shares", page(s.sharesPage))
	mux.Handle("POST /w/{ws}/flows/{slug}/shares", page(s.formLinkCreate))
	mux.Handle("POST /w/{ws}/shares/{id}/revoke", page(s.shareRevoke))
	mux.Handle("POST /w/{ws}/secrets", page(s.secretSet))
	mux.Handle("POST /w/{ws}/secrets/{name}/delete", page(s.secretDelete))
	mux.Handle("GET /w/{ws}/activity", page(s.activity))
	mux.Handle("GET /s/{token}", s.sharePage(s.shareView))
	mux.Handle("POST /s/{token}", s.sharePage(s.formRun))
	mux.Handle("GET /s/{token}/ws", s.sharePage(s.shareSocket))
	mux.Handle("GET /s/{token}/log", s.sharePage(s.shareLog))
	mux.Handle("POST /s/{token}/markdown", s.sharePage(s.shareMarkdown))
	// Approval decision links (server/approval_link.go): no account.
	mux.Handle("GET /a/{token}", s.sharePage(s.decisionPage))
	mux.Handle("POST /a/{token}", s.sharePage(s.decisionSave))
	mux.Handle("GET /a/{token}/log", s.sharePage(s.decisionLog))

	// Webhooks (server/hook*.go): tokens made per flow; POST /hooks/{token} starts a run.
	mux.Handle("POST /w/{ws}/flows/{slug}/hooks", page(s.hookCreatePage))
	mux.Handle("POST /w/{ws}/hooks/{id}/revoke", page(s.hookRevokePage))
	mux.Handle("POST /hooks/{token}", api(s.hookRun))
	// Paused triggers (server/trigger_pause.go): a studio setting, not in the files.
	mux.Handle("POST /w/{ws}/flows/{slug}/triggers/pause", page(s.triggerPause))
	mux.Handle("POST /w/{ws}/flows/{slug}/triggers/resume", page(s.triggerResume))

	// Flows in git (server/git*.go, docs/GIT.md).
	mux.Handle("POST /w/{ws}/git", page(s.gitSettingsSave))

	// The cells' sandbox (server/sandbox_settings.go).
	mux.Handle("POST /w/{ws}/sandbox", page(s.sandboxSettingsSave))

	// Retention and disk use (server/retention_settings.go).
	mux.Handle("POST /w/{ws}/retention", page(s.retentionSave))
	// Notification destinations and the SMTP server (server/notify.go).
	mux.Handle("POST /w/{ws}/notify/destinations", page(s.notifyDestinationAdd))
	mux.Handle("POST /w/{ws}/notify/destinations/{name}/delete", page(s.notifyDestinationRemove))
	mux.Handle("POST /w/{ws}/notify/smtp", page(s.notifySMTPSave))
	mux.Handle("POST /w/{ws}/git/pull", page(s.gitPull))
	mux.Handle("GET /w/{ws}/flows/{slug}/git", page(s.gitResolvePage))
	mux.Handle("POST /w/{ws}/flows/{slug}/git/resolve", page(s.gitResolve))

	// The JSON API (docs/API.md).
	mux.Handle("GET /api/v1/flows", api(s.apiListFlows))
	mux.Handle("POST /api/v1/flows", api(s.apiCreateFlow))
	mux.Handle("GET /api/v1/flows/{slug}", api(s.apiGetFlow))
	mux.Handle("GET /api/v1/flows/{slug}/versions", api(s.apiListVersions))
	mux.Handle("POST /api/v1/flows/{slug}/versions", api(s.apiImportVersion))
	mux.Handle("GET /api/v1/flows/{slug}/versions/{n}/export", api(s.apiExportVersion))
	mux.Handle("POST /api/v1/flows/{slug}/versions/{n}/publish", api(s.apiPublishVersion))
	mux.Handle("POST /api/v1/flows/{slug}/runs", api(s.apiStartRun))
	mux.Handle("POST /api/v1/flows/{slug}/triggers/pause", api(s.apiTriggerPause))
	mux.Handle("POST /api/v1/flows/{slug}/triggers/resume", api(s.apiTriggerResume))
	mux.Handle("GET /api/v1/runs/{id}", api(s.apiGetRun))
	mux.Handle("GET /api/v1/runs/{id}/events", api(s.apiRunEvents))
	mux.Handle("GET /api/v1/runs/{id}/log", api(s.runLog))
	mux.Handle("POST /api/v1/runs/{id}/cancel", api(s.apiCancelRun))
	mux.Handle("POST /api/v1/runs/{id}/approvals/{cell}", api(s.apiDecideApproval))
	mux.Handle("POST /api/v1/runs/{id}/approvals/{cell}/link", api(s.apiDecisionLink))
	mux.Handle("POST /api/v1/runs/{id}/rerun", api(s.apiRerun))
	mux.Handle("POST /api/v1/runs/{id}/shares", api(s.apiShareRun))
	mux.Handle("DELETE /api/v1/shares/{id}", api(s.apiRevokeShare))
	mux.Handle("GET /api/v1/flows/{slug}/shares", api(s.apiListShares))
	mux.Handle("POST /api/v1/flows/{slug}/forms", api(s.apiCreateFormLink))
	mux.Handle("POST /api/v1/flows/{slug}/hooks", api(s.apiCreateHook))
	mux.Handle("GET /api/v1/flows/{slug}/hooks", api(s.apiListHooks))
	mux.Handle("DELETE /api/v1/hooks/{id}", api(s.apiRevokeHook))
	mux.Handle("GET /api/v1/secrets", api(s.apiListSecrets))
	mux.Handle("PUT /api/v1/secrets/{name}", api(s.apiPutSecret))
	mux.Handle("DELETE /api/v1/secrets/{name}", api(s.apiDeleteSecret))
	mux.Handle("GET /api/v1/audit", api(s.apiAudit))
	mux.Handle("POST /api/v1/git/pull", api(s.apiGitPull))
	mux.Handle("/api/", api(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "not_found", "", "no such API route: "+r.Method+" "+r.URL.Path+"; see docs/API.md")
	}))

	h := s.limitRoutes(mux)
	h = s.passwordGate(h)
	h = s.authenticate(h)
	h = http.NewCrossOriginProtection().Handler(h)
	h = securityHeaders(h)
	h = s.recoverer(h)
	h = s.withClient(h)
	h = s.withRequestID(h)
	return h
}

func staticHandler() http.Handler {
	files := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The path is {hash}/{file}; any hash serves the current file, and
		// only the current hash may be cached forever.
		hash, rest, _ := strings.Cut(r.URL.Path, "/")
		if hash == static.Hash() {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + rest
		files.ServeHTTP(w, r2)
	})
}

// favicon answers /favicon.ico with the studio's icon (an SVG, which every
// current browser takes from there), cached for a day.
func favicon(w http.ResponseWriter, r *http.Request) {
	b, err := static.FS.ReadFile("img/icon.svg")
	if err != nil {
		http.Error(w, "no icon", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}
