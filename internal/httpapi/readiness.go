package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Dependency is an outside service that some of the API's work needs (the
// shared database for writes and jobs, Redis for the shared cache). While
// one is down, /readyz stays 200 as long as predictions can be served, and
// says what is unavailable and why.
type Dependency struct {
	// Name names the dependency ("postgres", "redis").
	Name string
	// Affects lists what is unavailable while it is down ("writes", "jobs",
	// "shared cache").
	Affects []string
	// Check returns nil while the dependency is up, else why it is not. It
	// is called on every /readyz and metrics scrape, so it must not block:
	// report the state a background check last saw.
	Check func() error
}

// dependencyState is one dependency as /readyz reports it.
type dependencyState struct {
	Name    string   `json:"name"`
	Up      bool     `json:"up"`
	Affects []string `json:"affects,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// readiness is the body of a ready /readyz.
type readiness struct {
	Status         string            `json:"status"`
	DatasetVersion uint64            `json:"dataset_version"`
	Samples        int               `json:"samples"`
	Unavailable    []string          `json:"unavailable"`
	Dependencies   []dependencyState `json:"dependencies,omitempty"`
}

// readiness reports the dependencies: "ready", or "degraded" when some are
// down (predictions are still served).
func (s *Server) readiness() readiness {
	snap := s.store.Snapshot()
	rd := readiness{Status: "ready", DatasetVersion: snap.Version(), Samples: snap.Len(), Unavailable: []string{}}
	for _, d := range s.cfg.Dependencies {
		st := dependencyState{Name: d.Name, Up: true}
		if err := d.Check(); err != nil {
			st.Up, st.Affects, st.Error = false, d.Affects, err.Error()
			rd.Status = "degraded"
			for _, a := range d.Affects {
				if !contains(rd.Unavailable, a) {
					rd.Unavailable = append(rd.Unavailable, a)
				}
			}
		}
		rd.Dependencies = append(rd.Dependencies, st)
	}
	return rd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// handleReadyz serves GET /readyz: 200 while predictions can be served (the
// body lists what is unavailable and why), 503 while shutting down.
func (s *Server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeProblem(w, r, http.StatusServiceUnavailable, "the server is shutting down", nil)
			return
		}
		rd := s.readiness()
		writeJSON(w, http.StatusOK, rd.DatasetVersion, rd)
	}
}

// registerDependencies adds irisknn_dependency_up{dependency} (1 up, 0
// down) and irisknn_available{feature} (1 available, 0 not) for every
// feature a dependency affects.
func registerDependencies(reg *prometheus.Registry, deps []Dependency) {
	features := map[string][]Dependency{}
	for _, d := range deps {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "irisknn_dependency_up",
			Help:        "Whether an outside dependency answers (1) or not (0).",
			ConstLabels: prometheus.Labels{"dependency": d.Name},
		}, func() float64 { return b2f(d.Check() == nil) }))
		for _, a := range d.Affects {
			features[a] = append(features[a], d)
		}
	}
	for feature, ds := range features {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "irisknn_available",
			Help:        "Whether a feature (writes, jobs, shared cache) is available (1) or not (0) because of its dependencies; predictions are always served.",
			ConstLabels: prometheus.Labels{"feature": feature},
		}, func() float64 {
			for _, d := range ds {
				if d.Check() != nil {
					return 0
				}
			}
			return 1
		}))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
