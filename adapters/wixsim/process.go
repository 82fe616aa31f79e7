package wixsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/google/uuid"
)

// Endpoint names a simulated Wix endpoint in the request log and in faults.
type Endpoint string

// The simulated endpoints.
const (
	EndpointReport     Endpoint = "report"      // POST /automations/v1/events/report
	EndpointBulkReport Endpoint = "bulk-report" // POST /automations/v1/events/bulk-report
	EndpointCancel     Endpoint = "cancel"      // POST /automations/v1/events/cancel
	EndpointBulkCancel Endpoint = "bulk-cancel" // POST /automations/v1/events/bulk-cancel
	EndpointToken      Endpoint = "token"       // POST /oauth2/token
)

// Application error codes the simulator answers with (Wix's own codes for
// these cases are not documented; see docs/wixsim.md).
const (
	CodeInvalidArgument   = "INVALID_ARGUMENT"   // 400: malformed body, GUID, payload or date-time
	CodeTriggerNotFound   = "TRIGGER_NOT_FOUND"  // 428: the app has no trigger with that key
	CodeUnauthenticated   = "UNAUTHENTICATED"    // 401: missing, unknown or expired token
	CodePermissionDenied  = "PERMISSION_DENIED"  // 403: a token used for another site
	CodeInvalidClient     = "INVALID_CLIENT"     // 401 from /oauth2/token: wrong app ID or secret
	CodeUnavailable       = "UNAVAILABLE"        // per item: retry later
	CodeResourceExhausted = "RESOURCE_EXHAUSTED" // 429
)

// eventInfo is one event of a report, as on the wire.
type eventInfo struct {
	Payload          json.RawMessage  `json:"payload,omitempty"`
	ExternalEntityID string           `json:"externalEntityId,omitempty"`
	Idempotency      *idempotencyInfo `json:"idempotency,omitempty"`
}

type idempotencyInfo struct {
	Key string `json:"key,omitempty"`
	// TTL is ttlInMilliseconds: an int64 as a JSON string, as Wix documents.
	TTL string `json:"ttlInMilliseconds,omitempty"`
}

// request is one call to an events endpoint, decoded.
type request struct {
	endpoint   Endpoint
	site       string
	triggerKey string
	events     []eventInfo // report, bulk-report
	entityIDs  []string    // cancel, bulk-cancel
}

func (r request) bulk() bool {
	return r.endpoint == EndpointBulkReport || r.endpoint == EndpointBulkCancel
}

func (r request) items() int {
	if r.endpoint == EndpointReport || r.endpoint == EndpointBulkReport {
		return len(r.events)
	}
	return len(r.entityIDs)
}

func (r request) entities() []string {
	if r.endpoint == EndpointCancel || r.endpoint == EndpointBulkCancel {
		return r.entityIDs
	}
	out := make([]string, 0, len(r.events))
	for _, e := range r.events {
		if e.ExternalEntityID != "" {
			out = append(out, e.ExternalEntityID)
		}
	}
	return out
}

func (r request) idempotencyKeys() []string {
	var out []string
	for _, e := range r.events {
		if e.Idempotency != nil && e.Idempotency.Key != "" {
			out = append(out, e.Idempotency.Key)
		}
	}
	return out
}

// apiError is a whole-request failure, answered with an HTTP status and
// Wix's error body.
type apiError struct {
	status     int
	code       string
	message    string
	field      string // set for a validation error on one field
	retryAfter time.Duration
}

func invalid(field, format string, args ...any) *apiError {
	return &apiError{status: 400, code: CodeInvalidArgument, field: field, message: fmt.Sprintf(format, args...)}
}

// itemResult is the result of one item of a request.
type itemResult struct {
	entityID      string
	activationIDs []string
	errCode       string // "" on success
	errMessage    string
}

// outcome is how a request ended.
type outcome struct {
	items []itemResult
	err   *apiError
	drop  bool // the connection is dropped without an answer
}

func (o outcome) status() int {
	switch {
	case o.drop:
		return 0
	case o.err != nil:
		return o.err.status
	}
	return 200
}

// process runs one events request: logs it, applies faults and latency,
// validates it and changes the site's state.
func (s *Sim) process(ctx context.Context, req request) outcome {
	s.lockDue(ctx)
	idx := s.logLocked(Request{
		Endpoint: req.endpoint, Site: req.site, TriggerKey: req.triggerKey,
		ExternalEntityIDs: req.entities(), IdempotencyKeys: req.idempotencyKeys(),
	})
	f := s.takeFaultLocked(req.endpoint, req.site, req.entities())
	var throttled *apiError
	if f == nil || !f.answers() {
		throttled = s.throttleLocked(req.site, s.Now())
	}
	latency := s.latency
	s.mu.Unlock()

	if throttled != nil {
		out := outcome{err: throttled}
		s.finish(idx, out, f != nil)
		return out
	}

	if f != nil {
		latency += f.Latency
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			t.Stop()
			out := outcome{drop: true}
			s.finish(idx, out, f != nil)
			return out
		case <-t.C:
		}
	}
	if f != nil && !f.AfterApply && f.answers() {
		out := f.outcome()
		s.finish(idx, out, true)
		return out
	}

	s.lockDue(ctx)
	out := s.applyLocked(req, s.Now())
	s.mu.Unlock()

	if f != nil && f.AfterApply && f.answers() {
		out = f.outcome()
	}
	s.finish(idx, out, f != nil)
	return out
}

// throttleLocked admits a request under the site's rate limit, or returns
// the 429 to answer.
func (s *Sim) throttleLocked(siteID string, now time.Time) *apiError {
	if s.limit <= 0 {
		return nil
	}
	st := s.siteLocked(siteID)
	cutoff := now.Add(-s.window)
	keep := st.admitted[:0]
	for _, at := range st.admitted {
		if at.After(cutoff) {
			keep = append(keep, at)
		}
	}
	st.admitted = keep
	if len(st.admitted) >= s.limit {
		return &apiError{status: 429, code: CodeResourceExhausted, message: "rate limit exceeded",
			retryAfter: st.admitted[0].Add(s.window).Sub(now)}
	}
	st.admitted = append(st.admitted, now)
	return nil
}

// logLocked logs a request and returns its number among every request
// logged since New (a Reset does not restart it), for finish.
func (s *Sim) logLocked(r Request) int {
	r.Seq = len(s.requests) + 1
	r.At = s.Now()
	s.requests = append(s.requests, r)
	return s.resetLogged + len(s.requests) - 1
}

// finish records how a logged request ended, unless a Reset forgot it.
func (s *Sim) finish(n int, out outcome, faulted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := n - s.resetLogged
	if idx < 0 || idx >= len(s.requests) {
		return
	}
	s.requests[idx].Status = out.status()
	s.requests[idx].Faulted = faulted
}

// applyLocked validates a request and applies it to the site's state.
func (s *Sim) applyLocked(req request, now time.Time) outcome {
	if req.triggerKey == "" {
		return outcome{err: invalid("triggerKey", "triggerKey is required")}
	}
	if len(req.triggerKey) > 100 {
		return outcome{err: invalid("triggerKey", "triggerKey must be at most 100 characters")}
	}
	n := req.items()
	switch {
	case req.bulk() && (n < 1 || n > application.MaxBatch):
		field := "eventsInfo"
		if req.endpoint == EndpointBulkCancel {
			field = "externalEntityIds"
		}
		return outcome{err: invalid(field, "%s must hold 1 to %d items, not %d", field, application.MaxBatch, n)}
	case !req.bulk() && n != 1:
		return outcome{err: invalid("", "malformed request")}
	}
	if err := validateItems(req); err != nil {
		return outcome{err: err}
	}
	def, ok := s.triggers[req.triggerKey]
	if !ok {
		return outcome{err: &apiError{status: 428, code: CodeTriggerNotFound,
			message: fmt.Sprintf("trigger %q is not configured for this app", req.triggerKey)}}
	}
	st := s.siteLocked(req.site)
	items := make([]itemResult, n)
	for i := range n {
		var entity string
		if req.endpoint == EndpointCancel || req.endpoint == EndpointBulkCancel {
			entity = req.entityIDs[i]
		} else {
			entity = req.events[i].ExternalEntityID
		}
		items[i].entityID = entity
		if req.bulk() {
			if code, msg, failed := s.takeItemFaultLocked(req.endpoint, req.site, entity); failed {
				items[i].errCode, items[i].errMessage = code, msg
				continue
			}
		}
		if req.endpoint == EndpointCancel || req.endpoint == EndpointBulkCancel {
			s.cancelLocked(st, req.triggerKey, entity, now)
			continue
		}
		at, err := eventTime(def, req.events[i].Payload, now)
		if err != nil {
			if !req.bulk() {
				return outcome{err: err}
			}
			items[i].errCode, items[i].errMessage = err.code, err.message
			continue
		}
		items[i].activationIDs = s.reportLocked(req.site, st, req.triggerKey, req.events[i], at, now)
	}
	return outcome{items: items}
}

// validateItems checks every item's format before anything is applied, so
// a malformed bulk request changes nothing.
func validateItems(req request) *apiError {
	if req.endpoint == EndpointCancel || req.endpoint == EndpointBulkCancel {
		for i, id := range req.entityIDs {
			field := "externalEntityId"
			if req.bulk() {
				field = fmt.Sprintf("externalEntityIds[%d]", i)
			}
			if id == "" {
				return invalid(field, "%s is required", field)
			}
			if !isGUID(id) {
				return invalid(field, "%s must be a GUID", field)
			}
		}
		return nil
	}
	for i, e := range req.events {
		prefix := ""
		if req.bulk() {
			prefix = fmt.Sprintf("eventsInfo[%d].", i)
		}
		if e.ExternalEntityID != "" && !isGUID(e.ExternalEntityID) {
			return invalid(prefix+"externalEntityId", "%sexternalEntityId must be a GUID", prefix)
		}
		if len(e.Payload) > 0 && !bytes.Equal(e.Payload, []byte("null")) {
			var obj map[string]any
			if err := json.Unmarshal(e.Payload, &obj); err != nil {
				return invalid(prefix+"payload", "%spayload must be a JSON object", prefix)
			}
		}
		if e.Idempotency != nil {
			if e.Idempotency.Key == "" {
				return invalid(prefix+"idempotency.key", "%sidempotency.key is required with idempotency", prefix)
			}
			if e.Idempotency.TTL != "" {
				if ms, err := strconv.ParseInt(e.Idempotency.TTL, 10, 64); err != nil || ms <= 0 {
					return invalid(prefix+"idempotency.ttlInMilliseconds", "%sidempotency.ttlInMilliseconds must be a positive integer in a JSON string", prefix)
				}
			}
		}
	}
	return nil
}

// eventTime returns when an event takes place: now for a real-time
// trigger; for a scheduled one the payload's date-time, which must be in
// the future.
func eventTime(def triggerDef, payload json.RawMessage, now time.Time) (time.Time, *apiError) {
	if def.timing != application.Scheduled {
		return now, nil
	}
	field := "payload." + def.dateTimeField
	var obj map[string]any
	if len(payload) > 0 {
		_ = json.Unmarshal(payload, &obj) // validated as an object (or null) before
	}
	raw, ok := obj[def.dateTimeField]
	if !ok {
		return time.Time{}, invalid(field, "scheduled event needs a date-time in %s", field)
	}
	str, ok := raw.(string)
	if !ok {
		return time.Time{}, invalid(field, "%s must be a date-time string", field)
	}
	at, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return time.Time{}, invalid(field, "%s must be an RFC 3339 date-time", field)
	}
	if !at.After(now) {
		return time.Time{}, invalid(field, "%s must be in the future", field)
	}
	return at.UTC(), nil
}

// reportLocked records an event (unless its idempotency key was seen) and
// creates the activations of the site's automations on its trigger.
func (s *Sim) reportLocked(siteID string, st *site, triggerKey string, e eventInfo, at, now time.Time) []string {
	if e.Idempotency != nil {
		k := idemKey{trigger: triggerKey, key: e.Idempotency.Key}
		if exp, seen := st.idempotency[k]; seen && now.Before(exp) {
			return []string{} // de-duplicated: accepted, nothing activated
		}
		ttl := DefaultIdempotencyTTL
		if e.Idempotency.TTL != "" {
			ms, _ := strconv.ParseInt(e.Idempotency.TTL, 10, 64) // validated before
			ttl = time.Duration(ms) * time.Millisecond
		}
		st.idempotency[k] = now.Add(ttl)
	}
	s.eventSeq++
	payload := append(json.RawMessage(nil), e.Payload...)
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	ev := &Event{
		Seq: s.eventSeq, Site: siteID, TriggerKey: triggerKey, ExternalEntityID: e.ExternalEntityID,
		Payload: payload, ReportedAt: now, At: at,
	}
	if e.Idempotency != nil {
		ev.IdempotencyKey = e.Idempotency.Key
	}
	st.events = append(st.events, ev)
	if ev.ExternalEntityID != "" {
		k := liveKey{trigger: triggerKey, entity: ev.ExternalEntityID}
		st.live[k] = append(st.live[k], ev)
	}
	ids := []string{}
	for _, a := range st.automations {
		if a.TriggerKey != triggerKey {
			continue
		}
		s.actSeq++
		act := &Activation{
			ID: fmt.Sprintf("ac000000-0000-4000-8000-%012d", s.actSeq), Site: siteID, Automation: a.Name,
			TriggerKey: triggerKey, ExternalEntityID: e.ExternalEntityID, Payload: payload,
			EventSeq: ev.Seq, ReportedAt: now, DueAt: at.Add(a.Offset), State: ActivationPending,
		}
		if act.DueAt.Before(now) {
			act.State, act.SettledAt = ActivationSkipped, now
		} else {
			ids = append(ids, act.ID)
			s.pending = append(s.pending, act)
		}
		st.activations = append(st.activations, act)
		st.eventActs[ev.Seq] = append(st.eventActs[ev.Seq], act)
	}
	return ids
}

// cancelLocked cancels every live event of the trigger key and entity (all
// of them were reported before this cancel) and their pending activations.
func (s *Sim) cancelLocked(st *site, triggerKey, entityID string, now time.Time) {
	k := liveKey{trigger: triggerKey, entity: entityID}
	for _, e := range st.live[k] {
		e.Canceled, e.CanceledAt = true, now
		for _, a := range st.eventActs[e.Seq] {
			if a.State == ActivationPending {
				a.State, a.SettledAt, a.CanceledBy = ActivationCanceled, now, CanceledByEvent
			}
		}
	}
	delete(st.live, k)
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
