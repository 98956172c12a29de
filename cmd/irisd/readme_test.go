package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docCurl is one curl command line of the docs, continuation lines joined.
type docCurl struct {
	where string // file:line
	cmd   string
	want  string // the status its comment promises ("# 201 ..."), if any
	// args are the flags of the "irisd ..." line that starts the server
	// earlier in the same code block ("" for the default server).
	args string
}

// docCurls returns every curl command in README.md and in the files under
// deploy/: lines that start with "curl " (in deploy/, after a comment's
// "#"), with their "\"-continued lines.
func docCurls(t *testing.T, root string) []docCurl {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "deploy"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	}))
	status := regexp.MustCompile(`#\s*(\d{3})\b`)
	var out []docCurl
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Split(string(b), "\n")
		args := "" // of the code block's "irisd ..." line
		strip := func(l string) string {
			l = strings.TrimSpace(l)
			if !strings.HasSuffix(f, ".md") {
				l = strings.TrimSpace(strings.TrimLeft(l, "#"))
			}
			return l
		}
		for i := 0; i < len(lines); i++ {
			l := strip(lines[i])
			switch {
			case strings.HasPrefix(l, "```"):
				args = ""
			case strings.HasPrefix(l, "irisd -"):
				args = strings.TrimSpace(strings.SplitN(strings.TrimPrefix(l, "irisd "), "#", 2)[0])
			}
			if !strings.HasPrefix(l, "curl ") {
				continue
			}
			c := docCurl{where: fmt.Sprintf("%s:%d", filepath.Base(f), i+1), args: args}
			cmd := l
			for i+1 < len(lines) {
				if strings.Count(cmd, "'")%2 == 1 { // inside a quoted string: the newline is part of it
					i++
					cmd += "\n" + strip(lines[i])
				} else if strings.HasSuffix(cmd, "\\") {
					i++
					cmd = strings.TrimSuffix(cmd, "\\") + " " + strip(lines[i])
				} else {
					break
				}
			}
			if m := status.FindStringSubmatch(cmd); m != nil {
				c.want = m[1]
			}
			c.cmd = cmd
			out = append(out, c)
		}
	}
	return out
}

// TestDocCurlsWorkAsWritten runs every curl line of the README and deploy/
// against a real irisd started as `make run` starts it (default flags), or
// with the flags of the "irisd ..." line before it in its code block (a
// file it names is taken from internal/dataset/testdata), in the order they
// appear: each must exit 0 with a 2xx status (the status
// its comment names, where it names one). "localhost:8080" becomes the
// test server's address and a job id placeholder the id of the last job
// created.
func TestDocCurlsWorkAsWritten(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing (scripts/ensure-deps.sh installs it)")
		}
		t.Skip("curl is not installed")
	}
	curls := docCurls(t, "../..")
	require.GreaterOrEqual(t, len(curls), 15, "the docs' curl lines were found")

	bin := buildIrisd(t)
	d := startDaemon(t, bin)
	others := map[string]*daemon{} // by the flags of their "irisd" line
	serverFor := func(c docCurl) *daemon {
		if c.args == "" {
			return d
		}
		if o, ok := others[c.args]; ok {
			return o
		}
		var args []string
		for _, a := range strings.Fields(c.args) {
			if strings.HasSuffix(a, ".csv") {
				a = filepath.Join("..", "..", "internal", "dataset", "testdata", a)
			}
			args = append(args, a)
		}
		o := startDaemon(t, bin, args...)
		others[c.args] = o
		return o
	}
	home := t.TempDir()
	// Every curl reports its status on stderr, whatever its own flags
	// and pipes do with stdout.
	require.NoError(t, os.WriteFile(filepath.Join(home, ".curlrc"), []byte("write-out = \"%{stderr}@@status=%{http_code} location=%header{location}\\n\"\n"), 0o644))
	statusRe := regexp.MustCompile(`@@status=(\d{3}) location=(\S*)`)
	jobID := ""
	for _, c := range curls {
		cmd := strings.ReplaceAll(c.cmd, "localhost:8080", serverFor(c).addr)
		cmd = strings.ReplaceAll(cmd, "/jobs/ID", "/jobs/"+jobID)
		t.Run(c.where, func(t *testing.T) {
			sh := exec.Command("sh", "-c", cmd)
			sh.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
			var stdout, stderr strings.Builder
			sh.Stdout, sh.Stderr = &stdout, &stderr
			err := sh.Run()
			require.NoError(t, err, "%s\n%s\nstdout: %s\nstderr: %s", c.where, c.cmd, stdout.String(), stderr.String())
			m := statusRe.FindStringSubmatch(stderr.String())
			require.NotNil(t, m, "no status from %s: %s", c.cmd, stderr.String())
			code := m[1]
			assert.Regexp(t, `^2\d\d$`, code, "%s\n%s\nanswered %s: %s", c.where, c.cmd, code, stdout.String())
			if c.want != "" {
				assert.Equal(t, c.want, code, "%s: the comment promises %s\n%s", c.where, c.want, c.cmd)
			}
			t.Logf("%s -> %s %s", c.cmd, code, m[2])
			if loc, ok := strings.CutPrefix(m[2], "/jobs/"); ok {
				jobID = loc
			}
		})
	}
	// The job the README submits ran in this server's pool.
	require.NotEmpty(t, jobID, "the docs submit a job")
	resp, err := http.Get(d.base + "/jobs/" + jobID)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
