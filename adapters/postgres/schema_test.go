package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/postgres"
	"github.com/bookable/lifecycle/adapters/postgres/pgtest"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// exec runs SQL in schema on the test database.
func exec(t *testing.T, schema, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err)
}

func TestMigrationsApplyOnceAndRefuseANewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, schema := pgtest.DSN(t), pgtest.Schema(t)
	s, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	applied := s.Migrated()
	require.NotEmpty(t, applied, "a new schema gets every migration")
	st, err := s.SchemaStatus(ctx)
	require.NoError(t, err)
	assert.Empty(t, st.Pending)
	assert.Equal(t, applied[len(applied)-1].Version, st.Version())
	require.NoError(t, s.Close())

	again, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	assert.Empty(t, again.Migrated(), "an up-to-date schema gets none")
	require.NoError(t, again.Close())

	exec(t, schema, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', now())`)
	_, err = postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	require.ErrorIs(t, err, postgres.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), "9999 (9999_future.sql)", "the error names the unknown migration")
	_, err = postgres.ReadSchema(ctx, dsn+"?lifecycle_schema="+schema)
	require.ErrorIs(t, err, postgres.ErrSchemaTooNew)
}

func TestOpenRefusesUnknownWakeMode(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(context.Background(), pgtest.DSN(t)+"?lifecycle_wake=sometimes")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lifecycle_wake")
}

func TestIsDSN(t *testing.T) {
	for v, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://h/db": true, "POSTGRES://h/db": true,
		"lifecycle.db": false, "/var/lib/lifecycle.db": false, "file:x.db": false, "host=h dbname=d": false,
	} {
		assert.Equal(t, want, postgres.IsDSN(v), v)
	}
}

// TestIndexConditionsFollowTheDomain: the partial indexes of active
// enrollments are written in the migration; they must name exactly the
// domain's active states.
func TestIndexConditionsFollowTheDomain(t *testing.T) {
	t.Parallel()
	s := pgtest.Open(t)
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var want, wantCourse []string
	for _, st := range enrollment.ActiveStates() {
		want = append(want, st.String())
	}
	for _, st := range courseenrollment.ActiveStates() {
		wantCourse = append(wantCourse, st.String())
	}
	for _, index := range []string{"enrollments_one_active", "enrollments_active_by_position",
		"course_enrollments_one_active", "course_enrollments_active_by_position"} {
		want := want
		if strings.HasPrefix(index, "course_") {
			want = wantCourse
		}
		var states []string
		require.NoError(t, conn.QueryRow(ctx, `SELECT array(SELECT unnest(regexp_matches(pg_get_expr(i.indpred, i.indrelid), '''([a-z_]+)''', 'g')))
			FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace
			WHERE c.relname = $1 AND n.nspname = $2`, index, s.Schema()).Scan(&states), index)
		assert.ElementsMatch(t, want, states, index)
	}
}
