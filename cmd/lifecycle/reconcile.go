package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

const reconcileSynopsis = `reconcile [--site ID] [--dry-run] [--max-age DURATION] [flags]

Makes Wix match the bookings: for every appointment (series occurrences too),
enrollment and course enrollment with its seat in every session (of one site,
or of every site), compares what its state calls for at Wix with what
lifecycle believes is live there, and queues the calls that make Wix match.
The relay of serve or relay delivers them. --dry-run prints the plan and
queues nothing. A second run right after the first queues nothing.`

// runReconcile prints one line per repair (a table, or JSON lines with
// --json) and a summary on stderr.
func runReconcile(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("reconcile", reconcileSynopsis, out)
	dbPath := fs.String("db", "lifecycle.db", "SQLite database file")
	site := fs.siteVar("only this site (Wix app instance) ID; default: every site")
	dryRun := fs.Bool("dry-run", false, "print the repairs, queue nothing")
	maxAge := fs.Duration("max-age", application.DefaultMaxAge, "a real-time event never delivered is sent only if it happened this recently")
	catalogPath := fs.String("catalog", "", "catalog settings file (JSON: role -> {key, enabled}); default: the seed's triggers")
	asJSON := fs.Bool("json", false, "print one JSON object per repair, for scripts")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	if *maxAge <= 0 {
		return usageError("--max-age must be positive, e.g. 24h")
	}
	catalog, err := loadCatalog(*catalogPath)
	if err != nil {
		return err
	}
	opt := sqlite.WithExisting()
	if *dryRun {
		opt = sqlite.WithReadOnly()
	}
	db, err := sqlite.Open(ctx, *dbPath, opt)
	if err != nil {
		return err
	}
	defer db.Close()
	app, err := application.New(application.Config{Store: db, Catalog: catalog})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := false
	enc := json.NewEncoder(out)
	sum, err := app.Reconcile.Handle(ctx, application.Reconcile{SiteID: site.id, DryRun: *dryRun, MaxAge: *maxAge},
		func(r application.Repair) error {
			if *asJSON {
				return enc.Encode(struct {
					SiteID string `json:"siteId"`
					httpapi.Repair
				}{r.SiteID, httpapi.Repair{Subject: r.Subject, EntityID: r.EntityID, Kind: string(r.Kind),
					TriggerKey: r.TriggerKey, ScheduledAt: domain.FormatInstant(r.ScheduledAt), Reason: r.Reason}})
			}
			if !header {
				fmt.Fprintln(tw, "SITE\tSUBJECT\tENTITY\tCALL\tTRIGGER\tAT\tREASON")
				header = true
			}
			at := domain.FormatInstant(r.ScheduledAt)
			if at == "" {
				at = "-"
			}
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.SiteID, r.Subject, r.EntityID, r.Kind, r.TriggerKey, at, r.Reason)
			return err
		})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	verb := "queued"
	if *dryRun {
		verb = "would queue (dry run)"
	}
	fmt.Fprintf(errOut, "reconcile: %d sites, %d entities: %d repairs %s\n", sum.Sites, sum.Entities, sum.Repairs, verb)
	return err
}
