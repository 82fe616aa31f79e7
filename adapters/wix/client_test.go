package wix_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wix"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/gatewaytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	appID     = "app-3f6c0e"
	appSecret = "s3cr3t-app-secret-d41d8cd98f00"
	site      = "c3c3c3c3-0000-4000-8000-000000000003"
	otherSite = "d4d4d4d4-0000-4000-8000-000000000004"
)

var start = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// env is a simulator served over HTTP and an OAuth client talking to it.
type env struct {
	clock  *fake.Clock
	sim    *wixsim.Sim
	srv    *httptest.Server
	client *wix.Client
}

func newEnv(t *testing.T, mutate ...func(*wix.Config)) env {
	t.Helper()
	clock := fake.NewClock(start)
	sim := wixsim.New(clock, wixsim.WithCredentials(appID, appSecret))
	wixsimtest.RegisterContractTriggers(t, sim)
	srv := sim.NewServer()
	t.Cleanup(srv.Close)
	cfg := wix.Config{BaseURL: srv.URL, AppID: appID, AppSecret: appSecret, Clock: clock, Timeout: 20 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	client, err := wix.New(cfg)
	require.NoError(t, err)
	return env{clock: clock, sim: sim, srv: srv, client: client}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func ev(entityID string) application.ReportEvent {
	return application.ReportEvent{ExternalEntityID: entityID, Payload: json.RawMessage(`{"n":1}`), IdempotencyKey: "key-" + entityID}
}

func entity(n int) string { return fmt.Sprintf("e0000000-0000-4000-8000-%012d", n) }

func report(t *testing.T, c *wix.Client, siteID string, n int) error {
	t.Helper()
	errs, err := c.Report(ctx(t), siteID, gatewaytest.RealTimeKey, []application.ReportEvent{ev(entity(n))})
	if err == nil {
		require.Len(t, errs, 1)
		return errs[0]
	}
	return err
}

func TestContractOverHTTP(t *testing.T) {
	gatewaytest.Run(t, func(t *testing.T) gatewaytest.Harness {
		e := newEnv(t)
		return wixsimtest.Harness(e.sim, e.client)
	})
}

func TestContractOverHTTPWithBearerPrefix(t *testing.T) {
	gatewaytest.Run(t, func(t *testing.T) gatewaytest.Harness {
		e := newEnv(t, func(c *wix.Config) { c.BearerPrefix = true })
		return wixsimtest.Harness(e.sim, e.client)
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]wix.Config{
		"no credentials":     {},
		"both modes":         {AppID: appID, AppSecret: appSecret, StaticToken: "tok", StaticSiteID: site},
		"app ID only":        {AppID: appID},
		"static without ID":  {StaticToken: "tok"},
		"negative timeout":   {AppID: appID, AppSecret: appSecret, Timeout: -time.Second},
		"static without tok": {StaticSiteID: site},
	} {
		_, err := wix.New(cfg)
		assert.ErrorIs(t, err, wix.ErrConfig, name)
	}
}

func TestTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		require.NoError(t, report(t, e.client, site, i))
	}
	assert.Equal(t, 1, e.sim.TokenRequests(site), "one token serves many requests")

	// Wix tokens live 4h; the client replaces them 5 minutes early.
	e.clock.Advance(4*time.Hour - 5*time.Minute - time.Second)
	require.NoError(t, report(t, e.client, site, 10))
	assert.Equal(t, 1, e.sim.TokenRequests(site), "still inside the margin")

	e.clock.Advance(2 * time.Second)
	require.NoError(t, report(t, e.client, site, 11))
	assert.Equal(t, 2, e.sim.TokenRequests(site), "re-minted before expiry")

	for _, r := range e.sim.Requests(site) {
		if r.Endpoint != wixsim.EndpointToken {
			assert.Equal(t, 200, r.Status, "no request ever met an expired token")
		}
	}
}

func TestTokenMarginIsConfigurable(t *testing.T) {
	e := newEnv(t, func(c *wix.Config) { c.TokenMargin = time.Hour })
	require.NoError(t, report(t, e.client, site, 1))
	e.clock.Advance(3*time.Hour + time.Second)
	require.NoError(t, report(t, e.client, site, 2))
	assert.Equal(t, 2, e.sim.TokenRequests(site))
}

func TestTokensArePerSite(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, report(t, e.client, site, 1))
	require.NoError(t, report(t, e.client, otherSite, 2))
	require.NoError(t, report(t, e.client, otherSite, 3))
	assert.Equal(t, 1, e.sim.TokenRequests(site))
	assert.Equal(t, 1, e.sim.TokenRequests(otherSite))
	assert.Len(t, e.sim.LiveEvents(site), 1, "each site's token acts for that site only")
	assert.Len(t, e.sim.LiveEvents(otherSite), 2)
}

func TestOneTokenRequestAtATimePerSite(t *testing.T) {
	e := newEnv(t)
	// A slow token endpoint widens the window in which callers could stampede.
	e.sim.Inject(wixsim.Fault{Endpoint: wixsim.EndpointToken, Latency: 200 * time.Millisecond, Times: 2})
	const perSite = 20
	release := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2*perSite)
	for i := range 2 * perSite {
		siteID := site
		if i%2 == 1 {
			siteID = otherSite
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			_, err := e.client.Report(context.Background(), siteID, gatewaytest.RealTimeKey, []application.ReportEvent{ev(entity(i))})
			errs <- err
		}()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, e.sim.TokenRequests(site))
	assert.Equal(t, 1, e.sim.TokenRequests(otherSite))
	assert.Len(t, e.sim.LiveEvents(site), perSite)
}

func TestUnauthorizedReMintsOnceAndRetries(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, report(t, e.client, site, 1))
	e.sim.RevokeTokens(site) // Wix dropped the token early

	require.NoError(t, report(t, e.client, site, 2))
	assert.Equal(t, 2, e.sim.TokenRequests(site), "one re-mint")
	var statuses []int
	for _, r := range e.sim.Requests("") {
		if r.Endpoint == wixsim.EndpointReport {
			statuses = append(statuses, r.Status)
		}
	}
	assert.Equal(t, []int{200, 401, 200}, statuses, "the refused request was retried once with the new token")
	assert.Len(t, e.sim.LiveEvents(site), 2)
}

func TestSecondUnauthorizedIsPermanent(t *testing.T) {
	e := newEnv(t)
	e.sim.Inject(wixsim.Fault{Status: 401, Code: "UNAUTHENTICATED", Times: 5})
	err := report(t, e.client, site, 1)
	require.Error(t, err)
	var ge *application.GatewayError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 401, ge.Status)
	assert.True(t, ge.Permanent)
	assert.Equal(t, 2, e.sim.TokenRequests(site), "the first token and one re-mint")
	assert.Equal(t, 2, e.sim.RequestCount(site), "the request and one retry, no more")
}

func TestBadCredentialsArePermanent(t *testing.T) {
	e := newEnv(t, func(c *wix.Config) { c.AppSecret = "wrong-secret-0123456789" })
	err := report(t, e.client, site, 1)
	var ge *application.GatewayError
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 401, ge.Status)
	assert.True(t, ge.Permanent)
	assert.Equal(t, 0, e.sim.RequestCount(site), "no event request without a token")
}

func TestTokenEndpointOutageIsRetryable(t *testing.T) {
	e := newEnv(t)
	e.sim.Inject(wixsim.Fault{Endpoint: wixsim.EndpointToken, Status: 503})
	err := report(t, e.client, site, 1)
	_, permanent, _ := application.Classify(err)
	require.Error(t, err)
	assert.False(t, permanent)
	require.NoError(t, report(t, e.client, site, 1), "the next attempt mints again")
}

func TestStaticTokenMode(t *testing.T) {
	e := newEnv(t)
	tok := e.sim.IssueToken(site, 0)
	c, err := wix.New(wix.Config{BaseURL: e.srv.URL, StaticToken: tok, StaticSiteID: site, Clock: e.clock})
	require.NoError(t, err)

	require.NoError(t, report(t, c, site, 1))
	assert.Equal(t, 0, e.sim.TokenRequests(site), "no OAuth in static mode")
	assert.Len(t, e.sim.LiveEvents(site), 1)

	err = report(t, c, otherSite, 2)
	var ge *application.GatewayError
	require.ErrorAs(t, err, &ge)
	assert.True(t, ge.Permanent, "a static token never acts for another site")
	assert.Equal(t, 0, e.sim.RequestCount(otherSite))

	e.sim.RevokeTokens(site)
	before := e.sim.RequestCount(site)
	err = report(t, c, site, 3)
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 401, ge.Status)
	assert.True(t, ge.Permanent, "nothing to re-mint: a 401 is final")
	assert.Equal(t, before+1, e.sim.RequestCount(site), "no retry")
	assert.NotContains(t, err.Error(), tok)
}

// wixError answers status with Wix's error body.
func wixError(status int, code, msg string, header map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			_, _ = io.WriteString(w, `{"access_token":"tok-abcdef-123456","token_type":"Bearer","expires_in":14400}`)
			return
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		if code == "" && msg == "" {
			_, _ = io.WriteString(w, `{"message":"","details":{}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"message": msg, "details": map[string]any{
			"applicationError": map[string]any{"code": code, "description": msg}}})
	}
}

func clientFor(t *testing.T, h http.Handler) *wix.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := wix.New(wix.Config{BaseURL: srv.URL, AppID: appID, AppSecret: appSecret, Clock: fake.NewClock(start)})
	require.NoError(t, err)
	return c
}

func TestStatusClassification(t *testing.T) {
	cases := []struct {
		status    int
		code      string
		permanent bool
	}{
		{400, "INVALID_ARGUMENT", true},
		{401, "UNAUTHENTICATED", true},
		{403, "PERMISSION_DENIED", true},
		{404, "NOT_FOUND", true},
		{409, "ALREADY_EXISTS", true},
		{428, "FAILED_PRECONDITION", true},
		{429, "RESOURCE_EXHAUSTED", false},
		{500, "", false},
		{502, "", false},
		{503, "", false},
		{504, "", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c := clientFor(t, wixError(tc.status, tc.code, strings.ToLower(tc.code), nil))
			_, err := c.Cancel(ctx(t), site, "some_trigger", []string{entity(1)})
			var ge *application.GatewayError
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, tc.status, ge.Status)
			assert.Equal(t, tc.code, ge.Code)
			assert.Equal(t, tc.permanent, ge.Permanent)
			assert.NotEmpty(t, ge.Message, "an empty 5xx body still gets a message")
			_, permanent, _ := application.Classify(err)
			assert.Equal(t, tc.permanent, permanent)
		})
	}
}

func TestUnreadableErrorBodies(t *testing.T) {
	for name, body := range map[string]string{"empty": "", "html": "<html>bad gateway</html>", "truncated": `{"message":"x`} {
		c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth2/token" {
				_, _ = io.WriteString(w, `{"access_token":"tok-abcdef-123456","expires_in":14400}`)
				return
			}
			w.WriteHeader(502)
			_, _ = io.WriteString(w, body)
		}))
		err := report(t, c, site, 1)
		var ge *application.GatewayError
		require.ErrorAs(t, err, &ge, name)
		assert.Equal(t, 502, ge.Status, name)
		assert.False(t, ge.Permanent, name)
		assert.Equal(t, "Bad Gateway", ge.Message, name)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := start
	cases := map[string]time.Duration{
		"":      0,
		"7":     7 * time.Second,
		" 120 ": 2 * time.Minute,
		"0":     0,
		"-3":    0,
		"soon":  0,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		"999999999": 24 * time.Hour,
	}
	for header, want := range cases {
		assert.Equal(t, want, wix.RetryAfter(header, now), "Retry-After %q", header)
	}

	// Through the client, for a 429 and a 503.
	for _, status := range []int{429, 503} {
		c := clientFor(t, wixError(status, "", "", map[string]string{"Retry-After": "42"}))
		err := report(t, c, site, 1)
		_, permanent, retryAfter := application.Classify(err)
		assert.False(t, permanent)
		assert.Equal(t, 42*time.Second, retryAfter, "HTTP %d", status)
	}
}

func TestBulkPartialFailures(t *testing.T) {
	// Results out of order, one item missing, failures with transient,
	// permanent and no codes.
	answer := `{"triggerKey":"t","results":[
		{"itemMetadata":{"originalIndex":3,"success":false,"error":{"code":"UNAVAILABLE","description":"try later"}}},
		{"itemMetadata":{"originalIndex":0,"success":true}},
		{"itemMetadata":{"originalIndex":2,"success":false,"error":{"code":"INVALID_ARGUMENT","description":"bad payload"}}},
		{"itemMetadata":{"originalIndex":4,"success":false}},
		{"itemMetadata":{"originalIndex":9,"success":true}}
	],"bulkActionMetadata":{"totalSuccesses":1,"totalFailures":3,"undetailedFailures":1}}`
	c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			_, _ = io.WriteString(w, `{"access_token":"tok-abcdef-123456","expires_in":14400}`)
			return
		}
		_, _ = io.WriteString(w, answer)
	}))
	ids := []string{entity(0), entity(1), entity(2), entity(3), entity(4)}
	for _, call := range []func() ([]error, error){
		func() ([]error, error) {
			evs := make([]application.ReportEvent, len(ids))
			for i, id := range ids {
				evs[i] = ev(id)
			}
			return c.Report(ctx(t), site, "t", evs)
		},
		func() ([]error, error) { return c.Cancel(ctx(t), site, "t", ids) },
	} {
		errs, err := call()
		require.NoError(t, err)
		require.Len(t, errs, 5)
		assert.NoError(t, errs[0])

		var missing, permanent, transient, bare *application.GatewayError
		require.ErrorAs(t, errs[1], &missing)
		assert.False(t, missing.Permanent, "an item without a result is retried")
		require.ErrorAs(t, errs[2], &permanent)
		assert.Equal(t, "INVALID_ARGUMENT", permanent.Code)
		assert.Equal(t, "bad payload", permanent.Message)
		assert.True(t, permanent.Permanent)
		assert.Equal(t, 0, permanent.Status)
		require.ErrorAs(t, errs[3], &transient)
		assert.Equal(t, "UNAVAILABLE", transient.Code)
		assert.False(t, transient.Permanent)
		require.ErrorAs(t, errs[4], &bare)
		assert.False(t, bare.Permanent, "a failure without a code is retried")
	}
}

func TestBulkAnswerWithoutIndexesMapsByPosition(t *testing.T) {
	c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			_, _ = io.WriteString(w, `{"access_token":"tok-abcdef-123456","expires_in":14400}`)
			return
		}
		_, _ = io.WriteString(w, `{"results":[{"itemMetadata":{"success":true}},{"itemMetadata":{"success":false,"error":{"code":"NOT_FOUND"}}}]}`)
	}))
	errs, err := c.Cancel(ctx(t), site, "t", []string{entity(1), entity(2)})
	require.NoError(t, err)
	require.Len(t, errs, 2)
	assert.NoError(t, errs[0])
	var ge *application.GatewayError
	require.ErrorAs(t, errs[1], &ge)
	assert.True(t, ge.Permanent)
}

func TestItemPermanent(t *testing.T) {
	for _, code := range []string{"", "UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"} {
		assert.False(t, application.PermanentItemCode(code), code)
	}
	for _, code := range []string{"INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION_DENIED", "SOMETHING_NEW"} {
		assert.True(t, application.PermanentItemCode(code), code)
	}
}

// recorded is one request a recording proxy saw.
type recorded struct {
	path   string
	header http.Header
	body   map[string]any
}

// recorder wraps h and keeps every request.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	h    http.Handler
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, recorded{path: r.URL.Path, header: r.Header.Clone(), body: body})
	rc.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	rc.h.ServeHTTP(w, r)
}

func TestWireFormat(t *testing.T) {
	for _, bearer := range []bool{false, true} {
		clock := fake.NewClock(start)
		sim := wixsim.New(clock, wixsim.WithCredentials(appID, appSecret))
		wixsimtest.RegisterContractTriggers(t, sim)
		rec := &recorder{h: sim.Handler()}
		srv := httptest.NewServer(rec)
		t.Cleanup(srv.Close)
		c, err := wix.New(wix.Config{BaseURL: srv.URL + "/", AppID: appID, AppSecret: appSecret, Clock: clock, Version: "1.2.3", BearerPrefix: bearer})
		require.NoError(t, err)

		c1, c2 := entity(1), entity(2)
		_, err = c.Report(ctx(t), site, gatewaytest.RealTimeKey, []application.ReportEvent{ev(c1)})
		require.NoError(t, err)
		_, err = c.Report(ctx(t), site, gatewaytest.RealTimeKey, []application.ReportEvent{ev(c1), ev(c2)})
		require.NoError(t, err)
		_, err = c.Cancel(ctx(t), site, gatewaytest.RealTimeKey, []string{c1})
		require.NoError(t, err)
		_, err = c.Cancel(ctx(t), site, gatewaytest.RealTimeKey, []string{c1, c2})
		require.NoError(t, err)

		require.Len(t, rec.reqs, 5)
		tokenReq := rec.reqs[0]
		assert.Equal(t, "/oauth2/token", tokenReq.path)
		assert.Equal(t, map[string]any{"grant_type": "client_credentials", "client_id": appID, "client_secret": appSecret, "instance_id": site}, tokenReq.body)
		assert.Empty(t, tokenReq.header.Get("Authorization"))

		idem := func(id string) map[string]any {
			return map[string]any{"key": "key-" + id, "ttlInMilliseconds": "604800000"}
		}
		want := []recorded{
			{path: "/automations/v1/events/report", body: map[string]any{
				"triggerKey": gatewaytest.RealTimeKey, "payload": map[string]any{"n": 1.0}, "externalEntityId": c1, "idempotency": idem(c1)}},
			{path: "/automations/v1/events/bulk-report", body: map[string]any{
				"triggerKey": gatewaytest.RealTimeKey, "eventsInfo": []any{
					map[string]any{"payload": map[string]any{"n": 1.0}, "externalEntityId": c1, "idempotency": idem(c1)},
					map[string]any{"payload": map[string]any{"n": 1.0}, "externalEntityId": c2, "idempotency": idem(c2)},
				}}},
			{path: "/automations/v1/events/cancel", body: map[string]any{"triggerKey": gatewaytest.RealTimeKey, "externalEntityId": c1}},
			{path: "/automations/v1/events/bulk-cancel", body: map[string]any{"triggerKey": gatewaytest.RealTimeKey, "externalEntityIds": []any{c1, c2}}},
		}
		for i, w := range want {
			got := rec.reqs[i+1]
			assert.Equal(t, w.path, got.path)
			assert.Equal(t, w.body, got.body, w.path)
			assert.Equal(t, "lifecycle/1.2.3", got.header.Get("User-Agent"))
			assert.Equal(t, "application/json", got.header.Get("Content-Type"))
			auth := got.header.Get("Authorization")
			require.NotEmpty(t, auth)
			assert.Equal(t, bearer, strings.HasPrefix(auth, "Bearer "), "Authorization %q with BearerPrefix %v", auth, bearer)
		}
	}
}

func TestTimeoutIsRetryableTransportError(t *testing.T) {
	e := newEnv(t, func(c *wix.Config) { c.Timeout = 200 * time.Millisecond })
	require.NoError(t, report(t, e.client, site, 1)) // mint the token first
	e.sim.SetLatency(10 * time.Second)
	defer e.sim.SetLatency(0)
	err := report(t, e.client, site, 2)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var ge *application.GatewayError
	assert.False(t, errors.As(err, &ge))
	_, permanent, _ := application.Classify(err)
	assert.False(t, permanent)
}

func TestSecretsNeverInErrorsOrStrings(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a-live"
	// A hostile or buggy server that echoes every secret it sees.
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/oauth2/token" && strings.Contains(string(b), "mint-ok") {
			_, _ = io.WriteString(w, `{"access_token":"`+token+`","expires_in":14400}`)
			return
		}
		msg := fmt.Sprintf("bad request %s auth=%s", b, r.Header.Get("Authorization"))
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]any{"message": msg, "details": map[string]any{
			"applicationError": map[string]any{"code": "ECHO " + r.Header.Get("Authorization"), "description": msg}}})
	})
	srv := httptest.NewServer(echo)
	t.Cleanup(srv.Close)

	var errs []error
	// The token endpoint echoes the secret.
	c, err := wix.New(wix.Config{BaseURL: srv.URL, AppID: appID, AppSecret: appSecret})
	require.NoError(t, err)
	errs = append(errs, report(t, c, site, 1))
	// The events endpoint echoes the token (minted with a secret it accepts).
	const okSecret = "mint-ok-secret-77"
	c2, err := wix.New(wix.Config{BaseURL: srv.URL, AppID: appID, AppSecret: okSecret})
	require.NoError(t, err)
	errs = append(errs, report(t, c2, site, 1))
	// Static mode: the static token is echoed.
	c3, err := wix.New(wix.Config{BaseURL: srv.URL, StaticToken: token, StaticSiteID: site})
	require.NoError(t, err)
	errs = append(errs, report(t, c3, site, 1))
	// A transport error.
	c4, err := wix.New(wix.Config{BaseURL: "http://127.0.0.1:1", AppID: appID, AppSecret: appSecret})
	require.NoError(t, err)
	errs = append(errs, report(t, c4, site, 1))

	for i, err := range errs {
		require.Error(t, err, "case %d", i)
		for _, secret := range []string{appSecret, okSecret, token} {
			assert.NotContains(t, err.Error(), secret, "case %d", i)
			assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), secret, "case %d", i)
		}
	}

	cfg := wix.Config{AppID: appID, AppSecret: appSecret}
	static := wix.Config{StaticToken: token, StaticSiteID: site}
	for _, s := range []string{
		cfg.String(), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
		static.String(), fmt.Sprintf("%v %+v %#v", static, static, static),
		c.String(), fmt.Sprint(c), c3.String(),
	} {
		assert.NotContains(t, s, appSecret)
		assert.NotContains(t, s, token)
	}
	assert.Contains(t, cfg.String(), "[redacted]")
}

func BenchmarkReportOverHTTP(b *testing.B) {
	clock := fake.NewClock(start)
	sim := wixsim.New(clock, wixsim.WithCredentials(appID, appSecret))
	wixsimtest.RegisterContractTriggers(b, sim)
	srv := sim.NewServer()
	defer srv.Close()
	c, err := wix.New(wix.Config{BaseURL: srv.URL, AppID: appID, AppSecret: appSecret, Clock: clock})
	require.NoError(b, err)
	ctx := context.Background()
	for _, size := range []int{1, application.MaxBatch} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			n := 0
			for b.Loop() {
				evs := make([]application.ReportEvent, size)
				for i := range evs {
					n++
					evs[i] = ev(entity(n))
				}
				if _, err := c.Report(ctx, site, gatewaytest.RealTimeKey, evs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
