package inferencepb_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates the code with the pinned
// generator (tools/protogen -check) and fails when the committed files
// differ.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the generator (tools module): not with -short")
	}
	_, file, _, _ := runtime.Caller(0)
	tools := filepath.Join(filepath.Dir(file), "..", "..", "..", "tools")
	// The go command that runs this test (the toolchain GOTOOLCHAIN chose),
	// found as `go env GOROOT` tells.
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goCmd := filepath.Join(strings.TrimSpace(string(root)), "bin", "go")
	cmd := exec.Command(goCmd, "run", "./protogen", "-check",
		"-dir", "../internal/oip/inferencepb",
		"-go-package", "github.com/irisknn/irisknn/internal/oip/inferencepb",
		"grpc_predict_v2.proto")
	cmd.Dir = tools
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	// The plugins run as `go tool`, which must find the same go.
	cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(goCmd)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("generated code check failed: %v\n%s", err, out)
	}
}
