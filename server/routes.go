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
	mux.HandleFunc("GET /api/access-requests/{id}/delivery", s.require(ScopeSubjects, s.handleDeliveryListing))
	mux.HandleFunc("GET /api/access-requests/{id}/workbook", s.require(ScopeSubjects, s.handleWorkbookExport))
	mux.HandleFunc("POST /api/access-requests/{id}/workbook", s.require(ScopeSubjects, s.handleWorkbookImport))
	// The subject's portal link: reissue (new token, subject notified) or revoke.
	mux.HandleFunc("POST /api/access-requests/{id}/portal-link", s.require(ScopeSubjects, s.handlePortalReissue))
	mux.HandleFunc("DELETE /api/access-requests/{id}/portal-link", s.require(ScopeSubjects, s.handlePortalRevoke))

	// The data subject's portal: the token in the path is the only
	// credential; every wrong, expired or foreign token gets the same 404.
	mux.HandleFunc("GET /portal/{token}", s.handlePortal)
	mux.HandleFunc("GET /portal/{token}/bundle", s.handlePortalBundle)
	mux.HandleFunc("GET /portal/{token}/items/{item}", s.handlePortalItem)

	mux.HandleFunc("GET /api/admin/rejections", s.require(ScopeAdmin, s.handleRejections))
	mux.HandleFunc("GET /api/admin/sources", s.require(ScopeAdmin, s.handleSources))
	mux.HandleFunc("POST /api/admin/sources/{name}/pull", s.require(ScopeAdmin, s.handlePullNow))
	mux.HandleFunc("GET /api/admin/audit", s.require(ScopeAdmin, s.handleAuditLog))
	mux.HandleFunc("GET /api/admin/audit/verify", s.require(ScopeAdmin, s.handleAuditVerify))
	mux.HandleFunc("POST /api/admin/setup", s.require(ScopeAdmin, s.handleSetup))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return mux
}
