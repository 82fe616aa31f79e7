package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
)

// MaxListLimit caps the limit query parameter of GET .../outbox.
const MaxListLimit = 1000

// Call is the JSON of an outbox call.
type Call struct {
	ID               string          `json:"id"`
	SiteID           string          `json:"siteId"`
	Seq              int64           `json:"seq"`
	Kind             string          `json:"kind"` // report or cancel
	TriggerKey       string          `json:"triggerKey"`
	ExternalEntityID string          `json:"externalEntityId"`
	Payload          json.RawMessage `json:"payload,omitempty"`      // a report's payload object
	ScheduledAt      string          `json:"scheduledAt,omitempty"`  // a scheduled report's date-time
	Cause            string          `json:"cause"`                  // the domain event, e.g. appointment:canceled
	State            string          `json:"state"`                  // pending, delivered, dead, expired, discarded or superseded
	SupersededBy     string          `json:"supersededBy,omitempty"` // the newer call, when superseded
	Attempts         int             `json:"attempts"`
	NextAttemptAt    string          `json:"nextAttemptAt,omitempty"` // when pending
	LastError        *CallError      `json:"lastError,omitempty"`
	CreatedAt        string          `json:"createdAt"`
	SettledAt        string          `json:"settledAt,omitempty"`
	// History lists the delivery attempts and operator actions, oldest
	// first; only GET .../outbox/{id}, retry and discard return it.
	History []Attempt `json:"history,omitempty"`
}

// CallError is the JSON of a failed attempt: Wix's HTTP status (0 for a
// transport error), its error code and message.
type CallError struct {
	Status  int    `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Attempt is one entry of a call's history: when, the state the call moved
// to, and the error if any.
type Attempt struct {
	At    string     `json:"at"`
	State string     `json:"state"`
	Error *CallError `json:"error,omitempty"`
	Note  string     `json:"note,omitempty"` // an operator's action, or why an outcome was not applied
}

// CallList is the JSON of GET .../outbox. NextAfter, when set, is the
// after parameter that fetches the next page; it is absent on the last.
type CallList struct {
	Calls     []Call `json:"calls"`
	NextAfter *int64 `json:"nextAfter,omitempty"`
}

// CallStats is the JSON of GET .../outbox/stats: the site's calls by state,
// every state present.
type CallStats struct {
	SiteID string         `json:"siteId"`
	Calls  map[string]int `json:"calls"`
}

func callErrorJSON(e *application.CallError) *CallError {
	if e == nil {
		return nil
	}
	return &CallError{Status: e.Status, Code: e.Code, Message: e.Message}
}

// NewCall returns the JSON form of an outbox call, as the API and the
// command's --json output show it.
func NewCall(c application.Call) Call {
	out := Call{
		ID: c.ID, SiteID: c.SiteID, Seq: c.Seq, Kind: string(c.Kind), TriggerKey: c.TriggerKey,
		ExternalEntityID: c.ExternalEntityID, ScheduledAt: domain.FormatInstant(c.ScheduledAt), Cause: c.Cause,
		State: string(c.State), Attempts: c.Attempts, LastError: callErrorJSON(c.LastError),
		CreatedAt: domain.FormatInstant(c.CreatedAt), SettledAt: domain.FormatInstant(c.SettledAt), SupersededBy: c.SupersededBy,
	}
	if len(c.Payload) > 0 && json.Valid(c.Payload) {
		out.Payload = c.Payload
	}
	if c.State == application.StatePending {
		out.NextAttemptAt = domain.FormatInstant(c.NextAttemptAt)
	}
	return out
}

// NewCallDetail returns the JSON form of a call with its history.
func NewCallDetail(d application.CallDetail) Call {
	out := NewCall(d.Call)
	out.History = make([]Attempt, len(d.History))
	for i, a := range d.History {
		out.History[i] = Attempt{At: domain.FormatInstant(a.At), State: string(a.State), Error: callErrorJSON(a.Err), Note: a.Note}
	}
	return out
}

// listCalls: GET /v1/sites/{site}/outbox?state=&after=&limit=.
func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	f := application.Filter{SiteID: c.site(r).String(), Limit: 100}
	q := r.URL.Query() // checkQuery refused other parameters and repeated ones
	if v := q.Get("state"); v != "" {
		st, err := outbox.ParseState(v)
		if err != nil {
			c.add("state", "must be one of pending, delivered, dead, expired, discarded")
		}
		f.State = st
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			c.add("after", "must be a sequence number (an integer of at least 0)")
		}
		f.After = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			c.add("limit", "must be an integer from 1 to "+strconv.Itoa(MaxListLimit))
		}
		f.Limit = n
	}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	calls, err := s.outbox.List(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	out := CallList{Calls: make([]Call, len(calls))}
	for i, call := range calls {
		out.Calls[i] = NewCall(call)
	}
	if len(calls) == f.Limit {
		next := calls[len(calls)-1].Seq
		out.NextAfter = &next
	}
	return http.StatusOK, out, nil
}

// callRef checks the site and id path parameters of an outbox route.
func callRef(r *http.Request) (site, id string, err error) {
	var c checker
	site, id = c.site(r).String(), c.path(r, "id").String()
	return site, id, c.err()
}

// showCall: GET /v1/sites/{site}/outbox/{id}, with the call's history.
func (s *Server) showCall(w http.ResponseWriter, r *http.Request) (int, any, error) {
	site, id, err := callRef(r)
	if err != nil {
		return 0, nil, err
	}
	d, err := s.outbox.Get(r.Context(), site, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, NewCallDetail(d), nil
}

// retryCall: POST /v1/sites/{site}/outbox/{id}/retry puts a dead or expired
// call back to pending, due now, at the tail of its entity's calls.
// The application checks that the booking still calls for it
// (application.RetryCall).
func (s *Server) retryCall(w http.ResponseWriter, r *http.Request) (int, any, error) {
	return s.settleCall(r, "retry call", func(ctx context.Context, siteID domain.SiteID, id domain.ID, _ time.Time) error {
		_, err := s.app.RetryCall.Handle(ctx, application.RetryCall{SiteID: siteID, CallID: id})
		return err
	})
}

// discardCall: POST /v1/sites/{site}/outbox/{id}/discard gives up a
// pending, dead or expired call.
func (s *Server) discardCall(w http.ResponseWriter, r *http.Request) (int, any, error) {
	return s.settleCall(r, "discard call", func(ctx context.Context, siteID domain.SiteID, id domain.ID, now time.Time) error {
		return s.outbox.Discard(ctx, siteID.String(), id.String(), now)
	})
}

// settleCall runs an operator action on a call and returns the call as it
// is afterwards. With an Idempotency-Key, a retry of the request gets that
// first answer again (see application.App.Remember).
func (s *Server) settleCall(r *http.Request, action string, do func(ctx context.Context, siteID domain.SiteID, id domain.ID, now time.Time) error) (int, any, error) {
	var c checker
	site, id, key := c.site(r), c.path(r, "id"), c.idempotencyKey(r)
	var req emptyRequest
	if err := decodeBody(r, &req, true); err != nil {
		return 0, nil, err
	}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	var out Call
	args := struct{ Action, SiteID, ID string }{action, site.String(), id.String()}
	err := s.app.Remember(r.Context(), action, site, key, args, &out, func(ctx context.Context) error {
		if err := do(ctx, site, id, s.clock.Now().UTC()); err != nil {
			return err
		}
		d, err := s.outbox.Get(ctx, site.String(), id.String())
		if err != nil {
			return err
		}
		out = NewCallDetail(d)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// callStats: GET /v1/sites/{site}/outbox/stats.
func (s *Server) callStats(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site := c.site(r)
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	stats, err := s.outbox.Stats(r.Context(), site.String())
	if err != nil {
		return 0, nil, err
	}
	out := CallStats{SiteID: site.String(), Calls: make(map[string]int, len(outbox.States()))}
	for _, st := range outbox.States() {
		out.Calls[string(st)] = stats[st]
	}
	return http.StatusOK, out, nil
}
