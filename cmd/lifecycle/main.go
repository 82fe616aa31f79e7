// Command lifecycle runs the lifecycle engine beside a booking product:
//
//	lifecycle demo       play the source scenarios offline and print what Wix would do
//	lifecycle serve      the HTTP API and the relay, on SQLite, against Wix
//	lifecycle relay      the relay alone, for a writer in another process
//	lifecycle outbox     list, show, retry, discard, count and prune queued Wix calls
//	lifecycle triggers   the trigger catalog and the payload schemas for the Wix dashboard
//	lifecycle wixsim     a local stand-in for Wix Automations
//	lifecycle bench      a load generator: commands/s, latency, relay calls/s, memory
//
// Every flag has a LIFECYCLE_* environment equivalent (--wix-base-url is
// LIFECYCLE_WIX_BASE_URL); secrets come only from the environment. Exit codes:
// 0 ok, 1 failure, 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// env reads the environment; tests pass their own.
type env func(string) string

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error
}

func commands() []command {
	return []command{
		{"demo", "play the source scenarios offline: SQLite + the built-in Wix simulator", runDemo},
		{"serve", "serve the HTTP API and deliver calls to Wix (SQLite, REST gateway)", runServe},
		{"relay", "deliver queued calls to Wix, without the HTTP API", runRelay},
		{"outbox", "operate the outbox: list, show, retry, discard, stats, prune", runOutbox},
		{"triggers", "print the trigger catalog and the payload schemas for the Wix dashboard", runTriggers},
		{"wixsim", "run a local Wix Automations simulator", runWixsim},
		{"bench", "measure commands/s, latency and relay calls/s on this machine's disk", runBench},
	}
}

// errUsage marks a usage error: exit code 2.
var errUsage = errors.New("usage")

// usageError is a usage error with a message.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, out, errOut io.Writer, getenv env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(out)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], out, errOut, getenv)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(errOut, "lifecycle %s: %v\n", c.name, strings.TrimPrefix(err.Error(), "usage: "))
			fmt.Fprintf(errOut, "Run 'lifecycle %s --help' for usage.\n", c.name)
			return 2
		default:
			fmt.Fprintf(errOut, "lifecycle %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(errOut, "lifecycle: unknown command %q\n", args[0])
	printUsage(errOut)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "lifecycle keeps Wix Automations true to appointments and class enrollments.")
	fmt.Fprintln(w, "\nUsage: lifecycle <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'lifecycle <command> --help' for a command's flags. Every flag also reads")
	fmt.Fprintln(w, "LIFECYCLE_<FLAG> from the environment (--db: LIFECYCLE_DB).")
}

// newFlags returns a FlagSet that reports errors instead of exiting, and
// prints its usage to out.
func newFlags(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: lifecycle %s\n\n", synopsis)
		fmt.Fprintln(out, "Flags (each also read from LIFECYCLE_<NAME> in the environment):")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, then fills every flag not given on the command line
// from its LIFECYCLE_* environment variable.
func parse(fs *flag.FlagSet, args []string, getenv env) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
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
		key := envName(name)
		if v := getenv(key); v != "" {
			if err := fs.Set(name, v); err != nil {
				return usageError("%s=%q: %v", key, v, err)
			}
		}
	}
	return nil
}

// envName maps a flag name to its environment variable: wix-base-url ->
// LIFECYCLE_WIX_BASE_URL.
func envName(flagName string) string {
	return "LIFECYCLE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
