package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/bookable/lifecycle/domain"
)

// flags is a command's flag set. It reports errors instead of exiting and
// prints nothing of its own: a usage error goes to stderr through Main, and
// --help prints the usage to stdout.
type flags struct {
	*flag.FlagSet
	command  string // the top-level command, whose name prefixes its own environment variables
	synopsis string
	out      io.Writer // where --help prints
}

// newFlags returns the flag set of a command; name is "serve" or, for a
// subcommand, "outbox list". --help prints to out.
func newFlags(name, synopsis string, out io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	command, _, _ := strings.Cut(name, " ")
	return &flags{FlagSet: fs, command: command, synopsis: synopsis, out: out}
}

// sharedFlag reports whether a flag means the same in every command that
// has it, so that one environment variable serves them all: the database,
// the catalog, logging, SQLite's durability, and the Wix and relay
// settings.
func sharedFlag(name string) bool {
	switch name {
	case "db", "catalog", "log-level", "log-format", "sync-normal":
		return true
	}
	return strings.HasPrefix(name, "wix-") || strings.HasPrefix(name, "relay-")
}

// envName returns the environment variable of a flag: LIFECYCLE_DB for
// --db, LIFECYCLE_WIX_BASE_URL for --wix-base-url, and the command's own
// name for the others (serve --addr: LIFECYCLE_SERVE_ADDR, wixsim --addr:
// LIFECYCLE_WIXSIM_ADDR).
func (f *flags) envName(flagName string) string {
	name := strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
	if sharedFlag(flagName) {
		return "LIFECYCLE_" + name
	}
	return "LIFECYCLE_" + strings.ToUpper(f.command) + "_" + name
}

// usage prints the synopsis and every flag with its environment variable
// and default.
func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: lifecycle %s\n\nFlags:\n", f.synopsis)
	f.VisitAll(func(fl *flag.Flag) {
		typ, help := flag.UnquoteUsage(fl)
		line := "  --" + fl.Name
		if typ != "" {
			line += " " + typ
		}
		notes := []string{"env " + f.envName(fl.Name)}
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" && fl.DefValue != "[]" {
			notes = append(notes, "default "+fl.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s (%s)\n", line, help, strings.Join(notes, "; "))
	})
}

// parse parses args, then fills every flag not given on the command line
// from its environment variable. --help prints the usage to the flag set's
// out and returns flag.ErrHelp; any other mistake is a usage error.
func parse(fs *flags, args []string, getenv env) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.usage(fs.out)
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, name := range names {
		if given[name] {
			continue
		}
		key := fs.envName(name)
		if v := getenv(key); v != "" {
			if err := fs.Set(name, v); err != nil {
				return usageError("%s=%q: %v", key, v, err)
			}
		}
	}
	return nil
}

// logFlags are --log-level and --log-format, for the commands that log.
type logFlags struct {
	level, format string
}

func (l *logFlags) register(fs *flags) {
	fs.StringVar(&l.level, "log-level", "info", "least severe log level written: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text (key=value) or json (one object a line)")
}

// logger returns the slog logger the flags ask for, writing to w.
func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("--log-format %q: want text or json", l.format)
}

// siteFlag is a --site flag: the site ID is parsed when the flag is set (on
// the command line or from its environment variable), once, and the command
// passes the domain.SiteID on; it is the zero SiteID when the flag is not
// given.
type siteFlag struct{ id domain.SiteID }

// String implements flag.Value.
func (f *siteFlag) String() string { return f.id.String() }

// Set implements flag.Value.
func (f *siteFlag) Set(s string) error {
	id, err := domain.ParseSiteID(s)
	if err != nil {
		return err
	}
	f.id = id
	return nil
}

// siteVar defines the --site flag.
func (fs *flags) siteVar(usage string) *siteFlag {
	f := &siteFlag{}
	fs.Var(f, "site", usage)
	return f
}
