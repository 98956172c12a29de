// Package pgtest starts a real PostgreSQL server of its own for tests. It
// installs nothing: it finds Debian's binaries (/usr/lib/postgresql/*/bin, or
// initdb and postgres in PATH), runs initdb into a temporary directory it
// owns, and starts postgres on a spare loopback port with its Unix socket in
// that directory, so it never touches another server's data. Because
// PostgreSQL refuses to run as root, a test running as root runs initdb and
// postgres as the "postgres" user (the same as runuser -u postgres, but with
// the server's own pid, so a test can kill -9 it). Everything is stopped and
// removed when the test ends.
//
// When PostgreSQL is not installed the test is skipped with a message, except
// in CI (CI set), where it fails: CI must install it (scripts/ensure-deps.sh).
//
// # Example
//
//	srv := pgtest.Start(t)
//	pool, err := pgxpool.New(ctx, srv.URL())
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Options changes how the server is set up. The zero value is a server that
// listens on 127.0.0.1 only.
type Options struct {
	// Listen adds addresses to listen on besides 127.0.0.1 (for example the
	// host end of a veth pair, so a replica in a network namespace reaches the
	// server).
	Listen []string
	// Trust adds CIDRs from which any user may connect without a password.
	Trust []string
	// Settings are extra "name=value" server settings (postgres -c).
	Settings []string
}

// Server is a running PostgreSQL server with one database for the test.
type Server struct {
	Port     int    // the TCP port on every listen address
	Database string // the test's database
	Dir      string // the directory holding the data directory and the socket

	bin   string
	opts  Options
	cred  *syscall.Credential
	cmd   *exec.Cmd
	exit  chan error
	log   string
	alive bool
}

// URL returns a postgres:// URL of the test database over TCP on 127.0.0.1.
func (s *Server) URL() string { return s.URLHost("127.0.0.1") }

// URLHost returns the URL of the test database at host (one of the listen
// addresses).
func (s *Server) URLHost(host string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable",
		net.JoinHostPort(host, strconv.Itoa(s.Port)), s.Database)
}

// Pid returns the postmaster's process id, or 0 when it is not running.
func (s *Server) Pid() int {
	if !s.alive {
		return 0
	}
	return s.cmd.Process.Pid
}

// BinDir returns the directory holding the PostgreSQL binaries, or "" when
// PostgreSQL is not installed.
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// The newest major version first (numeric, so 15 sorts after 9).
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p)
		}
	}
	return ""
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

// Start starts a PostgreSQL server for t and creates a database in it.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL not found (/usr/lib/postgresql/*/bin); CI must install it (scripts/ensure-deps.sh: apt-get install -y postgresql)")
		}
		t.Skip("PostgreSQL not found (/usr/lib/postgresql/*/bin): install it (apt-get install postgresql) to run this test")
	}
	s, err := setup(bin, opts)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.remove)
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		s.Port = port
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("pgtest: could not start postgres: %v", lastErr)
	}
	if err := s.createDatabase(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// setup makes the directory and runs initdb.
func setup(bin string, opts Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Database: "iris_test", bin: bin, opts: opts, log: filepath.Join(dir, "postgres.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, which does not exist: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	out, err := s.run("initdb", "-D", s.dataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-instructions")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if len(opts.Trust) > 0 {
		var b strings.Builder
		for _, cidr := range opts.Trust {
			fmt.Fprintf(&b, "host all all %s trust\n", cidr)
		}
		f, err := os.OpenFile(filepath.Join(s.dataDir(), "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(b.String())
			f.Close()
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

// command makes a command of a PostgreSQL binary that runs as the postgres
// user when the test runs as root.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	// Its own process group, so a ^C to the test does not reach it first
	// and the cleanup decides how it stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	return s.command(name, args...).CombinedOutput()
}

// start starts postgres on s.Port and waits until it accepts connections.
func (s *Server) start() error {
	listen := strings.Join(append([]string{"127.0.0.1"}, s.opts.Listen...), ",")
	args := []string{"-D", s.dataDir(), "-p", strconv.Itoa(s.Port), "-k", s.Dir,
		"-c", "listen_addresses=" + listen, "-c", "max_connections=200",
		"-c", "synchronous_commit=on", "-c", "fsync=on"}
	for _, kv := range s.opts.Settings {
		args = append(args, "-c", kv)
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	s.cmd, s.exit, s.alive = cmd, exit, true
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.run("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres", "-t", "1")
		if err == nil {
			return nil
		}
		select {
		case werr := <-exit:
			s.alive = false
			logText, _ := os.ReadFile(s.log)
			return fmt.Errorf("postgres exited (%v): %s", werr, tail(logText))
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("postgres on port %d did not accept connections: %v %s", s.Port, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) createDatabase() error {
	out, err := s.run("createdb", "-h", s.Dir, "-p", strconv.Itoa(s.Port), "-U", "postgres", s.Database)
	if err != nil {
		return fmt.Errorf("createdb: %v: %s", err, out)
	}
	return nil
}

// Kill stops the server with SIGKILL, as a crash would: no shutdown
// checkpoint; committed transactions must survive in its WAL.
func (s *Server) Kill() {
	if !s.alive {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exit
	s.alive = false
}

// Stop shuts the server down fast (SIGINT), waiting at most 20 s before it
// kills it.
func (s *Server) Stop() {
	if !s.alive {
		return
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exit:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exit
	}
	s.alive = false
}

// Restart starts a stopped or killed server again on the same port and data.
// After a kill -9 the old server's backends may hold its shared memory for a
// moment, so it retries for a while.
func (s *Server) Restart() error {
	if s.alive {
		return errors.New("pgtest: the server is running")
	}
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = s.start(); err == nil {
			return nil
		}
	}
	return err
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

func (s *Server) remove() {
	s.Stop()
	os.RemoveAll(s.Dir)
}

func tail(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return b
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// SQL runs one statement with psql over the server's socket and returns its
// rows unaligned ("a|b" a line), for checks that need no driver.
func (s *Server) SQL(query string) (string, error) {
	out, err := s.run("psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
		"-h", s.Dir, "-p", strconv.Itoa(s.Port), "-U", "postgres", "-d", s.Database, "-c", query)
	if err != nil {
		return "", fmt.Errorf("psql: %v: %s", err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}
