package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bookable/lifecycle/adapters/postgres"
	"github.com/bookable/lifecycle/adapters/sqlite"
)

func runMigrate(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("migrate", "migrate [--db FILE] [--status]", out)
	dbPath := fs.String("db", "lifecycle.db", dbHelp+"; a SQLite file is created when missing (except with --status)")
	status := fs.Bool("status", false, "only show the applied and pending migrations; the file is opened read-only")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	if postgres.IsDSN(*dbPath) {
		return migratePostgres(ctx, *dbPath, *status, out)
	}
	if *status {
		st, err := sqlite.ReadSchema(ctx, *dbPath)
		if err != nil {
			return err
		}
		printSchema(out, *dbPath, st)
		return nil
	}
	db, err := sqlite.Open(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.Schema(ctx)
	if err != nil {
		return err
	}
	applied := db.Migrated()
	if len(applied) == 0 {
		fmt.Fprintf(out, "%s: schema version %d, up to date\n", *dbPath, st.Version())
		return nil
	}
	names := make([]string, len(applied))
	for i, m := range applied {
		names[i] = m.Name
	}
	fmt.Fprintf(out, "%s: schema version %d; applied %s\n", *dbPath, st.Version(), strings.Join(names, ", "))
	return nil
}

// printSchema prints every migration of the file and of this binary.
func printSchema(out io.Writer, path string, st sqlite.SchemaStatus) {
	fmt.Fprintf(out, "%s: schema version %d, %d migration(s) pending\n", path, st.Version(), len(st.Pending))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
	for _, m := range st.Applied {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, m.AppliedAt.Format(time.RFC3339))
	}
	for _, m := range st.Pending {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, "pending")
	}
	_ = tw.Flush()
}
