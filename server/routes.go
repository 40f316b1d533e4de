package server

import "net/http"

// routes is the one place every route is declared.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /api/status", s.require(ScopeRead, s.handleStatus))
	// Prometheus metrics: counts per dataset and status only; read scope.
	mux.HandleFunc("GET /metrics", s.require(ScopeRead, s.handleMetrics))

	mux.HandleFunc("POST /api/receivers/{receiver}/entities", s.require(ScopePush, s.afterPush(s.handlePush)))
	mux.HandleFunc("GET /api/publishers/{dataset}/entities", s.require(ScopeRead, s.handlePublish))
	// Access requests carry subject ids and public keys: not for read tokens.
	// These literal patterns win over {dataset}.
	mux.HandleFunc("GET /api/publishers/gdpr-access-request/entities", s.require(ScopeSubjects, s.publisher(datasetAccessRequests)))
	mux.HandleFunc("GET /api/publishers/gdpr-access-request-out/entities", s.require(ScopeSubjects, s.publisher(datasetAccessRequests)))

	mux.HandleFunc("GET /api/publishers/gdpr-subject/entities", s.require(ScopeSubjects, s.publisher(datasetSubjects)))

	// Access requests: lifecycle, vetting workbook download and upload.
	mux.HandleFunc("GET /api/access-requests/{id}", s.require(ScopeSubjects, s.handleRequestStatus))
	mux.HandleFunc("GET /api/access-requests/{id}/workbook", s.require(ScopeSubjects, s.handleWorkbookExport))
	mux.HandleFunc("POST /api/access-requests/{id}/workbook", s.require(ScopeSubjects, s.handleWorkbookImport))

	mux.HandleFunc("GET /api/admin/rejections", s.require(ScopeAdmin, s.handleRejections))
	mux.HandleFunc("GET /api/admin/sources", s.require(ScopeAdmin, s.handleSources))
	mux.HandleFunc("POST /api/admin/sources/{name}/pull", s.require(ScopeAdmin, s.handlePullNow))
	mux.HandleFunc("POST /api/admin/setup", s.require(ScopeAdmin, s.handleSetup))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return mux
}
