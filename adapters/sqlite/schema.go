package sqlite

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
)

// Errors of opening a database whose schema this binary cannot use as it
// is. Both come wrapped with the file and the versions involved.
var (
	// ErrSchemaTooNew: the file records a migration this binary does not
	// know; a newer lifecycle wrote it. Nothing is changed: run that
	// version, or a newer one, instead.
	ErrSchemaTooNew = errors.New("sqlite: the database has a newer schema than this binary knows")
	// ErrSchemaOutdated: a read-only open found migrations not yet applied
	// (a read-only DB cannot apply them). Run `lifecycle migrate` first.
	ErrSchemaOutdated = errors.New("sqlite: the database schema is older than this binary's; run 'lifecycle migrate'")
	// ErrReadOnly is what every write of a DB opened WithReadOnly returns.
	ErrReadOnly = errors.New("sqlite: the database was opened read-only")
)

// Migration is one embedded schema migration, as schema_migrations
// records it once applied.
type Migration struct {
	Version   int
	Name      string    // the file name, e.g. 0001_init.sql
	AppliedAt time.Time // zero while pending
}

// SchemaStatus is what DB.Schema reports: the migrations the file has, in
// order, and those of this binary it has not (Pending is empty once Open has
// run, except on a read-only DB, which refuses to open then).
type SchemaStatus struct {
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

// knownMigrations lists the embedded migrations by version. Versions need
// not be consecutive: each is applied once, in order, whatever the gaps.
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

// appliedMigrations reads schema_migrations; a file without that table has
// none.
func appliedMigrations(ctx context.Context, q querier) ([]Migration, error) {
	var n int
	if err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Migration
	for rows.Next() {
		var m Migration
		var at int64
		if err := rows.Scan(&m.Version, &m.Name, &at); err != nil {
			return nil, err
		}
		m.AppliedAt = fromMS(at)
		out = append(out, m)
	}
	return out, rows.Err()
}

// schemaStatus compares what the file has applied with what this binary
// knows. A recorded version the binary does not know is ErrSchemaTooNew.
func schemaStatus(ctx context.Context, q querier, path string) (SchemaStatus, error) {
	known, err := knownMigrations()
	if err != nil {
		return SchemaStatus{}, err
	}
	applied, err := appliedMigrations(ctx, q)
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("sqlite: read schema version of %s: %w", path, err)
	}
	st := SchemaStatus{Applied: applied}
	var unknown []string
	for _, a := range applied {
		if !slices.ContainsFunc(known, func(k Migration) bool { return k.Version == a.Version }) {
			unknown = append(unknown, fmt.Sprintf("%d (%s)", a.Version, a.Name))
		}
	}
	if len(unknown) > 0 {
		return st, fmt.Errorf("%w: %s has migration %s, this binary knows up to %d",
			ErrSchemaTooNew, path, strings.Join(unknown, ", "), known[len(known)-1].Version)
	}
	for _, k := range known {
		if !slices.ContainsFunc(applied, func(a Migration) bool { return a.Version == k.Version }) {
			st.Pending = append(st.Pending, k)
		}
	}
	return st, nil
}

// Schema reports the file's applied migrations and this binary's pending
// ones, read on a read connection.
func (db *DB) Schema(ctx context.Context) (SchemaStatus, error) {
	return schemaStatus(ctx, db.read, db.path)
}

// Migrated returns the migrations that this Open applied (none when the
// file was up to date).
func (db *DB) Migrated() []Migration { return slices.Clone(db.migrated) }

// Ping reports whether the database answers: a read on the read pool, and
// the writer not closed. It is what a readiness probe asks.
func (db *DB) Ping(ctx context.Context) error {
	if db.w.closed() {
		return ErrClosed
	}
	var one int
	if err := db.read.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", db.path, err)
	}
	return nil
}
