//go:build !unix

package wal

import "os"

// lockDir opens path; on this platform there is no advisory lock, so the
// operator must make sure that one process uses a data dir at a time.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
}
