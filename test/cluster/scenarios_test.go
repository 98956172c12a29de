//go:build cluster

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/nginxtest"
	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/irisknn/irisknn/internal/redistest"
)

// ready is what /readyz says.
type ready struct {
	Status         string   `json:"status"`
	DatasetVersion uint64   `json:"dataset_version"`
	Samples        int      `json:"samples"`
	Unavailable    []string `json:"unavailable"`
}

// quick is a client for probes that must not hang on a paused process.
var quick = &http.Client{Timeout: 3 * time.Second}

func readyz(addr string) (ready, error) {
	resp, err := quick.Get("http://" + addr + "/readyz")
	if err != nil {
		return ready{}, err
	}
	defer resp.Body.Close()
	var r ready
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("readyz %d", resp.StatusCode)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// until polls cond every 10 ms for at most d and returns how long it took.
func until(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		require.Less(t, time.Since(start), d, "timed out waiting until %s", what)
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// percentile returns the p-th percentile (0..100) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

// canonical re-encodes a JSON value with sorted keys.
func canonical(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// allSamples reads a replica's whole set with the after_id cursor: id to
// canonical JSON, and the dataset version of the first page.
func allSamples(t *testing.T, addr string) (map[int64]string, uint64) {
	t.Helper()
	out := map[int64]string{}
	var version uint64
	after := int64(0)
	for {
		resp, b := do(t, http.MethodGet, fmt.Sprintf("http://%s/samples?limit=1000&after_id=%d", addr, after), "")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		var page struct {
			Samples        []json.RawMessage `json:"samples"`
			NextAfterID    *int64            `json:"next_after_id"`
			DatasetVersion uint64            `json:"dataset_version"`
		}
		require.NoError(t, json.Unmarshal(b, &page))
		if version == 0 {
			version = page.DatasetVersion
		}
		require.Equal(t, version, page.DatasetVersion, "%s changed version while being read", addr)
		for _, raw := range page.Samples {
			var id struct{ ID int64 }
			require.NoError(t, json.Unmarshal(raw, &id))
			out[id.ID] = canonical(raw)
		}
		if page.NextAfterID == nil {
			return out, version
		}
		after = *page.NextAfterID
	}
}

// post sends a JSON body with a client and returns status, body and time.
func post(hc *http.Client, url, body string) (int, []byte, http.Header, time.Duration, error) {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, time.Since(start), err
}

// loadResult counts what a load of predictions saw.
type loadResult struct {
	ok, wrong, failed int64
	lat               []time.Duration
	firstErr          string
}

func (r *loadResult) String() string {
	slices.Sort(r.lat)
	return fmt.Sprintf("%d requests: %d right, %d wrong answers, %d failed; latency p50 %v, p99 %v, max %v",
		len(r.lat), r.ok, r.wrong, r.failed, percentile(r.lat, 50).Round(time.Microsecond),
		percentile(r.lat, 99).Round(time.Microsecond), percentile(r.lat, 100).Round(time.Microsecond))
}

// predictLoad sends the queries (body -> the expected answer) through base
// from n goroutines until ctx is done; an answer must equal the expected
// one byte for byte.
func predictLoad(ctx context.Context, base string, n int, queries map[string]string) *loadResult {
	var bodies []string
	for b := range queries {
		bodies = append(bodies, b)
	}
	slices.Sort(bodies)
	var mu sync.Mutex
	r := &loadResult{}
	hc := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			for i := g; ctx.Err() == nil; i++ {
				body := bodies[i%len(bodies)]
				status, got, _, d, err := post(hc, base+"/predict", body)
				mu.Lock()
				r.lat = append(r.lat, d)
				switch {
				case err != nil || status != http.StatusOK:
					r.failed++
					if r.firstErr == "" {
						r.firstErr = fmt.Sprintf("status %d, %v: %s", status, err, got)
					}
				case string(got) != queries[body]:
					r.wrong++
					if r.firstErr == "" {
						r.firstErr = fmt.Sprintf("wrong answer: %s", got)
					}
				default:
					r.ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return r
}

// replica is one irisd replica of the cluster.
type replica struct {
	addr string
	p    *proc
}

func TestCluster(t *testing.T) {
	bin := os.Getenv("IRISD_BIN")
	if bin == "" {
		t.Fatal("IRISD_BIN must name the irisd binary (make cluster-test sets it)")
	}
	began := time.Now()
	dir := t.TempDir()
	const nTrain = 20000
	csv := trainingCSV(t, dir, nTrain)

	// The third replica lives in a network namespace: reached over one
	// veth pair by nginx, over another by PostgreSQL and Redis.
	ns := newNetns(t)
	pgOpts := pgtest.Options{}
	redisArgs := []string{}
	if ns != nil {
		pgOpts = pgtest.Options{Listen: []string{ns.dbHost}, Trust: []string{ns.cidr()}}
		redisArgs = []string{"--bind", "127.0.0.1", ns.dbHost, "--protected-mode", "no"}
	}
	pg := pgtest.StartWith(t, pgOpts)
	rds := redistest.StartWith(t, redisArgs...)
	redisPort := rds.Addr[strings.LastIndex(rds.Addr, ":")+1:]
	shared := func(host string) []string {
		return []string{"-postgres", pg.URLHost(host), "-redis", "redis://" + host + ":" + redisPort + "/0",
			"-data", csv, "-postgres-timeout", "1s"}
	}

	var reps []*replica
	for i := range 3 {
		var r replica
		if i == 2 && ns != nil {
			r.addr = ns.httpNS + ":8080"
			name, args := ns.command(bin, append([]string{"-addr", "0.0.0.0:8080", "-grpc-addr", "0.0.0.0:0"}, shared(ns.dbHost)...)...)
			r.p = start(t, name, args...)
		} else {
			r.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			r.p = start(t, bin, append([]string{"-addr", r.addr, "-grpc-addr", "127.0.0.1:0"}, shared("127.0.0.1")...)...)
		}
		waitReady(t, r.addr)
		reps = append(reps, &r)
	}
	addrs := []string{reps[0].addr, reps[1].addr, reps[2].addr}
	startWorker := func() *proc {
		p := start(t, bin, append([]string{"worker"}, shared("127.0.0.1")...)...)
		p.waitLog(t, "worker started")
		return p
	}
	worker := startWorker()
	base := nginxtest.Start(t, addrs)

	for _, a := range addrs {
		r, err := readyz(a)
		require.NoError(t, err)
		assert.Equal(t, nTrain, r.Samples, "%s serves the seeded set", a)
		assert.Empty(t, r.Unavailable, a)
	}
	seeded, err := pg.SQL("SELECT count(*) FROM irisknn_dataset")
	require.NoError(t, err)
	assert.Equal(t, "1", seeded, "three replicas starting together seed the database once")
	t.Logf("CLUSTER: PostgreSQL, Redis, 3 replicas (%s), 1 worker, nginx up in %v", strings.Join(addrs, ", "), time.Since(began).Round(time.Millisecond))

	t.Run("the curls of deploy/docker-compose.yml work as written", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("no curl")
		}
		compose, err := os.ReadFile("../../deploy/docker-compose.yml")
		require.NoError(t, err)
		n := 0
		for line := range strings.Lines(string(compose)) {
			cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "#   curl ")
			if !ok {
				continue
			}
			cmd = strings.ReplaceAll("curl "+cmd, "localhost:8080", strings.TrimPrefix(base, "http://"))
			out, err := exec.Command("bash", "-c", cmd+" -o /dev/null -w '%{http_code}'").CombinedOutput()
			require.NoError(t, err, "%s: %s", cmd, out)
			code, _ := strconv.Atoi(string(out))
			assert.True(t, code >= 200 && code < 300, "%s answered %s", cmd, out)
			n++
		}
		assert.GreaterOrEqual(t, n, 3)
		t.Logf("COMPOSE: %d curl examples of deploy/docker-compose.yml run as written through nginx, all 2xx", n)
	})

	t.Run("a write through any replica is visible on all", func(t *testing.T) {
		const n = 200
		var total, after []time.Duration
		for i := range n {
			t0 := time.Now()
			resp, b := do(t, http.MethodPost, base+"/samples", fmt.Sprintf(`{"features":[5.%d,3.1,1.4,0.2],"species":"setosa"}`, i%10))
			require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
			tw := time.Now()
			loc := resp.Header.Get("Location")
			var wg sync.WaitGroup
			var last atomic.Int64
			for _, a := range addrs {
				wg.Go(func() {
					for {
						resp, err := quick.Get("http://" + a + loc)
						if err == nil {
							resp.Body.Close()
							if resp.StatusCode == http.StatusOK {
								last.Store(max(last.Load(), time.Since(t0).Nanoseconds()))
								return
							}
						}
						if time.Since(t0) > 30*time.Second {
							t.Errorf("%s never saw %s", a, loc)
							return
						}
						time.Sleep(100 * time.Microsecond)
					}
				})
			}
			wg.Wait()
			total = append(total, time.Duration(last.Load()))
			after = append(after, max(time.Duration(last.Load())-tw.Sub(t0), 0))
		}
		slices.Sort(total)
		slices.Sort(after)
		t.Logf("WRITE VISIBILITY (n=%d writes through nginx, training set %d, visible on all 3 replicas): from sending the write p50 %v, p99 %v, max %v; after its 201 p50 %v, p99 %v",
			n, nTrain, percentile(total, 50).Round(time.Microsecond), percentile(total, 99).Round(time.Microsecond), percentile(total, 100).Round(time.Microsecond),
			percentile(after, 50).Round(time.Microsecond), percentile(after, 99).Round(time.Microsecond))
	})

	t.Run("a repeated expensive prediction is a cache hit", func(t *testing.T) {
		var miss, hit []time.Duration
		for i := range 5 {
			body := fmt.Sprintf(`{"instances":%s,"k":7}`, rows(200, uint64(100+i)))
			start := time.Now()
			resp, first := do(t, http.MethodPost, base+"/predict", body)
			miss = append(miss, time.Since(start))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(first))
			assert.Equal(t, "miss", resp.Header.Get("X-Cache"))
			start = time.Now()
			resp, second := do(t, http.MethodPost, base+"/predict", body)
			hit = append(hit, time.Since(start))
			// nginx sends the repeat to another replica: a Redis hit.
			assert.Contains(t, []string{"hit", "hit-redis"}, resp.Header.Get("X-Cache"))
			assert.Equal(t, string(first), string(second))
		}
		slices.Sort(miss)
		slices.Sort(hit)
		t.Logf("CACHE through nginx, 200-row batch on %d samples: miss median %v, hit median %v", nTrain, miss[len(miss)/2], hit[len(hit)/2])
	})

	t.Run("batch and evaluate jobs run to completion with progress", func(t *testing.T) {
		j, seen, took := runJob(t, base, fmt.Sprintf(`{"type":"batch_predict","instances":%s,"k":5}`, rows(5000, 3)), 5*time.Minute, nil)
		require.Equal(t, "succeeded", j.Status, j.Error)
		var res struct {
			Predictions []json.RawMessage `json:"predictions"`
		}
		require.NoError(t, json.Unmarshal(j.Result, &res))
		assert.Len(t, res.Predictions, 5000)
		t.Logf("JOB batch_predict 5000 rows on %d samples: %v, progress seen %v", nTrain, took, summarize(seen))

		j, seen, took = runJob(t, base, `{"type":"evaluate","k_max":10,"folds":5}`, 5*time.Minute, nil)
		require.Equal(t, "succeeded", j.Status, j.Error)
		assert.Contains(t, string(j.Result), `"best"`)
		assert.True(t, slices.ContainsFunc(seen, func(p float64) bool { return p > 0 && p < 1 }), "progress while running: %v", seen)
		t.Logf("JOB evaluate 5-fold k 1..10 on %d samples: %v, progress seen %v", nTrain, took, summarize(seen))

		// Throughput of small jobs through nginx and the single worker.
		start := time.Now()
		var ids []string
		const n = 50
		for i := range n {
			resp, b := do(t, http.MethodPost, base+"/jobs", fmt.Sprintf(`{"type":"batch_predict","instances":%s}`, rows(10, uint64(i))))
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(b))
			ids = append(ids, resp.Header.Get("Location"))
		}
		for _, loc := range ids {
			for {
				_, b := do(t, http.MethodGet, base+loc, "")
				var j job
				require.NoError(t, json.Unmarshal(b, &j))
				if j.Status == "succeeded" {
					break
				}
				require.NotEqual(t, "failed", j.Status, j.Error)
				require.Less(t, time.Since(start), 3*time.Minute)
				time.Sleep(20 * time.Millisecond)
			}
		}
		t.Logf("JOBS THROUGHPUT: %d small batch jobs (10 rows each) submitted and finished in %v: %.1f jobs/s (1 worker, concurrency 1)",
			n, time.Since(start), n/time.Since(start).Seconds())
	})

	t.Run("a job survives its worker being killed", func(t *testing.T) {
		killed := false
		var killedAt time.Time
		var second *proc
		// 20,000 samples x k_max 20 x one metric: 400,000 neighbours, inside
		// -job-max-neighbors and -job-timeout at their defaults.
		j, seen, took := runJob(t, base, `{"type":"evaluate","k_max":20,"metrics":["euclidean"]}`, 6*time.Minute, func(j job) {
			if !killed && j.Status == "running" && j.Progress > 0 {
				worker.stop(syscall.SIGKILL)
				killed, killedAt = true, time.Now()
				t.Logf("worker killed at progress %.2f; starting another", j.Progress)
				second = startWorker()
			}
		})
		require.True(t, killed, "the job finished before the worker could be killed: %v", seen)
		require.NotNil(t, second)
		require.Equal(t, "succeeded", j.Status, j.Error)
		assert.GreaterOrEqual(t, j.Attempts, 1, "the job ran again")
		t.Logf("WORKER KILLED: job evaluate LOO k 1..20 (euclidean) on %d samples, worker SIGKILLed mid-run: finished after %v with %d retries, %v after the kill (River's rescue)", nTrain, took, j.Attempts, time.Since(killedAt).Round(100*time.Millisecond))
	})

	t.Run("a paused replica costs clients less than a second", func(t *testing.T) {
		queries := map[string]string{}
		for i := range 20 {
			body := fmt.Sprintf(`{"features":[5.%d,3.%d,1.4,0.2]}`, i%10, i/10)
			_, b := do(t, http.MethodPost, "http://"+addrs[0]+"/predict", body)
			queries[body] = string(b)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			time.Sleep(time.Second)
			reps[1].p.cmd.Process.Signal(syscall.SIGSTOP)
		}()
		r := predictLoad(ctx, base, 8, queries)
		reps[1].p.cmd.Process.Signal(syscall.SIGCONT)
		slow := 0
		for _, d := range r.lat {
			if d > 500*time.Millisecond {
				slow++
			}
		}
		t.Logf("PAUSED REPLICA (replica 2 SIGSTOPped 1 s into 5 s of predictions through nginx, 8 clients): %s; %d took over 500 ms", r, slow)
		assert.Zero(t, r.failed+r.wrong, r.firstErr)
		assert.Less(t, percentile(r.lat, 100), 1500*time.Millisecond, "a paused replica costs about a second at most")
		waitReady(t, addrs[1])
	})

	t.Run("redis flushed, paused and killed under load changes no answer", func(t *testing.T) {
		// Batches big enough for the shared Redis layer (200 x 20,000).
		answers := func() map[string]string {
			m := map[string]string{}
			for i := range 6 {
				body := fmt.Sprintf(`{"instances":%s,"k":5}`, rows(200, uint64(500+i)))
				status, b, _, _, err := post(client, "http://"+addrs[0]+"/predict", body)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, status, string(b))
				m[body] = string(b)
			}
			return m
		}
		queries := answers()
		phase := func(name string, d time.Duration, during func()) {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			go func() {
				time.Sleep(d / 3)
				during()
			}()
			r := predictLoad(ctx, base, 4, queries)
			t.Logf("REDIS %s: %s", name, r)
			assert.Zero(t, r.failed+r.wrong, "%s: %s", name, r.firstErr)
		}
		phase("FLUSHALL under load", 3*time.Second, func() {
			require.NoError(t, rds.Client(t).FlushAll(context.Background()).Err())
		})

		// A query cached before a flush answers from the new version after it.
		var q string
		for b := range queries {
			q = b
			break
		}
		for range 3 {
			post(client, base+"/predict", q) // cached on every replica and in Redis
		}
		require.NoError(t, rds.Client(t).FlushAll(context.Background()).Err())
		resp, b := do(t, http.MethodPost, base+"/samples", `{"features":[6.1,2.9,4.7,1.4],"species":"setosa"}`)
		require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
		newVersion := resp.Header.Get("X-Dataset-Version")
		for _, a := range addrs {
			until(t, a+" has the write", 10*time.Second, func() bool {
				r, err := readyz(a)
				return err == nil && strconv.FormatUint(r.DatasetVersion, 10) == newVersion
			})
			_, got, h, _, err := post(client, "http://"+a+"/predict", q)
			require.NoError(t, err)
			assert.Equal(t, newVersion, h.Get("X-Dataset-Version"), "%s answers from the new version", a)
			assert.NotEqual(t, queries[q], string(got), "%s: not the answer cached before the flush", a)
		}
		t.Logf("REDIS FLUSH then a write: a query cached at the old version answers at version %s on all 3 replicas", newVersion)

		queries = answers() // the answers of the new version
		phase("paused (SIGSTOP) for 1 s under load", 3*time.Second, func() {
			require.NoError(t, rds.Pause())
			time.Sleep(time.Second)
			require.NoError(t, rds.Resume())
		})
		phase("killed (SIGKILL) under load", 3*time.Second, func() { require.NoError(t, rds.Kill()) })
		var r ready
		until(t, "readyz names the shared cache", 5*time.Second, func() bool {
			r, _ = readyz(addrs[0])
			return slices.Contains(r.Unavailable, "shared cache")
		})
		t.Logf("REDIS killed: /readyz of replica 1 is 200, status %q, unavailable %v", r.Status, r.Unavailable)
	})

	t.Run("a replica partitioned from PostgreSQL serves predictions, refuses writes fast, converges", func(t *testing.T) {
		if ns == nil {
			t.Skip("no network namespace (see PARTITION above)")
		}
		p3 := addrs[2]
		t.Cleanup(func() {
			if !t.Failed() {
				return
			}
			for _, l := range reps[2].p.warnings() {
				t.Logf("replica 3 logged: %s", l)
			}
			if os.Getenv("IRISKNN_DEBUG_STACKS") != "" {
				reps[2].p.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump on stderr
				time.Sleep(time.Second)
			}
		})
		ns.partition(t)
		partitioned := time.Now()
		healed := false
		defer func() {
			if !healed {
				ns.heal(t)
			}
		}()
		detect := until(t, "replica 3 reports writes unavailable", 15*time.Second, func() bool {
			r, err := readyz(p3)
			return err == nil && slices.Contains(r.Unavailable, "writes")
		})
		status, b, h, took, err := post(quick, "http://"+p3+"/samples", `{"features":[5,3,1.5,0.2],"species":"setosa"}`)
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, status, string(b))
		assert.NotEmpty(t, h.Get("Retry-After"))
		assert.Less(t, took, 2*time.Second)
		pstatus, pb, _, ptook, err := post(quick, "http://"+p3+"/predict", `{"features":[5.1,3.5,1.4,0.2]}`)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, pstatus, string(pb))
		// The other replicas go on writing.
		var ids []string
		for i := range 20 {
			status, b, h, _, err := post(client, "http://"+addrs[i%2]+"/samples", fmt.Sprintf(`{"features":[4.%d,3,1.5,0.2],"species":"setosa"}`, i%10))
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, status, string(b))
			ids = append(ids, h.Get("Location"))
		}
		// Each write was acknowledged by the replica that made it, which
		// had published it by then; the other may not have applied it yet.
		// So the newest acknowledged version is the larger of the two.
		behind, _ := readyz(p3)
		ahead, _ := readyz(addrs[0])
		if r, err := readyz(addrs[1]); err == nil && r.DatasetVersion > ahead.DatasetVersion {
			ahead = r
		}
		ns.heal(t)
		healed = true
		converge := until(t, "replica 3 converges", 30*time.Second, func() bool {
			r, err := readyz(p3)
			return err == nil && r.DatasetVersion >= ahead.DatasetVersion && !slices.Contains(r.Unavailable, "writes")
		})
		for _, loc := range ids {
			resp, b := do(t, http.MethodGet, "http://"+p3+loc, "")
			assert.Equal(t, http.StatusOK, resp.StatusCode, "%s on replica 3: %s", loc, b)
		}
		t.Logf("PARTITION of replica 3 from PostgreSQL (veth down, packets dropped): /readyz 200 throughout, writes reported unavailable after %v; a write to it: %d with Retry-After %q in %v; a prediction: %d in %v; 20 writes through the others meanwhile (it stayed at version %d, they reached %d); after healing it converged in %v (%v after the cut)",
			detect.Round(time.Millisecond), status, h.Get("Retry-After"), took.Round(time.Millisecond), pstatus, ptook.Round(time.Millisecond),
			behind.DatasetVersion, ahead.DatasetVersion, converge.Round(time.Millisecond), time.Since(partitioned).Round(time.Millisecond))
	})

	t.Run("postgres killed with kill -9 during concurrent writes loses no acknowledged write", func(t *testing.T) {
		const writers = 32
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
		var mu sync.Mutex
		acked := map[int64]string{}
		var before, unavailable, other atomic.Int64
		var killedAt atomic.Bool
		var firstOther atomic.Value
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), 9))
				for i := 0; ctx.Err() == nil; i++ {
					body := fmt.Sprintf(`{"features":[%.3f,%.3f,%.3f,%.3f],"species":"versicolor"}`, 4+r.Float64()*3, 2+r.Float64()*2, 1+r.Float64()*5, r.Float64()*2.5)
					status, b, _, _, err := post(hc, "http://"+addrs[(w+i)%3]+"/samples", body)
					switch {
					case err == nil && status == http.StatusCreated:
						var s struct{ ID int64 }
						if json.Unmarshal(b, &s) == nil {
							mu.Lock()
							acked[s.ID] = canonical(b)
							mu.Unlock()
						}
						if !killedAt.Load() {
							before.Add(1)
						}
					case err == nil && status == http.StatusServiceUnavailable:
						unavailable.Add(1)
						time.Sleep(50 * time.Millisecond) // as Retry-After asks, but sooner
					default:
						other.Add(1)
						firstOther.CompareAndSwap(nil, fmt.Sprintf("status %d, %v: %s", status, err, b))
					}
				}
			})
		}
		time.Sleep(2 * time.Second)
		killedAt.Store(true)
		pg.Kill()
		killed := time.Now()
		time.Sleep(2 * time.Second)
		require.NoError(t, pg.Restart())
		restarted := time.Now()
		// Writes succeed again by themselves: wait for the first few.
		mu.Lock()
		n0 := len(acked)
		mu.Unlock()
		recovered := until(t, "writes succeed again", 30*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) > n0+writers
		})
		time.Sleep(2 * time.Second)
		cancel()
		wg.Wait()

		// Every replica converges on the database's newest version.
		var dbVersion uint64
		until(t, "all replicas at the database's version", 30*time.Second, func() bool {
			v, err := pg.SQL("SELECT max(version) FROM irisknn_changes")
			if err != nil {
				return false
			}
			dbVersion, _ = strconv.ParseUint(v, 10, 64)
			for _, a := range addrs {
				r, err := readyz(a)
				if err != nil || r.DatasetVersion != dbVersion || slices.Contains(r.Unavailable, "writes") {
					return false
				}
			}
			return true
		})
		var sets []map[int64]string
		for _, a := range addrs {
			set, v := allSamples(t, a)
			assert.Equal(t, dbVersion, v)
			sets = append(sets, set)
		}
		lost := 0
		for id, want := range acked {
			if got, ok := sets[0][id]; !ok || got != want {
				lost++
			}
		}
		assert.Zero(t, lost, "acknowledged writes missing or different after the crash")
		assert.Equal(t, sets[0], sets[1], "replicas 1 and 2 are identical")
		assert.Equal(t, sets[0], sets[2], "replicas 1 and 3 are identical")
		assert.Zero(t, other.Load(), "answers other than 201 and 503: %v", firstOther.Load())
		t.Logf("POSTGRES KILL -9 during %d concurrent writers through all 3 replicas: %d writes acknowledged (%d before the kill), %d refused with 503 while it was down (%v), first writes acknowledged again %v after its restart; %d other answers; %d acknowledged writes lost; the 3 replicas identical at version %d with %d samples",
			writers, len(acked), before.Load(), unavailable.Load(), restarted.Sub(killed).Round(time.Millisecond), recovered.Round(time.Millisecond), other.Load(), lost, dbVersion, len(sets[0]))
	})

	t.Run("killing a replica under load fails no request", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		type result struct {
			ok, failed int64
			first      string
		}
		done := make(chan result)
		go func() {
			var r result
			r.ok, r.failed, r.first = load(ctx, client, 8, http.StatusOK, func(ctx context.Context, g, i int) *http.Request {
				if i%2 == 0 {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/predict", strings.NewReader(fmt.Sprintf(`{"features":[5.%d,3.%d,1.4,0.2]}`, g, i%10)))
					req.Header.Set("Content-Type", "application/json")
					return req
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/samples/1", nil)
				return req
			})
			done <- r
		}()
		time.Sleep(1500 * time.Millisecond)
		reps[1].p.stop(syscall.SIGKILL)
		r := <-done
		t.Logf("REPLICA KILLED (SIGKILL) under load through nginx: %d requests succeeded, %d failed", r.ok, r.failed)
		assert.Zero(t, r.failed, "first failure: %v", r.first)
		assert.Greater(t, r.ok, int64(100))
	})
	t.Logf("CLUSTER TEST took %v", time.Since(began).Round(time.Second))
}
