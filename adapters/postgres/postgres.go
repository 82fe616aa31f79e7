// Package postgres is the store of lifecycle for a fleet: several instances
// of a booking product share one PostgreSQL database, their commands commit
// aggregates and Wix calls together, and their relays share the outbox
// (github.com/jackc/pgx/v5, no cgo).
//
// It implements application.Store and application.Outbox behind the same
// ports as the SQLite adapter, and passes the same contract suites, but it
// is not single-relay: every instance's relay claims at once. Calls are
// claimed in batches with FOR UPDATE SKIP LOCKED over outbox_heads, one row
// per ordering key with pending calls; a key's lease carries a token, so a
// settle or renewal from a relay that lost it changes nothing but history;
// a key holds one call in flight across the fleet, in commit order.
//
// A command runs in two transactions on one connection: its reads in a
// REPEATABLE READ READ ONLY transaction (one consistent snapshot), its
// writes staged in memory and sent at the end in one round trip, with the
// optimistic version checks, in a READ COMMITTED transaction that commits.
// A conflict found then is application.ErrConflict, and the application
// runs the command again.
//
// Wake-ups: after a commit that queued calls the store sends one coalesced
// NOTIFY (never inside the command's transaction), and Changes delivers the
// notifications of every instance from a dedicated LISTEN connection outside
// the pool; WithPollOnly turns both off for transaction-pooling proxies.
// The per-site Wix rate limit of the whole fleet lives in the database
// (Throttle). See docs/postgres.md.
//
// Times are stored as timestamptz (NULL for the zero time) and come back as
// UTC time.Time values at the microsecond.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookable/lifecycle/application"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrClosed is returned by every operation on a closed Store.
var ErrClosed = errors.New("postgres: store is closed")

// Interface checks.
var (
	_ application.Store  = (*Store)(nil)
	_ application.Outbox = (*Store)(nil)
)

// Store is an open lifecycle database on PostgreSQL. It is safe for
// concurrent use; every instance of a fleet opens its own on the same
// database.
type Store struct {
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig // for the LISTEN connection, outside the pool
	cfg      config
	schema   string // the schema the tables live in
	lockSalt uint64 // makes the advisory lock keys of this schema its own
	channel  string // the NOTIFY channel of this schema
	wake     *waker
	migrated []Migration
	closed   chan struct{}
}

type config struct {
	schema       string
	pollOnly     bool
	pollInterval time.Duration
	notifyEvery  time.Duration
	clock        application.Clock
	maxConns     int32
}

// Option configures Open.
type Option func(*config)

// WithSchema keeps the tables in schema name (created when missing) instead
// of the first schema of the connection's search_path. Several lifecycle
// databases can then share one PostgreSQL database, as the tests do.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithPollOnly turns LISTEN/NOTIFY off: no NOTIFY is sent, and Changes
// ticks every poll interval instead of listening. Use it behind a
// transaction-pooling proxy (PgBouncer in transaction mode), where LISTEN
// does not work. The DSN parameter lifecycle_wake=poll does the same.
func WithPollOnly() Option { return func(c *config) { c.pollOnly = true } }

// WithPollInterval sets how often Changes ticks in poll-only mode, and how
// long the listener waits before it connects again after losing its
// connection. The default is 1s.
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.pollInterval = d } }

// WithNotifyInterval sets the least time between two NOTIFYs of this
// instance: commits within it are announced once. The default is 50ms.
func WithNotifyInterval(d time.Duration) Option { return func(c *config) { c.notifyEvery = d } }

// WithClock sets the clock of the times the adapter fills in itself
// (migration records). The default is the wall clock.
func WithClock(clock application.Clock) Option { return func(c *config) { c.clock = clock } }

// WithMaxConns bounds the connection pool. The default is pgxpool's
// (max(4, GOMAXPROCS)) or the DSN's pool_max_conns.
func WithMaxConns(n int32) Option { return func(c *config) { c.maxConns = n } }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// IsDSN reports whether a --db value names a PostgreSQL database: a URL
// with the postgres:// or postgresql:// scheme. Anything else is a SQLite
// path.
func IsDSN(value string) bool {
	lower := strings.ToLower(value)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// Open connects to the database dsn (a postgres:// URL or a key=value
// connection string, as pgx reads it), applies the embedded migrations that
// the schema has not recorded, and starts the wake-ups. Close it when done.
// A schema that records a migration this binary does not know is
// ErrSchemaTooNew, and nothing is changed.
//
// A URL may carry lifecycle's own parameters, removed before pgx reads it:
// lifecycle_wake=poll (WithPollOnly) and lifecycle_schema=NAME
// (WithSchema).
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{pollInterval: time.Second, notifyEvery: 50 * time.Millisecond, clock: wallClock{}}
	dsn, urlOpts, err := ownParams(dsn)
	if err != nil {
		return nil, err
	}
	for _, o := range append(urlOpts, opts...) {
		o(&cfg)
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.maxConns > 0 {
		poolCfg.MaxConns = cfg.maxConns
	}
	if cfg.schema != "" {
		poolCfg.ConnConfig.RuntimeParams["search_path"] = cfg.schema
	}
	for param, value := range sessionSettings {
		if _, ok := poolCfg.ConnConfig.RuntimeParams[param]; !ok {
			poolCfg.ConnConfig.RuntimeParams[param] = value
		}
	}
	s := &Store{cfg: cfg, connCfg: poolCfg.ConnConfig.Copy(), closed: make(chan struct{})}
	if s.migrated, s.schema, err = migrate(ctx, poolCfg.ConnConfig, cfg); err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return nil, err
		}
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s.lockSalt = schemaSalt(s.schema)
	s.channel = "lifecycle_outbox_" + s.schema
	s.wake = startWaker(s)
	return s, nil
}

// sessionSettings are the settings of the store's connections, unless the
// DSN sets them. The store's statements are few, prepared once per
// connection, and find rows through indexes by keys or key arrays:
// planning them anew at every execution (PostgreSQL's custom plans) costs
// more than running them, so their generic plan is used; and a generic
// plan made while a table was still empty (a new database) must not keep
// a sequential scan as the table grows, so the planner takes an index
// whenever one serves. Stats, which counts every call, turns sequential
// scans back on for itself.
var sessionSettings = map[string]string{
	"plan_cache_mode": "force_generic_plan",
	"enable_seqscan":  "off",
}

// ownParams removes lifecycle's parameters from a URL DSN and returns
// them as options.
func ownParams(dsn string) (string, []Option, error) {
	if !IsDSN(dsn) {
		return dsn, nil, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	q := u.Query()
	var opts []Option
	switch v := q.Get("lifecycle_wake"); v {
	case "", "listen":
	case "poll":
		opts = append(opts, WithPollOnly())
	default:
		return "", nil, fmt.Errorf("postgres: DSN parameter lifecycle_wake=%q: want listen or poll", v)
	}
	if v := q.Get("lifecycle_schema"); v != "" {
		opts = append(opts, WithSchema(v))
	}
	// The other parameters stay as written: pgx reads them itself.
	var kept []string
	for _, part := range strings.Split(u.RawQuery, "&") {
		if key, _, _ := strings.Cut(part, "="); part != "" && !strings.HasPrefix(key, "lifecycle_") {
			kept = append(kept, part)
		}
	}
	u.RawQuery = strings.Join(kept, "&")
	return u.String(), opts, nil
}

// Close stops the wake-ups and closes the connections. Operations after
// Close return ErrClosed.
func (s *Store) Close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	close(s.closed)
	s.wake.stop()
	s.pool.Close()
	return nil
}

// isClosed reports whether Close was called.
func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Schema returns the schema the tables live in.
func (s *Store) Schema() string { return s.schema }

// Ping reports whether the database answers, for a readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`).Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// schemaSalt makes the advisory lock keys of a schema its own.
func schemaSalt(schema string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("lifecycle/" + schema))
	return h.Sum64()
}

// lockKeys returns the advisory lock keys of ordering keys, sorted and
// without repeats, so that every transaction takes them in one order.
func (s *Store) lockKeys(keys []string) []int64 {
	out := make([]int64, 0, len(keys))
	seen := make(map[int64]struct{}, len(keys))
	for _, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		v := int64(h.Sum64() ^ s.lockSalt)
		if _, ok := seen[v]; ok {
			continue
		}
		seen[v] = struct{}{}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// SQLSTATEs the adapter maps.
const (
	codeUniqueViolation = "23505"
	codeExpect          = "LC409" // lifecycle_expect
	codeSerialization   = "40001"
	codeDeadlock        = "40P01"
)

// conflict maps the errors of a commit that mean another transaction got
// there first to application.ErrConflict, naming what collided.
func conflict(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case codeExpect:
		return fmt.Errorf("%s: %w", pe.Message, application.ErrConflict)
	case codeUniqueViolation:
		return fmt.Errorf("%s (%s): %w", uniqueWhat(pe.ConstraintName), pe.Detail, application.ErrConflict)
	case codeSerialization, codeDeadlock:
		return fmt.Errorf("%s: %w", pe.Message, application.ErrConflict)
	}
	return err
}

// uniqueWhat names what a unique constraint protects.
func uniqueWhat(constraint string) string {
	switch constraint {
	case "appointments_pkey":
		return "appointment already exists"
	case "classes_pkey":
		return "class already exists"
	case "enrollments_pkey":
		return "enrollment already exists"
	case "enrollments_one_active":
		return "participant already has an active enrollment in the class"
	case "courses_pkey":
		return "course already exists"
	case "course_enrollments_pkey":
		return "course enrollment already exists"
	case "course_enrollments_one_active":
		return "participant already has an active enrollment in the course"
	case "course_enrollments_by_lookup_key":
		return "another course enrollment has the same lookup key"
	case "series_pkey":
		return "series already exists"
	case "site_settings_pkey":
		return "site settings already exist"
	case "outbox_id_key":
		return "call already enqueued"
	case "idempotency_keys_pkey":
		return "idempotency key already used"
	}
	return "duplicate " + constraint
}

// ts encodes a time for a timestamptz parameter: the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t.UTC(), Valid: true}
}

// fromTS decodes a timestamptz: NULL is the zero time, others UTC.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// micro truncates t to what timestamptz keeps.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
