package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
)

// ErrNotCalledFor: an operator asked to retry a call that the booking's
// current state no longer agrees with (a report of an event it no longer
// calls for, or a cancel of one it calls for again, after a catalog
// change). *NotCalledForError matches it, and outbox.ErrCallState.
var ErrNotCalledFor = errors.New("the booking no longer calls for this call")

// NotCalledForError refuses a retry that would bring back what the booking
// no longer calls for.
type NotCalledForError struct {
	CallID string
	Reason string
}

// Error implements error.
func (e *NotCalledForError) Error() string {
	return fmt.Sprintf("call %s: %s; run reconcile to make Wix match the booking", e.CallID, e.Reason)
}

// Is lets errors.Is match ErrNotCalledFor and outbox.ErrCallState.
func (e *NotCalledForError) Is(target error) bool {
	return target == ErrNotCalledFor || target == outbox.ErrCallState
}

// RetryCall is an operator's retry of a dead or expired call.
type RetryCall struct {
	SiteID domain.SiteID
	CallID domain.ID
}

// RetryCallHandler handles RetryCall.
type RetryCallHandler struct{ r *runner }

// Handle retries a call only when the booking's current state still agrees
// with it: a report of an event its state calls for, or a cancel of one it
// does not. The outbox then refuses it when a newer call superseded it
// (*outbox.SupersededError) or its state does not allow it. So no retry
// brings back an event the booking no longer calls for, whatever changed
// since (the catalog included). Errors: ErrNotFound, *NotCalledForError,
// *outbox.SupersededError, *outbox.StateError.
func (h RetryCallHandler) Handle(ctx context.Context, cmd RetryCall) (CallDetail, error) {
	site, id, err := checkRef(cmd.SiteID, "callId", cmd.CallID)
	if err != nil {
		return CallDetail{}, err
	}
	if h.r.cfg.Outbox == nil {
		return CallDetail{}, errors.New("retry call: application.Config has no Outbox")
	}
	d, err := h.r.cfg.Outbox.Get(ctx, site.String(), id.String())
	if err != nil {
		return CallDetail{}, err
	}
	if d.State == StateDead || d.State == StateExpired {
		if err := h.agrees(ctx, d.Call); err != nil {
			return CallDetail{}, err
		}
	}
	if err := h.r.cfg.Outbox.Retry(ctx, site.String(), id.String(), h.r.cfg.Clock.Now().UTC()); err != nil {
		return CallDetail{}, err
	}
	h.r.cfg.Wake.Notify()
	return h.r.cfg.Outbox.Get(ctx, site.String(), id.String())
}

// agrees checks a call against the desired state of its entity.
func (h RetryCallHandler) agrees(ctx context.Context, c Call) error {
	t, ok := h.r.policy.catalog.ByKey(c.TriggerKey)
	var desired []Live
	if ok {
		site, err := domain.ParseSiteID(c.SiteID) // as the outbox stored it
		if err != nil {
			return err
		}
		entity, err := domain.ParseID("externalEntityId", c.ExternalEntityID)
		if err != nil {
			return err
		}
		err = h.r.view(ctx, func(ctx context.Context, tx ReadTx) error {
			var err error
			desired, err = DesiredFor(ctx, tx, h.r.policy.catalog, site, entity)
			return err
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	var want *Live
	for i := range desired {
		if desired[i].TriggerKey == c.TriggerKey {
			want = &desired[i]
		}
	}
	switch {
	case c.Kind == KindCancel && want != nil:
		return &NotCalledForError{CallID: c.ID, Reason: "its entity calls for the event this cancel would remove"}
	case c.Kind == KindReport && want == nil:
		return &NotCalledForError{CallID: c.ID, Reason: "its entity no longer calls for this event"}
	case c.Kind == KindReport && want.Timing == Scheduled && !t.sameOccurrence(c.Payload, *want):
		return &NotCalledForError{CallID: c.ID, Reason: "its entity calls for this event at another time"}
	}
	return nil
}
