// Package pgtest opens PostgreSQL stores for tests: each in a schema of its
// own, dropped when the test ends, so that tests run in parallel on one
// database and leave nothing behind. The database is the one
// LIFECYCLE_TEST_POSTGRES_DSN names; without it the tests are skipped with
// a message naming the variable. .ci/run sets it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bookable/lifecycle/adapters/postgres"
)

// EnvDSN is the environment variable naming the test database.
const EnvDSN = "LIFECYCLE_TEST_POSTGRES_DSN"

// DSN returns the test database's DSN, or skips tb when it is not set.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		tb.Skipf("%s is not set: set it to a PostgreSQL DSN (e.g. postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL tests", EnvDSN)
	}
	return dsn
}

// Schema returns a new schema name for tb and drops that schema when tb
// ends. Open creates it.
func Schema(tb testing.TB) string {
	tb.Helper()
	dsn := DSN(tb)
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	name := "lc_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return name
}

// Open opens a store in a fresh schema of the test database, closed and
// dropped when tb ends.
func Open(tb testing.TB, opts ...postgres.Option) *postgres.Store {
	tb.Helper()
	dsn := DSN(tb)
	schema := Schema(tb)
	s, err := postgres.Open(context.Background(), dsn, append([]postgres.Option{postgres.WithSchema(schema)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// SchemaDSN returns a postgres:// DSN of the test database that selects a
// fresh schema (lifecycle_schema), dropped when tb ends: what a test gives
// the lifecycle processes it starts (lifecycle serve|relay --db DSN), such
// as the multi-process harness of several relays. The first process to
// open it creates the schema. A key=value DSN in EnvDSN is refused.
func SchemaDSN(tb testing.TB) string {
	tb.Helper()
	dsn := DSN(tb)
	if !postgres.IsDSN(dsn) {
		tb.Fatalf("%s must be a postgres:// URL for SchemaDSN, not %q", EnvDSN, dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	name := Schema(tb)
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "lifecycle_schema=" + url.QueryEscape(name)
	return u.String()
}
