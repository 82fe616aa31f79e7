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
	"net/url"
	"runtime"
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
	// afterLease, set by tests, runs in Claim between the lease's commit
	// and the read of the leased calls.
	afterLease func()
	w          *writer
	migrated   []Migration // what this Open applied
	// settings holds the site settings staged Updates read
	// (settings_cache.go).
	settings *settingsCache
}

type config struct {
	existing    bool // the file must exist
	readOnly    bool // no writer, no migration (implies existing)
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

// WithExisting makes Open refuse a path where no file exists, instead of
// creating a new database there: operators' commands use it, so that a
// mistyped --db is an error naming the path rather than an empty database.
// The error wraps fs.ErrNotExist.
func WithExisting() Option { return func(c *config) { c.existing = true } }

// WithReadOnly opens an existing database for reading only (see
// openReadOnly): no write connection, no writer, no migration. Every write
// (Update, the outbox's Claim, Settle, Retry, Discard, Prune) returns
// ErrReadOnly. It works on a file the process cannot write. A file with
// migrations this binary has and the file lacks is ErrSchemaOutdated.
func WithReadOnly() Option { return func(c *config) { c.readOnly, c.existing = true, true } }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Open opens the database file at path, applies the embedded migrations
// that are not yet recorded in schema_migrations, and starts the writer.
// Close it when done. A missing file is created, readable and writable by
// its owner only (0600), and so are its -wal and -shm files, which SQLite
// creates with the database file's permissions; WithExisting refuses a
// missing file instead. A file that records a migration this binary does not
// know is ErrSchemaTooNew.
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
	db := &DB{path: path, cfg: cfg, settings: newSettingsCache()}
	if err := prepareFile(path, cfg.existing); err != nil {
		return nil, err
	}
	if cfg.readOnly {
		return openReadOnly(ctx, db)
	}

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
	migrated, err := migrate(ctx, conn, cfg.clock, path)
	if err != nil {
		conn.Close()
		write.Close()
		if errors.Is(err, ErrSchemaTooNew) {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	db.migrated = migrated

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
	err := errors.Join(db.reads.close(), db.read.Close())
	if db.write != nil { // nil when opened read-only
		err = errors.Join(err, db.write.Close())
	}
	return err
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

// migrate applies the embedded migrations that the file has not recorded,
// in version order, each in its own transaction, records them in
// schema_migrations, and returns those it applied. A file that records a
// migration this binary does not know is ErrSchemaTooNew, and nothing is
// applied. It is safe to run from two processes at once: a migration is
// checked and applied under the write lock.
func migrate(ctx context.Context, conn *sql.Conn, clock application.Clock, path string) ([]Migration, error) {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return nil, err
	}
	st, err := schemaStatus(ctx, conn, path)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, m := range st.Pending {
		body, err := migrationFS.ReadFile("migrations/" + m.Name)
		if err != nil {
			return done, err
		}
		now := clock.Now()
		applied, err := applyMigration(ctx, conn, m.Version, m.Name, string(body), now)
		if err != nil {
			return done, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if applied {
			m.AppliedAt = fromMS(toMS(now))
			done = append(done, m)
		}
	}
	return done, nil
}

// applyMigration applies one migration unless schema_migrations already
// records it (another process was first), and reports whether it did.
func applyMigration(ctx context.Context, conn *sql.Conn, version int, name, body string, now time.Time) (applied bool, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_, rbErr := conn.ExecContext(context.Background(), "ROLLBACK")
			err = errors.Join(err, rbErr)
		}
	}()
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		_, err := conn.ExecContext(ctx, "COMMIT")
		return false, err
	}
	if _, err := conn.ExecContext(ctx, body); err != nil {
		return false, err
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		version, name, toMS(now)); err != nil {
		return false, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return false, err
	}
	return true, nil
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
