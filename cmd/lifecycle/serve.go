package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/application"
)

func runServe(ctx context.Context, args []string, out, errOut io.Writer, getenv env) error {
	fs := newFlags("serve", "serve [--addr HOST:PORT] [--db FILE] [flags]", out)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the HTTP API; beyond loopback only with LIFECYCLE_API_TOKEN set")
	dbPath := fs.String("db", "lifecycle.db", dbHelp)
	catalogPath := fs.String("catalog", "", "catalog settings file (JSON: role -> {key, enabled}); default: the seed's triggers")
	noRelay := fs.Bool("no-relay", false, "do not deliver calls from this process (run 'lifecycle relay' elsewhere)")
	syncNormal := fs.Bool("sync-normal", false, "SQLite synchronous=NORMAL: faster commits that a power loss may undo (default FULL)")
	publicKeyFile := fs.String("wix-public-key-file", "", "the app's public key (PEM) from the Wix dashboard: serve answers Refresh Payload at "+httpapi.RefreshPayloadPath+" (base URI https://<host>/wix/trigger-provider); needs --wix-app-id")
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
	token := getenv("LIFECYCLE_API_TOKEN")
	if token == "" {
		loopback, err := isLoopback(*addr)
		if err != nil {
			return usageError("--addr: %v", err)
		}
		if !loopback {
			return usageError("refusing to listen on %s without LIFECYCLE_API_TOKEN: set a token, or listen on 127.0.0.1", *addr)
		}
	}
	catalog, err := loadCatalog(*catalogPath)
	if err != nil {
		return err
	}
	provider, err := triggerProvider(*publicKeyFile, wf.appID)
	if err != nil {
		return err
	}
	logger, err := lf.logger(errOut)
	if err != nil {
		return err
	}
	var gw application.Gateway
	if !*noRelay {
		if gw, err = wf.gateway(getenv); err != nil {
			return err
		}
	}
	db, err := openStore(ctx, *dbPath, storeOptions{syncNormal: *syncNormal})
	if err != nil {
		return err
	}
	defer db.Close()

	wake := application.NewSignal()
	app, err := application.New(application.Config{Store: db, Catalog: catalog, Wake: wake})
	if err != nil {
		return err
	}
	cfg := httpapi.Config{App: app, Outbox: db, Token: token, Logger: logger, Ready: db.Ping, TriggerProvider: provider}
	// relayDone stays nil without a relay: a receive from it never fires.
	var relayDone chan error
	relayCtx, stopRelay := context.WithCancel(context.Background())
	defer stopRelay()
	if !*noRelay {
		relay, err := wf.relay(db, gw, wake, logger)
		if err != nil {
			return err
		}
		cfg.Metrics = relay.Metrics
		relayDone = make(chan error, 1)
		go func() { relayDone <- relay.Run(relayCtx) }()
	}
	// waitRelay stops the relay and returns how it ended; nil without one.
	waitRelay := func() error {
		stopRelay()
		if relayDone == nil {
			return nil
		}
		return <-relayDone
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := httpapi.NewHTTPServer(ln.Addr().String(), api)
	logger.Info("serving", "addr", ln.Addr().String(), "db", displayDB(*dbPath), "relay", !*noRelay, "wix", wf.baseURL, "auth", token != "")
	fmt.Fprintf(out, "lifecycle: listening on http://%s\n", ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpapi.ProblemListener(ln)) }()

	select {
	case err := <-serveErr:
		_ = waitRelay()
		return fmt.Errorf("http server: %w", err)
	case err := <-relayDone:
		_ = srv.Close()
		if err == nil {
			err = errors.New("it returned without an error")
		}
		return fmt.Errorf("relay stopped: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("http shutdown", "err", err)
	}
	if err := waitRelay(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// isLoopback reports whether addr listens only on a loopback interface.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// triggerProvider reads the app's public key for Refresh Payload; none
// without --wix-public-key-file.
func triggerProvider(path, appID string) (*httpapi.TriggerProvider, error) {
	if path == "" {
		return nil, nil
	}
	if appID == "" {
		return nil, usageError("--wix-public-key-file needs --wix-app-id: Wix's Refresh Payload JWT is for the app")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--wix-public-key-file: %w", err)
	}
	key, err := httpapi.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("--wix-public-key-file %s: %w", path, err)
	}
	return &httpapi.TriggerProvider{PublicKey: key, AppID: appID}, nil
}
