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
	fs := newFlags("wixsim", "wixsim [--addr HOST:PORT] [--site ID]... [flags]", out)
	addr := fs.String("addr", "127.0.0.1:9090", "address to listen on")
	appID := fs.String("app-id", "wixsim-app", "app ID that /oauth2/token accepts")
	appSecret := fs.String("app-secret", "wixsim-secret", "app secret that /oauth2/token accepts (a development stand-in, not a real secret)")
	catalogPath := fs.String("catalog", "", "catalog settings file; its enabled triggers are registered")
	var sites stringList
	fs.Var(&sites, "site", "a site (instance ID) that gets the demo automations; repeatable, comma-separated")
	var lf logFlags
	lf.register(fs)
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
	sim := wixsim.New(nil, wixsim.WithCredentials(*appID, *appSecret))
	if err := sim.RegisterTriggers(catalog); err != nil {
		return err
	}
	for _, s := range sites {
		site, err := domain.ParseSiteID(s)
		if err != nil {
			return usageError("--site: %v", err)
		}
		for _, a := range demoAutomations {
			if err := sim.AddAutomation(site, a); err != nil {
				return err
			}
		}
	}
	logger, err := lf.logger(errOut)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := httpapi.NewHTTPServer(ln.Addr().String(), logRequests(sim.Handler(), logger))
	fmt.Fprintf(out, "wixsim: Wix Automations stand-in on http://%s (app ID %q)\n", ln.Addr(), *appID)
	fmt.Fprintf(out, "Point lifecycle at it: --wix-base-url http://%s --wix-app-id %s, LIFECYCLE_WIX_APP_SECRET=%s\n", ln.Addr(), *appID, *appSecret)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go watchActivations(ctx, sim, sites, out)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// watchActivations prints the automations that ran or were canceled on the
// given sites, as they happen.
func watchActivations(ctx context.Context, sim *wixsim.Sim, sites []string, out io.Writer) {
	seen := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, site := range sites {
			for _, a := range sim.Activations(site, wixsim.ActivationRan, wixsim.ActivationCanceled) {
				if seen[a.ID] {
					continue
				}
				seen[a.ID] = true
				fmt.Fprintf(out, "%s  %-8s %-42s %s %s\n", a.SettledAt.Format(time.RFC3339), a.State, a.Automation, a.TriggerKey, a.ExternalEntityID)
			}
		}
	}
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
