// Package sqlite is the embedded default store of lifecycle: aggregates and
// the outbox of Wix calls in one SQLite file (modernc.org/sqlite, no cgo),
// committed together.
//
// It implements application.Store and application.Outbox. The file runs in
// WAL mode with synchronous=FULL by default, so a command is acknowledged
// only once its commit is on disk. Every write of the process goes through
// one writer goroutine that owns the only write connection and commits
// concurrent commands together (group commit), each refused or failing one
// rolled back alone. Under concurrency a command runs on its caller's
// goroutine against a read snapshot and hands the writer only its writes
// (see DB.Update). Reads use a separate pool of read-only connections.
//
// Times are stored as INTEGER unix milliseconds in UTC (0 means unset) and
// come back as UTC time.Time values truncated to the millisecond.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bookable/lifecycle/application"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrClosed is returned by every operation on a closed DB.
var ErrClosed = errors.New("sqlite: database is closed")

// Interface checks.
var (
	_ application.Store  = (*DB)(nil)
	_ application.Outbox = (*DB)(nil)
)

// DB is an open lifecycle database file. It is safe for concurrent use; open
// one DB per file and process, since the group commit that makes writes fast
// works within one DB value.
type DB struct {
	path  string
	cfg   config
	write *sql.DB    // one connection, owned by the writer goroutine
	read  *sql.DB    // read-only pool for View and the outbox queries
	reads *readStmts // the reads of Update's snapshots, prepared once on read
	// stageAlways makes Update stage even when the writer is idle (tests).
	stageAlways bool
	w           *writer
}

type config struct {
	syncNormal  bool
	busyTimeout time.Duration
	clock       application.Clock
	maxBatch    int
	readConns   int
}

// Option configures Open.
type Option func(*config)

// WithSynchronous chooses synchronous=NORMAL when normal is true: commits
// are then durable against a process crash but may be lost on a power
// failure or OS crash. The default, FULL, fsyncs every commit.
func WithSynchronous(normal bool) Option { return func(c *config) { c.syncNormal = normal } }

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (another lifecycle command on the same file) before it
// fails with SQLITE_BUSY. The default is 5 seconds.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithClock sets the clock used for times the adapter fills in itself (a
// call enqueued without CreatedAt, an outcome without At, migration
// records). The default is the wall clock.
func WithClock(clock application.Clock) Option { return func(c *config) { c.clock = clock } }

// WithMaxBatch bounds how many writes the writer gathers into one
// transaction. The default is 128; 1 disables group commit.
func WithMaxBatch(n int) Option { return func(c *config) { c.maxBatch = n } }

// WithReadConns sets the size of the read-only connection pool. The default
// is max(4, GOMAXPROCS).
func WithReadConns(n int) Option { return func(c *config) { c.readConns = n } }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Open opens (creating if needed) the database file at path, applies the
// embedded migrations that are not yet recorded in schema_migrations, and
// starts the writer. Close it when done.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	cfg := config{
		busyTimeout: 5 * time.Second,
		clock:       wallClock{},
		maxBatch:    128,
		readConns:   max(4, runtime.GOMAXPROCS(0)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBatch < 1 {
		cfg.maxBatch = 1
	}
	if cfg.readConns < 1 {
		cfg.readConns = 1
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: need a plain file path (an in-memory database cannot be shared by the write and read connections)", path)
	}
	db := &DB{path: path, cfg: cfg}

	write, err := sql.Open("sqlite", db.dsn(false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	conn, err := write.Conn(ctx)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, conn, cfg.clock); err != nil {
		conn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}

	read, err := sql.Open("sqlite", db.dsn(true))
	if err != nil {
		conn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(cfg.readConns)
	read.SetMaxIdleConns(cfg.readConns)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		conn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	reads, err := prepareReads(ctx, read, aggregateReads)
	if err != nil {
		read.Close()
		conn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.write, db.read, db.reads = write, read, reads
	db.w = startWriter(conn, cfg.maxBatch)
	return db, nil
}

// dsn builds the modernc DSN. Writers begin IMMEDIATE transactions so that a
// read-then-write never fails to upgrade its lock; readers are query_only.
func (db *DB) dsn(readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", db.cfg.busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// The writer runs each job in a savepoint; its sub-journal (the pages a
	// job changed, kept to roll the job back) then lives in memory instead
	// of a temp file written page by page.
	q.Add("_pragma", "temp_store(MEMORY)")
	if db.cfg.syncNormal {
		q.Add("_pragma", "synchronous(NORMAL)")
	} else {
		q.Add("_pragma", "synchronous(FULL)")
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: db.path}).EscapedPath() + "?" + q.Encode()
}

// Path returns the file the DB was opened on.
func (db *DB) Path() string { return db.path }

// Close stops the writer once its current batch has committed, fails the
// writes still waiting with ErrClosed, and closes the connections.
func (db *DB) Close() error {
	if !db.w.stop() {
		return nil
	}
	return errors.Join(db.reads.close(), db.read.Close(), db.write.Close())
}

// WriterStats describes the work of the writer goroutine so far.
type WriterStats struct {
	Batches  int64 // transactions committed or rolled back
	Writes   int64 // Update calls and outbox writes run in those transactions
	MaxBatch int64 // the most writes gathered into one transaction
	Waiting  int64 // writes queued for the writer right now
}

// WriterStats returns the writer's counters (how well writes are batched).
func (db *DB) WriterStats() WriterStats { return db.w.stats() }

// migrate applies the embedded migrations in name order, each in its own
// transaction, and records them in schema_migrations. It is safe to run
// from two processes at once: a migration is checked and applied under the
// write lock.
func migrate(ctx context.Context, conn *sql.Conn, clock application.Clock) error {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %s: name must start with a number and '_'", base)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		if err := applyMigration(ctx, conn, version, base, string(body), clock.Now()); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, version int, name, body string, now time.Time) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, rbErr := conn.ExecContext(context.Background(), "ROLLBACK")
			err = errors.Join(err, rbErr)
		}
	}()
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		_, err := conn.ExecContext(ctx, "COMMIT")
		return err
	}
	if _, err := conn.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		version, name, toMS(now)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// toMS stores t as unix milliseconds; the zero time is 0.
func toMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS reads unix milliseconds back as a UTC time; 0 is the zero time.
func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// isUniqueViolation reports whether err is a PRIMARY KEY or UNIQUE
// constraint failure.
func isUniqueViolation(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
