package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/httpapi"
)

// TestAPIKeyFileNamesKeys: -api-key-file holds name:key lines (comments and
// blank lines skipped) or one unnamed key; bad files are refused at start
// with the line at fault.
func TestAPIKeyFileNamesKeys(t *testing.T) {
	write := func(content string) string {
		p := filepath.Join(t.TempDir(), "keys")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	c, err := parseConfig([]string{"-api-key-file", write("# team\nalice:k1\n\n bob : k2:with:colons \n")}, env(), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []httpapi.APIKey{{Name: "alice", Key: "k1"}, {Name: "bob", Key: "k2:with:colons"}}, c.APIKeys)
	assert.Empty(t, c.APIKey)

	c, err = parseConfig([]string{"-api-key-file", write("  just-one-key\n")}, env(), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "just-one-key", c.APIKey, "the older one-key format")

	for content, want := range map[string]string{
		"alice:k1\nalice:k2\n": "line 2: the name \"alice\" is given twice",
		"alice:k1\nbob:k1\n":   "line 2: this key is given twice",
		"alice:\n":             "line 1: want name:key",
		"al ice:k1\n":          "must be 1 to 64 letters",
		"# only a comment\nx":  "line 2: want name:key",
		"   \n":                "is empty",
	} {
		_, err := parseConfig([]string{"-api-key-file", write(content)}, env(), io.Discard)
		require.Error(t, err, "%q", content)
		assert.Contains(t, err.Error(), want, "%q", content)
	}
}
