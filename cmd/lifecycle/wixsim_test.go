package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/wixsim/wixsimtest"
)

func TestWixsimRefusesBadTriggerProviderFlags(t *testing.T) {
	kp := wixsimtest.NewKeyPair(t)
	notAKey := filepath.Join(t.TempDir(), "not-a-key.pem")
	require.NoError(t, os.WriteFile(notAKey, kp.PublicPEM, 0o600))
	for name, tc := range map[string]struct {
		args []string
		code int
		says string
	}{
		"url without key":  {[]string{"--trigger-provider-url", "http://127.0.0.1:1/wix/trigger-provider"}, 2, "needs --trigger-provider-key-file"},
		"key without url":  {[]string{"--trigger-provider-key-file", kp.PrivatePEMFile}, 2, "needs --trigger-provider-url"},
		"relative url":     {[]string{"--trigger-provider-url", "127.0.0.1/wix", "--trigger-provider-key-file", kp.PrivatePEMFile}, 2, "absolute http or https URL"},
		"bad policy":       {[]string{"--trigger-provider-url", "http://a.test", "--trigger-provider-key-file", kp.PrivatePEMFile, "--trigger-provider-on-error", "retry"}, 2, "run or fail"},
		"zero timeout":     {[]string{"--trigger-provider-url", "http://a.test", "--trigger-provider-key-file", kp.PrivatePEMFile, "--trigger-provider-timeout", "0s"}, 2, "must be positive"},
		"public key":       {[]string{"--trigger-provider-url", "http://a.test", "--trigger-provider-key-file", notAKey}, 2, "not a PEM RSA private key"},
		"missing key file": {[]string{"--trigger-provider-url", "http://a.test", "--trigger-provider-key-file", filepath.Join(t.TempDir(), "nope.pem")}, 1, "no such file"},
		"bad start":        {[]string{"--start", "tomorrow"}, 2, "RFC 3339"},
	} {
		code, _, errOut := run(t, nil, append([]string{"wixsim", "--addr", "127.0.0.1:0"}, tc.args...)...)
		assert.Equal(t, tc.code, code, name)
		assert.Contains(t, errOut, tc.says, name)
	}
}

// wixsimOutput is an output that the command writes while the test reads.
type wixsimOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *wixsimOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *wixsimOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWixsimCallsTheAppsRefreshPayload runs lifecycle wixsim as a user
// would against an app's trigger provider: a demo reminder, delayed, is
// canceled by the app's Refresh Payload answer once the clock is moved
// with the control API.
func TestWixsimCallsTheAppsRefreshPayload(t *testing.T) {
	const site = "6e5c2b7a-1111-4222-8333-944455556666"
	const appt = "3f0c1a52-7e4b-4c1d-9b8e-5a2d6f9e0b11"
	kp := wixsimtest.NewKeyPair(t)
	pubPEM, err := os.ReadFile(kp.PublicPEMFile)
	require.NoError(t, err)
	pub, err := jwt.ParseRSAPublicKeyFromPEM(pubPEM)
	require.NoError(t, err)
	var mu sync.Mutex
	var calls []jwt.MapClaims
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tok, err := jwt.Parse(string(body), func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("wix.com"), jwt.WithAudience("my-app"), jwt.WithExpirationRequired())
		if err != nil || r.URL.Path != "/wix/trigger-provider/refresh-payload" {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		calls = append(calls, tok.Claims.(jwt.MapClaims))
		mu.Unlock()
		_, _ = io.WriteString(w, `{"cancelActivation": true}`)
	}))
	defer app.Close()

	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &wixsimOutput{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"wixsim", "--addr", "127.0.0.1:0", "--app-id", "my-app", "--site", site,
			"--frozen", "--start", start.Format(time.RFC3339),
			"--trigger-provider-url", app.URL + "/wix/trigger-provider", "--trigger-provider-key-file", kp.PrivatePEMFile,
		}, out, io.Discard, func(string) string { return "" })
	}()
	addrRE := regexp.MustCompile(`stand-in on (http://[0-9.:]+)`)
	var base string
	require.Eventually(t, func() bool {
		m := addrRE.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, out.String(), "Refresh Payload: POST "+app.URL+"/wix/trigger-provider/refresh-payload before delayed activations of every trigger")
	assert.Contains(t, out.String(), "Timeline and control API: "+base+"/_wixsim/ (clock 2026-12-01T09:00:00Z, frozen)")

	postJSON := func(path, token string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
		require.Equal(t, 200, res.StatusCode, "%s: %v", path, m)
		return m
	}
	tok := postJSON("/oauth2/token", "", map[string]string{"grant_type": "client_credentials", "client_id": "my-app", "client_secret": "wixsim-secret", "instance_id": site})["access_token"].(string)
	postJSON("/automations/v1/events/report", tok, map[string]any{
		"triggerKey": "appointment_starting", "externalEntityId": appt,
		"payload": map[string]any{"appointmentId": appt, "startsAt": start.Add(72 * time.Hour).Format(time.RFC3339)},
	})
	moved := postJSON("/_wixsim/clock", "", map[string]string{"advance": "48h"})
	assert.Empty(t, moved["ran"], "the app canceled the reminder")

	res, err := http.Get(base + "/_wixsim/sites/" + site + "/activations?state=canceled")
	require.NoError(t, err)
	var acts struct {
		Activations []map[string]any `json:"activations"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&acts))
	res.Body.Close()
	require.Len(t, acts.Activations, 1)
	assert.Equal(t, "email: reminder 1 day before", acts.Activations[0]["automation"])
	assert.Equal(t, "CANCELLED_BY_REFRESH_PAYLOAD", acts.Activations[0]["canceledBy"])
	mu.Lock()
	require.Len(t, calls, 1)
	assert.Equal(t, site, calls[0]["data"].(map[string]any)["metadata"].(map[string]any)["instanceId"])
	mu.Unlock()
	require.Eventually(t, func() bool {
		return strings.Contains(out.String(), "canceled email: reminder 1 day before")
	}, 5*time.Second, 50*time.Millisecond, out.String())
	assert.Contains(t, out.String(), "appointment_starting "+appt+"  (by Refresh Payload)")

	postJSON("/_wixsim/reset", "", nil)
	res, err = http.Get(base + "/_wixsim/sites/" + site + "/automations")
	require.NoError(t, err)
	var autos struct {
		Automations []map[string]any `json:"automations"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&autos))
	res.Body.Close()
	assert.Len(t, autos.Automations, len(demoAutomations), "a reset brings the --site automations back")

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("wixsim did not stop")
	}
}
