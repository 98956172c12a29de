package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/knn"
	"github.com/irisknn/irisknn/internal/logging"
	"github.com/irisknn/irisknn/internal/novelty"
)

// config is every setting of irisd. Each is a flag with an IRIS_* environment
// fallback (flag name upper-cased, dashes as underscores); a flag given on
// the command line wins over the environment.
type config struct {
	Addr            string
	AddrFile        string
	CORSOrigins     string
	DataPath        string
	Label           string
	Scale           string
	K               int
	Metric          string
	Weights         string
	MaxK            int
	MaxBatch        int
	MaxNeighbors    int
	MaxBody         int64
	MaxImport       int64
	LogFormat       string
	LogLevel        string
	ReadHeaderTO    time.Duration
	ReadTO          time.Duration
	WriteTO         time.Duration
	IdleTO          time.Duration
	ShutdownTO      time.Duration
	HealthcheckOnly bool
	PrintVersion    bool
	DataDir         string
	GroupCommit     bool
	APIKey          string
	APIKeyFile      string
	APIKeys         []httpapi.APIKey // named keys read from APIKeyFile
	ChangeWindow    int
	RateLimit       int
	RateWindow      time.Duration
	MaxHeavy        int
	HeavyWait       time.Duration
	DrainDelay      time.Duration
	GRPCAddr        string
	ModelName       string
	KeepVersions    int

	Postgres          string
	PostgresTimeout   time.Duration
	Redis             string
	RedisTimeout      time.Duration
	RedisPrefix       string
	CacheBytes        int64
	CacheMinWork      int
	RedisCacheMinWork int
	RedisCacheTTL     time.Duration
	JobWorkers        int
	JobRetention      time.Duration

	NoveltyPercentile float64
	novelty           *novelty.Tracker // made once from NoveltyPercentile (tracker)

	JobMaxRows      int
	JobMaxNeighbors int
	JobBacklog      int
	JobBacklogRows  int
	JobResultsBytes int64
	JobTimeout      time.Duration
	JobRescueAfter  time.Duration
	JobAttempts     int

	// given holds the flags set on the command line (not by the environment).
	given map[string]bool
}

// envName returns the environment variable that backs a flag.
func envName(flagName string) string {
	return "IRIS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envOverrides maps flags whose variable is not simply envName(flag).
var envOverrides = map[string]string{"cors-origins": "IRIS_CORS_ORIGINS", "data": "IRIS_DATA", "redis": "IRIS_REDIS_URL", "postgres": "IRIS_POSTGRES_URL"}

func envFor(name string) string {
	if e, ok := envOverrides[name]; ok {
		return e
	}
	return envName(name)
}

// noEnv lists flags that have no environment fallback.
var noEnv = map[string]bool{"healthcheck": true, "version": true}

// parseConfig parses args (without the program name), falling back to getenv
// for flags not given, and validates the result.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	d := httpapi.DefaultConfig()
	c := &config{}
	fs := flag.NewFlagSet("irisd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", ":8080", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&c.AddrFile, "addr-file", "", "file the server writes the address it listens on to (and removes on exit); -healthcheck reads it, so it follows the server's -addr (the image sets /tmp/irisd.addr)")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "*", "comma-separated origins allowed to call the API from a browser (\"*\": any, without credentials)")
	fs.StringVar(&c.DataPath, "data", "", "CSV training set to load instead of the embedded Iris data: a header naming the columns, numeric features and one label column")
	fs.StringVar(&c.Label, "label", "", "the label column of -data (default: species when the header has it, else the last column)")
	fs.StringVar(&c.Scale, "scale", "none", "feature scaling, fitted on the loaded set: none, standard ((x-mean)/std) or minmax ((x-min)/(max-min))")
	fs.IntVar(&c.K, "k", d.DefaultK, "default number of neighbours")
	fs.StringVar(&c.Metric, "metric", d.DefaultMetric.String(), "default metric: euclidean, manhattan or chebyshev")
	fs.StringVar(&c.Weights, "weights", d.DefaultWeights.String(), "default weights: uniform or distance")
	fs.IntVar(&c.MaxK, "max-k", d.MaxK, "largest k a request may ask for")
	fs.IntVar(&c.MaxBatch, "max-batch", d.MaxBatch, "most rows in one batch prediction")
	fs.IntVar(&c.MaxNeighbors, "max-neighbors", d.MaxNeighbors, "most neighbours (rows × k) one prediction request may find, in every protocol: bounds its work and the size of its answer")
	fs.Int64Var(&c.MaxBody, "max-body", d.MaxBodyBytes, "largest request body in bytes")
	fs.Int64Var(&c.MaxImport, "max-import", d.MaxImportBytes, "largest POST /dataset/import body in bytes (413 beyond; the body is streamed, not held)")
	fs.StringVar(&c.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.ReadHeaderTO, "read-header-timeout", 5*time.Second, "time allowed to read request headers")
	fs.DurationVar(&c.ReadTO, "read-timeout", 30*time.Second, "time allowed to read a whole request")
	fs.DurationVar(&c.WriteTO, "write-timeout", 60*time.Second, "time allowed to write a response")
	fs.DurationVar(&c.IdleTO, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	fs.DurationVar(&c.ShutdownTO, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on SIGINT/SIGTERM")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory that keeps the training set durable across restarts (write-ahead log + snapshot); empty: in memory only")
	fs.BoolVar(&c.GroupCommit, "group-commit", true, "with -data-dir, let concurrent writes share an fsync (each is still acknowledged only once on disk); false: one fsync per write, one write at a time")
	fs.StringVar(&c.APIKey, "api-key", "", "API key required as \"Authorization: Bearer <key>\" on writes to the training set; empty: writes are open")
	fs.StringVar(&c.APIKeyFile, "api-key-file", "", "file of named API keys, one \"name:key\" a line (the change feed records the name of the key that made each change; # starts a comment), or holding one unnamed key; instead of -api-key")
	fs.IntVar(&c.ChangeWindow, "change-window", dataset.DefaultChangeWindow, "recent changes kept for GET /dataset/changes (and, with -data-dir, across restarts); an older since is 410")
	fs.IntVar(&c.RateLimit, "rate-limit", 0, "requests each client IP may make per -rate-window (429 beyond); 0: no limit")
	fs.DurationVar(&c.RateWindow, "rate-window", d.RateWindow, "window of -rate-limit")
	fs.IntVar(&c.MaxHeavy, "max-inflight-batch", d.MaxHeavy, "most batch predictions being computed at once, each taking its slot after its body is read (503 with Retry-After beyond)")
	fs.DurationVar(&c.HeavyWait, "max-inflight-wait", d.HeavyWait, "how long a batch waits for a free slot before the 503")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "on SIGTERM, how long /readyz reports 503 while still serving, before the listener closes (give load balancers time to notice)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":8081", "address of the gRPC Open Inference Protocol server (host:port; port 0 picks a free one); empty or \"off\": no gRPC server")
	fs.StringVar(&c.ModelName, "model-name", "", "the model's name in the Open Inference Protocol (/v2/models/NAME); empty: iris for the embedded set, the -data file's base name otherwise")
	fs.IntVar(&c.KeepVersions, "keep-versions", dataset.DefaultKeepVersions, "dataset versions kept for pinned predictions (model versions of /v2, dataset_version of /predict); versions share structure, see README")
	fs.BoolVar(&c.HealthcheckOnly, "healthcheck", false, "check GET /healthz of the server at -addr, exit 0 if healthy (for container health checks)")
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL URL (postgres://user@host:port/db): share the training set with other replicas as a journal in this database (seeded from -data when empty), and queue jobs there (River) for irisd worker processes; empty: this process's own set and job pool")
	fs.DurationVar(&c.PostgresTimeout, "postgres-timeout", 1500*time.Millisecond, "longest a write waits for PostgreSQL before a 503 with Retry-After (and the connect timeout)")
	fs.StringVar(&c.Redis, "redis", "", "Redis URL (redis://host:port/db): the prediction cache shared by replicas (a cache only: Redis down changes latency, never an answer); empty: none")
	fs.DurationVar(&c.RedisTimeout, "redis-timeout", 50*time.Millisecond, "longest a prediction waits for the Redis cache before computing locally")
	fs.BoolVar(&c.PrintVersion, "version", false, "print the version, commit and build date, and exit")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "irisknn:", "prefix of every Redis key (replicas sharing a training set use the same)")
	fs.Int64Var(&c.CacheBytes, "cache-bytes", 64<<20, "size of the in-process prediction cache in bytes (0: no cache)")
	fs.IntVar(&c.CacheMinWork, "cache-min-work", 5000, "cache only predictions of at least this many rows x training samples")
	fs.IntVar(&c.RedisCacheMinWork, "redis-cache-min-work", 100000, "share in Redis only predictions of at least this many rows x training samples")
	fs.DurationVar(&c.RedisCacheTTL, "redis-cache-ttl", 10*time.Minute, "how long Redis keeps a shared prediction")
	fs.IntVar(&c.JobWorkers, "job-workers", 1, "jobs run at once (by this server without -postgres, by each irisd worker with it)")
	fs.DurationVar(&c.JobRetention, "job-retention", 24*time.Hour, "how long a finished job's status and result are kept")
	fs.Float64Var(&c.NoveltyPercentile, "novelty-percentile", novelty.DefaultThreshold, "flag a query as unusual (novelty.unusual) when its nearest training distance is above this percentile of the training set's nearest-neighbour distances (0 < p <= 100)")
	jl := jobs.DefaultLimits()
	fs.IntVar(&c.JobMaxRows, "job-max-rows", jl.MaxRows, "most rows in one batch_predict job (422 beyond)")
	fs.IntVar(&c.JobMaxNeighbors, "job-max-neighbors", jl.MaxNeighbors, "most neighbours one job may find: rows x k for a batch, samples x k_max x metrics for an evaluation (422 beyond)")
	fs.IntVar(&c.JobBacklog, "job-backlog", jl.Backlog, "most jobs queued or running at once (503 with Retry-After beyond)")
	fs.IntVar(&c.JobBacklogRows, "job-backlog-rows", jl.BacklogRows, "most rows of batch jobs queued or running at once (503 with Retry-After beyond)")
	fs.Int64Var(&c.JobResultsBytes, "job-results-bytes", jl.ResultBytes, "bytes of job results kept; the oldest finished jobs are forgotten first, and a job whose result alone is larger fails")
	fs.DurationVar(&c.JobTimeout, "job-timeout", 20*time.Second, "longest one run of a job may take on irisd worker (then it is retried)")
	fs.DurationVar(&c.JobRescueAfter, "job-rescue-after", 25*time.Second, "how long a job may stay running before its worker is taken for dead and the job runs again on another (must exceed -job-timeout; River checks every 30s)")
	fs.IntVar(&c.JobAttempts, "job-attempts", 3, "runs of a queued job at most, counting retries after a failure or a dead worker")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "irisd serves k-nearest-neighbour predictions on the Iris dataset over HTTP.\n\n")
		fmt.Fprintf(stderr, "Usage: irisd [flags]\n       irisd worker [flags]   (run jobs queued in PostgreSQL; needs -postgres)\n\nFlags (each may also be set by the environment variable shown):\n")
		fs.VisitAll(func(f *flag.Flag) {
			env := ""
			if !noEnv[f.Name] {
				env = " [$" + envFor(f.Name) + "]"
			}
			fmt.Fprintf(stderr, "  -%s%s\n    \t%s (default %q)\n", f.Name, env, f.Usage, f.DefValue)
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (see irisd -h)", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	c.given = given
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || noEnv[f.Name] {
			return
		}
		if v := getenv(envFor(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("$%s=%q: %v", envFor(f.Name), v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, c.loadAPIKey()
}

// loadAPIKey reads -api-key-file: named keys, one "name:key" a line
// (blank lines and lines starting with # skipped), into APIKeys; or a file
// whose only content is one key without a name (the older format) into
// APIKey.
func (c *config) loadAPIKey() error {
	if c.APIKeyFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.APIKeyFile)
	if err != nil {
		return fmt.Errorf("-api-key-file: %w", err)
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return fmt.Errorf("-api-key-file %s is empty", c.APIKeyFile)
	}
	if !strings.ContainsAny(text, ":\n") {
		c.APIKey = text
		return nil
	}
	names, keys := map[string]bool{}, map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, key, ok := strings.Cut(line, ":")
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		at := fmt.Sprintf("-api-key-file %s line %d", c.APIKeyFile, i+1)
		switch {
		case !ok || key == "":
			return fmt.Errorf("%s: want name:key", at)
		case !validKeyName(name):
			return fmt.Errorf("%s: the name %q must be 1 to 64 letters, digits, '.', '_' or '-'", at, name)
		case names[name]:
			return fmt.Errorf("%s: the name %q is given twice", at, name)
		case keys[key]:
			return fmt.Errorf("%s: this key is given twice (under another name)", at)
		}
		names[name], keys[key] = true, true
		c.APIKeys = append(c.APIKeys, httpapi.APIKey{Name: name, Key: key})
	}
	if len(c.APIKeys) == 0 {
		return fmt.Errorf("-api-key-file %s holds no key", c.APIKeyFile)
	}
	return nil
}

// validKeyName reports whether name can name an API key in the feed.
func validKeyName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (c *config) validate() error {
	var errs []error
	if c.DataDir != "" && c.Postgres != "" {
		errs = append(errs, errors.New("-data-dir and -postgres cannot be combined: with -postgres the training set is durable in PostgreSQL"))
	}
	if c.PostgresTimeout <= 0 || c.RedisTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-postgres-timeout and -redis-timeout must be positive, got %v and %v", c.PostgresTimeout, c.RedisTimeout))
	}
	if c.K < 1 {
		errs = append(errs, fmt.Errorf("-k must be at least 1, got %d", c.K))
	}
	if c.MaxK < 1 {
		errs = append(errs, fmt.Errorf("-max-k must be at least 1, got %d", c.MaxK))
	}
	if c.K > c.MaxK {
		errs = append(errs, fmt.Errorf("-k %d is larger than -max-k %d", c.K, c.MaxK))
	}
	if c.MaxNeighbors < 1 {
		errs = append(errs, fmt.Errorf("-max-neighbors must be at least 1, got %d", c.MaxNeighbors))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("-max-batch must be at least 1, got %d", c.MaxBatch))
	}
	if c.MaxImport < 1024 {
		errs = append(errs, fmt.Errorf("-max-import must be at least 1024 bytes, got %d", c.MaxImport))
	}
	if c.MaxBody < 1024 {
		errs = append(errs, fmt.Errorf("-max-body must be at least 1024 bytes, got %d", c.MaxBody))
	}
	if _, err := knn.ParseMetric(c.Metric); err != nil {
		errs = append(errs, fmt.Errorf("-metric: %v", err))
	}
	if _, err := knn.ParseWeights(c.Weights); err != nil {
		errs = append(errs, fmt.Errorf("-weights: %v", err))
	}
	if _, err := dataset.ParseScale(c.Scale); err != nil {
		errs = append(errs, fmt.Errorf("-scale: %v", err))
	}
	if c.CacheBytes < 0 || c.CacheMinWork < 0 || c.RedisCacheMinWork < 0 || c.RedisCacheTTL <= 0 {
		errs = append(errs, errors.New("-cache-bytes, -cache-min-work and -redis-cache-min-work must not be negative, -redis-cache-ttl must be positive"))
	}
	if !(c.NoveltyPercentile > 0 && c.NoveltyPercentile <= 100) {
		errs = append(errs, fmt.Errorf("-novelty-percentile must be above 0 and at most 100, got %v", c.NoveltyPercentile))
	}
	if c.JobWorkers < 1 || c.JobRetention <= 0 {
		errs = append(errs, fmt.Errorf("-job-workers must be at least 1 and -job-retention positive, got %d and %v", c.JobWorkers, c.JobRetention))
	}
	if c.JobMaxRows < 1 || c.JobMaxNeighbors < 1 || c.JobBacklog < 1 || c.JobBacklogRows < 1 || c.JobResultsBytes < 1 || c.JobAttempts < 1 {
		errs = append(errs, errors.New("-job-max-rows, -job-max-neighbors, -job-backlog, -job-backlog-rows, -job-results-bytes and -job-attempts must be at least 1"))
	}
	if c.JobBacklogRows < c.JobMaxRows {
		errs = append(errs, fmt.Errorf("-job-backlog-rows %d must be at least -job-max-rows %d, or the largest job could never be queued", c.JobBacklogRows, c.JobMaxRows))
	}
	if c.JobTimeout <= 0 || c.JobRescueAfter <= c.JobTimeout {
		errs = append(errs, fmt.Errorf("-job-timeout must be positive and -job-rescue-after longer than it (a running job would be taken for stuck), got %v and %v", c.JobTimeout, c.JobRescueAfter))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("-log-format must be json or text, got %q", c.LogFormat))
	}
	errs = append(errs, checkOrigins(c.origins())...)
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level: %v", err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", c.ReadHeaderTO}, {"read-timeout", c.ReadTO}, {"write-timeout", c.WriteTO}, {"idle-timeout", c.IdleTO}, {"shutdown-timeout", c.ShutdownTO}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("-%s must be positive, got %v", d.name, d.v))
		}
	}
	if c.APIKey != "" && c.APIKeyFile != "" {
		errs = append(errs, errors.New("give -api-key or -api-key-file, not both"))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("-rate-limit must be 0 (off) or positive, got %d", c.RateLimit))
	}
	if c.RateWindow <= 0 {
		errs = append(errs, fmt.Errorf("-rate-window must be positive, got %v", c.RateWindow))
	}
	if c.MaxHeavy < 1 {
		errs = append(errs, fmt.Errorf("-max-inflight-batch must be at least 1, got %d", c.MaxHeavy))
	}
	if c.HeavyWait < 0 {
		errs = append(errs, fmt.Errorf("-max-inflight-wait must not be negative, got %v", c.HeavyWait))
	}
	if c.ChangeWindow < 1 {
		errs = append(errs, fmt.Errorf("-change-window must be at least 1, got %d", c.ChangeWindow))
	}
	if c.KeepVersions < 1 {
		errs = append(errs, fmt.Errorf("-keep-versions must be at least 1, got %d", c.KeepVersions))
	}
	if c.ModelName != "" && !validModelName(c.ModelName) {
		errs = append(errs, fmt.Errorf("-model-name %q: use letters, digits, '.', '_' and '-' only (it is a URL path segment)", c.ModelName))
	}
	if c.DrainDelay < 0 {
		errs = append(errs, fmt.Errorf("-drain-delay must not be negative, got %v", c.DrainDelay))
	}
	return errors.Join(errs...)
}

// validModelName reports whether name can stand in a URL path unescaped.
func validModelName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return name != "." && name != ".."
}

// modelName returns the model's name: -model-name, or iris for the
// embedded set, or the -data file's base name without its extension.
func (c *config) modelName() string {
	if c.ModelName != "" {
		return c.ModelName
	}
	if c.DataPath == "" {
		return "iris"
	}
	base := filepath.Base(c.DataPath)
	if name := strings.TrimSuffix(base, filepath.Ext(base)); name != "" && validModelName(name) {
		return name
	}
	return "model"
}

// grpcEnabled reports whether a gRPC server is asked for.
func (c *config) grpcEnabled() bool { return c.GRPCAddr != "" && c.GRPCAddr != "off" }

// origins splits the -cors-origins list.
func (c *config) origins() []string {
	var out []string
	for o := range strings.SplitSeq(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// scale returns the -scale setting (validated).
func (c *config) scale() dataset.ScaleKind {
	k, _ := dataset.ParseScale(c.Scale)
	return k
}

// apiConfig converts the settings for the HTTP API.
func (c *config) apiConfig(log *slog.Logger) httpapi.Config {
	m, _ := knn.ParseMetric(c.Metric)
	w, _ := knn.ParseWeights(c.Weights)
	return httpapi.Config{
		DefaultK:       c.K,
		DefaultMetric:  m,
		DefaultWeights: w,
		MaxK:           c.MaxK,
		MaxBatch:       c.MaxBatch,
		MaxNeighbors:   c.MaxNeighbors,
		MaxBodyBytes:   c.MaxBody,
		MaxImportBytes: c.MaxImport,
		CORSOrigins:    c.origins(),
		Logger:         log,
		APIKey:         c.APIKey,
		APIKeys:        c.APIKeys,
		RateLimit:      c.RateLimit,
		RateWindow:     c.RateWindow,
		MaxHeavy:       c.MaxHeavy,
		HeavyWait:      c.heavyWait(),
		Novelty:        c.tracker(),
	}
}

// tracker returns the novelty tracker that the API and the job runner
// share, made on first use.
func (c *config) tracker() *novelty.Tracker {
	if c.novelty == nil {
		c.novelty = novelty.NewTracker(c.NoveltyPercentile)
	}
	return c.novelty
}

// jobLimits converts the job settings.
func (c *config) jobLimits() jobs.Limits {
	return jobs.Limits{MaxRows: c.JobMaxRows, MaxNeighbors: c.JobMaxNeighbors, Backlog: c.JobBacklog,
		BacklogRows: c.JobBacklogRows, ResultBytes: c.JobResultsBytes}
}

// heavyWait is -max-inflight-wait for the API, where 0 would mean its
// default: 0 here means no wait.
func (c *config) heavyWait() time.Duration {
	if c.HeavyWait == 0 {
		return httpapi.NoWait
	}
	return c.HeavyWait
}

// logger returns the logger the settings ask for.
func (c *config) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return logging.New(w, c.LogFormat, lvl)
}
