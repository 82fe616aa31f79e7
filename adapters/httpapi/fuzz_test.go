package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/httpapi"
	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
)

// fuzzRoutes are the routes that decode a body; %s is the fuzzed path ID
// where the route has one.
var fuzzRoutes = []struct{ path string }{
	{"/appointments"},
	{"/appointments/%s/reschedule"},
	{"/appointments/%s/cancel"},
	{"/appointments/%s/complete"},
	{"/appointments/%s/no-show"},
	{"/classes"},
	{"/classes/%s/reschedule"},
	{"/classes/%s/cancel"},
	{"/classes/%s/complete"},
	{"/classes/%s/enrollments"},
	{"/enrollments/%s/leave"},
	{"/outbox/%s/retry"},
	{"/outbox/%s/discard"},
}

// statusOfCode is the HTTP status each problem code must come with.
var statusOfCode = map[string]int{
	httpapi.CodeInvalidArgument: 400, httpapi.CodeNotFound: 404, httpapi.CodeMethodNotAllowed: 405,
	httpapi.CodeTransitionNotAllowed: 409, httpapi.CodeClassFull: 409, httpapi.CodeAlreadyEnrolled: 409,
	httpapi.CodeConflict: 409, httpapi.CodePayloadTooLarge: 413,
}

// FuzzDecodeRequest sends arbitrary bodies and path IDs to every route that
// decodes a request. No input may panic or fail internally: each is
// accepted (200 or 201) or refused with a typed 4xx problem.
func FuzzDecodeRequest(f *testing.F) {
	const apptID = "ab000000-0000-4000-8000-0000000000f1"
	const classID = "c1a55000-0000-4000-8000-0000000000f1"
	start, end := t0.Add(day).Format(time.RFC3339), t0.Add(day+time.Hour).Format(time.RFC3339)
	seeds := []struct {
		route uint8
		id    string
		body  string
	}{
		{0, "", `{"contactId":"` + contact + `","startsAt":"` + start + `","endsAt":"` + end + `","title":"Haircut"}`},
		{0, "", `{"id":"` + apptID + `","contactId":"` + contact + `","startsAt":"` + start + `","endsAt":"` + end + `"}`},
		{0, "", `{"contactId":"` + contact + `","startsAt":"2026-13-45T99:00:00Z","endsAt":"` + end + `"}`},
		{0, "", `{"contactId":5}`},
		{0, "", `{"contactId":"x","contactId":"y"}`},
		{0, "", `{"title":"\ud800"}`},
		{0, "", `{"startsAt":"` + start + `","endsAt":"` + end + `","contactId":"` + contact + `"} {}`},
		{0, "", `[]`},
		{0, "", `null`},
		{0, "", ``},
		{0, "", `{`},
		{0, "", "\xff\xfe"},
		{1, apptID, `{"startsAt":"` + start + `","endsAt":"` + end + `"}`},
		{1, apptID, `{"startsAt":"0001-01-01T00:00:00Z","endsAt":"9999-12-31T23:59:59Z"}`},
		{2, apptID, `{"reason":"sick"}`},
		{2, apptID, `{"reason":null}`},
		{3, apptID, `{}`},
		{4, "not-a-uuid", ``},
		{5, "", `{"title":"Yoga","startsAt":"` + start + `","endsAt":"` + end + `","capacity":3,"waitlist":true}`},
		{5, "", `{"id":"` + classID + `","title":"Yoga","startsAt":"` + start + `","endsAt":"` + end + `","capacity":1e99}`},
		{5, "", `{"title":"Yoga","startsAt":"` + start + `","endsAt":"` + end + `","capacity":-9223372036854775808}`},
		{6, classID, `{"startsAt":"` + start + `","endsAt":"` + start + `"}`},
		{7, classID, `{"reason":"` + string(bytes.Repeat([]byte("x"), 600)) + `"}`},
		{9, classID, `{"participantId":"` + alice + `"}`},
		{9, classID, `{"participantId":"` + alice + `","id":"00000000-0000-0000-0000-000000000000"}`},
		{10, "../..", ``},
		{11, apptID, ``},
		{12, "%00", `{}`},
		{10, "..", ``},
		{10, ".", ``},
	}
	for _, s := range seeds {
		f.Add(s.route, s.id, []byte(s.body))
	}

	store := memory.New()
	clock := fake.NewClock(t0)
	app, err := application.New(application.Config{Store: store, Clock: clock, IDs: fake.NewIDs("0000000f")})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{App: app, Outbox: store, Clock: clock, Token: token,
		MaxBodyBytes: 4 << 10, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	send := func(method, path string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/v1/sites/"+site+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	send("POST", "/appointments", []byte(seeds[1].body))
	send("POST", "/classes", []byte(`{"id":"`+classID+`","title":"Yoga","startsAt":"`+start+`","endsAt":"`+end+`","capacity":3}`))

	f.Fuzz(func(t *testing.T, route uint8, id string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := r.path
		if bytes.Contains([]byte(path), []byte("%s")) {
			path = string(bytes.Replace([]byte(path), []byte("%s"), []byte(url.PathEscape(id)), 1))
		}
		rec := send("POST", path, body)
		switch rec.Code {
		case http.StatusOK, http.StatusCreated:
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("success with Content-Type %q", ct)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("success with invalid JSON: %q", rec.Body.String())
			}
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("status %d with Content-Type %q: %s", rec.Code, ct, rec.Body.String())
		}
		var p httpapi.Problem
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("status %d with an undecodable problem: %v", rec.Code, err)
		}
		want, known := statusOfCode[p.Code]
		if !known || want != rec.Code || p.Status != rec.Code || p.Detail == "" {
			t.Fatalf("status %d with problem %+v", rec.Code, p)
		}
	})
}
