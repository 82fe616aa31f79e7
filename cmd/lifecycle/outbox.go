package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
)

const outboxSynopsis = `outbox <list|show|retry|discard|stats|prune> [flags]

  list     [--site ID] [--state STATE] [--after SEQ] [--limit N]   calls by commit order
  show     --site ID CALL_ID                                       one call and its history
  retry    --site ID CALL_ID                                       re-queue a dead or expired call
  discard  --site ID CALL_ID                                       give up a pending, dead or expired call
  stats    [--site ID]                                             calls by state
  prune    --older-than DURATION                                   delete delivered/discarded calls settled before then`

func runOutbox(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	if len(args) == 0 {
		return usageError("missing subcommand\n\nUsage: lifecycle %s", outboxSynopsis)
	}
	op := args[0]
	if op == "-h" || op == "--help" || op == "help" {
		fmt.Fprintf(out, "Usage: lifecycle %s\n", outboxSynopsis)
		return nil
	}
	fs := newFlags("outbox "+op, outboxSynopsis, out)
	dbPath := fs.String("db", "lifecycle.db", dbHelp)
	site := fs.siteVar("site (Wix app instance) ID")
	state := fs.String("state", "", "only calls in this state: pending, delivered, dead, expired, discarded")
	after := fs.Int64("after", 0, "only calls after this sequence number (paging)")
	limit := fs.Int("limit", 50, "at most this many calls")
	olderThan := fs.Duration("older-than", 0, "prune: settled longer ago than this, e.g. 720h")
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	catalogPath := fs.String("catalog", "", "retry: the catalog the booking product runs (a retry must agree with what the booking calls for)")
	if err := parse(fs, args[1:], getenv); err != nil {
		return err
	}
	needID := op == "show" || op == "retry" || op == "discard"
	switch {
	case needID && fs.NArg() != 1:
		return usageError("%s takes one call ID", op)
	case needID && site.id.IsZero():
		return usageError("%s needs --site: calls are scoped to their site", op)
	case !needID && fs.NArg() > 0:
		return usageError("unexpected arguments %v", fs.Args())
	}
	var callID domain.ID
	if needID {
		id, err := domain.ParseID("callId", fs.Arg(0))
		if err != nil {
			return usageError("%v", err)
		}
		callID = id
	}
	var stateFilter application.CallState
	if *state != "" {
		s, err := outbox.ParseState(*state)
		if err != nil {
			return usageError("--state: %v", err)
		}
		stateFilter = s
	}
	// Operators' commands never create a database; those that only read
	// open it read-only, which also works on a file they may not write.
	readOnly := op == "list" || op == "show" || op == "stats"
	db, err := openStore(ctx, *dbPath, storeOptions{existing: true, readOnly: readOnly})
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC()
	p := printer{out: out, json: *asJSON}

	switch op {
	case "list":
		calls, err := db.List(ctx, application.Filter{SiteID: site.id.String(), State: stateFilter, After: *after, Limit: *limit})
		if err != nil {
			return err
		}
		return p.calls(calls)
	case "show":
		d, err := db.Get(ctx, site.id.String(), callID.String())
		if err != nil {
			return err
		}
		return p.detail(d)
	case "retry":
		catalog, err := loadCatalog(*catalogPath)
		if err != nil {
			return err
		}
		app, err := application.New(application.Config{Store: db, Catalog: catalog})
		if err != nil {
			return err
		}
		if _, err := app.RetryCall.Handle(ctx, application.RetryCall{SiteID: site.id, CallID: callID}); err != nil {
			return err
		}
		return p.message("call %s is pending again", callID)
	case "discard":
		if err := db.Discard(ctx, site.id.String(), callID.String(), now); err != nil {
			return err
		}
		return p.message("call %s is discarded", callID)
	case "stats":
		stats, err := db.Stats(ctx, site.id.String())
		if err != nil {
			return err
		}
		return p.stats(stats)
	case "prune":
		if *olderThan <= 0 {
			return usageError("prune needs --older-than, e.g. --older-than 720h")
		}
		n, err := db.Prune(ctx, now.Add(-*olderThan))
		if err != nil {
			return err
		}
		return p.message("pruned %d calls", n)
	}
	return usageError("unknown subcommand %q", op)
}

// printer prints outbox results for people, or as JSON for scripts.
type printer struct {
	out  io.Writer
	json bool
}

func (p printer) encode(v any) error {
	enc := json.NewEncoder(p.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (p printer) calls(calls []application.Call) error {
	if p.json {
		list := make([]httpapi.Call, len(calls))
		for i, c := range calls {
			list[i] = httpapi.NewCall(c)
		}
		return p.encode(list)
	}
	if len(calls) == 0 {
		fmt.Fprintln(p.out, "no calls")
		return nil
	}
	tw := tabwriter.NewWriter(p.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tID\tSTATE\tKIND\tTRIGGER\tEXTERNAL ENTITY ID\tATTEMPTS\tLAST ERROR")
	for _, c := range calls {
		lastErr := "-"
		if c.LastError != nil {
			lastErr = c.LastError.Error()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Seq, c.ID, c.State, c.Kind, c.TriggerKey, c.ExternalEntityID, c.Attempts, lastErr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(p.out, "\n%d calls; next page: --after %d\n", len(calls), calls[len(calls)-1].Seq)
	return nil
}

func (p printer) detail(d application.CallDetail) error {
	if p.json {
		return p.encode(httpapi.NewCallDetail(d))
	}
	c := d.Call
	tw := tabwriter.NewWriter(p.out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", c.ID)
	row("site", c.SiteID)
	row("seq", fmt.Sprint(c.Seq))
	row("state", string(c.State))
	row("call", fmt.Sprintf("%s %s", c.Kind, c.TriggerKey))
	row("externalEntityId", c.ExternalEntityID)
	row("cause", c.Cause)
	if !c.ScheduledAt.IsZero() {
		row("scheduled at", c.ScheduledAt.Format(time.RFC3339))
	}
	row("created", c.CreatedAt.Format(time.RFC3339))
	row("attempts", fmt.Sprint(c.Attempts))
	if c.State == application.StatePending {
		row("next attempt", c.NextAttemptAt.Format(time.RFC3339))
	}
	if c.LastError != nil {
		row("last error", c.LastError.Error())
	}
	if len(c.Payload) > 0 {
		row("payload", string(c.Payload))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.History) > 0 {
		fmt.Fprintln(p.out, "\nhistory:")
		for _, a := range d.History {
			line := fmt.Sprintf("  %s  %s", a.At.Format(time.RFC3339), a.State)
			if a.Err != nil {
				line += "  " + a.Err.Error()
			}
			fmt.Fprintln(p.out, line)
		}
	}
	return nil
}

func (p printer) stats(stats map[application.CallState]int) error {
	if p.json {
		m := map[string]int{}
		for k, v := range stats {
			m[string(k)] = v
		}
		return p.encode(m)
	}
	var parts []string
	for _, s := range outbox.States() {
		parts = append(parts, fmt.Sprintf("%s %d", s, stats[s]))
	}
	fmt.Fprintln(p.out, strings.Join(parts, ", "))
	return nil
}

func (p printer) message(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p.json {
		return p.encode(map[string]string{"result": msg})
	}
	fmt.Fprintln(p.out, msg)
	return nil
}
