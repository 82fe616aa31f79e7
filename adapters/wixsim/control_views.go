package wixsim

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application"
)

// The control API's JSON bodies. Durations are Go duration strings
// ("-24h", "1m30s"), times RFC 3339 in UTC.
type (
	eventView struct {
		Seq              int64           `json:"seq"`
		Site             string          `json:"site"`
		TriggerKey       string          `json:"triggerKey"`
		ExternalEntityID string          `json:"externalEntityId,omitempty"`
		IdempotencyKey   string          `json:"idempotencyKey,omitempty"`
		Payload          json.RawMessage `json:"payload"`
		ReportedAt       time.Time       `json:"reportedAt"`
		At               time.Time       `json:"at"`
		Canceled         bool            `json:"canceled"`
		CanceledAt       time.Time       `json:"canceledAt,omitzero"`
	}
	activationView struct {
		ID               string          `json:"id"`
		Site             string          `json:"site"`
		Automation       string          `json:"automation"`
		TriggerKey       string          `json:"triggerKey"`
		ExternalEntityID string          `json:"externalEntityId,omitempty"`
		EventSeq         int64           `json:"eventSeq"`
		Payload          json.RawMessage `json:"payload"`
		ReportedAt       time.Time       `json:"reportedAt"`
		DueAt            time.Time       `json:"dueAt"`
		State            ActivationState `json:"state"`
		SettledAt        time.Time       `json:"settledAt,omitzero"`
		CanceledBy       CancelReason    `json:"canceledBy,omitempty"`
		RanWith          json.RawMessage `json:"ranWith,omitempty"`
		Refresh          *refreshView    `json:"refresh,omitempty"`
	}
	refreshView struct {
		At        time.Time     `json:"at"`
		RequestID string        `json:"requestId"`
		Answer    RefreshAnswer `json:"answer"`
		Status    int           `json:"status,omitempty"`
		Error     string        `json:"error,omitempty"`
		TookMS    int64         `json:"tookMs"`
	}
	automationView struct {
		Name       string `json:"name"`
		TriggerKey string `json:"triggerKey"`
		Offset     string `json:"offset"`
	}
	triggerView struct {
		Key            string             `json:"key"`
		Timing         application.Timing `json:"timing"`
		DateTimeField  string             `json:"dateTimeField,omitempty"`
		RefreshPayload bool               `json:"refreshPayload"`
	}
	faultView struct {
		Endpoint   Endpoint `json:"endpoint,omitempty"`
		Site       string   `json:"site,omitempty"`
		EntityID   string   `json:"entityId,omitempty"`
		Times      int      `json:"times,omitempty"`
		Status     int      `json:"status,omitempty"`
		Code       string   `json:"code,omitempty"`
		Message    string   `json:"message,omitempty"`
		RetryAfter string   `json:"retryAfter,omitempty"`
		Drop       bool     `json:"drop,omitempty"`
		AfterApply bool     `json:"afterApply,omitempty"`
		Latency    string   `json:"latency,omitempty"`
		ItemCode   string   `json:"itemCode,omitempty"`
	}
	requestView struct {
		Seq               int       `json:"seq"`
		At                time.Time `json:"at"`
		Endpoint          Endpoint  `json:"endpoint"`
		Site              string    `json:"site,omitempty"`
		TriggerKey        string    `json:"triggerKey,omitempty"`
		ExternalEntityIDs []string  `json:"externalEntityIds,omitempty"`
		IdempotencyKeys   []string  `json:"idempotencyKeys,omitempty"`
		Status            int       `json:"status"`
		Faulted           bool      `json:"faulted"`
	}
	siteView struct {
		ID          string `json:"id"`
		Automations int    `json:"automations"`
		Events      int    `json:"events"`
		LiveEvents  int    `json:"liveEvents"`
		Activations int    `json:"activations"`
		Pending     int    `json:"pending"`
	}
	clockView struct {
		Now      time.Time `json:"now"`
		Settable bool      `json:"settable"`
		Frozen   bool      `json:"frozen"`
	}
)

func viewEvent(e Event) eventView {
	return eventView{
		Seq: e.Seq, Site: e.Site, TriggerKey: e.TriggerKey, ExternalEntityID: e.ExternalEntityID,
		IdempotencyKey: e.IdempotencyKey, Payload: e.Payload, ReportedAt: e.ReportedAt, At: e.At,
		Canceled: e.Canceled, CanceledAt: e.CanceledAt,
	}
}

func viewActivation(a Activation) activationView {
	v := activationView{
		ID: a.ID, Site: a.Site, Automation: a.Automation, TriggerKey: a.TriggerKey,
		ExternalEntityID: a.ExternalEntityID, EventSeq: a.EventSeq, Payload: a.Payload,
		ReportedAt: a.ReportedAt, DueAt: a.DueAt, State: a.State, SettledAt: a.SettledAt,
		CanceledBy: a.CanceledBy, RanWith: a.RanWith,
	}
	if r := a.Refresh; r != nil {
		v.Refresh = &refreshView{At: r.At, RequestID: r.RequestID, Answer: r.Answer, Status: r.Status,
			Error: r.Error, TookMS: r.Took.Milliseconds()}
	}
	return v
}

func viewAutomation(a Automation) automationView {
	return automationView{Name: a.Name, TriggerKey: a.TriggerKey, Offset: a.Offset.String()}
}

func viewFault(f Fault) faultView {
	v := faultView{
		Endpoint: f.Endpoint, Site: f.Site, EntityID: f.EntityID, Times: f.Times, Status: f.Status,
		Code: f.Code, Message: f.Message, Drop: f.Drop, AfterApply: f.AfterApply, ItemCode: f.ItemCode,
	}
	if f.RetryAfter != 0 {
		v.RetryAfter = f.RetryAfter.String()
	}
	if f.Latency != 0 {
		v.Latency = f.Latency.String()
	}
	return v
}

// fault turns a fault's JSON into a Fault, or names the field that is
// wrong.
func (v faultView) fault() (Fault, *fieldError) {
	f := Fault{
		Endpoint: v.Endpoint, Site: v.Site, EntityID: v.EntityID, Times: v.Times, Status: v.Status,
		Code: v.Code, Message: v.Message, Drop: v.Drop, AfterApply: v.AfterApply, ItemCode: v.ItemCode,
	}
	var err error
	if f.RetryAfter, err = optionalDuration(v.RetryAfter); err != nil {
		return Fault{}, &fieldError{Field: "retryAfter", Reason: err.Error()}
	}
	if f.Latency, err = optionalDuration(v.Latency); err != nil {
		return Fault{}, &fieldError{Field: "latency", Reason: err.Error()}
	}
	return f, nil
}

func viewRequest(r Request) requestView {
	return requestView{
		Seq: r.Seq, At: r.At, Endpoint: r.Endpoint, Site: r.Site, TriggerKey: r.TriggerKey,
		ExternalEntityIDs: r.ExternalEntityIDs, IdempotencyKeys: r.IdempotencyKeys,
		Status: r.Status, Faulted: r.Faulted,
	}
}

func optionalDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return parseDuration(s)
}

// parseDuration reads a Go duration string, with a clearer error than
// time.ParseDuration's.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as \"90m\", \"-24h\" or \"1h30m\"", s)
	}
	return d, nil
}

// list makes an empty JSON array of a nil slice.
func list[T, V any](in []T, view func(T) V) []V {
	out := make([]V, 0, len(in))
	for _, x := range in {
		out = append(out, view(x))
	}
	return out
}
