package lifecycle_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDependenciesPointInward fails when a layer imports what it must not:
// domain knows nothing of the application, adapters, SQL, HTTP or the
// network; the application knows no adapter and does no I/O of its own.
func TestDependenciesPointInward(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./domain/...", "./application/...").Output()
	require.NoError(t, err, "go list")
	dec := json.NewDecoder(strings.NewReader(string(out)))
	type pkg struct {
		ImportPath string
		Imports    []string
	}
	const module = "github.com/bookable/lifecycle/"
	forbiddenIO := []string{"database/sql", "net", "net/http", "os", "os/exec", "io/ioutil", "syscall", "modernc.org/sqlite"}
	checked := 0
	for dec.More() {
		var p pkg
		require.NoError(t, dec.Decode(&p))
		checked++
		rel := strings.TrimPrefix(p.ImportPath, module)
		// Contract suites and test doubles are test support, not the engine.
		support := strings.HasSuffix(rel, "test") || strings.HasSuffix(rel, "/fake")
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(rel, "domain"):
				require.False(t, strings.HasPrefix(imp, module+"application"), "%s imports %s", p.ImportPath, imp)
				require.False(t, strings.HasPrefix(imp, module+"adapters"), "%s imports %s", p.ImportPath, imp)
				require.NotContains(t, forbiddenIO, imp, "%s does I/O through %s", p.ImportPath, imp)
				require.False(t, strings.HasPrefix(imp, "net/"), "%s imports %s", p.ImportPath, imp)
			case strings.HasPrefix(rel, "application"):
				require.False(t, strings.HasPrefix(imp, module+"adapters"), "%s imports %s", p.ImportPath, imp)
				require.False(t, strings.HasPrefix(imp, module+"cmd"), "%s imports %s", p.ImportPath, imp)
				if !support {
					require.NotContains(t, forbiddenIO, imp, "%s does I/O through %s", p.ImportPath, imp)
					require.False(t, strings.HasPrefix(imp, "net/"), "%s imports %s", p.ImportPath, imp)
				}
			}
		}
	}
	require.Greater(t, checked, 5, "the packages were listed")
}
