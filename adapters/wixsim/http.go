package wixsim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// maxBody is the largest request body the simulator reads.
const maxBody = 1 << 20

// Handler returns the simulator as an HTTP handler with Wix's paths:
// POST /oauth2/token and POST /automations/v1/events/{report,cancel,
// bulk-report,bulk-cancel}. Event requests must carry a token from
// /oauth2/token (or IssueToken) in the Authorization header, raw or with a
// "Bearer " prefix; the token decides the site.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", s.serveToken)
	mux.HandleFunc("/automations/v1/events/report", s.serveEvents(EndpointReport))
	mux.HandleFunc("/automations/v1/events/bulk-report", s.serveEvents(EndpointBulkReport))
	mux.HandleFunc("/automations/v1/events/cancel", s.serveEvents(EndpointCancel))
	mux.HandleFunc("/automations/v1/events/bulk-cancel", s.serveEvents(EndpointBulkCancel))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: 404, code: "NOT_FOUND", message: "no such endpoint"})
	})
	return mux
}

// NewServer starts the simulator on a local httptest server; its URL is the
// base URL for the REST client. The caller closes it.
func (s *Sim) NewServer() *httptest.Server {
	return httptest.NewServer(s.Handler())
}

type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	InstanceID   string `json:"instance_id"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &apiError{status: 405, code: "METHOD_NOT_ALLOWED", message: "use POST"})
		return
	}
	var body tokenRequest
	decodeErr := decodeJSON(r, &body)

	s.mu.Lock()
	idx := s.logLocked(Request{Endpoint: EndpointToken, Site: body.InstanceID})
	f := s.takeFaultLocked(EndpointToken, body.InstanceID, nil)
	latency := s.latency
	s.mu.Unlock()
	if f != nil {
		latency += f.Latency
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
	}

	var out outcome
	var resp tokenResponse
	switch {
	case f != nil && f.answers():
		out = f.outcome()
	case decodeErr != nil:
		out.err = invalid("", "malformed JSON body")
	case body.GrantType != "client_credentials":
		out.err = invalid("grant_type", "grant_type must be client_credentials")
	case body.InstanceID == "":
		out.err = invalid("instance_id", "instance_id is required")
	case subtle.ConstantTimeCompare([]byte(body.ClientID), []byte(s.appID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(body.ClientSecret), []byte(s.appSecret)) != 1:
		out.err = &apiError{status: 401, code: CodeInvalidClient, message: "invalid client credentials"}
	default:
		s.mu.Lock()
		resp = tokenResponse{
			AccessToken: s.issueTokenLocked(body.InstanceID, s.tokenTTL),
			TokenType:   "Bearer",
			ExpiresIn:   int64(s.tokenTTL.Seconds()),
		}
		s.mu.Unlock()
	}
	s.finish(idx, out, f != nil)
	if !writeOutcome(w, out) {
		writeJSON(w, 200, resp)
	}
}

// Wire bodies of the event endpoints.
type (
	reportBody struct {
		TriggerKey       string          `json:"triggerKey"`
		Payload          json.RawMessage `json:"payload"`
		ExternalEntityID string          `json:"externalEntityId"`
		Idempotency      *wireIdem       `json:"idempotency"`
	}
	bulkReportBody struct {
		TriggerKey string `json:"triggerKey"`
		EventsInfo []struct {
			Payload          json.RawMessage `json:"payload"`
			ExternalEntityID string          `json:"externalEntityId"`
			Idempotency      *wireIdem       `json:"idempotency"`
		} `json:"eventsInfo"`
	}
	cancelBody struct {
		TriggerKey       string `json:"triggerKey"`
		ExternalEntityID string `json:"externalEntityId"`
	}
	bulkCancelBody struct {
		TriggerKey        string   `json:"triggerKey"`
		ExternalEntityIDs []string `json:"externalEntityIds"`
	}
	// wireIdem keeps ttlInMilliseconds raw, to insist that it is a JSON
	// string as Wix documents.
	wireIdem struct {
		Key string          `json:"key"`
		TTL json.RawMessage `json:"ttlInMilliseconds"`
	}
)

func (i *wireIdem) info() (*idempotencyInfo, error) {
	if i == nil {
		return nil, nil
	}
	out := &idempotencyInfo{Key: i.Key}
	if len(i.TTL) > 0 && !bytes.Equal(i.TTL, []byte("null")) {
		if err := json.Unmarshal(i.TTL, &out.TTL); err != nil {
			return nil, errors.New("ttlInMilliseconds must be a JSON string")
		}
	}
	return out, nil
}

func (s *Sim) serveEvents(endpoint Endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeError(w, &apiError{status: 405, code: "METHOD_NOT_ALLOWED", message: "use POST"})
			return
		}
		siteID, authErr := s.authenticate(r)
		if authErr != nil {
			s.mu.Lock()
			idx := s.logLocked(Request{Endpoint: endpoint, Site: siteID})
			s.mu.Unlock()
			out := outcome{err: authErr}
			s.finish(idx, out, false)
			writeOutcome(w, out)
			return
		}
		req, decErr := decodeEvents(r, endpoint)
		req.site = siteID
		if decErr != nil {
			s.mu.Lock()
			idx := s.logLocked(Request{Endpoint: endpoint, Site: siteID, TriggerKey: req.triggerKey})
			s.mu.Unlock()
			out := outcome{err: decErr}
			s.finish(idx, out, false)
			writeOutcome(w, out)
			return
		}
		out := s.process(r.Context(), req)
		if writeOutcome(w, out) {
			return
		}
		writeJSON(w, 200, successBody(req, out))
	}
}

// authenticate returns the site of the request's token, or a 401 for a
// missing, unknown, revoked or expired token. A token used with a
// wix-site-id header naming another site is refused (403).
func (s *Sim) authenticate(r *http.Request) (string, *apiError) {
	tok := strings.TrimSpace(r.Header.Get("Authorization"))
	tok = strings.TrimPrefix(tok, "Bearer ")
	unauth := &apiError{status: 401, code: CodeUnauthenticated, message: "missing, invalid or expired access token"}
	if tok == "" {
		return "", unauth
	}
	s.mu.Lock()
	g, ok := s.tokens[tok]
	now := s.Now()
	s.mu.Unlock()
	if !ok {
		return "", unauth
	}
	if g.revoked || (!g.expiresAt.IsZero() && !now.Before(g.expiresAt)) {
		return g.site, unauth // logged under its site, refused all the same
	}
	if h := r.Header.Get("wix-site-id"); h != "" && h != g.site {
		return g.site, &apiError{status: 403, code: CodePermissionDenied, message: "the access token was issued for another site"}
	}
	return g.site, nil
}

func decodeEvents(r *http.Request, endpoint Endpoint) (request, *apiError) {
	req := request{endpoint: endpoint}
	malformed := func(err error) *apiError { return invalid("", "malformed JSON body: %v", err) }
	switch endpoint {
	case EndpointReport:
		var b reportBody
		if err := decodeJSON(r, &b); err != nil {
			return req, malformed(err)
		}
		req.triggerKey = b.TriggerKey
		idem, err := b.Idempotency.info()
		if err != nil {
			return req, invalid("idempotency.ttlInMilliseconds", "%v", err)
		}
		req.events = []eventInfo{{Payload: b.Payload, ExternalEntityID: b.ExternalEntityID, Idempotency: idem}}
	case EndpointBulkReport:
		var b bulkReportBody
		if err := decodeJSON(r, &b); err != nil {
			return req, malformed(err)
		}
		req.triggerKey = b.TriggerKey
		req.events = []eventInfo{}
		for i, e := range b.EventsInfo {
			idem, err := e.Idempotency.info()
			if err != nil {
				return req, invalid(fmt.Sprintf("eventsInfo[%d].idempotency.ttlInMilliseconds", i), "%v", err)
			}
			req.events = append(req.events, eventInfo{Payload: e.Payload, ExternalEntityID: e.ExternalEntityID, Idempotency: idem})
		}
	case EndpointCancel:
		var b cancelBody
		if err := decodeJSON(r, &b); err != nil {
			return req, malformed(err)
		}
		req.triggerKey = b.TriggerKey
		req.entityIDs = []string{b.ExternalEntityID}
	case EndpointBulkCancel:
		var b bulkCancelBody
		if err := decodeJSON(r, &b); err != nil {
			return req, malformed(err)
		}
		req.triggerKey = b.TriggerKey
		req.entityIDs = b.ExternalEntityIDs
	}
	return req, nil
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// Wire bodies of responses.
type (
	itemError struct {
		Code        string `json:"code"`
		Description string `json:"description"`
	}
	itemMetadata struct {
		ID            string     `json:"id,omitempty"`
		OriginalIndex int        `json:"originalIndex"`
		Success       bool       `json:"success"`
		Error         *itemError `json:"error,omitempty"`
	}
	bulkActionMetadata struct {
		TotalSuccesses     int `json:"totalSuccesses"`
		TotalFailures      int `json:"totalFailures"`
		UndetailedFailures int `json:"undetailedFailures"`
	}
	bulkReportResult struct {
		ItemMetadata  itemMetadata `json:"itemMetadata"`
		EventInfo     eventInfo    `json:"eventInfo"`
		ActivationIDs []string     `json:"activationIds"`
	}
	bulkCancelResult struct {
		ItemMetadata     itemMetadata `json:"itemMetadata"`
		ExternalEntityID string       `json:"externalEntityId"`
	}
)

func successBody(req request, out outcome) any {
	switch req.endpoint {
	case EndpointReport:
		return map[string]any{"activationIds": out.items[0].activationIDs}
	case EndpointCancel:
		return map[string]any{}
	}
	var meta bulkActionMetadata
	metadata := func(i int) itemMetadata {
		it := out.items[i]
		m := itemMetadata{ID: it.entityID, OriginalIndex: i, Success: it.errCode == ""}
		if m.Success {
			meta.TotalSuccesses++
		} else {
			meta.TotalFailures++
			m.Error = &itemError{Code: it.errCode, Description: it.errMessage}
		}
		return m
	}
	if req.endpoint == EndpointBulkReport {
		results := make([]bulkReportResult, len(out.items))
		for i := range out.items {
			ids := out.items[i].activationIDs
			if ids == nil {
				ids = []string{}
			}
			results[i] = bulkReportResult{ItemMetadata: metadata(i), EventInfo: req.events[i], ActivationIDs: ids}
		}
		return map[string]any{"triggerKey": req.triggerKey, "results": results, "bulkActionMetadata": meta}
	}
	results := make([]bulkCancelResult, len(out.items))
	for i := range out.items {
		results[i] = bulkCancelResult{ItemMetadata: metadata(i), ExternalEntityID: out.items[i].entityID}
	}
	return map[string]any{"triggerKey": req.triggerKey, "results": results, "bulkActionMetadata": meta}
}

// writeOutcome writes a failed outcome (an error body, or a dropped
// connection) and reports whether it did; a successful outcome is left to
// the caller.
func writeOutcome(w http.ResponseWriter, out outcome) bool {
	switch {
	case out.drop:
		dropConnection(w)
		return true
	case out.err != nil:
		writeError(w, out.err)
		return true
	}
	return false
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // the server resets the stream without logging
}

// writeError writes Wix's error body: an application error, a validation
// error on one field, or for 5xx the empty body Wix sends by design.
func writeError(w http.ResponseWriter, e *apiError) {
	if secs := retryAfterSeconds(e.retryAfter); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	var body map[string]any
	switch {
	case e.status >= 500:
		body = map[string]any{"message": e.message, "details": map[string]any{}}
	case e.field != "":
		body = map[string]any{"message": e.message, "details": map[string]any{
			"validationError": map[string]any{"fieldViolations": []map[string]any{
				{"field": e.field, "description": e.message, "violatedRule": "FORMAT"},
			}},
		}}
	default:
		body = map[string]any{"message": e.message, "details": map[string]any{
			"applicationError": map[string]any{"code": e.code, "description": e.message, "data": map[string]any{}},
		}}
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
