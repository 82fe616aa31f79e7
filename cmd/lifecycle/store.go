package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bookable/lifecycle/adapters/postgres"
	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
)

// dbHelp is the help of every --db flag.
const dbHelp = "SQLite database file, or a postgres:// (postgresql://) DSN for a fleet on PostgreSQL"

// store is what the commands use of a database, whichever adapter holds it.
type store interface {
	application.Store
	application.Outbox
	// RateStore keeps the per-site rate limit for every process on the
	// database.
	relay.RateStore
	// Watcher tells the relay of commits by other processes.
	relay.Watcher
	// Ping reports whether the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// storeOptions are what a command asks of the database it opens.
type storeOptions struct {
	existing   bool // SQLite: refuse a missing file instead of creating one
	readOnly   bool // SQLite: open read-only (operators' reads)
	syncNormal bool // SQLite: synchronous=NORMAL
}

// openStore opens the store a --db value names: a URL with the postgres://
// or postgresql:// scheme is a PostgreSQL DSN (its schema migrated on
// open), anything else a SQLite file path. The SQLite options do not apply
// to PostgreSQL, whose durability and access are the server's.
func openStore(ctx context.Context, db string, o storeOptions) (store, error) {
	if postgres.IsDSN(db) {
		s, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	opts := []sqlite.Option{sqlite.WithSynchronous(o.syncNormal)}
	switch {
	case o.readOnly:
		opts = append(opts, sqlite.WithReadOnly())
	case o.existing:
		opts = append(opts, sqlite.WithExisting())
	}
	s, err := sqlite.Open(ctx, db, opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// displayDB returns a --db value fit for logs and messages: a DSN without
// its password.
func displayDB(db string) string {
	if !postgres.IsDSN(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable DSN)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// migratePostgres is `lifecycle migrate` on a PostgreSQL DSN: apply the
// migrations the schema lacks (Open does), or with status only show them.
func migratePostgres(ctx context.Context, dsn string, status bool, out io.Writer) error {
	name := displayDB(dsn)
	if status {
		st, err := postgres.ReadSchema(ctx, dsn)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s (schema %s): schema version %d, %d migration(s) pending\n", name, st.Schema, st.Version(), len(st.Pending))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
		for _, m := range st.Applied {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, m.AppliedAt.Format(time.RFC3339))
		}
		for _, m := range st.Pending {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, "pending")
		}
		return tw.Flush()
	}
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	applied := s.Migrated()
	if len(applied) == 0 {
		fmt.Fprintf(out, "%s (schema %s): schema version %d, up to date\n", name, st.Schema, st.Version())
		return nil
	}
	names := make([]string, len(applied))
	for i, m := range applied {
		names[i] = m.Name
	}
	fmt.Fprintf(out, "%s (schema %s): schema version %d; applied %s\n", name, st.Schema, st.Version(), strings.Join(names, ", "))
	return nil
}
