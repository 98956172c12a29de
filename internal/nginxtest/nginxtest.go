// Package nginxtest runs a real nginx with deploy/nginx.conf for tests, on
// a spare loopback port in a temporary directory, in front of the given
// replicas, and stops it when the test ends.
package nginxtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Start runs nginx with the site configuration conf (deploy/nginx.conf),
// its `server replicaN:8080` lines pointed at replicas in order (without
// `resolve`, which only names need) and its `listen 80` at a free loopback
// port, and returns its base URL. It fails the test when nginx is missing
// or does not start.
func Start(t testing.TB, conf string, replicas []string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nginx is not installed (scripts/ensure-deps.sh installs it): %v", err)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	// nginx's workers run as nobody when started by root: its directory
	// must be theirs to write.
	dir, err := os.MkdirTemp("", "irisknn-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	i := 0
	site := regexp.MustCompile(`server replica\d:8080( resolve)?`).ReplaceAllStringFunc(string(b), func(string) string {
		if i >= len(replicas) {
			t.Fatalf("%s names more replicas than the %d given", conf, len(replicas))
		}
		s := "server " + replicas[i]
		i++
		return s
	})
	if i != len(replicas) {
		t.Fatalf("%s names %d replicas, %d given", conf, i, len(replicas))
	}
	site = strings.Replace(site, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1)
	if err := os.WriteFile(filepath.Join(dir, "irisd.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/irisd.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful stop
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/nginx-health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %v\n%s", err, log)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
