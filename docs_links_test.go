package lifecycle_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mdLink finds the targets of Markdown links: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// outsidePath finds backquoted paths that climb out of the repository.
var outsidePath = regexp.MustCompile("`(\\.\\./[^`]*)`")

// TestDocsLinksStayInRepository: every link of the README and docs/ is
// relative and names a file or directory of the repository, and no doc
// points at a path above it. The docs must read the same in any checkout.
func TestDocsLinksStayInRepository(t *testing.T) {
	files := []string{"README.md"}
	more, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	files = append(files, more...)
	checked := 0
	for _, file := range files {
		body, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range mdLink.FindAllStringSubmatch(string(body), -1) {
			target := m[1]
			checked++
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				t.Errorf("%s links outside the repository: %s", file, target)
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			if target == "" {
				continue // an anchor in the same file
			}
			resolved := filepath.Join(filepath.Dir(file), target)
			if strings.HasPrefix(resolved, "..") {
				t.Errorf("%s links above the repository: %s", file, m[1])
				continue
			}
			_, err := os.Stat(resolved)
			assert.NoError(t, err, "%s links to %s, which is not in the repository", file, m[1])
		}
		for _, m := range outsidePath.FindAllStringSubmatch(string(body), -1) {
			resolved := filepath.Join(filepath.Dir(file), m[1])
			if strings.HasPrefix(resolved, "..") {
				t.Errorf("%s names a path above the repository: %s", file, m[1])
			}
		}
	}
	assert.Positive(t, checked)
}
