package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bookable/lifecycle/adapters/wix"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
)

// wixFlags are the flags of every command that talks to Wix.
type wixFlags struct {
	baseURL           string
	appID             string
	staticSite        string
	requestsPerMinute int
	workers           int
	lease             time.Duration
	timeout           time.Duration
	bearer            bool
}

func (w *wixFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&w.baseURL, "wix-base-url", wix.DefaultBaseURL, "Wix API base URL (point it at 'lifecycle wixsim' to develop offline)")
	fs.StringVar(&w.appID, "wix-app-id", "", "the Wix app ID (OAuth client ID); the secret comes from LIFECYCLE_WIX_APP_SECRET")
	fs.StringVar(&w.staticSite, "wix-static-site", "", "with LIFECYCLE_WIX_ACCESS_TOKEN: the one site (instance ID) that token is for")
	fs.IntVar(&w.requestsPerMinute, "wix-requests-per-minute", relay.DefaultRequestsPerMinute, "per-site rate limit of requests to Wix (a bulk request counts once); 0 or less: no limit")
	fs.IntVar(&w.workers, "relay-workers", relay.DefaultWorkers, "requests to Wix in flight at once")
	fs.DurationVar(&w.lease, "relay-lease", relay.DefaultLease, "how long a claimed call is reserved; a call held by a crashed relay is sent again after it")
	fs.DurationVar(&w.timeout, "wix-timeout", wix.DefaultTimeout, "timeout of each request to Wix")
	fs.BoolVar(&w.bearer, "wix-bearer", false, "send 'Authorization: Bearer <token>' instead of the raw token")
}

// gateway builds the Wix REST gateway from the flags and the secrets in
// the environment.
func (w *wixFlags) gateway(getenv env) (*wix.Client, error) {
	secret := getenv("LIFECYCLE_WIX_APP_SECRET")
	token := getenv("LIFECYCLE_WIX_ACCESS_TOKEN")
	cfg := wix.Config{BaseURL: w.baseURL, Timeout: w.timeout, BearerPrefix: w.bearer, Version: version}
	switch {
	case token != "" && secret != "":
		return nil, usageError("set LIFECYCLE_WIX_APP_SECRET (OAuth, any site) or LIFECYCLE_WIX_ACCESS_TOKEN (one site), not both")
	case token != "":
		if w.staticSite == "" {
			return nil, usageError("LIFECYCLE_WIX_ACCESS_TOKEN needs --wix-static-site, the instance ID it is for")
		}
		cfg.StaticToken, cfg.StaticSiteID = token, w.staticSite
	case secret != "":
		if w.appID == "" {
			return nil, usageError("LIFECYCLE_WIX_APP_SECRET needs --wix-app-id")
		}
		cfg.AppID, cfg.AppSecret = w.appID, secret
	default:
		return nil, usageError("no Wix credentials: set LIFECYCLE_WIX_APP_SECRET with --wix-app-id, or LIFECYCLE_WIX_ACCESS_TOKEN with --wix-static-site")
	}
	c, err := wix.New(cfg)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return c, nil
}

// relay builds the relay: its rate limit kept in the database for every
// process on it, its requests bounded by --wix-timeout, and a lease that
// must outlive a whole request (a --relay-lease too short for
// --wix-timeout is a usage error).
func (w *wixFlags) relay(db store, gw application.Gateway, wake *application.Signal, logger *slog.Logger) (*relay.Relay, error) {
	rpm := w.requestsPerMinute
	if rpm <= 0 {
		rpm = relay.NoRateLimit
	}
	r, err := relay.New(relay.Config{
		Outbox: db, Rates: db, Watcher: db, Gateway: gw, Wake: wake, Workers: w.workers, Lease: w.lease,
		RequestTimeout: w.timeout, RequestsPerMinute: rpm, Logger: logger,
	})
	if errors.Is(err, relay.ErrConfig) {
		return nil, usageError("%v (see --relay-lease and --wix-timeout)", err)
	}
	return r, err
}

func runRelay(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("relay", "relay --db FILE [flags]", out)
	dbPath := fs.String("db", "lifecycle.db", dbHelp)
	drain := fs.Bool("drain", false, "deliver what is due now, then exit")
	var wf wixFlags
	wf.register(fs)
	var lf logFlags
	lf.register(fs)
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	logger, err := lf.logger(errOut)
	if err != nil {
		return err
	}
	gw, err := wf.gateway(getenv)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, *dbPath, storeOptions{existing: true})
	if err != nil {
		return err
	}
	defer db.Close()
	relay, err := wf.relay(db, gw, nil, logger)
	if err != nil {
		return err
	}
	if *drain {
		return drainReport(ctx, relay, db, out)
	}
	logger.Info("relay running", "db", displayDB(*dbPath), "wix", wf.baseURL)
	err = relay.Run(ctx)
	if errors.Is(err, context.Canceled) {
		logger.Info("relay stopped")
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// errUndelivered: relay --drain left calls that are not delivered (exit
// code 3).
var errUndelivered = errors.New("calls remain undelivered")

// drainReport delivers what is due, then prints what this drain did and
// what the outbox still holds. It returns errUndelivered when calls are
// left pending, dead or expired, so that a scheduled drain can alert.
func drainReport(ctx context.Context, relay *relay.Relay, db application.Outbox, out io.Writer) error {
	if err := relay.Drain(ctx); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	m := relay.Metrics()
	stats, err := db.Stats(ctx, "")
	if err != nil {
		return fmt.Errorf("relay: outbox stats: %w", err)
	}
	fmt.Fprintf(out, "drained: %d delivered, %d to retry later, %d dead, %d expired\n", m.Delivered, m.Retried, m.Dead, m.Expired)
	left := stats[application.StatePending] + stats[application.StateDead] + stats[application.StateExpired]
	fmt.Fprintf(out, "left:    %d pending, %d dead, %d expired\n",
		stats[application.StatePending], stats[application.StateDead], stats[application.StateExpired])
	if left > 0 {
		return fmt.Errorf("%w: %d (see 'lifecycle outbox list --state pending|dead|expired')", errUndelivered, left)
	}
	return nil
}
