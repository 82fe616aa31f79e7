package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// RefreshPayload is Wix's question just before it runs a delayed action of
// an event lifecycle reported (a reminder a day before, a follow-up two
// days after): is the event still true, and with what payload? Wix asks
// through its Trigger Provider service plugin; the HTTP API verifies the
// request and passes it here.
type RefreshPayload struct {
	SiteID           string // the app instance the request is for
	TriggerKey       string
	ExternalEntityID string
	Payload          json.RawMessage // the payload Wix holds for the event
}

// RefreshAnswer is what to tell Wix: cancel the activation, or run it with
// Payload, the event's current payload. Reason says why, for logs.
type RefreshAnswer struct {
	Cancel  bool
	Payload json.RawMessage
	Reason  string
}

// The reasons of a RefreshAnswer.
const (
	RefreshCurrent       = "the event is still called for: its current payload"
	RefreshUnknownKey    = "no enabled trigger has this key"
	RefreshUnknownEntity = "no such appointment or enrollment on this site"
	RefreshNotCalledFor  = "its state no longer calls for this event"
	RefreshOtherTime     = "the event is called for at another time (a reschedule moved it)"
	RefreshOtherEvent    = "another event of this trigger replaced it"
)

// RefreshPayloadHandler handles RefreshPayload.
type RefreshPayloadHandler struct{ r *runner }

// Handle answers from the desired state (DesiredFor): the same rule reconcile and the policy follow. It only
// reads. The activation is canceled when the trigger is unknown or disabled,
// the entity does not exist on the site, its state no longer calls for the
// event, or the payload Wix holds is of another occurrence (a scheduled
// event's date-time that moved, a notice replaced by a newer one);
// otherwise the answer is the current payload, which may differ from Wix's
// (a new title). Errors are the store's: the caller answers Wix with its
// own payload then, since Wix's behaviour on errors is not documented.
func (h RefreshPayloadHandler) Handle(ctx context.Context, q RefreshPayload) (RefreshAnswer, error) {
	cancel := func(reason string) (RefreshAnswer, error) { return RefreshAnswer{Cancel: true, Reason: reason}, nil }
	site, err := domain.ParseSiteID(q.SiteID)
	if err != nil {
		return cancel(RefreshUnknownEntity)
	}
	entity, err := domain.ParseID("externalEntityId", q.ExternalEntityID)
	if err != nil {
		return cancel(RefreshUnknownEntity)
	}
	t, ok := h.r.policy.catalog.ByKey(q.TriggerKey)
	if !ok {
		return cancel(RefreshUnknownKey)
	}
	var desired []Live
	err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
		desired, err = DesiredFor(ctx, tx, h.r.policy.catalog, site, entity)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return cancel(RefreshUnknownEntity)
	}
	if err != nil {
		return RefreshAnswer{}, fmt.Errorf("refresh payload: %w", err)
	}
	for _, l := range desired {
		if l.TriggerKey != t.Key {
			continue
		}
		if !t.sameOccurrence(q.Payload, l) {
			if t.Timing == Scheduled {
				return cancel(RefreshOtherTime)
			}
			return cancel(RefreshOtherEvent)
		}
		return RefreshAnswer{Payload: l.Payload, Reason: RefreshCurrent}, nil
	}
	return cancel(RefreshNotCalledFor)
}

// sameOccurrence reports whether a payload Wix holds is of the event l
// (not an older one of the same trigger and entity): its occurrence fields
// (the date-time a scheduled event takes place at, the previous start of a
// reschedule notice) equal l's. A missing or unreadable field is another
// occurrence: the activation is canceled rather than run for a stranger.
func (t Trigger) sameOccurrence(held json.RawMessage, l Live) bool {
	fields := t.occurrenceFields()
	if len(fields) == 0 {
		return true
	}
	var got, want map[string]any
	if json.Unmarshal(held, &got) != nil || json.Unmarshal(l.Payload, &want) != nil {
		return false
	}
	for _, f := range fields {
		g, _ := got[f].(string)
		w, _ := want[f].(string)
		if !sameInstant(g, w) {
			return false
		}
	}
	return true
}

// sameInstant compares two RFC 3339 date-times as instants ("" equals "").
func sameInstant(a, b string) bool {
	if a == b {
		return true
	}
	x, errA := time.Parse(time.RFC3339Nano, a)
	y, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && x.Equal(y)
}
