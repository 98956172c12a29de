// Package buildinfo tells which build of irisd is running: its version,
// the commit it was built from and when it was built.
//
// The values come from the linker when the build stamps them (the
// Makefile, the Dockerfile and .ci/run do):
//
//	go build -ldflags "-X github.com/irisknn/irisknn/internal/buildinfo.version=v1.2.0 \
//	    -X github.com/irisknn/irisknn/internal/buildinfo.commit=$(git rev-parse HEAD) \
//	    -X github.com/irisknn/irisknn/internal/buildinfo.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// and otherwise from what the go command records in every binary
// (runtime/debug.ReadBuildInfo): the module version of a `go install
// module@version`, and the VCS revision and commit time of a build inside a
// git checkout. A value known from neither is "unknown".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Set by -ldflags -X (see the package doc); empty when not stamped.
var (
	version string
	commit  string
	date    string
)

// Unknown is the value of a field that no source gave.
const Unknown = "unknown"

// Info describes one build.
type Info struct {
	Version   string `json:"version"`    // release version (a tag such as v1.2.0), or "dev"/"unknown"
	Commit    string `json:"commit"`     // full VCS revision, "+dirty" appended for a modified tree
	Date      string `json:"build_date"` // RFC 3339 time of the build (the commit time when the build did not stamp one)
	GoVersion string `json:"go_version"` // the toolchain that built it
}

var (
	once sync.Once
	info Info
)

// Get returns the running binary's build info. It is computed once.
func Get() Info {
	once.Do(func() {
		bi, _ := debug.ReadBuildInfo()
		info = resolve(version, commit, date, bi)
	})
	return info
}

// resolve merges the stamped values with the recorded build info; a
// stamped value wins.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	i := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		var rev, vtime string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				vtime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if i.Commit == "" && rev != "" {
			i.Commit = rev
			if modified {
				i.Commit += "+dirty"
			}
		}
		if i.Date == "" {
			i.Date = vtime
		}
	}
	for _, f := range []*string{&i.Version, &i.Commit, &i.Date} {
		if *f == "" {
			*f = Unknown
		}
	}
	return i
}

// String is the one line `irisd -version` prints.
func (i Info) String() string {
	return fmt.Sprintf("irisd %s (commit %s, built %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion)
}
