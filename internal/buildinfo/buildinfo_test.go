package buildinfo

import (
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResolve(t *testing.T) {
	recorded := &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"stamped values win over recorded ones", "v2.0.0", "def456", "2026-12-02T17:00:00Z", recorded,
			Info{Version: "v2.0.0", Commit: "def456", Date: "2026-12-02T17:00:00Z", GoVersion: "go1.27.3"}},
		{"recorded values fill what is not stamped; a modified tree is marked", "", "", "", recorded,
			Info{Version: "v1.4.0", Commit: "abc123+dirty", Date: "2026-12-01T10:00:00Z", GoVersion: "go1.27.3"}},
		{"a devel build without VCS info is unknown", "", "", "", &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}},
			Info{Version: Unknown, Commit: Unknown, Date: Unknown, GoVersion: "go1.27.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, resolve(tc.version, tc.commit, tc.date, tc.bi))
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v1.0.0", Commit: "abc", Date: "2026-12-02T17:00:00Z", GoVersion: "go1.27.3"}
	assert.Equal(t, "irisd v1.0.0 (commit abc, built 2026-12-02T17:00:00Z, go1.27.3)", i.String())
}

func ExampleInfo_String() {
	i := Info{Version: "v1.0.0", Commit: "0f1e2d3", Date: "2026-12-02T17:00:00Z", GoVersion: "go1.27.3"}
	fmt.Println(i.String())
	// Output: irisd v1.0.0 (commit 0f1e2d3, built 2026-12-02T17:00:00Z, go1.27.3)
}
