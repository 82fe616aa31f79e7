package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/domain"
)

func runWixsim(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("wixsim", "wixsim [--addr HOST:PORT] [--site ID]... [--trigger-provider-url URL --trigger-provider-key-file PEM] [flags]", out)
	addr := fs.String("addr", "127.0.0.1:9090", "address to listen on")
	appID := fs.String("app-id", "wixsim-app", "app ID that /oauth2/token accepts, and the aud of Refresh Payload JWTs")
	appSecret := fs.String("app-secret", "wixsim-secret", "app secret that /oauth2/token accepts (a development stand-in, not a real secret)")
	catalogPath := fs.String("catalog", "", "catalog settings file; its enabled triggers are registered")
	var sites stringList
	fs.Var(&sites, "site", "a site (instance ID) that gets the demo automations, again after each reset; repeatable, comma-separated")
	var lf logFlags
	lf.register(fs)
	start := fs.String("start", "", "RFC 3339 time the simulator's clock starts at (default: now)")
	frozen := fs.Bool("frozen", false, "the clock stands still until moved with POST /_wixsim/clock (default: it flows, and can still be moved)")
	var tp triggerProviderFlags
	tp.register(fs.FlagSet)
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %v", fs.Args())
	}
	catalog, err := loadCatalog(*catalogPath)
	if err != nil {
		return err
	}
	var startAt time.Time
	if *start != "" {
		if startAt, err = time.Parse(time.RFC3339Nano, *start); err != nil {
			return usageError("--start: %q is not an RFC 3339 time such as 2026-12-01T09:00:00Z", *start)
		}
	}
	for _, s := range sites {
		if _, err := domain.ParseSiteID(s); err != nil {
			return usageError("--site: %v", err)
		}
	}
	opts, err := tp.options()
	if err != nil {
		return err
	}
	clock := wixsim.NewEmulatorClock(nil, startAt, *frozen)
	sim := wixsim.New(clock, append([]wixsim.Option{wixsim.WithCredentials(*appID, *appSecret)}, opts...)...)
	if err := sim.RegisterTriggers(catalog); err != nil {
		return err
	}
	emu, err := wixsim.NewEmulator(sim, func(sim *wixsim.Sim) error {
		for _, site := range sites {
			for _, a := range demoAutomations {
				if err := sim.AddAutomation(site, a); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	logger, err := lf.logger(errOut)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := httpapi.NewHTTPServer(ln.Addr().String(), logRequests(emu.Handler(), logger))
	fmt.Fprintf(out, "wixsim: Wix Automations stand-in on http://%s (app ID %q)\n", ln.Addr(), *appID)
	fmt.Fprintf(out, "Point lifecycle at it: --wix-base-url http://%s --wix-app-id %s, LIFECYCLE_WIX_APP_SECRET=%s\n", ln.Addr(), *appID, *appSecret)
	fmt.Fprintf(out, "Timeline and control API: http://%s%s (clock %s, %s)\n", ln.Addr(), wixsim.ControlPrefix, clock.Now().Format(time.RFC3339), map[bool]string{true: "frozen", false: "flowing"}[*frozen])
	if tp.url != "" {
		fmt.Fprintf(out, "Refresh Payload: POST %s%s before delayed activations of %s\n", strings.TrimRight(tp.url, "/"), wixsim.RefreshPath, tp.describeTriggers())
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go func() { _ = emu.Run(runCtx, 250*time.Millisecond) }()
	go watchActivations(runCtx, sim, out)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// watchActivations prints the activations of every site as they settle:
// ran (with a refreshed payload or not), canceled (by a cancel call or by
// Refresh Payload) or failed.
func watchActivations(ctx context.Context, sim *wixsim.Sim, out io.Writer) {
	seen := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, site := range sim.Sites() {
			for _, a := range sim.Activations(site, wixsim.ActivationRan, wixsim.ActivationCanceled, wixsim.ActivationFailed) {
				if seen[a.ID] {
					continue
				}
				seen[a.ID] = true
				fmt.Fprintf(out, "%s  %-8s %-42s %s %s%s\n", a.SettledAt.Format(time.RFC3339), a.State, a.Automation, a.TriggerKey, a.ExternalEntityID, settledHow(a))
			}
		}
	}
}

// settledHow says what decided an activation, when it was more than its
// time coming.
func settledHow(a wixsim.Activation) string {
	switch {
	case a.CanceledBy == wixsim.CanceledByRefreshPayload:
		return "  (by Refresh Payload)"
	case a.CanceledBy == wixsim.CanceledByEvent:
		return "  (by a cancel call)"
	case a.Refresh == nil:
		return ""
	case a.Refresh.Answer == wixsim.AnswerPayload:
		return "  (with a refreshed payload)"
	case a.Refresh.Answer == wixsim.AnswerError:
		return "  (Refresh Payload failed: " + a.Refresh.Error + ")"
	}
	return ""
}

func logRequests(h http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		logger.Info("wix request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Hijack passes the connection through: the simulator hijacks it to inject
// dropped connections.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	return hj.Hijack()
}

// stringList is a repeatable, comma-separated string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}
