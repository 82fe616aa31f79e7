package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
)

const (
	token   = "s3cret-token"
	site    = "5ea5f1d2-0000-4000-8000-000000000001"
	other   = "5ea5f1d2-0000-4000-8000-000000000002" // another site
	contact = "c0c0c0c0-0000-4000-8000-000000000001"
	alice   = "a11ce000-0000-4000-8000-000000000001"
	bob     = "b0b00000-0000-4000-8000-000000000002"
	carol   = "ca201000-0000-4000-8000-000000000003"
)

// t0 is when every test starts; appointments and classes lie a day later.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }

// harness is a Server over a memory store, a fake clock and fake IDs,
// served over real HTTP by an http.Server from NewHTTPServer.
type harness struct {
	t     *testing.T
	app   *application.App
	store *memory.Store
	clock *fake.Clock
	url   string
	logs  *syncBuffer
}

type options struct {
	token   string
	ready   func(context.Context) error
	maxBody int64
	metrics httpapi.MetricsSource
	store   application.Store  // nil means the memory store
	outbox  application.Outbox // nil means the memory store
	// provider turns on the Refresh Payload route.
	provider *httpapi.TriggerProvider
}

func newHarness(t *testing.T, opts ...func(*options)) *harness {
	t.Helper()
	o := options{token: token}
	for _, f := range opts {
		f(&o)
	}
	h := &harness{t: t, store: memory.New(), clock: fake.NewClock(t0), logs: &syncBuffer{}}
	if o.store == nil {
		o.store = h.store
	}
	if o.outbox == nil {
		o.outbox = h.store
	}
	app, err := application.New(application.Config{Store: o.store, Clock: h.clock, IDs: fake.NewIDs("0000000e")})
	require.NoError(t, err)
	h.app = app
	srv, err := httpapi.New(httpapi.Config{
		App: app, Outbox: o.outbox, Clock: h.clock, Token: o.token, MaxBodyBytes: o.maxBody, Metrics: o.metrics,
		TriggerProvider: o.provider, Ready: o.ready,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(srv)
	ts.Config = httpapi.NewHTTPServer("", srv)
	ts.Listener = httpapi.ProblemListener(ts.Listener)
	ts.Start()
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

// response is a received HTTP response with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the API token. body is nil (no body), a string
// (sent as is) or a value (sent as JSON).
func (h *harness) do(method, path string, body any) response {
	h.t.Helper()
	return h.doAuth(method, path, body, "Bearer "+token)
}

// doAuth is do with the given Authorization header ("" sends none).
func (h *harness) doAuth(method, path string, body any, auth string) response {
	h.t.Helper()
	var hdr http.Header
	if auth != "" {
		hdr = http.Header{"Authorization": {auth}}
	}
	return h.send(method, path, body, hdr)
}

// send sends a request with the given headers (a JSON body gets
// Content-Type: application/json unless hdr sets one) and checks the
// response against the OpenAPI document.
func (h *harness) send(method, path string, body any, hdr http.Header) response {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(h.t, err)
		r = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.url+path, r)
	require.NoError(h.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range hdr {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	validateResponse(h.t, req, resp.StatusCode, resp.Header, data)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// ok requires status want and decodes the JSON body into a T.
func ok[T any](t *testing.T, r response, want int) T {
	t.Helper()
	require.Equal(t, want, r.status, "body: %s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v), "body: %s", r.body)
	return v
}

// problem requires an RFC 9457 problem with status and code, and returns it.
func problem(t *testing.T, r response, status int, code string) httpapi.Problem {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), "body: %s", r.body)
	var p httpapi.Problem
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), "body: %s", r.body)
	assert.Equal(t, code, p.Code)
	assert.Equal(t, status, p.Status)
	assert.Equal(t, httpapi.ProblemTypePrefix+code, p.Type)
	assert.NotEmpty(t, p.Title)
	assert.NotEmpty(t, p.Detail)
	assert.NotEmpty(t, p.Instance)
	return p
}

// fields lists the field names of a problem.
func fields(p httpapi.Problem) []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	return out
}

// calls returns every call of every site in the outbox, by Seq.
func (h *harness) calls() []application.Call {
	h.t.Helper()
	cs, err := h.store.List(context.Background(), application.Filter{Limit: 100000})
	require.NoError(h.t, err)
	return cs
}

// step is one expected call: kind, trigger key, externalEntityId.
type step struct{ kind, trigger, entity string }

// steps reduces calls to their kind, trigger key and entity.
func steps(calls []httpapi.Call) []step {
	out := make([]step, len(calls))
	for i, c := range calls {
		out[i] = step{c.Kind, c.TriggerKey, c.ExternalEntityID}
	}
	return out
}

// apiCalls lists a site's calls through the API, after seq.
func (h *harness) apiCalls(siteID string, after int64) []httpapi.Call {
	h.t.Helper()
	list := ok[httpapi.CallList](h.t, h.do("GET", "/v1/sites/"+siteID+"/outbox?limit=1000&after="+itoa(after), nil), 200)
	return list.Calls
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Request bodies used across tests.
func apptBody(id string, start, end time.Duration) map[string]any {
	b := map[string]any{"contactId": contact, "startsAt": at(start), "endsAt": at(end), "title": "Haircut"}
	if id != "" {
		b["id"] = id
	}
	return b
}

func classBody(id string, capacity int, waitlist bool) map[string]any {
	b := map[string]any{"title": "Yoga", "startsAt": at(48 * time.Hour), "endsAt": at(49 * time.Hour),
		"capacity": capacity, "waitlist": waitlist}
	if id != "" {
		b["id"] = id
	}
	return b
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// jsonField returns one member of a JSON object.
func jsonField(t *testing.T, raw []byte, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[name]
}
