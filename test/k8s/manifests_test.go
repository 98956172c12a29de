// Package k8s checks deploy/k8s without a cluster: it renders each overlay
// with kustomize (as a library), decodes every object strictly into the
// Kubernetes API types, and checks the result against the real irisd: its
// documented flags and environment variables, and its routes and ports on a
// started server. It is a module of its own so that kustomize and the
// Kubernetes API types never enter the service's go.mod; make test runs it.
package k8s

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const root = "../.."

// objects is one rendered overlay, decoded.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	netpols     []*networkingv1.NetworkPolicy
	accounts    []*corev1.ServiceAccount
}

// render runs kustomize on an overlay and decodes each object into its
// API type, rejecting unknown fields and unknown kinds.
func render(t *testing.T, overlay string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy/k8s/overlays", overlay))
	require.NoError(t, err, "kustomize build %s", overlay)
	var o objects
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		require.NoError(t, err)
		gvk := r.GetGvk()
		what := fmt.Sprintf("%s %s/%s", overlay, gvk.Kind, r.GetName())
		into := func(v any) {
			// UnmarshalStrict: an unknown or duplicate field is an error.
			require.NoError(t, yaml.UnmarshalStrict(b, v), "%s:\n%s", what, b)
		}
		switch gvk.ApiVersion() + " " + gvk.Kind {
		case "apps/v1 Deployment":
			v := &appsv1.Deployment{}
			into(v)
			o.deployments = append(o.deployments, v)
		case "v1 Service":
			v := &corev1.Service{}
			into(v)
			o.services = append(o.services, v)
		case "policy/v1 PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			into(v)
			o.pdbs = append(o.pdbs, v)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			v := &autoscalingv2.HorizontalPodAutoscaler{}
			into(v)
			o.hpas = append(o.hpas, v)
		case "networking.k8s.io/v1 NetworkPolicy":
			v := &networkingv1.NetworkPolicy{}
			into(v)
			o.netpols = append(o.netpols, v)
		case "v1 ServiceAccount":
			v := &corev1.ServiceAccount{}
			into(v)
			o.accounts = append(o.accounts, v)
		default:
			t.Errorf("%s: a kind this test does not decode (add it): %s", what, gvk)
		}
	}
	return o
}

func (o objects) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	for _, d := range o.deployments {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s", name)
	return nil
}

// irisd is the real binary and what its -h documents.
type irisd struct {
	bin   string
	env   map[string]bool // IRIS_* variables
	flags map[string]bool
}

func buildIrisd(t *testing.T) irisd {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "irisd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/irisd")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	help := func(args ...string) string {
		var stderr bytes.Buffer
		c := exec.Command(bin, append(args, "-h")...)
		c.Stderr = &stderr
		require.NoError(t, c.Run(), "irisd %v -h", args)
		return stderr.String()
	}
	h := help() + help("worker")
	d := irisd{bin: bin, env: map[string]bool{}, flags: map[string]bool{}}
	for _, m := range regexp.MustCompile(`\[\$(IRIS_[A-Z0-9_]+)\]`).FindAllStringSubmatch(h, -1) {
		d.env[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(h, -1) {
		d.flags[m[1]] = true
	}
	require.True(t, d.env["IRIS_ADDR"] && d.flags["addr"], "irisd -h was read:\n%s", h)
	return d
}

// containerPort resolves a probe's or Service's port (a name or a number)
// to a port of the container.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort
		}
	}
	t.Errorf("container %s has no port %s", c.Name, p.String())
	return 0
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func TestOverlaysRenderAndMatchIrisd(t *testing.T) {
	bin := buildIrisd(t)
	for _, overlay := range []string{"single", "scaled"} {
		t.Run(overlay, func(t *testing.T) {
			o := render(t, overlay)
			api := o.deployment(t, "irisknn")
			if overlay == "single" {
				assert.EqualValues(t, 1, *api.Spec.Replicas)
				assert.Empty(t, o.hpas, "one replica, no autoscaler")
			} else {
				assert.Greater(t, *api.Spec.Replicas, int32(1))
				w := o.deployment(t, "irisknn-worker")
				require.Len(t, w.Spec.Template.Spec.Containers, 1)
				assert.Equal(t, []string{"worker"}, w.Spec.Template.Spec.Containers[0].Args, "the worker runs `irisd worker`")
				for _, d := range o.deployments {
					c := d.Spec.Template.Spec.Containers[0]
					_, ok := envValue(c, "IRIS_POSTGRES_URL")
					assert.True(t, ok, "%s shares the training set and the jobs in PostgreSQL", d.Name)
					assert.Contains(t, secretRefs(c), "irisknn-backends/postgres-url", "%s: the PostgreSQL URL comes from the Secret", d.Name)
					assert.Contains(t, egressPorts(o, d), int32(5432), "%s may reach PostgreSQL", d.Name)
				}
				c := api.Spec.Template.Spec.Containers[0]
				assert.Contains(t, secretRefs(c), "irisknn-backends/redis-url", "the API's Redis cache URL comes from the Secret")
				assert.Contains(t, egressPorts(o, api), int32(6379), "the API may reach Redis")
				_, ok := envValue(w.Spec.Template.Spec.Containers[0], "IRIS_REDIS_URL")
				assert.False(t, ok, "the worker uses no cache")
				require.Len(t, o.hpas, 1)
				assert.Equal(t, "irisknn", o.hpas[0].Spec.ScaleTargetRef.Name)
				assert.Equal(t, "Deployment", o.hpas[0].Spec.ScaleTargetRef.Kind)
				require.NotEmpty(t, o.hpas[0].Spec.Metrics)
				assert.Equal(t, corev1.ResourceCPU, o.hpas[0].Spec.Metrics[0].Resource.Name)
			}
			for _, d := range o.deployments {
				checkPod(t, d, bin)
				checkSelected(t, o, d)
			}
			require.Len(t, o.services, 1)
			api0 := api.Spec.Template.Spec.Containers[0]
			for _, sp := range o.services[0].Spec.Ports {
				containerPort(t, api0, sp.TargetPort)
			}
			assert.True(t, labels.SelectorFromSet(o.services[0].Spec.Selector).Matches(labels.Set(api.Spec.Template.Labels)), "the Service selects the API pods")
			assert.Contains(t, secretVolumes(api), "irisknn-api-key", "the API key comes from a Secret")
			assert.Equal(t, "true", api.Spec.Template.Annotations["prometheus.io/scrape"])
			assert.Equal(t, "/metrics", api.Spec.Template.Annotations["prometheus.io/path"])
		})
	}
}

// checkPod checks one Deployment's pod against irisd and the issue's
// rules: documented variables and flags, probes on real routes and ports,
// shutdown timing, security context and resources.
func checkPod(t *testing.T, d *appsv1.Deployment, bin irisd) {
	t.Helper()
	pod := d.Spec.Template.Spec
	sc := pod.SecurityContext
	require.NotNil(t, sc, d.Name)
	assert.True(t, sc.RunAsNonRoot != nil && *sc.RunAsNonRoot, "%s runAsNonRoot", d.Name)
	assert.True(t, sc.RunAsUser != nil && *sc.RunAsUser == 65532, "%s runs as the image's user", d.Name)
	assert.True(t, sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, "%s seccomp RuntimeDefault", d.Name)
	for _, c := range pod.Containers {
		what := d.Name + "/" + c.Name
		csc := c.SecurityContext
		require.NotNil(t, csc, what)
		assert.True(t, csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation, "%s no privilege escalation", what)
		assert.True(t, csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem, "%s read-only root", what)
		assert.True(t, csc.Capabilities != nil && len(csc.Capabilities.Drop) == 1 && csc.Capabilities.Drop[0] == "ALL", "%s drops all capabilities", what)
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			_, ok := c.Resources.Requests[r]
			assert.True(t, ok, "%s requests %s", what, r)
		}
		_, ok := c.Resources.Limits[corev1.ResourceMemory]
		assert.True(t, ok, "%s has a memory limit", what)

		// Every IRIS_* variable is one irisd -h documents; every flag
		// given as an argument is one of its flags.
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "IRIS_") {
				assert.True(t, bin.env[e.Name], "%s sets %s, which irisd -h does not document", what, e.Name)
			}
		}
		for _, a := range c.Args {
			if f, ok := strings.CutPrefix(a, "-"); ok {
				f, _, _ = strings.Cut(strings.TrimPrefix(f, "-"), "=")
				assert.True(t, bin.flags[f], "%s passes -%s, not a flag of irisd", what, f)
			} else {
				assert.Equal(t, "worker", a, "%s: the only subcommand is worker", what)
			}
		}

		// Shutdown: the grace period covers the preStop sleep, the drain
		// and the shutdown timeout.
		budget := time.Duration(0)
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			budget += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		if len(c.Ports) > 0 { // the API
			require.NotNil(t, c.Lifecycle, "%s has a preStop", what)
			require.NotNil(t, c.Lifecycle.PreStop, "%s has a preStop", what)
			budget += durationEnv(t, c, "IRIS_DRAIN_DELAY", "0s") + durationEnv(t, c, "IRIS_SHUTDOWN_TIMEOUT", "15s")
			assert.Positive(t, durationEnv(t, c, "IRIS_DRAIN_DELAY", "0s"), "%s drains before closing", what)
		} else {
			budget += 10 * time.Second // the worker's shutdown timeout (internal/jobs)
		}
		require.NotNil(t, pod.TerminationGracePeriodSeconds, what)
		grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		assert.Greater(t, grace, budget, "%s: terminationGracePeriodSeconds %v must exceed preStop + drain + shutdown = %v", what, grace, budget)

		if len(c.Ports) == 0 {
			continue
		}
		// Probes: liveness, readiness and startup, each on a real route
		// and port of irisd (checked on a started irisd below).
		require.NotNil(t, c.LivenessProbe, what)
		require.NotNil(t, c.ReadinessProbe, what)
		require.NotNil(t, c.StartupProbe, what)
		addr, ok := envValue(c, "IRIS_ADDR")
		if !ok {
			addr = ":8080" // irisd's default
		}
		_, listenPort, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
			require.NotNil(t, p.HTTPGet, "%s %s probe is an HTTP GET", what, name)
			port := containerPort(t, c, p.HTTPGet.Port)
			assert.Equal(t, listenPort, fmt.Sprint(port), "%s %s probe: port %d, irisd listens on %s", what, name, port, addr)
			checkRoute(t, bin, p.HTTPGet.Path)
		}
		assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path, "%s liveness", what)
		assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path, "%s readiness", what)
		// Each container port is one irisd listens on: http at
		// IRIS_ADDR, grpc at IRIS_GRPC_ADDR (checked on a started irisd).
		for _, p := range c.Ports {
			switch p.Name {
			case "http":
				assert.Equal(t, listenPort, fmt.Sprint(p.ContainerPort), "%s port http: irisd listens on %s", what, addr)
			case "grpc":
				g, ok := envValue(c, "IRIS_GRPC_ADDR")
				require.True(t, ok, "%s: a grpc port needs IRIS_GRPC_ADDR", what)
				_, gp, err := net.SplitHostPort(g)
				require.NoError(t, err)
				assert.Equal(t, gp, fmt.Sprint(p.ContainerPort), "%s port grpc: irisd serves gRPC on %s", what, g)
				checkGRPCListens(t, bin)
			default:
				t.Errorf("%s: port %s is not one irisd has", what, p.Name)
			}
		}
		promPort := d.Spec.Template.Annotations["prometheus.io/port"]
		assert.Equal(t, listenPort, promPort, "%s: metrics are scraped where irisd listens", what)
		checkRoute(t, bin, d.Spec.Template.Annotations["prometheus.io/path"])
	}
}

// checkSelected: the PDB and NetworkPolicy of a Deployment select its pods
// and only them.
func checkSelected(t *testing.T, o objects, d *appsv1.Deployment) {
	t.Helper()
	podLabels := labels.Set(d.Spec.Template.Labels)
	sel, err := metav1Selector(d)
	require.NoError(t, err)
	assert.True(t, sel.Matches(podLabels), "%s selects its own pods", d.Name)
	var pdb, np int
	for _, p := range o.pdbs {
		s, err := metav1LabelSelector(p.Spec.Selector)
		require.NoError(t, err)
		if s.Matches(podLabels) {
			pdb++
		}
	}
	for _, n := range o.netpols {
		s, err := metav1LabelSelector(&n.Spec.PodSelector)
		require.NoError(t, err)
		if s.Matches(podLabels) {
			np++
		}
	}
	assert.Equal(t, 1, pdb, "%s: one PodDisruptionBudget selects its pods", d.Name)
	assert.Equal(t, 1, np, "%s: one NetworkPolicy selects its pods", d.Name)
}

func durationEnv(t *testing.T, c corev1.Container, name, def string) time.Duration {
	t.Helper()
	v, ok := envValue(c, name)
	if !ok {
		v = def
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "%s=%q", name, v)
	return d
}

func secretRefs(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out = append(out, e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key)
		}
	}
	return out
}

func secretVolumes(d *appsv1.Deployment) []string {
	var out []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			out = append(out, v.Secret.SecretName)
		}
	}
	return out
}

// started is one irisd per test binary, started on loopback with default
// settings, for checkRoute and checkGRPCListens.
var started struct {
	base, grpc string
	stop       func()
}

// checkGRPCListens fails unless the started irisd accepts connections on
// its -grpc-addr.
func checkGRPCListens(t *testing.T, bin irisd) {
	t.Helper()
	if started.base == "" {
		started.base, started.grpc, started.stop = startIrisd(t, bin)
	}
	c, err := net.DialTimeout("tcp", started.grpc, 5*time.Second)
	require.NoError(t, err, "irisd serves gRPC on -grpc-addr")
	c.Close()
}

// checkRoute fails unless GET path answers 200 on a started irisd.
func checkRoute(t *testing.T, bin irisd, path string) {
	t.Helper()
	if started.base == "" {
		started.base, started.grpc, started.stop = startIrisd(t, bin)
	}
	resp, err := http.Get(started.base + path)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s on irisd", path)
}

func startIrisd(t *testing.T, bin irisd) (string, string, func()) {
	t.Helper()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return ln.Addr().String()
	}
	addr, grpcAddr := free(), free()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin.bin, "-addr", addr, "-grpc-addr", grpcAddr)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	require.NoError(t, cmd.Start())
	stop := func() { cancel(); cmd.Wait() }
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return base, grpcAddr, stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("irisd did not start")
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if started.stop != nil {
		started.stop()
	}
	os.Exit(code)
}

// egressPorts lists the TCP ports the NetworkPolicies selecting d's pods
// let them call.
func egressPorts(o objects, d *appsv1.Deployment) []int32 {
	var ports []int32
	podLabels := labels.Set(d.Spec.Template.Labels)
	for _, n := range o.netpols {
		s, err := metav1LabelSelector(&n.Spec.PodSelector)
		if err != nil || !s.Matches(podLabels) {
			continue
		}
		for _, e := range n.Spec.Egress {
			for _, p := range e.Ports {
				if p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
					ports = append(ports, p.Port.IntVal)
				}
			}
		}
	}
	return ports
}
