// Command lifecycle runs the lifecycle engine beside a booking product:
//
//	lifecycle demo       play the source scenarios offline and print what Wix would do
//	lifecycle serve      the HTTP API and the relay, on SQLite, against Wix
//	lifecycle relay      the relay alone, for a writer in another process
//	lifecycle outbox     list, show, retry, discard, count and prune queued Wix calls
//	lifecycle reconcile  make Wix match the bookings (after dead letters, a catalog change, adoption)
//	lifecycle migrate    apply the schema migrations to a database, or show them
//	lifecycle triggers   the trigger catalog and the payload schemas for the Wix dashboard
//	lifecycle wixsim     a local stand-in for Wix Automations
//	lifecycle bench      a load generator: commands/s, latency, relay calls/s, memory
//	lifecycle version    the module version and VCS revision of the binary
//
// Every flag has an environment equivalent: LIFECYCLE_<FLAG> for the flags
// that mean the same in every command (--db is LIFECYCLE_DB, --wix-base-url
// LIFECYCLE_WIX_BASE_URL), LIFECYCLE_<COMMAND>_<FLAG> for the others (serve
// --addr is LIFECYCLE_SERVE_ADDR, wixsim --addr LIFECYCLE_WIXSIM_ADDR).
// Secrets come only from the environment. Usage and errors go to stderr.
// Exit codes: 0 ok, 1 failure, 2 usage, 3 `relay --drain` left calls it
// could not deliver.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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
		{"reconcile", "make Wix match the bookings: queue the calls their states call for", runReconcile},
		{"migrate", "apply the database migrations, or show them (--status)", runMigrate},
		{"triggers", "print the trigger catalog and the payload schemas for the Wix dashboard", runTriggers},
		{"wixsim", "run a local Wix Automations simulator", runWixsim},
		{"bench", "measure commands/s, latency and relay calls/s on this machine's disk", runBench},
		{"version", "print the module version, VCS revision and Go version of this binary", runVersion},
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
	if len(args) == 0 {
		printUsage(errOut)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(out)
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
		case errors.Is(err, errUndelivered):
			fmt.Fprintf(errOut, "lifecycle %s: %v\n", c.name, err)
			return 3
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
	fmt.Fprintln(w, "\nRun 'lifecycle <command> --help' for a command's flags. Every flag also reads an")
	fmt.Fprintln(w, "environment variable, named in that help: LIFECYCLE_<FLAG> for the flags that mean the")
	fmt.Fprintln(w, "same in every command (--db: LIFECYCLE_DB), LIFECYCLE_<COMMAND>_<FLAG> for the others")
	fmt.Fprintln(w, "(serve --addr: LIFECYCLE_SERVE_ADDR).")
}
