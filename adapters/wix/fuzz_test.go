package wix_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/wix"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
)

// fuzzToken is the static token of FuzzResponseDecoding's client; no error
// may ever quote it, whatever Wix echoes.
const fuzzToken = "fuzz-static-token-7c1d"

// FuzzResponseDecoding answers the client's requests with arbitrary status
// codes, Retry-After headers and bodies, on the event endpoints (single and
// bulk, report and cancel) and on the token endpoint. No answer may panic
// the client; each gives either a well-formed result (one entry per item,
// each nil or a per-item *application.GatewayError) or a typed error: a
// *application.GatewayError whose status, permanence and Retry-After agree
// with the answer. No error may carry a secret.
func FuzzResponseDecoding(f *testing.F) {
	bulkOK := `{"results":[{"itemMetadata":{"originalIndex":0,"success":true}},{"itemMetadata":{"originalIndex":1,"success":false,"error":{"code":"UNAVAILABLE","description":"later"}}}],"bulkActionMetadata":{"totalSuccesses":1,"totalFailures":1}}`
	for _, s := range []struct {
		status      uint16
		retryAfter  string
		body        string
		items       uint8
		cancel, tok bool
	}{
		{200, "", `{}`, 1, false, false},
		{200, "", bulkOK, 2, false, false},
		{200, "", bulkOK, 3, true, false},
		{200, "", `{"results":[{"itemMetadata":{"originalIndex":-1}},{"itemMetadata":{"originalIndex":99999999999}}]}`, 2, false, false},
		{200, "", `{"results":[{"itemMetadata":{"success":false,"error":null}}]}`, 2, true, false},
		{200, "", `{"results":`, 2, false, false},
		{200, "", `[1,2,3]`, 2, false, false},
		{429, "7", `{"message":"slow down","details":{"applicationError":{"code":"RESOURCE_EXHAUSTED"}}}`, 1, false, false},
		{429, "Wed, 21 Oct 2099 07:28:00 GMT", ``, 2, true, false},
		{503, "-5", `<html>oops</html>`, 1, false, false},
		{400, "", `{"details":{"validationError":{"fieldViolations":[{"field":"externalEntityId","description":"bad"}]}}}`, 1, false, false},
		{401, "", `{"message":"` + fuzzToken + ` is not valid"}`, 1, false, false},
		{428, "99999999999999999999", `{"details":{"applicationError":{"code":"` + strings.Repeat("X", 600) + `"}}}`, 1, false, false},
		{200, "", `{"access_token":"tok","expires_in":14400}`, 1, false, true},
		{200, "", `{"access_token":"","expires_in":-1}`, 1, false, true},
		{200, "", `{"access_token":"tok","expires_in":9223372036854775807}`, 2, true, true},
		{500, "", `{"message":"token service down"}`, 1, false, true},
	} {
		f.Add(s.status, s.retryAfter, []byte(s.body), s.items, s.cancel, s.tok)
	}
	f.Fuzz(func(t *testing.T, status uint16, retryAfter string, body []byte, items uint8, cancel, tokenEndpoint bool) {
		code := 200 + int(status)%400 // every status from 200 to 599
		n := 1 + int(items)%application.MaxBatch
		// A header value is printable ASCII, or the answer is not HTTP at all
		// (a transport error, which the package doc covers).
		retryAfter = strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return -1
			}
			return r
		}, retryAfter)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fuzzed := (r.URL.Path == "/oauth2/token") == tokenEndpoint
			if !fuzzed {
				if tokenEndpoint {
					_, _ = w.Write([]byte(`{}`)) // the event accepted, with no results: every bulk item unknown
				} else {
					_, _ = w.Write([]byte(`{"access_token":"` + fuzzToken + `-minted","expires_in":3600}`))
				}
				return
			}
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(code)
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		cfg := wix.Config{BaseURL: srv.URL, Clock: fake.NewClock(start), Timeout: 10 * time.Second}
		if tokenEndpoint {
			cfg.AppID, cfg.AppSecret = appID, appSecret
		} else {
			cfg.StaticToken, cfg.StaticSiteID = fuzzToken, site
		}
		client, err := wix.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var results []error
		if cancel {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("a0000000-0000-4000-8000-%012d", i)
			}
			results, err = client.Cancel(ctx, site, "appointment_starting", ids)
		} else {
			events := make([]application.ReportEvent, n)
			for i := range events {
				events[i] = application.ReportEvent{ExternalEntityID: fmt.Sprintf("a0000000-0000-4000-8000-%012d", i),
					Payload: []byte(`{}`), IdempotencyKey: fmt.Sprintf("0e000000-0000-4000-8000-%012d", i)}
			}
			results, err = client.Report(ctx, site, "appointment_scheduled", events)
		}

		if err != nil {
			var ge *application.GatewayError
			if !errors.As(err, &ge) {
				t.Fatalf("untyped error for HTTP %d: %v", code, err)
			}
			// The secrets are those the client holds: the app secret with
			// OAuth, the static token without. (A server may answer with any
			// text, the fuzz token's among them, where the client cannot know
			// it for a secret.)
			secret := fuzzToken
			if tokenEndpoint {
				secret = appSecret
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error quotes a secret: %v", err)
			}
			if ge.RetryAfter < 0 || ge.RetryAfter > 24*time.Hour+time.Minute {
				// An HTTP date far ahead is honoured as it is; only numbers are capped.
				if _, dateErr := http.ParseTime(retryAfter); dateErr != nil {
					t.Fatalf("Retry-After %q gave %v", retryAfter, ge.RetryAfter)
				}
			}
			if code != 200 {
				if ge.Status != code {
					t.Fatalf("HTTP %d reported as status %d", code, ge.Status)
				}
				if want := application.PermanentStatus(code) || code == 401; ge.Permanent != want {
					t.Fatalf("HTTP %d: permanent %v, want %v", code, ge.Permanent, want)
				}
			}
			if results != nil {
				t.Fatalf("results %v beside an error", results)
			}
			return
		}
		if code != 200 && !tokenEndpoint {
			t.Fatalf("HTTP %d accepted", code)
		}
		if len(results) != n {
			t.Fatalf("%d results for %d items", len(results), n)
		}
		for i, r := range results {
			if r == nil {
				continue
			}
			var ge *application.GatewayError
			if !errors.As(r, &ge) || ge.Status != 0 {
				t.Fatalf("item %d: not a per-item GatewayError: %#v", i, r)
			}
			if ge.Permanent != application.PermanentItemCode(ge.Code) {
				t.Fatalf("item %d: code %q permanent %v", i, ge.Code, ge.Permanent)
			}
		}
	})
}
