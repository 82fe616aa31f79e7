package main

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/postgres"
	"github.com/bookable/lifecycle/adapters/postgres/pgtest"
	"github.com/bookable/lifecycle/adapters/sqlite"
)

func TestOpenStoreSelectsTheAdapterByScheme(t *testing.T) {
	ctx := context.Background()
	s, err := openStore(ctx, filepath.Join(t.TempDir(), "lifecycle.db"), storeOptions{})
	require.NoError(t, err)
	assert.IsType(t, &sqlite.DB{}, s, "a path is a SQLite file")
	require.NoError(t, s.Close())

	_, err = openStore(ctx, filepath.Join(t.TempDir(), "missing.db"), storeOptions{existing: true})
	assert.Error(t, err, "operators' commands never create a SQLite file")

	u, err := url.Parse(pgtest.DSN(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set("lifecycle_schema", pgtest.Schema(t))
	u.RawQuery = q.Encode()
	s, err = openStore(ctx, u.String(), storeOptions{existing: true})
	require.NoError(t, err)
	assert.IsType(t, &postgres.Store{}, s, "a postgres:// URL is a DSN")
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Close())

	var out bytes.Buffer
	require.NoError(t, migratePostgres(ctx, u.String(), true, &out))
	assert.Contains(t, out.String(), "schema version 1, 0 migration(s) pending")
}

func TestDisplayDBHidesThePassword(t *testing.T) {
	assert.Equal(t, "postgres://app:xxxxx@db.internal:5432/lifecycle?sslmode=require",
		displayDB("postgres://app:s3cret@db.internal:5432/lifecycle?sslmode=require"))
	assert.Equal(t, "postgresql://db/lifecycle", displayDB("postgresql://db/lifecycle"))
	assert.Equal(t, "lifecycle.db", displayDB("lifecycle.db"))
}

// TestMigrateOnASchemaDSN: the DSN a multi-process test hands to the
// lifecycle processes it starts (pgtest.SchemaDSN) works with every
// command's --db.
func TestMigrateOnASchemaDSN(t *testing.T) {
	dsn := pgtest.SchemaDSN(t)
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"migrate", "--db", dsn}, &out, &errOut, func(string) string { return "" })
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "schema version 1; applied 0001_init.sql")
	out.Reset()
	code = Main(context.Background(), []string{"outbox", "stats", "--db", dsn}, &out, &errOut, func(string) string { return "" })
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "pending 0")
}
