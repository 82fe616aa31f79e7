// Package httpapi is lifecycle's HTTP adapter: the JSON API that booking
// products call to drive appointments, classes and enrollments, and that
// operators use to inspect and settle the outbox. `lifecycle serve` mounts
// its Server.
//
// Every request but GET /healthz, /readyz and /openapi.json must carry
// `Authorization: Bearer <token>` when Config.Token is set. An empty token
// turns authentication off; the command refuses to listen beyond loopback
// without one, and so should anything else that mounts a Server. Without a
// token the Server also refuses a Host or Origin that is not loopback
// (guard.go), and with or without one a write body that is not JSON.
//
// Commands take If-Match (the ETag of the resource, its version) and
// Idempotency-Key headers; request bodies are decoded strictly (decode.go).
// Every request gets an X-Request-Id and an access log line. The API is
// described by the OpenAPI document in openapi.json, served at
// /openapi.json.
//
// Errors are RFC 9457 problem details with a stable `code` member (see
// problem.go and docs/http-api.md). A refused request changes nothing and
// queues no call: validation happens before the application runs, and the
// application commits a command and its calls together or not at all.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is
// zero: 1 MiB, far above any valid request.
const DefaultMaxBodyBytes = 1 << 20

// Config wires a Server.
type Config struct {
	// App runs the commands and queries. Required.
	App *application.App
	// Outbox serves the outbox routes and the call gauges of /metrics.
	// Required.
	Outbox application.Outbox
	// Clock stamps operator retries and discards. Nil means the system clock.
	Clock application.Clock
	// Token is the API token every route but /healthz demands as a bearer
	// token. Empty means no authentication: only for a loopback listener.
	Token string
	// Logger receives internal errors (never sent to clients) and a debug
	// line per refused request. Nil discards.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies; a larger body is refused with 413.
	// Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Metrics, when set, supplies the relay's counters for /metrics. Nil
	// leaves the relay series out (for a process that runs no relay).
	Metrics MetricsSource
	// Ready, when set, is what GET /readyz asks (sqlite's DB.Ping); nil
	// means a read through the App (App.Ready).
	Ready func(ctx context.Context) error
	// AccessLog, when set, receives one line per request (method, path,
	// status, bytes, duration, request ID) at info level. Nil means Logger.
	AccessLog *slog.Logger
	// AllowedHosts adds host names (without port) that a request may name
	// in Host and Origin when no Token is set; loopback names and addresses
	// are always allowed.
	AllowedHosts []string
	// TriggerProvider, when set, serves Wix's Refresh Payload at
	// RefreshPayloadPath, authenticated by the request's JWT.
	TriggerProvider *TriggerProvider
}

// Server is the HTTP API. It is an http.Handler, safe for concurrent use.
type Server struct {
	app      *application.App
	outbox   application.Outbox
	clock    application.Clock
	token    [sha256.Size]byte
	auth     bool
	log      *slog.Logger
	maxBody  int64
	relay    MetricsSource
	ready    func(ctx context.Context) error
	access   *slog.Logger
	hosts    []string
	commands *commandCounter
	provider *TriggerProvider
	refresh  refreshCounter
	mux      *http.ServeMux
	table    []route
}

var _ http.Handler = (*Server)(nil)

// New returns a Server, or an error when cfg lacks the App or the Outbox or
// sets a negative body limit.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.App == nil:
		return nil, errors.New("httpapi: Config.App is required")
	case cfg.Outbox == nil:
		return nil, errors.New("httpapi: Config.Outbox is required")
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("httpapi: Config.MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	}
	if cfg.Clock == nil {
		cfg.Clock = application.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Ready == nil {
		cfg.Ready = cfg.App.Ready
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = cfg.Logger
	}
	if tp := cfg.TriggerProvider; tp != nil {
		if tp.PublicKey == nil || tp.AppID == "" {
			return nil, errors.New("httpapi: Config.TriggerProvider needs the app's PublicKey and AppID")
		}
		if tp.Leeway < 0 {
			return nil, fmt.Errorf("httpapi: TriggerProvider.Leeway %v is negative", tp.Leeway)
		}
		cp := *tp
		if cp.Leeway == 0 {
			cp.Leeway = DefaultJWTLeeway
		}
		cfg.TriggerProvider = &cp
	}
	s := &Server{
		app: cfg.App, outbox: cfg.Outbox, clock: cfg.Clock,
		token: sha256.Sum256([]byte(cfg.Token)), auth: cfg.Token != "",
		log: cfg.Logger, maxBody: cfg.MaxBodyBytes, relay: cfg.Metrics,
		ready: cfg.Ready, access: cfg.AccessLog, hosts: cfg.AllowedHosts,
		commands: newCommandCounter(), provider: cfg.TriggerProvider,
		mux: http.NewServeMux(),
	}
	s.routes()
	return s, nil
}

// route is one registered route: its ServeMux pattern and handler.
type route struct {
	pattern string
	handler http.Handler
}

// routes registers every route. Go's ServeMux picks the most specific
// pattern, so /outbox/stats wins over /outbox/{id}.
func (s *Server) routes() {
	const site = "/v1/sites/{site}"
	handle := func(pattern string, h http.Handler) {
		s.mux.Handle(pattern, h)
		s.table = append(s.table, route{pattern, h})
	}

	handle("GET /healthz", http.HandlerFunc(s.healthz))
	handle("GET /readyz", http.HandlerFunc(s.readyz))
	handle("GET /metrics", http.HandlerFunc(s.metrics))
	handle("GET /openapi.json", http.HandlerFunc(s.openapi))

	handle("POST "+site+"/appointments", s.command("schedule_appointment", s.scheduleAppointment))
	handle("GET "+site+"/appointments/{id}", s.query(s.getAppointment))
	handle("POST "+site+"/appointments/{id}/reschedule", s.command("reschedule_appointment", s.rescheduleAppointment))
	handle("POST "+site+"/appointments/{id}/rename", s.command("rename_appointment", s.renameAppointment))
	handle("POST "+site+"/appointments/{id}/cancel", s.command("cancel_appointment", s.cancelAppointment))
	handle("POST "+site+"/appointments/{id}/complete", s.command("complete_appointment", s.completeAppointment))
	handle("POST "+site+"/appointments/{id}/no-show", s.command("mark_no_show", s.markNoShow))

	handle("POST "+site+"/classes", s.command("schedule_class", s.scheduleClass))
	handle("GET "+site+"/classes/{id}", s.query(s.getClass))
	handle("POST "+site+"/classes/{id}/reschedule", s.command("reschedule_class", s.rescheduleClass))
	handle("POST "+site+"/classes/{id}/cancel", s.command("cancel_class", s.cancelClass))
	handle("POST "+site+"/classes/{id}/complete", s.command("complete_class", s.completeClass))
	handle("POST "+site+"/classes/{id}/enrollments", s.command("enroll", s.enroll))

	handle("GET "+site+"/enrollments/{id}", s.query(s.getEnrollment))
	handle("POST "+site+"/enrollments/{id}/leave", s.command("leave", s.leave))

	s.courseRoutes(site, handle)

	handle("GET "+site+"/outbox", s.query(s.listCalls, "state", "after", "limit"))
	handle("GET "+site+"/outbox/stats", s.query(s.callStats))
	handle("GET "+site+"/outbox/{id}", s.query(s.showCall))
	handle("POST "+site+"/outbox/{id}/retry", s.command("retry_call", s.retryCall))
	handle("POST "+site+"/outbox/{id}/discard", s.command("discard_call", s.discardCall))
	handle("POST "+site+"/reconcile", s.command("reconcile", s.reconcile))
	if s.provider != nil {
		handle("POST "+RefreshPayloadPath, http.HandlerFunc(s.refreshPayload))
	}
}

// Routes returns the pattern of every route the server registers
// ("GET /healthz", "POST /v1/sites/{site}/appointments", ...), in
// registration order. The OpenAPI document describes each of them.
func (s *Server) Routes() []string {
	out := make([]string, len(s.table))
	for i, r := range s.table {
		out[i] = r.pattern
	}
	return out
}

// handlerFunc is the shape of every API handler: it returns the status and
// body of a success, or an error that becomes a problem.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (status int, body any, err error)

// query adapts a read-only handler that takes the given query parameters
// (none by default): any other parameter, or one given twice, is refused.
func (s *Server) query(h handlerFunc, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkQuery(r, params); err != nil {
			s.respond(w, r, 0, nil, err)
			return
		}
		status, body, err := h(w, r)
		s.respond(w, r, status, body, err)
	}
}

// command adapts a handler that changes state, and counts its outcome
// under name for /metrics: "ok" or the problem code. Commands take no query
// parameters.
func (s *Server) command(name string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, body, err := 0, any(nil), checkQuery(r, nil)
		if err == nil {
			status, body, err = h(w, r)
		}
		outcome := "ok"
		if err != nil {
			outcome = classify(err).Code
		}
		s.commands.add(name, outcome)
		s.respond(w, r, status, body, err)
	}
}

// respond writes body as JSON with status, or err as a problem.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, status int, body any, err error) {
	if err != nil {
		w.Header().Del("Location")
		w.Header().Del("ETag")
		s.problem(w, r, err)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		s.problem(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ServeHTTP gives the request an ID, logs it once answered, guards it
// (token, Host and Origin, content type), limits its body and routes it.
// An unknown path is a 404 problem, a known path with another method a 405
// problem with an Allow header.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r.Header.Get("X-Request-Id"))
	r = r.WithContext(withRequestID(r.Context(), id))
	rec := &accessRecorder{ResponseWriter: w}
	w = rec
	defer func() { s.logAccess(r, rec, id, time.Since(start)) }()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "httpapi: handler panicked", "method", r.Method, "path", r.URL.Path,
				"request_id", id, "panic", p)
			s.problem(w, r, fmt.Errorf("panic: %v", p))
		}
	}()
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Request-Id", id)

	// Wix calls Refresh Payload from the internet with a JWT as a
	// text/plain body: the JWT, not the token or the browser guard,
	// authenticates it.
	if byJWT := s.provider != nil && r.URL.Path == RefreshPayloadPath; !byJWT {
		if err := s.guard(r); err != nil {
			s.problem(w, r, err)
			return
		}
		if !public(r) && !s.authenticated(r) {
			h.Set("WWW-Authenticate", `Bearer realm="lifecycle"`)
			s.problem(w, r, errUnauthenticated)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)

	// ServeMux would redirect a path with "." or ".." segments or doubled
	// slashes to its clean form; an API has no business redirecting.
	if p := r.URL.Path; p == "" || path.Clean(p) != p {
		s.problem(w, r, &routeError{path: p})
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unrouted(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// public reports whether a route answers without the API token: the
// probes and the API's own description.
func public(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/openapi.json":
		return true
	}
	return false
}

// authenticated reports whether r carries the API token, or no token is
// configured. It compares SHA-256 digests in constant time, so neither the
// token nor its length leaks through timing.
func (s *Server) authenticated(r *http.Request) bool {
	if !s.auth {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.token[:]) == 1
}

// unrouted answers a request that no route matches: ServeMux decides
// between 404 and 405 (and the Allow header), and the answer becomes a
// problem.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.problem(w, r, &methodError{method: r.Method, allow: rec.header.Get("Allow")})
		return
	}
	s.problem(w, r, &routeError{path: r.URL.Path})
}

// statusRecorder captures the status and headers ServeMux's own 404 and 405
// handlers write, and drops their plain-text body.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// healthz reports liveness: the process serves requests. It checks no
// dependency, so a slow database does not get the process restarted.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.respond(w, r, http.StatusOK, map[string]string{"status": "ok"}, nil)
}

// ReadyTimeout bounds the store check of GET /readyz.
const ReadyTimeout = 2 * time.Second

// readyz reports readiness: the store answers within ReadyTimeout.
// Otherwise it is a 503 unavailable problem, so that a load balancer sends
// no traffic to a process whose database does not answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.WarnContext(r.Context(), "httpapi: not ready", "err", err)
		s.respond(w, r, 0, nil, &refusal{code: CodeUnavailable, detail: "the store does not answer"})
		return
	}
	s.respond(w, r, http.StatusOK, map[string]string{"status": "ready"}, nil)
}

// Timeouts of the http.Server that NewHTTPServer returns.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewHTTPServer returns an http.Server for h with every timeout set, so that
// slow or idle clients cannot hold connections open: headers within 5s, the
// whole request within 30s, the response within 60s (a cancel of a large
// class writes many calls), idle keep-alives closed after 2 minutes, and
// headers capped at 64 KiB.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
