package wixsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, url, token string, body any) answer {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		b, err = json.Marshal(v)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return answer{status: res.StatusCode, header: res.Header, body: m}
}

// errorCode returns details.applicationError.code of a Wix error body.
func errorCode(t *testing.T, a answer) string {
	t.Helper()
	require.Contains(t, a.body, "message")
	details, ok := a.body["details"].(map[string]any)
	require.True(t, ok, "details in %v", a.body)
	ae, ok := details["applicationError"].(map[string]any)
	if !ok {
		return ""
	}
	code, _ := ae["code"].(string)
	return code
}

func TestTokenEndpoint(t *testing.T) {
	sim, clock := newSim(t, wixsim.WithCredentials("app", "secret"), wixsim.WithTokenTTL(time.Hour))
	srv := sim.NewServer()
	defer srv.Close()
	url := srv.URL + "/oauth2/token"

	a := post(t, url, "", map[string]string{"grant_type": "client_credentials", "client_id": "app", "client_secret": "secret", "instance_id": siteA})
	require.Equal(t, 200, a.status)
	tok, _ := a.body["access_token"].(string)
	require.NotEmpty(t, tok)
	assert.Equal(t, "Bearer", a.body["token_type"])
	assert.EqualValues(t, 3600, a.body["expires_in"])

	for name, c := range map[string]struct {
		body   map[string]string
		status int
	}{
		"wrong secret":  {map[string]string{"grant_type": "client_credentials", "client_id": "app", "client_secret": "nope", "instance_id": siteA}, 401},
		"wrong app":     {map[string]string{"grant_type": "client_credentials", "client_id": "other", "client_secret": "secret", "instance_id": siteA}, 401},
		"grant type":    {map[string]string{"grant_type": "password", "client_id": "app", "client_secret": "secret", "instance_id": siteA}, 400},
		"no instance":   {map[string]string{"grant_type": "client_credentials", "client_id": "app", "client_secret": "secret"}, 400},
		"empty request": {map[string]string{}, 400},
	} {
		a := post(t, url, "", c.body)
		assert.Equal(t, c.status, a.status, name)
		assert.NotContains(t, a.body["message"], "secret", name)
	}
	assert.Equal(t, 6, sim.TokenRequests(siteA)+sim.TokenRequests(""))

	report := srv.URL + "/automations/v1/events/report"
	body := map[string]any{"triggerKey": "appointment_scheduled", "externalEntityId": id(1)}
	assert.Equal(t, 200, post(t, report, tok, body).status)
	assert.Equal(t, 200, post(t, report, "Bearer "+tok, body).status, "a Bearer prefix is accepted too")

	clock.Advance(time.Hour)
	a = post(t, report, tok, body)
	assert.Equal(t, 401, a.status, "expired")
	assert.Equal(t, wixsim.CodeUnauthenticated, errorCode(t, a))
}

func TestEventEndpointsRefuseBadRequests(t *testing.T) {
	sim, _ := newSim(t)
	srv := sim.NewServer()
	defer srv.Close()
	tok := sim.IssueToken(siteA, 0)
	base := srv.URL + "/automations/v1/events/"
	future := t0.Add(time.Hour).Format(time.RFC3339)

	cases := []struct {
		name, path, token string
		body              any
		status            int
		code              string
	}{
		{"no token", "report", "", map[string]any{"triggerKey": "appointment_scheduled"}, 401, wixsim.CodeUnauthenticated},
		{"unknown token", "report", "wixsim.nope", map[string]any{"triggerKey": "appointment_scheduled"}, 401, wixsim.CodeUnauthenticated},
		{"not JSON", "report", tok, "{nope", 400, wixsim.CodeInvalidArgument},
		{"trailing data", "cancel", tok, `{"triggerKey":"appointment_scheduled","externalEntityId":"` + id(1) + `"} {}`, 400, wixsim.CodeInvalidArgument},
		{"no trigger key", "report", tok, map[string]any{"externalEntityId": id(1)}, 400, ""},
		{"unknown trigger", "report", tok, map[string]any{"triggerKey": "nope", "externalEntityId": id(1)}, 428, wixsim.CodeTriggerNotFound},
		{"bad GUID", "report", tok, map[string]any{"triggerKey": "appointment_scheduled", "externalEntityId": "appt-1"}, 400, ""},
		{"payload not an object", "report", tok, map[string]any{"triggerKey": "appointment_scheduled", "payload": []int{1}}, 400, ""},
		{"TTL as a number", "report", tok, map[string]any{"triggerKey": "appointment_scheduled", "idempotency": map[string]any{"key": "k", "ttlInMilliseconds": 1000}}, 400, ""},
		{"TTL not a number", "report", tok, map[string]any{"triggerKey": "appointment_scheduled", "idempotency": map[string]any{"key": "k", "ttlInMilliseconds": "soon"}}, 400, ""},
		{"no date-time", "report", tok, map[string]any{"triggerKey": "appointment_starting", "payload": map[string]any{}}, 400, ""},
		{"cancel without entity", "cancel", tok, map[string]any{"triggerKey": "appointment_scheduled"}, 400, ""},
		{"empty bulk", "bulk-report", tok, map[string]any{"triggerKey": "appointment_scheduled", "eventsInfo": []any{}}, 400, ""},
		{"bulk with a bad GUID", "bulk-cancel", tok, map[string]any{"triggerKey": "appointment_scheduled", "externalEntityIds": []string{id(1), "x"}}, 400, ""},
		{"unknown path", "update", tok, map[string]any{}, 404, "NOT_FOUND"},
		{"valid scheduled", "report", tok, map[string]any{"triggerKey": "appointment_starting", "payload": map[string]any{"startsAt": future}, "externalEntityId": id(1),
			"idempotency": map[string]any{"key": "k", "ttlInMilliseconds": "604800000"}}, 200, ""},
	}
	for _, c := range cases {
		a := post(t, base+c.path, c.token, c.body)
		assert.Equal(t, c.status, a.status, c.name)
		if c.status != 200 {
			assert.Equal(t, c.code, errorCode(t, a), c.name)
		}
	}
	assert.Len(t, sim.LiveEvents(siteA), 1, "only the valid report took effect")

	res, err := http.Get(base + "report")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 405, res.StatusCode)
}

func TestTokenIsBoundToItsSite(t *testing.T) {
	sim, _ := newSim(t)
	srv := sim.NewServer()
	defer srv.Close()
	tokA := sim.IssueToken(siteA, 0)
	body := map[string]any{"triggerKey": "appointment_scheduled", "externalEntityId": id(1)}

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/automations/v1/events/report", bytes.NewReader(mustJSON(t, body)))
	require.NoError(t, err)
	req.Header.Set("Authorization", tokA)
	req.Header.Set("wix-site-id", siteB)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 403, res.StatusCode, "site A's token cannot act for site B")

	assert.Equal(t, 200, post(t, srv.URL+"/automations/v1/events/report", tokA, body).status)
	assert.Len(t, sim.LiveEvents(siteA), 1, "the token decides the site")
	assert.Empty(t, sim.LiveEvents(siteB))

	sim.RevokeTokens(siteA)
	assert.Equal(t, 401, post(t, srv.URL+"/automations/v1/events/report", tokA, body).status)
}

func TestBulkAnswersOverHTTP(t *testing.T) {
	sim, _ := newSim(t)
	srv := sim.NewServer()
	defer srv.Close()
	tok := sim.IssueToken(siteA, 0)
	sim.FailItem(id(2), "UNAVAILABLE", 1)

	a := post(t, srv.URL+"/automations/v1/events/bulk-report", tok, map[string]any{"triggerKey": "appointment_scheduled", "eventsInfo": []any{
		map[string]any{"externalEntityId": id(1)}, map[string]any{"externalEntityId": id(2)},
	}})
	require.Equal(t, 200, a.status)
	assert.Equal(t, "appointment_scheduled", a.body["triggerKey"])
	results := a.body["results"].([]any)
	require.Len(t, results, 2)
	meta0 := results[0].(map[string]any)["itemMetadata"].(map[string]any)
	meta1 := results[1].(map[string]any)["itemMetadata"].(map[string]any)
	assert.Equal(t, true, meta0["success"])
	assert.EqualValues(t, 0, meta0["originalIndex"])
	assert.Equal(t, false, meta1["success"])
	assert.EqualValues(t, 1, meta1["originalIndex"])
	assert.Equal(t, "UNAVAILABLE", meta1["error"].(map[string]any)["code"])
	assert.Equal(t, map[string]any{"totalSuccesses": 1.0, "totalFailures": 1.0, "undetailedFailures": 0.0}, a.body["bulkActionMetadata"])

	a = post(t, srv.URL+"/automations/v1/events/bulk-cancel", tok, map[string]any{"triggerKey": "appointment_scheduled", "externalEntityIds": []string{id(1), id(2)}})
	require.Equal(t, 200, a.status)
	results = a.body["results"].([]any)
	require.Len(t, results, 2)
	assert.Equal(t, id(2), results[1].(map[string]any)["externalEntityId"])
	assert.Empty(t, sim.LiveEvents(siteA))
}

func TestFaultsOverHTTP(t *testing.T) {
	sim, _ := newSim(t)
	srv := sim.NewServer()
	defer srv.Close()
	tok := sim.IssueToken(siteA, 0)
	url := srv.URL + "/automations/v1/events/report"
	body := map[string]any{"triggerKey": "appointment_scheduled", "externalEntityId": id(1)}

	sim.RateLimitNext(1, 30*time.Second)
	a := post(t, url, tok, body)
	assert.Equal(t, 429, a.status)
	assert.Equal(t, "30", a.header.Get("Retry-After"))
	assert.Equal(t, wixsim.CodeResourceExhausted, errorCode(t, a))

	sim.FailNext(1, 503)
	a = post(t, url, tok, body)
	assert.Equal(t, 503, a.status)
	assert.Equal(t, map[string]any{"message": "", "details": map[string]any{}}, a.body, "Wix sends 5xx bodies empty")

	send := func() error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(mustJSON(t, body)))
		require.NoError(t, err)
		req.Header.Set("Authorization", tok)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	sim.DropNext(1)
	require.Error(t, send(), "the connection closes without an answer")
	assert.Empty(t, sim.LiveEvents(siteA))

	sim.Inject(wixsim.Fault{Drop: true, AfterApply: true})
	require.Error(t, send())
	assert.Len(t, sim.LiveEvents(siteA), 1, "applied before the connection dropped")

	var statuses []int
	for _, r := range sim.Requests(siteA) {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{429, 503, 0, 0}, statuses)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
