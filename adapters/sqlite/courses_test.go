package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/storetest"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

// TestCourseIndexConditionsFollowTheDomain ties the partial indexes of
// migration 0010 to courseenrollment.ActiveStates, as
// TestIndexConditionsFollowTheDomain does for class enrollments.
func TestCourseIndexConditionsFollowTheDomain(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "active.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	var active []string
	for _, s := range courseenrollment.ActiveStates() {
		active = append(active, s.String())
	}
	for _, name := range []string{"course_enrollments_one_active", "course_enrollments_active_by_position"} {
		var sql string
		require.NoError(t, db.read.QueryRowContext(ctx,
			`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&sql), name)
		where := indexCondition(t, sql)
		assert.Equal(t, active, quotedNames(where), "%s keeps the states of the domain", name)
		assert.Equal(t, activeCourseEnrollment, where, "%s: the queries repeat the index's condition", name)
	}
}

// TestCourseQueryPlans: the reads of courses, course enrollments, series and
// settings find their rows through an index and sort nothing.
func TestCourseQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	tests := []struct{ name, query, want string }{
		{"load course", qCourse, "SEARCH courses USING PRIMARY KEY (site_id=? AND id=?)"},
		{"save course", qUpdateCourse, "SEARCH courses USING PRIMARY KEY (site_id=? AND id=?)"},
		{"load course enrollment", qCourseEnrollment, "SEARCH course_enrollments USING PRIMARY KEY (site_id=? AND id=?)"},
		{"course enrollment by key", qCourseEnrollmentByKey,
			"SEARCH course_enrollments USING INDEX course_enrollments_by_lookup_key (site_id=? AND lookup_key=?)"},
		{"active course enrollment", qActiveCourseEnrollment,
			"SEARCH course_enrollments USING INDEX course_enrollments_one_active (site_id=? AND course_id=? AND participant_id=?)"},
		{"active course enrollments by position", qActiveCourseEnrollments,
			"SEARCH course_enrollments USING INDEX course_enrollments_active_by_position (site_id=? AND course_id=?)"},
		{"course enrollments after", qCourseEnrollmentsAfter, "SEARCH course_enrollments USING PRIMARY KEY (site_id=? AND id>?)"},
		{"load series", qSeries, "SEARCH series USING PRIMARY KEY (site_id=? AND id=?)"},
		{"check cached settings", qSettingsVersion, "SEARCH site_settings USING PRIMARY KEY (site_id=?)"},
		{"site settings", qSiteSettings, "SEARCH site_settings USING PRIMARY KEY (site_id=?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := explain(t, db, tt.query)
			assert.Contains(t, plan, tt.want)
			assert.NotContains(t, plan, "TEMP B-TREE", "the query sorts its rows")
		})
	}
}

// TestUpgradeToCourses opens a database of schema version 7 that holds an
// appointment and checks that the upgraded adapter keeps it and stores
// courses, series and site settings beside it. A site without a settings
// row has none (its time zone is UTC).
func TestUpgradeToCourses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v7.db")
	t0 := storetest.T0
	site, apptID := storetest.SiteA, storetest.ID("a1000000", 1)

	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	conn, err := raw.Conn(ctx)
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	known, err := knownMigrations()
	require.NoError(t, err)
	for _, m := range known {
		if m.Version > 7 {
			break
		}
		body, err := migrationFS.ReadFile("migrations/" + m.Name)
		require.NoError(t, err)
		_, err = applyMigration(ctx, conn, m.Version, m.Name, string(body), t0)
		require.NoError(t, err)
	}
	_, err = conn.ExecContext(ctx, `INSERT INTO appointments (site_id, id, contact_id, title, start_at, end_at, state,
		cancel_reason, version) VALUES (?, ?, ?, 'Haircut', ?, ?, 'scheduled', '', 1)`,
		site.String(), apptID.String(), storetest.ID("c0000000", 1).String(), t0.Add(48*time.Hour).UnixMilli(), t0.Add(49*time.Hour).UnixMilli())
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.NoError(t, raw.Close())

	db, err := Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	var migrated []string
	for _, m := range db.Migrated() {
		migrated = append(migrated, fmt.Sprint(m.Version))
	}
	assert.Subset(t, migrated, []string{"9", "10", "11"})

	c := storetest.NewCourse(t, site, 1, 5, 2)
	e := storetest.EnrollInCourse(t, c, 1, 1)
	require.NoError(t, db.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		_, err := tx.SiteSettings(ctx, site)
		assert.ErrorIs(t, err, application.ErrNotFound)
		a, err := tx.Appointment(ctx, site, apptID)
		require.NoError(t, err)
		assert.Equal(t, "Haircut", a.Title())
		return errors.Join(tx.SaveCourse(ctx, c), tx.SaveCourseEnrollment(ctx, e))
	}))
	require.NoError(t, db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.CourseEnrollmentByKey(ctx, site, courseenrollment.LookupKey(e.ID()))
		require.NoError(t, err)
		assert.Equal(t, e.Snapshot(), got.Snapshot())
		return nil
	}))
}
