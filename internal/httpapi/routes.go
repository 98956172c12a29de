package httpapi

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"

	"github.com/irisknn/irisknn/web"
)

// routes is the whole API surface.
func (s *Server) routes(r chi.Router) {
	if s.cfg.Tracing {
		r.Use(traceRequests)
	}
	r.Use(requestID)
	r.Use(noSniff)
	r.Use(s.observe) // the access log and the request metrics
	r.Use(recoverer(s))
	r.Use(s.cors())
	r.Use(middleware.GetHead)
	r.Use(s.rateLimit)
	r.Use(s.limitBody)

	r.NotFound(s.handleNotFound())
	r.MethodNotAllowed(s.handleMethodNotAllowed(r))

	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", s.handleReadyz())
	r.Get("/openapi.yaml", handleOpenAPI(s.spec))
	r.Method(http.MethodGet, "/metrics", s.metrics.handler())

	// The browser frontend: the page at /, the API docs at /docs and their
	// assets under /ui/.
	ui := newUISite(web.Files)
	r.Get("/", ui.handlePage("index.html", s.handleNotFound()))
	r.Get("/docs", ui.handlePage("docs.html", s.handleNotFound()))
	r.Get("/ui/*", ui.handleAsset(s.handleNotFound()))

	r.Post("/predict", s.handlePredict())

	// The Open Inference Protocol (its own errors and content rules).
	if s.cfg.V2 != nil {
		r.Mount("/v2", s.cfg.V2)
	}

	// Asynchronous jobs (503 when the server has no queue). Submitting and
	// cancelling are writes; a job's id is what lets a client read it.
	r.Group(func(r chi.Router) {
		r.Use(s.requireJobs)
		r.Get("/jobs", s.handleListJobs())
		r.With(s.requireKey).Post("/jobs", s.handleCreateJob())
		r.Get("/jobs/{id}", s.handleGetJob())
		r.With(s.requireKey).Delete("/jobs/{id}", s.handleCancelJob())
		r.Get("/jobs/{id}/result", s.handleJobResult())
	})
	if s.cfg.JobsUI != nil {
		r.With(s.requireKeyBrowser).Handle("/riverui", s.cfg.JobsUI)
		r.With(s.requireKeyBrowser).Handle("/riverui/*", s.cfg.JobsUI)
	}

	r.Get("/dataset", s.handleDataset())
	r.Get("/dataset/changes", s.handleChanges())
	r.Get("/samples", s.handleListSamples())
	r.Get("/samples/{id}", s.handleGetSample())

	// Writes to the training set.
	r.Group(func(r chi.Router) {
		r.Use(s.requireKey)
		r.Post("/samples", s.handleCreateSample())
		r.Put("/samples/{id}", s.handlePutSample())
		r.Delete("/samples/{id}", s.handleDeleteSample())
		r.Post("/dataset/reset", s.handleReset())
		r.Post("/dataset/import", s.handleImport())
	})
}

// cors returns the CORS middleware. With the default origin "*" any page
// may call the API (without credentials); otherwise only the listed
// origins get CORS headers.
func (s *Server) cors() func(http.Handler) http.Handler {
	return cors.Handler(cors.Options{
		AllowedOrigins:   s.cfg.CORSOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions},
		AllowedHeaders:   []string{"Accept", "Authorization", "Content-Type", "If-Match", "Last-Event-ID", "X-Request-Id"},
		ExposedHeaders:   []string{"Location", "ETag", "Retry-After", "X-Request-Id", "X-Dataset-Version", "X-Cache"},
		AllowCredentials: false,
		MaxAge:           600,
	})
}

// allowedMethods returns the methods that route path on r, for a 405's Allow
// header.
func allowedMethods(r chi.Routes, path string) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if r.Match(chi.NewRouteContext(), m, path) {
			allow = append(allow, m)
		}
	}
	if slices.Contains(allow, http.MethodGet) {
		allow = append(allow, http.MethodHead)
	}
	return append(allow, http.MethodOptions)
}
