package sqlite

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain/enrollment"
)

// TestIndexConditionsFollowTheDomain proves that the partial indexes the
// migrations create keep exactly the enrollments the domain calls active
// (enrollment.ActiveStates) or waitlisted: a migration cannot be generated
// from the domain, so this test is what ties the two. It reads the indexes
// as the migrated schema holds them, and the states they list.
func TestIndexConditionsFollowTheDomain(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "active.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	var active []string
	for _, s := range enrollment.ActiveStates() {
		active = append(active, s.String())
	}

	want := map[string][]string{
		"enrollments_one_active":         active,
		"enrollments_active_by_position": active,
		"enrollments_waitlist":           {enrollment.StateWaitlisted.String()},
	}
	conds := map[string]string{
		"enrollments_one_active":         activeEnrollment,
		"enrollments_active_by_position": activeEnrollment,
		"enrollments_waitlist":           waitlistedEnrollment,
	}
	for name, states := range want {
		var sql string
		require.NoError(t, db.read.QueryRowContext(ctx,
			`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&sql), name)
		where := indexCondition(t, sql)
		assert.Equal(t, states, quotedNames(where), "%s keeps the states of the domain", name)
		assert.Equal(t, conds[name], where, "%s: the queries repeat the index's condition, so SQLite uses it", name)
	}
}

// indexCondition returns the WHERE of a CREATE INDEX, spaces collapsed.
func indexCondition(t *testing.T, sql string) string {
	t.Helper()
	_, where, ok := strings.Cut(strings.Join(strings.Fields(sql), " "), " WHERE ")
	require.True(t, ok, "a partial index: %s", sql)
	return strings.TrimSuffix(where, ";")
}

var quoted = regexp.MustCompile(`'([^']*)'`)

// quotedNames returns the string literals of a condition, in order.
func quotedNames(cond string) []string {
	var out []string
	for _, m := range quoted.FindAllStringSubmatch(cond, -1) {
		out = append(out, m[1])
	}
	return out
}
