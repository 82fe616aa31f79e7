package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/httpapi"
)

const apptPath = "/v1/sites/" + site + "/appointments"

func TestStrictJSON(t *testing.T) {
	h := newHarness(t)
	before := len(h.calls())
	for _, tc := range []struct {
		name, body, field string
	}{
		{"member name in another case", `{"ContactId":"` + contact + `","startsAt":"` + at(day) + `","endsAt":"` + at(day+time.Hour) + `"}`, "ContactId"},
		{"duplicate member", `{"contactId":"` + contact + `","contactId":"` + contact + `","startsAt":"` + at(day) + `","endsAt":"` + at(day+time.Hour) + `"}`, "contactId"},
		{"offset +24:00", `{"contactId":"` + contact + `","startsAt":"2026-03-03T09:00:00+24:00","endsAt":"` + at(day+time.Hour) + `"}`, "startsAt"},
		{"offset minutes 60", `{"contactId":"` + contact + `","startsAt":"2026-03-03T09:00:00+01:60","endsAt":"` + at(day+time.Hour) + `"}`, "startsAt"},
		{"no offset", `{"contactId":"` + contact + `","startsAt":"2026-03-03T09:00:00","endsAt":"` + at(day+time.Hour) + `"}`, "startsAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := problem(t, h.do("POST", apptPath, tc.body), 400, httpapi.CodeInvalidArgument)
			assert.Equal(t, []string{tc.field}, fields(p))
		})
	}
	p := problem(t, h.do("POST", apptPath, `{"contactid":"x"}`), 400, httpapi.CodeInvalidArgument)
	assert.Contains(t, p.Errors[0].Reason, "case-sensitive: contactId")
	assert.Len(t, h.calls(), before, "refusals queue nothing")

	start := t0.Add(day).In(time.FixedZone("", 2*3600)).Format(time.RFC3339)
	a := ok[httpapi.Appointment](t, h.do("POST", apptPath, map[string]string{"contactId": contact, "startsAt": start,
		"endsAt": at(day + time.Hour)}), 201)
	assert.Equal(t, at(day), a.StartsAt, "an offset is accepted and answered in UTC")
}

func TestQueryParametersStrict(t *testing.T) {
	h := newHarness(t)
	p := problem(t, h.do("GET", "/v1/sites/"+site+"/outbox?limit=1&limit=2", nil), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"limit"}, fields(p))
	assert.Contains(t, p.Errors[0].Reason, "more than once")
	p = problem(t, h.do("GET", "/v1/sites/"+site+"/outbox/stats?verbose=1", nil), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"verbose"}, fields(p))
	p = problem(t, h.do("POST", apptPath+"?dryRun=true", apptBody("", day, day+time.Hour)), 400, httpapi.CodeInvalidArgument)
	assert.Equal(t, []string{"dryRun"}, fields(p))
	assert.Empty(t, h.calls())
}

func noToken(o *options) { o.token = "" }

// TestWithoutTokenOnlyLoopback: a page in a browser can make it send
// requests to the quick-start server; without a token, foreign Hosts and
// Origins are refused, and so is a body that is not JSON.
func TestWithoutTokenOnlyLoopback(t *testing.T) {
	h := newHarness(t, noToken)
	body := apptBody("", day, day+time.Hour)
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		status int
		code   string
	}{
		{"foreign Host (DNS rebinding)", http.Header{"Host": {"evil.example:8080"}}, 403, httpapi.CodeForbidden},
		{"private address as Host", http.Header{"Host": {"192.168.1.10:8080"}}, 403, httpapi.CodeForbidden},
		{"foreign Origin", http.Header{"Origin": {"https://evil.example"}}, 403, httpapi.CodeForbidden},
		{"null Origin", http.Header{"Origin": {"null"}}, 403, httpapi.CodeForbidden},
		{"form post", http.Header{"Content-Type": {"text/plain"}}, 415, httpapi.CodeUnsupportedMedia},
		{"urlencoded", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, 415, httpapi.CodeUnsupportedMedia},
		{"json with another charset", http.Header{"Content-Type": {"application/json; charset=latin1"}}, 415, httpapi.CodeUnsupportedMedia},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problem(t, h.send("POST", apptPath, body, tc.hdr), tc.status, tc.code)
		})
	}
	assert.Empty(t, h.calls(), "nothing was created")
	problem(t, h.send("GET", "/v1/sites/"+site+"/outbox/stats", nil, http.Header{"Host": {"evil.example"}}), 403, httpapi.CodeForbidden)

	for _, hdr := range []http.Header{
		{"Host": {"localhost:8080"}},
		{"Host": {"[::1]:8080"}},
		{"Origin": {"http://localhost:3000"}},
		{"Origin": {"http://127.0.0.1:8080"}, "Content-Type": {"application/json; charset=utf-8"}},
	} {
		ok[httpapi.Appointment](t, h.send("POST", apptPath, body, hdr), 201)
	}
}

func TestContentTypeWithToken(t *testing.T) {
	h := newHarness(t)
	problem(t, h.send("POST", apptPath, apptBody("", day, day+time.Hour),
		http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"text/plain"}}), 415, httpapi.CodeUnsupportedMedia)
	// A foreign Host is fine with a token: the token is what a page cannot send.
	ok[httpapi.Appointment](t, h.send("POST", apptPath, apptBody("", day, day+time.Hour),
		http.Header{"Authorization": {"Bearer " + token}, "Host": {"lifecycle.internal"}}), 201)
}

// rawRequest sends raw bytes to the harness's server and reads one response.
func rawRequest(t *testing.T, h *harness, raw string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Write([]byte(raw))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp, body
}

// TestNetHTTPErrorsAreProblems: what net/http answers by itself is a
// problem document too.
func TestNetHTTPErrorsAreProblems(t *testing.T) {
	h := newHarness(t)
	huge := strings.Repeat("x", 2*httpapi.MaxHeaderBytes)
	resp, body := rawRequest(t, h, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "+huge+"\r\n\r\n")
	assert.Equal(t, 431, resp.StatusCode)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p httpapi.Problem
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, httpapi.CodeHeadersTooLarge, p.Code)
	assert.Equal(t, 431, p.Status)

	resp, body = rawRequest(t, h, "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, httpapi.CodeInvalidArgument, p.Code)
}

func TestReadyz(t *testing.T) {
	h := newHarness(t)
	got := ok[map[string]string](t, h.doAuth("GET", "/readyz", nil, ""), 200)
	assert.Equal(t, map[string]string{"status": "ready"}, got)

	down := newHarness(t, func(o *options) { o.ready = func(context.Context) error { return errors.New("disk gone") } })
	p := problem(t, down.doAuth("GET", "/readyz", nil, ""), 503, httpapi.CodeUnavailable)
	assert.NotContains(t, p.Detail, "disk gone", "internals stay in the log")
	assert.Contains(t, down.logs.String(), "disk gone")
}

func TestRequestIDAndAccessLog(t *testing.T) {
	h := newHarness(t)
	r := h.send("GET", "/healthz", nil, http.Header{"X-Request-Id": {"client-id-42"}})
	assert.Equal(t, "client-id-42", r.header.Get("X-Request-Id"), "a sane ID is echoed")
	assert.Contains(t, h.logs.String(), "request_id=client-id-42")
	assert.Contains(t, h.logs.String(), `msg="http request" method=GET path=/healthz status=200`)

	r = h.send("GET", "/healthz", nil, http.Header{"X-Request-Id": {"bad id\twith spaces"}})
	generated := r.header.Get("X-Request-Id")
	assert.Regexp(t, `^[0-9a-f]{32}$`, generated, "an insane one is replaced")
	assert.Contains(t, h.logs.String(), "request_id="+generated)

	r = h.doAuth("GET", "/v1/sites/"+site+"/outbox", nil, "")
	assert.NotEmpty(t, r.header.Get("X-Request-Id"), "refusals carry an ID too")
	assert.Contains(t, h.logs.String(), "status=401")
}
