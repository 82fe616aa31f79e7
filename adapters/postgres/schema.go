package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Errors of opening a database whose schema this binary cannot use as it
// is. Both come wrapped with the schema and the versions involved.
var (
	// ErrSchemaTooNew: the schema records a migration this binary does not
	// know; a newer lifecycle wrote it. Nothing is changed: run that
	// version, or a newer one, instead.
	ErrSchemaTooNew = errors.New("postgres: the database has a newer schema than this binary knows")
	// ErrSchemaOutdated: ReadSchema found migrations not yet applied. Run
	// `lifecycle migrate` (or any command that opens the store) first.
	ErrSchemaOutdated = errors.New("postgres: the database schema is older than this binary's; run 'lifecycle migrate'")
)

// Migration is one embedded schema migration, as schema_migrations
// records it once applied.
type Migration struct {
	Version   int
	Name      string    // the file name, e.g. 0001_init.sql
	AppliedAt time.Time // zero while pending
}

// SchemaStatus is the migrations a schema has, in order, and those of this
// binary it has not.
type SchemaStatus struct {
	Schema  string
	Applied []Migration
	Pending []Migration
}

// Version is the highest applied migration, 0 for none.
func (s SchemaStatus) Version() int {
	if len(s.Applied) == 0 {
		return 0
	}
	return s.Applied[len(s.Applied)-1].Version
}

// migrationLock is the session advisory lock (salted with the schema) under
// which one process at a time checks and applies migrations.
const migrationLock = 0x6c6966656379636c // "lifecycl"

// knownMigrations lists the embedded migrations by version.
func knownMigrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		if len(out) > 0 && out[len(out)-1].Version == version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[len(out)-1].Name, base, version)
		}
		out = append(out, Migration{Version: version, Name: base})
	}
	return out, nil
}

// connectSchema opens one connection outside the pool, creating the
// configured schema when it is missing, and returns the schema the tables
// live in (the first of the search_path).
func connectSchema(ctx context.Context, connCfg *pgx.ConnConfig, cfg config, create bool) (*pgx.Conn, string, error) {
	conn, err := pgx.ConnectConfig(ctx, connCfg)
	if err != nil {
		return nil, "", err
	}
	if cfg.schema != "" && create {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{cfg.schema}.Sanitize()); err != nil {
			conn.Close(ctx)
			return nil, "", err
		}
	}
	var schema pgtype.Text
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		conn.Close(ctx)
		return nil, "", err
	}
	if !schema.Valid {
		conn.Close(ctx)
		return nil, "", fmt.Errorf("no schema of the search_path %q exists", connCfg.RuntimeParams["search_path"])
	}
	return conn, schema.String, nil
}

// migrate applies the embedded migrations that the schema has not
// recorded, each in its own transaction, and returns those it applied and
// the schema. Two processes may run it at once: a session advisory lock
// makes the second wait and find the work done.
func migrate(ctx context.Context, connCfg *pgx.ConnConfig, cfg config) ([]Migration, string, error) {
	conn, schema, err := connectSchema(ctx, connCfg, cfg, true)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close(context.Background())
	lock := int64(migrationLock ^ schemaSalt(schema))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lock); err != nil {
		return nil, schema, err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lock) //nolint:errcheck // closing the session unlocks too
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return nil, schema, err
	}
	st, err := schemaStatus(ctx, conn, schema)
	if err != nil {
		return nil, schema, err
	}
	var done []Migration
	for _, m := range st.Pending {
		body, err := migrationFS.ReadFile("migrations/" + m.Name)
		if err != nil {
			return done, schema, err
		}
		m.AppliedAt = micro(cfg.clock.Now().UTC())
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, m.AppliedAt)
			return err
		}); err != nil {
			return done, schema, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		done = append(done, m)
	}
	return done, schema, nil
}

// schemaStatus compares what the schema has applied with what this binary
// knows. A recorded version the binary does not know is ErrSchemaTooNew.
func schemaStatus(ctx context.Context, conn *pgx.Conn, schema string) (SchemaStatus, error) {
	known, err := knownMigrations()
	if err != nil {
		return SchemaStatus{}, err
	}
	st := SchemaStatus{Schema: schema}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return st, fmt.Errorf("postgres: read schema version of %s: %w", schema, err)
	}
	if exists {
		rows, err := conn.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			return st, fmt.Errorf("postgres: read schema version of %s: %w", schema, err)
		}
		for rows.Next() {
			var m Migration
			if err := rows.Scan(&m.Version, &m.Name, &m.AppliedAt); err != nil {
				rows.Close()
				return st, err
			}
			m.AppliedAt = m.AppliedAt.UTC()
			st.Applied = append(st.Applied, m)
		}
		if err := rows.Err(); err != nil {
			return st, err
		}
	}
	var unknown []string
	for _, a := range st.Applied {
		if !slices.ContainsFunc(known, func(k Migration) bool { return k.Version == a.Version }) {
			unknown = append(unknown, fmt.Sprintf("%d (%s)", a.Version, a.Name))
		}
	}
	if len(unknown) > 0 {
		return st, fmt.Errorf("%w: schema %s has migration %s, this binary knows up to %d",
			ErrSchemaTooNew, schema, strings.Join(unknown, ", "), known[len(known)-1].Version)
	}
	for _, k := range known {
		if !slices.ContainsFunc(st.Applied, func(a Migration) bool { return a.Version == k.Version }) {
			st.Pending = append(st.Pending, k)
		}
	}
	return st, nil
}

// ReadSchema reports the migrations of the database at dsn without
// applying any (lifecycle migrate --status). A schema with migrations this
// binary does not know is ErrSchemaTooNew.
func ReadSchema(ctx context.Context, dsn string, opts ...Option) (SchemaStatus, error) {
	cfg := config{}
	dsn, urlOpts, err := ownParams(dsn)
	if err != nil {
		return SchemaStatus{}, err
	}
	for _, o := range append(urlOpts, opts...) {
		o(&cfg)
	}
	connCfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("postgres: %w", err)
	}
	if cfg.schema != "" {
		connCfg.RuntimeParams["search_path"] = cfg.schema
	}
	conn, schema, err := connectSchema(ctx, connCfg, cfg, false)
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	return schemaStatus(ctx, conn, schema)
}

// SchemaStatus reports the schema's applied migrations and this binary's
// pending ones.
func (s *Store) SchemaStatus(ctx context.Context) (SchemaStatus, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	return schemaStatus(ctx, conn.Conn(), s.schema)
}

// Migrated returns the migrations that this Open applied (none when the
// schema was up to date).
func (s *Store) Migrated() []Migration { return slices.Clone(s.migrated) }
