package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerfile is what the container test needs from the Dockerfile: the
// build command of the build stage and how the final stage runs irisd.
type dockerfile struct {
	buildRun    string            // the RUN that builds /out/irisd
	env         map[string]string // ENV of the final stage
	user        string            // USER of the final stage
	volumes     []string
	labels      map[string]string
	chownData   string // --chown of the COPY that makes /data
	healthcheck []string
	entrypoint  []string
}

// parseDockerfile reads the instructions this test checks. It knows the
// forms the Dockerfile uses (exec-form JSON arrays, ENV k=v ...), no more.
func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		if s := strings.TrimSpace(cur.String()); s != "" {
			lines = append(lines, s)
		}
		cur.Reset()
	}
	d := dockerfile{env: map[string]string{}, labels: map[string]string{}}
	kv := regexp.MustCompile(`([A-Za-z0-9_.]+)=("[^"]*"|\S*)`)
	stage := 0
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			stage++
			d.env, d.labels = map[string]string{}, map[string]string{} // a new stage starts afresh
		case "RUN":
			if strings.Contains(rest, "scripts/build.sh") {
				d.buildRun = rest
			}
		case "ENV":
			for _, m := range kv.FindAllStringSubmatch(rest, -1) {
				d.env[m[1]] = strings.Trim(m[2], `"`)
			}
		case "LABEL":
			for _, m := range kv.FindAllStringSubmatch(rest, -1) {
				d.labels[m[1]] = strings.Trim(m[2], `"`)
			}
		case "USER":
			d.user = rest
		case "VOLUME":
			require.NoError(t, json.Unmarshal([]byte(rest), &d.volumes), "VOLUME in exec form")
		case "COPY":
			if m := regexp.MustCompile(`--chown=(\S+) \S+ /data$`).FindStringSubmatch(rest); m != nil {
				d.chownData = m[1]
			}
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(rest, " CMD ")
			require.True(t, ok, "HEALTHCHECK ... CMD [...]")
			require.NoError(t, json.Unmarshal([]byte(cmd), &d.healthcheck))
		case "ENTRYPOINT":
			require.NoError(t, json.Unmarshal([]byte(rest), &d.entrypoint))
		}
	}
	require.Equal(t, 2, stage, "a build stage and a run stage")
	return d
}

// TestContainerRunsAsTheImageDoes builds irisd with the Dockerfile's own
// build command, lays out the image's filesystem (/irisd, a world-writable
// /tmp, /data owned by the image's user; everything else root's and not
// writable by that user), and runs the image's ENTRYPOINT in it (chroot) as
// the image's USER with exactly the image's ENV, started on a port that is
// not IRIS_ADDR's, as `docker run irisknn -addr ...` would. The image's
// HEALTHCHECK command, run the same way, must find it; IRIS_DATA_DIR=/data
// must work; nothing outside /tmp and /data may be written.
func TestContainerRunsAsTheImageDoes(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the container test needs root (chroot, another user); CI runs as root")
		}
		t.Skip("the container test needs root (chroot and setuid to the image's user)")
	}
	df := parseDockerfile(t, "../../Dockerfile")

	// The image as the Dockerfile declares it.
	uid, gid := parseUser(t, df.user)
	assert.Equal(t, df.user, df.chownData, "/data is owned by the user irisd runs as")
	assert.Contains(t, df.volumes, "/data")
	for _, l := range []string{"title", "description", "source", "version", "revision", "created"} {
		assert.Contains(t, df.labels, "org.opencontainers.image."+l)
	}
	require.Equal(t, []string{"/irisd"}, df.entrypoint)
	require.NotEmpty(t, df.healthcheck)
	require.Equal(t, "/irisd", df.healthcheck[0])
	require.Contains(t, df.env, "IRIS_ADDR_FILE")

	// The build stage's command, run here (the build stage's RUN also
	// gives VERSION, COMMIT and BUILD_DATE from build arguments).
	require.Regexp(t, `sh scripts/build.sh /out/irisd$`, df.buildRun)
	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))
	build := exec.Command("sh", "scripts/build.sh", filepath.Join(root, "irisd"))
	build.Dir = "../.."
	build.Env = append(os.Environ(), "VERSION=v0.0.0-container-test", "COMMIT=c0ffee", "BUILD_DATE=2026-01-02T03:04:05Z")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.Mkdir(filepath.Join(root, "tmp"), 0o777))
	require.NoError(t, os.Chmod(filepath.Join(root, "tmp"), 0o1777))
	require.NoError(t, os.Mkdir(filepath.Join(root, "data"), 0o755))
	require.NoError(t, os.Chown(filepath.Join(root, "data"), uid, gid))
	before := listTree(t, root)

	inImage := func(env map[string]string, args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Path = args[0] // resolved inside the chroot
		cmd.Dir = "/"
		cmd.Env = []string{}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		return cmd
	}
	out, err = inImage(df.env, "/irisd", "-version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "irisd v0.0.0-container-test (commit c0ffee, built 2026-01-02T03:04:05Z, "+goVersionOf(t, string(out))+")\n", string(out))

	// docker run -e IRIS_DATA_DIR=/data irisknn -addr 127.0.0.1:PORT
	port := freeTCPPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	require.NotEqual(t, df.env["IRIS_ADDR"], addr)
	runEnv := map[string]string{"IRIS_DATA_DIR": "/data"}
	for k, v := range df.env {
		runEnv[k] = v
	}
	srv := inImage(runEnv, append(df.entrypoint, "-addr", addr, "-grpc-addr", fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)))...)
	logs := &syncBuffer{}
	srv.Stdout, srv.Stderr = logs, logs
	require.NoError(t, srv.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			srv.Process.Kill()
			<-exited
		}
	})

	// The image's HEALTHCHECK, as Docker runs it (docker exec: same user,
	// same env, no -addr): healthy within the start period.
	healthy := false
	var hcOut []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		hcOut, err = inImage(df.env, df.healthcheck...).CombinedOutput()
		if err == nil {
			healthy = true
			break
		}
	}
	require.True(t, healthy, "HEALTHCHECK %v never passed for a server on %s: %s\nserver log:\n%s", df.healthcheck, addr, hcOut, logs.String())
	// Without the address file it checks IRIS_ADDR, where nothing listens:
	// the bug this design fixes.
	noFile := map[string]string{}
	for k, v := range df.env {
		if k != "IRIS_ADDR_FILE" {
			noFile[k] = v
		}
	}
	assert.Error(t, inImage(noFile, df.healthcheck...).Run(), "without IRIS_ADDR_FILE the health check looks at IRIS_ADDR")

	// /data is writable by the image's user: a write is journalled there.
	resp, err := http.Post("http://"+addr+"/samples", "application/json", strings.NewReader(`{"features":[5.0,3.4,1.5,0.2],"species":"setosa"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "server log:\n%s", logs.String())
	assert.FileExists(t, filepath.Join(root, "data", "log"))

	require.NoError(t, srv.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
		require.NoError(t, exitErr, "irisd exits 0 on SIGTERM\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("irisd did not stop on SIGTERM\n%s", logs.String())
	}
	// Read-only root: nothing changed outside /tmp and /data.
	after := listTree(t, root)
	for p := range after {
		if !strings.HasPrefix(p, "/tmp/") && !strings.HasPrefix(p, "/data/") {
			assert.Contains(t, before, p, "irisd wrote %s outside /tmp and /data", p)
		}
	}
	assert.NotContains(t, after, "/tmp/irisd.addr", "the address file is removed on exit")
}

func parseUser(t *testing.T, user string) (int, int) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	require.True(t, ok, "USER uid:gid, numeric (so that runAsNonRoot can check it): %q", user)
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	require.NoError(t, err1, "numeric USER")
	require.NoError(t, err2, "numeric USER group")
	require.NotZero(t, uid, "non-root USER")
	return uid, gid
}

func goVersionOf(t *testing.T, versionLine string) string {
	t.Helper()
	m := regexp.MustCompile(`, (go\S+)\)$`).FindStringSubmatch(strings.TrimSpace(versionLine))
	require.NotNil(t, m, "%q", versionLine)
	return m[1]
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// listTree returns every path under root, as seen from inside it.
func listTree(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	require.NoError(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out["/"+rel] = true
		return nil
	}))
	return out
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
