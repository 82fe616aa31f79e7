package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/bookable/lifecycle/application"
)

// loadCatalog reads a catalog settings file, or returns the default catalog
// when path is empty.
func loadCatalog(path string) (*application.Catalog, error) {
	if path == "" {
		return application.DefaultCatalog(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return application.ParseCatalog(data)
}

func runTriggers(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("triggers", "triggers [--catalog FILE] [--schema] [--json] [--all]", out)
	catalogPath := fs.String("catalog", "", "catalog settings file (JSON: role -> {key, enabled}); default: the seed's triggers")
	schema := fs.Bool("schema", false, "print each trigger's payload JSON schema, to paste into the Wix app dashboard")
	asJSON := fs.Bool("json", false, "print JSON")
	all := fs.Bool("all", false, "include disabled triggers")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	c, err := loadCatalog(*catalogPath)
	if err != nil {
		return err
	}
	triggers := c.Enabled()
	if *all {
		triggers = c.Triggers()
	}
	if *asJSON {
		type entry struct {
			Role          application.Role   `json:"role"`
			Key           string             `json:"key"`
			Timing        application.Timing `json:"timing"`
			Enabled       bool               `json:"enabled"`
			Subject       string             `json:"externalEntityId"`
			DateTimeField string             `json:"dateTimeField,omitempty"`
			Schema        map[string]any     `json:"schema,omitempty"`
		}
		var list []entry
		for _, t := range triggers {
			e := entry{Role: t.Role, Key: t.Key, Timing: t.Timing, Enabled: t.Enabled, Subject: t.Subject + " ID", DateTimeField: t.DateTimeField()}
			if *schema {
				e.Schema = t.Schema()
			}
			list = append(list, e)
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTIMING\tENABLED\tEXTERNAL ENTITY ID\tDATE-TIME PROPERTY")
	for _, t := range triggers {
		dt := t.DateTimeField()
		if dt == "" {
			dt = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s ID\t%s\n", t.Key, t.Timing, t.Enabled, t.Subject, dt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nSet up in the Wix app dashboard:")
	for i, step := range c.Checklist() {
		fmt.Fprintf(out, "  %d. %s\n", i+1, step)
	}
	if !*schema {
		fmt.Fprintln(out, "\nRun with --schema for the payload schema of each trigger.")
		return nil
	}
	for _, t := range triggers {
		raw, err := json.MarshalIndent(t.Schema(), "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n# %s (%s)\n%s\n", t.Key, t.Timing, raw)
	}
	return nil
}
