package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
	"github.com/bookable/lifecycle/application"
)

const appID = "lifecycle-test-app"

// providerHarness is a harness serving Refresh Payload, with the key Wix
// signs with.
type providerHarness struct {
	*harness
	key  *rsa.PrivateKey
	pair wixsimtest.KeyPair
}

func newProviderHarness(t *testing.T, opts ...func(*options)) *providerHarness {
	pair := wixsimtest.NewKeyPair(t)
	pub, err := httpapi.ParsePublicKey(pair.PublicPEM)
	require.NoError(t, err)
	opts = append(opts, func(o *options) {
		o.provider = &httpapi.TriggerProvider{PublicKey: pub, AppID: appID, Leeway: 10 * time.Second}
	})
	return &providerHarness{harness: newHarness(t, opts...), key: pair.Private, pair: pair}
}

// claims are Wix's claims for a Refresh Payload of trigger for entity on site.
func (h *providerHarness) claims(trigger, entity string, payload json.RawMessage) jwt.MapClaims {
	now := h.clock.Now()
	return jwt.MapClaims{
		"iss": "wix.com", "aud": appID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"data": map[string]any{
			"request":  map[string]any{"triggerKey": trigger, "externalEntityId": entity, "payload": payload},
			"metadata": map[string]any{"requestId": "req-1", "instanceId": site, "identity": map[string]any{"identityType": "APP"}},
		},
	}
}

func (h *providerHarness) sign(c jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(h.key)
	require.NoError(h.t, err)
	return s
}

// ask posts a JWT as Wix does: text/plain, no API token.
func (h *providerHarness) ask(token string) response {
	h.t.Helper()
	return h.send("POST", httpapi.RefreshPayloadPath, token, http.Header{"Content-Type": {"text/plain; charset=utf-8"},
		"User-Agent": {"Wix"}})
}

func (h *providerHarness) reminder() (string, json.RawMessage) {
	a := ok[httpapi.Appointment](h.t, h.do("POST", "/v1/sites/"+site+"/appointments", apptBody("", day, day+time.Hour)), 201)
	for _, c := range h.calls() {
		if c.TriggerKey == "appointment_starting" && c.ExternalEntityID == a.ID {
			return a.ID, c.Payload
		}
	}
	h.t.Fatal("no reminder queued")
	return "", nil
}

func TestRefreshPayloadAnswersFromTheBooking(t *testing.T) {
	h := newProviderHarness(t)
	id, payload := h.reminder()

	got := ok[httpapi.RefreshPayloadAnswer](t, h.ask(h.sign(h.claims("appointment_starting", id, payload))), 200)
	assert.False(t, got.CancelActivation)
	assert.JSONEq(t, string(payload), string(got.Payload))

	ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+id+"/rename", map[string]string{"title": "Colouring"}), 200)
	got = ok[httpapi.RefreshPayloadAnswer](t, h.ask(h.sign(h.claims("appointment_starting", id, payload))), 200)
	assert.Contains(t, string(got.Payload), `"title":"Colouring"`, "the current payload")

	ok[httpapi.Appointment](t, h.do("POST", "/v1/sites/"+site+"/appointments/"+id+"/cancel", nil), 200)
	got = ok[httpapi.RefreshPayloadAnswer](t, h.ask(h.sign(h.claims("appointment_starting", id, payload))), 200)
	assert.True(t, got.CancelActivation)
	assert.Empty(t, got.Payload)

	m := string(h.do("GET", "/metrics", nil).body)
	assert.Contains(t, m, `lifecycle_refresh_payload_total{answer="payload"} 2`)
	assert.Contains(t, m, `lifecycle_refresh_payload_total{answer="cancel"} 1`)
}

func TestRefreshPayloadRefusesEveryBadToken(t *testing.T) {
	h := newProviderHarness(t)
	id, payload := h.reminder()
	good := func() jwt.MapClaims { return h.claims("appointment_starting", id, payload) }
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := h.clock.Now()
	with := func(k string, v any) string { c := good(); c[k] = v; return h.sign(c) }
	without := func(k string) string { c := good(); delete(c, k); return h.sign(c) }
	withData := func(edit func(req, meta map[string]any)) string {
		c := good()
		d := c["data"].(map[string]any)
		edit(d["request"].(map[string]any), d["metadata"].(map[string]any))
		return h.sign(c)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	hmac, err := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString(h.pair.PublicPEM) // the public key as an HMAC secret
	require.NoError(t, err)
	foreign, err := jwt.NewWithClaims(jwt.SigningMethodRS256, good()).SignedString(other)
	require.NoError(t, err)
	ps256, err := jwt.NewWithClaims(jwt.SigningMethodPS256, good()).SignedString(h.key)
	require.NoError(t, err)
	parts := strings.Split(h.sign(good()), ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"wix.com"}`)) + "." + parts[2]

	for name, token := range map[string]string{
		"empty":                      "",
		"not a JWT":                  "hello",
		"alg none":                   none,
		"HS256 with the public key":  hmac,
		"PS256":                      ps256,
		"another key":                foreign,
		"tampered claims":            tampered,
		"wrong issuer":               with("iss", "evil.example"),
		"no issuer":                  without("iss"),
		"wrong audience":             with("aud", "another-app"),
		"no audience":                without("aud"),
		"expired":                    with("exp", now.Add(-time.Minute).Unix()),
		"no expiry":                  without("exp"),
		"issued in the future":       with("iat", now.Add(time.Minute).Unix()),
		"no issued-at":               without("iat"),
		"not yet valid":              with("nbf", now.Add(time.Minute).Unix()),
		"no instance":                withData(func(_, m map[string]any) { delete(m, "instanceId") }),
		"no trigger key":             withData(func(r, _ map[string]any) { delete(r, "triggerKey") }),
		"no entity":                  withData(func(r, _ map[string]any) { delete(r, "externalEntityId") }),
		"payload not an object":      withData(func(r, _ map[string]any) { r["payload"] = "x" }),
		"no payload":                 withData(func(r, _ map[string]any) { delete(r, "payload") }),
		"data missing":               without("data"),
		"claims in the wrong places": with("data", "a string, as webhooks send it"),
	} {
		t.Run(name, func(t *testing.T) {
			before := h.calls()
			problem(t, h.ask(token), 401, httpapi.CodeUnauthenticated)
			assert.Equal(t, before, h.calls(), "a refused request changes nothing")
		})
	}
	m := string(h.do("GET", "/metrics", nil).body)
	assert.Contains(t, m, `lifecycle_refresh_payload_total{answer="refused"} 23`)
	assert.Contains(t, m, `lifecycle_refresh_payload_total{answer="cancel"} 0`, "a refusal is never a cancel")

	// Within the leeway, iat and exp are accepted.
	c := good()
	c["iat"], c["exp"] = now.Add(5*time.Second).Unix(), now.Add(-5*time.Second).Unix()
	ok[httpapi.RefreshPayloadAnswer](t, h.ask(h.sign(c)), 200)
}

func TestRefreshPayloadNeedsNoAPITokenButOnlyItsRoute(t *testing.T) {
	h := newProviderHarness(t, func(o *options) { o.token = token })
	id, payload := h.reminder()
	ok[httpapi.RefreshPayloadAnswer](t, h.ask(h.sign(h.claims("appointment_starting", id, payload))), 200)
	problem(t, h.doAuth("GET", "/v1/sites/"+site+"/appointments/"+id, nil, ""), 401, httpapi.CodeUnauthenticated)
	plain := newHarness(t)
	problem(t, plain.send("POST", httpapi.RefreshPayloadPath, "x", http.Header{"Content-Type": {"text/plain"}}), 415,
		httpapi.CodeUnsupportedMedia)
	problem(t, plain.do("POST", httpapi.RefreshPayloadPath, map[string]string{}), 404, httpapi.CodeNotFound)
}

// failingStore fails every read, as a store that lost its disk would.
type failingStore struct{ application.Store }

func (failingStore) View(context.Context, func(context.Context, application.ReadTx) error) error {
	return errors.New("disk on fire")
}

func TestRefreshPayloadAnswersWhatItGotOnAnInternalError(t *testing.T) {
	var h *providerHarness
	h = newProviderHarness(t, func(o *options) { o.store = failingStore{} })
	id := "a0000000-0000-4000-8000-000000000001"
	payload := json.RawMessage(`{"appointmentId":"a0000000-0000-4000-8000-000000000001","title":"Haircut"}`)
	got := ok[httpapi.RefreshPayloadAnswer](t, h.ask(h.sign(h.claims("appointment_starting", id, payload))), 200)
	assert.False(t, got.CancelActivation)
	assert.JSONEq(t, string(payload), string(got.Payload), "the payload as received")
	assert.Contains(t, h.logs.String(), "disk on fire")
	assert.Contains(t, string(h.do("GET", "/metrics", nil).body), `lifecycle_refresh_payload_total{answer="error"} 1`)
}

func TestParsePublicKey(t *testing.T) {
	pair := wixsimtest.NewKeyPair(t)
	k, err := httpapi.ParsePublicKey(pair.PublicPEM)
	require.NoError(t, err)
	assert.Equal(t, pair.Private.PublicKey.N, k.N)
	k, err = httpapi.ParsePublicKey([]byte(base64.StdEncoding.EncodeToString(pair.PublicPEM)))
	require.NoError(t, err, "base64-encoded PEM, as the SDK accepts")
	assert.Equal(t, pair.Private.PublicKey.N, k.N)
	for _, bad := range []string{"", "nonsense", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		_, err := httpapi.ParsePublicKey([]byte(bad))
		assert.Error(t, err, bad)
	}
}
