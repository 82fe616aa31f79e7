package wixsim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const refreshAppID = "refresh-test-app"

// appKey is generated once: RSA key generation is the slow part of these
// tests.
var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

// refreshCall is one Refresh Payload request the fake app received, its
// JWT verified.
type refreshCall struct {
	path        string
	header      http.Header
	claims      jwt.MapClaims
	request     map[string]any
	metadata    map[string]any
	triggerKey  string
	entityID    string
	site        string
	payload     map[string]any
	verifyError error
}

// fakeApp plays the app's trigger provider: it verifies each call's JWT
// as the app must (RS256 only, iss, aud, iat, exp) and answers with
// answer.
type fakeApp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []refreshCall
	answer func(w http.ResponseWriter, r *http.Request, c refreshCall)
}

func newFakeApp(t *testing.T, pub *rsa.PublicKey, answer func(w http.ResponseWriter, r *http.Request, c refreshCall)) *fakeApp {
	t.Helper()
	app := &fakeApp{answer: answer}
	app.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := refreshCall{path: r.URL.Path, header: r.Header.Clone()}
		tok, err := jwt.Parse(string(body), func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("wix.com"), jwt.WithAudience(refreshAppID),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
		if err != nil {
			c.verifyError = err
		} else {
			c.claims = tok.Claims.(jwt.MapClaims)
			data, _ := c.claims["data"].(map[string]any)
			c.request, _ = data["request"].(map[string]any)
			c.metadata, _ = data["metadata"].(map[string]any)
			c.triggerKey, _ = c.request["triggerKey"].(string)
			c.entityID, _ = c.request["externalEntityId"].(string)
			c.payload, _ = c.request["payload"].(map[string]any)
			c.site, _ = c.metadata["instanceId"].(string)
		}
		app.mu.Lock()
		app.calls = append(app.calls, c)
		app.mu.Unlock()
		if c.verifyError != nil {
			http.Error(w, c.verifyError.Error(), http.StatusUnauthorized)
			return
		}
		app.answer(w, r, c)
	}))
	t.Cleanup(app.srv.Close)
	return app
}

func (a *fakeApp) baseURL() string { return a.srv.URL + "/wix/trigger-provider" }

func (a *fakeApp) received() []refreshCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]refreshCall(nil), a.calls...)
}

func answerJSON(body string) func(http.ResponseWriter, *http.Request, refreshCall) {
	return func(w http.ResponseWriter, _ *http.Request, _ refreshCall) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// refreshSim is a simulator whose app ID is refreshAppID, calling app for
// the triggers given, with a 1-day-before reminder on appointment_starting,
// a follow-up 2 h after appointment_scheduled and a confirmation at once.
func refreshSim(t *testing.T, app *fakeApp, opts []wixsim.Option, triggers ...string) *wixsim.Sim {
	t.Helper()
	sim, _ := refreshSimClock(t, app, opts, triggers...)
	return sim
}

func refreshSimClock(t *testing.T, app *fakeApp, opts []wixsim.Option, triggers ...string) (*wixsim.Sim, *fake.Clock) {
	t.Helper()
	opts = append([]wixsim.Option{
		wixsim.WithCredentials(refreshAppID, "secret"),
		wixsim.WithTriggerProvider(app.baseURL(), appKey(), triggers...),
	}, opts...)
	sim, clock := newSim(t, opts...)
	for _, a := range []wixsim.Automation{
		{Name: "reminder 1 day before", TriggerKey: "appointment_starting", Offset: -24 * time.Hour},
		{Name: "follow-up", TriggerKey: "appointment_scheduled", Offset: 2 * time.Hour},
		{Name: "confirmation", TriggerKey: "appointment_scheduled"},
	} {
		require.NoError(t, sim.AddAutomation(siteA, a))
	}
	return sim, clock
}

func reportReminder(t *testing.T, sim *wixsim.Sim, appt string) json.RawMessage {
	t.Helper()
	p := apptPayload(appt, t0.Add(72*time.Hour))
	mustReport(t, sim, siteA, "appointment_starting", application.ReportEvent{ExternalEntityID: appt, Payload: p})
	return p
}

func onlyActivation(t *testing.T, sim *wixsim.Sim, name string) wixsim.Activation {
	t.Helper()
	var found []wixsim.Activation
	for _, a := range sim.Activations(siteA) {
		if a.Automation == name {
			found = append(found, a)
		}
	}
	require.Len(t, found, 1, name)
	return found[0]
}

func TestRefreshPayloadRequestIsWixsSignedCall(t *testing.T) {
	app := newFakeApp(t, &appKey().PublicKey, answerJSON(`{}`))
	sim := refreshSim(t, app, nil)
	p := reportReminder(t, sim, id(1))
	before := time.Now()
	sim.Advance(48 * time.Hour)

	calls := app.received()
	require.Len(t, calls, 1, "one call, just before the reminder runs")
	c := calls[0]
	require.NoError(t, c.verifyError, "the app verifies the JWT with the public key")
	assert.Equal(t, "/wix/trigger-provider/refresh-payload", c.path, "the method path is appended to the base URI")
	assert.Equal(t, "text/plain; charset=utf-8", c.header.Get("Content-Type"))
	assert.Equal(t, "Wix", c.header.Get("User-Agent"))
	assert.Equal(t, refreshAppID, c.claims["aud"], "aud is the app ID, as a string")
	assert.Equal(t, "wix.com", c.claims["iss"])
	iat, _ := c.claims.GetIssuedAt()
	exp, _ := c.claims.GetExpirationTime()
	assert.WithinDuration(t, before, iat.Time, 5*time.Second, "iat is the wall clock, not the simulator's")
	assert.Equal(t, wixsim.RefreshTokenTTL, exp.Sub(iat.Time))
	assert.Equal(t, "appointment_starting", c.triggerKey)
	assert.Equal(t, id(1), c.entityID)
	assert.Equal(t, siteA, c.site)
	var want map[string]any
	require.NoError(t, json.Unmarshal(p, &want))
	assert.Equal(t, want, c.payload, "the payload as reported")
	_, err := uuid.Parse(c.metadata["requestId"].(string))
	assert.NoError(t, err, "requestId")
	assert.Equal(t, map[string]any{"identityType": "APP", "appId": refreshAppID}, c.metadata["identity"])
	assert.Equal(t, wixsim.AppExtensionType, c.metadata["appExtensionType"])

	a := onlyActivation(t, sim, "reminder 1 day before")
	assert.Equal(t, wixsim.ActivationRan, a.State, "an empty answer runs the action as reported")
	assert.JSONEq(t, string(p), string(a.RanWith))
	require.NotNil(t, a.Refresh)
	assert.Equal(t, wixsim.AnswerEmpty, a.Refresh.Answer)
	assert.Equal(t, 200, a.Refresh.Status)
	assert.Equal(t, c.metadata["requestId"], a.Refresh.RequestID)
	assert.Equal(t, t0.Add(48*time.Hour), a.Refresh.At)
}

func TestRefreshPayloadCancelActivation(t *testing.T) {
	app := newFakeApp(t, &appKey().PublicKey, answerJSON(`{"cancelActivation": true}`))
	sim := refreshSim(t, app, nil)
	reportReminder(t, sim, id(1))
	ran := sim.Advance(48 * time.Hour)
	assert.Empty(t, ran)

	a := onlyActivation(t, sim, "reminder 1 day before")
	assert.Equal(t, wixsim.ActivationCanceled, a.State)
	assert.Equal(t, wixsim.CanceledByRefreshPayload, a.CanceledBy, "not a cancel call")
	assert.Equal(t, t0.Add(48*time.Hour), a.SettledAt)
	assert.Nil(t, a.RanWith)
	assert.Equal(t, wixsim.AnswerCancel, a.Refresh.Answer)
	assert.Len(t, sim.LiveEvents(siteA), 1, "cancelActivation cancels the activation, not the event")
}

func TestRefreshPayloadRunsWithTheRefreshedPayload(t *testing.T) {
	app := newFakeApp(t, &appKey().PublicKey, func(w http.ResponseWriter, _ *http.Request, c refreshCall) {
		c.payload["title"] = "Intro session (room 2)"
		_ = json.NewEncoder(w).Encode(map[string]any{"payload": c.payload})
	})
	sim := refreshSim(t, app, nil)
	p := reportReminder(t, sim, id(1))
	ran := sim.Advance(48 * time.Hour)
	require.Len(t, ran, 1)

	a := onlyActivation(t, sim, "reminder 1 day before")
	assert.Equal(t, wixsim.ActivationRan, a.State)
	assert.Equal(t, wixsim.AnswerPayload, a.Refresh.Answer)
	assert.JSONEq(t, string(p), string(a.Payload), "the payload as reported stays recorded")
	var got map[string]any
	require.NoError(t, json.Unmarshal(a.RanWith, &got))
	assert.Equal(t, "Intro session (room 2)", got["title"])
	assert.Equal(t, id(1), got["appointmentId"])
	assert.JSONEq(t, string(a.RanWith), string(ran[0].RanWith))
}

func TestRefreshPayloadErrors(t *testing.T) {
	pub := &appKey().PublicKey
	slow := func(w http.ResponseWriter, r *http.Request, _ refreshCall) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, `{"cancelActivation": true}`)
	}
	cases := map[string]struct {
		answer func(http.ResponseWriter, *http.Request, refreshCall)
		status int
		reason string
	}{
		"5xx":                 {func(w http.ResponseWriter, _ *http.Request, _ refreshCall) { http.Error(w, "boom", 500) }, 500, "HTTP 500"},
		"app error":           {func(w http.ResponseWriter, _ *http.Request, _ refreshCall) { w.WriteHeader(400) }, 400, "HTTP 400"},
		"not JSON":            {answerJSON(`cancel please`), 200, "not the documented JSON"},
		"payload not object":  {answerJSON(`{"payload": [1, 2]}`), 200, "not a JSON object"},
		"slow (timeout)":      {slow, 0, "deadline exceeded"},
		"cancel not boolean":  {answerJSON(`{"cancelActivation": "yes"}`), 200, "not the documented JSON"},
		"connection dropped!": {func(w http.ResponseWriter, _ *http.Request, _ refreshCall) { panic(http.ErrAbortHandler) }, 0, "EOF"},
	}
	for name, c := range cases {
		for _, policy := range []wixsim.RefreshErrorPolicy{wixsim.RunOnRefreshError, wixsim.FailOnRefreshError} {
			t.Run(fmt.Sprintf("%s/%s", name, policy), func(t *testing.T) {
				app := newFakeApp(t, pub, c.answer)
				sim := refreshSim(t, app, []wixsim.Option{wixsim.WithRefreshTimeout(100 * time.Millisecond), wixsim.WithRefreshErrorPolicy(policy)})
				p := reportReminder(t, sim, id(1))
				started := time.Now()
				sim.Advance(48 * time.Hour)
				assert.Less(t, time.Since(started), 3*time.Second, "the timeout bounds the call")

				a := onlyActivation(t, sim, "reminder 1 day before")
				require.NotNil(t, a.Refresh)
				assert.Equal(t, wixsim.AnswerError, a.Refresh.Answer)
				assert.Equal(t, c.status, a.Refresh.Status)
				assert.Contains(t, a.Refresh.Error, c.reason)
				if policy == wixsim.RunOnRefreshError {
					assert.Equal(t, wixsim.ActivationRan, a.State, "the default runs the action as reported")
					assert.JSONEq(t, string(p), string(a.RanWith))
				} else {
					assert.Equal(t, wixsim.ActivationFailed, a.State)
					assert.Nil(t, a.RanWith)
				}
				assert.Len(t, app.received(), 1, "no retry")
			})
		}
	}
}

func TestRefreshPayloadAnswerRules(t *testing.T) {
	cases := map[string]struct {
		body  string
		state wixsim.ActivationState
		want  wixsim.RefreshAnswer
	}{
		"cancel wins over a payload":      {`{"payload": {"title": "x"}, "cancelActivation": true}`, wixsim.ActivationCanceled, wixsim.AnswerCancel},
		"cancelActivation false":          {`{"cancelActivation": false, "payload": {"title": "x"}}`, wixsim.ActivationRan, wixsim.AnswerPayload},
		"null payload":                    {`{"payload": null}`, wixsim.ActivationRan, wixsim.AnswerEmpty},
		"unknown fields are not an error": {`{"extra": 1}`, wixsim.ActivationRan, wixsim.AnswerEmpty},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			app := newFakeApp(t, &appKey().PublicKey, answerJSON(c.body))
			sim := refreshSim(t, app, nil)
			reportReminder(t, sim, id(1))
			sim.Advance(48 * time.Hour)
			a := onlyActivation(t, sim, "reminder 1 day before")
			assert.Equal(t, c.state, a.State)
			assert.Equal(t, c.want, a.Refresh.Answer)
		})
	}
}

func TestRefreshPayloadOnlyForDelayedActivationsOfItsTriggers(t *testing.T) {
	app := newFakeApp(t, &appKey().PublicKey, answerJSON(`{"cancelActivation": true}`))
	sim := refreshSim(t, app, nil, "appointment_scheduled") // not appointment_starting
	reportReminder(t, sim, id(1))
	mustReport(t, sim, siteA, "appointment_scheduled", application.ReportEvent{ExternalEntityID: id(2), Payload: apptPayload(id(2), t0.Add(72*time.Hour))})
	sim.Advance(48 * time.Hour)

	calls := app.received()
	require.Len(t, calls, 1, "only the delayed follow-up of appointment_scheduled is refreshed")
	assert.Equal(t, "appointment_scheduled", calls[0].triggerKey)
	assert.Equal(t, id(2), calls[0].entityID)
	assert.Equal(t, wixsim.CanceledByRefreshPayload, onlyActivation(t, sim, "follow-up").CanceledBy)
	confirmation := onlyActivation(t, sim, "confirmation")
	assert.Equal(t, wixsim.ActivationRan, confirmation.State, "an action at the report's time is not delayed")
	assert.Nil(t, confirmation.Refresh)
	reminder := onlyActivation(t, sim, "reminder 1 day before")
	assert.Equal(t, wixsim.ActivationRan, reminder.State, "appointment_starting is not served by the provider")
	assert.Nil(t, reminder.Refresh)
}

func TestRefreshPayloadNotCalledForACanceledEvent(t *testing.T) {
	app := newFakeApp(t, &appKey().PublicKey, answerJSON(`{}`))
	sim := refreshSim(t, app, nil)
	reportReminder(t, sim, id(1))
	sim.Advance(time.Hour)
	mustCancel(t, sim, siteA, "appointment_starting", id(1))
	sim.Advance(72 * time.Hour)

	assert.Empty(t, app.received())
	a := onlyActivation(t, sim, "reminder 1 day before")
	assert.Equal(t, wixsim.ActivationCanceled, a.State)
	assert.Equal(t, wixsim.CanceledByEvent, a.CanceledBy)
}

// A cancel that arrives after an activation's time waits for its Refresh
// Payload call, so it never overtakes it: the reminder ran, then the event
// was canceled.
func TestCancelWaitsForARefreshUnderWay(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	app := newFakeApp(t, &appKey().PublicKey, func(w http.ResponseWriter, _ *http.Request, c refreshCall) {
		close(arrived)
		<-release
		_ = json.NewEncoder(w).Encode(map[string]any{"payload": c.payload})
	})
	sim := refreshSim(t, app, []wixsim.Option{wixsim.WithRefreshTimeout(10 * time.Second)})
	reportReminder(t, sim, id(1))

	advanced := make(chan []wixsim.Activation)
	go func() { advanced <- sim.Advance(48 * time.Hour) }()
	<-arrived
	canceled := make(chan error)
	go func() {
		_, err := sim.Cancel(context.Background(), siteA, "appointment_starting", []string{id(1)})
		canceled <- err
	}()
	select {
	case <-canceled:
		t.Fatal("the cancel went ahead of the Refresh Payload call under way")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-canceled)
	assert.Len(t, <-advanced, 1)

	a := onlyActivation(t, sim, "reminder 1 day before")
	assert.Equal(t, wixsim.ActivationRan, a.State)
	assert.Equal(t, wixsim.AnswerPayload, a.Refresh.Answer)
	assert.Empty(t, sim.LiveEvents(siteA), "and then the cancel applied")
}

func TestTriggerProviderMisconfiguredPanics(t *testing.T) {
	clock := func() *wixsim.EmulatorClock { return wixsim.NewEmulatorClock(nil, t0, true) }
	assert.Panics(t, func() { wixsim.New(clock(), wixsim.WithTriggerProvider("http://app.test", nil)) })
	assert.Panics(t, func() { wixsim.New(clock(), wixsim.WithTriggerProvider("app.test/wix", appKey())) })
	for _, bad := range []string{"", "app.test", "ftp://app.test", "http://", "http://app.test/x?y=1", "http://app.test/#f", "http://[::1"} {
		assert.ErrorIs(t, wixsim.CheckBaseURL(bad), wixsim.ErrInvalidTriggerProvider, bad)
	}
	assert.NoError(t, wixsim.CheckBaseURL("https://lifecycle.example.com/wix/trigger-provider"))
}

func TestKeyPairFilesAreWhatOpenSSLWrites(t *testing.T) {
	kp := wixsimtest.NewKeyPair(t)
	privPEM, err := os.ReadFile(kp.PrivatePEMFile)
	require.NoError(t, err)
	priv, err := jwt.ParseRSAPrivateKeyFromPEM(privPEM)
	require.NoError(t, err)
	assert.True(t, priv.Equal(kp.Private))
	pubPEM, err := os.ReadFile(kp.PublicPEMFile)
	require.NoError(t, err)
	assert.Equal(t, kp.PublicPEM, pubPEM)
	pub, err := jwt.ParseRSAPublicKeyFromPEM(pubPEM)
	require.NoError(t, err)
	assert.True(t, pub.Equal(&kp.Private.PublicKey))
}

func TestRefreshPayloadOverTLSWithTheGivenClientAndTokenClock(t *testing.T) {
	plain := newFakeApp(t, &appKey().PublicKey, answerJSON(`{"cancelActivation": true}`))
	tls := httptest.NewTLSServer(plain.srv.Config.Handler) // the fake app's handler, over TLS
	defer tls.Close()
	issued := time.Now().Truncate(time.Second)
	sim, _ := newSim(t,
		wixsim.WithCredentials(refreshAppID, "secret"),
		wixsim.WithTriggerProvider(tls.URL+"/wix/trigger-provider/", appKey()), // a trailing slash is fine
		wixsim.WithRefreshHTTPClient(tls.Client()),
		wixsim.WithRefreshTokenClock(fake.NewClock(issued)))
	require.NoError(t, sim.AddAutomation(siteA, wixsim.Automation{Name: "reminder 1 day before", TriggerKey: "appointment_starting", Offset: -24 * time.Hour}))
	reportReminder(t, sim, id(1))
	sim.Advance(48 * time.Hour)

	calls := plain.received()
	require.Len(t, calls, 1)
	require.NoError(t, calls[0].verifyError)
	assert.Equal(t, "/wix/trigger-provider/refresh-payload", calls[0].path)
	iat, _ := calls[0].claims.GetIssuedAt()
	assert.Equal(t, issued.Unix(), iat.Unix(), "iat comes from the token clock")
	a := onlyActivation(t, sim, "reminder 1 day before")
	assert.Equal(t, wixsim.CanceledByRefreshPayload, a.CanceledBy)
	assert.Zero(t, a.Refresh.Took, "the duration is measured on the token clock too")
}
