package application

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// Policy turns domain events into the Wix calls that keep site automations
// true to them, in the order DESIGN.md section 4 fixes:
//
//	appointment scheduled    report appointment_scheduled; report appointment_starting at start
//	appointment canceled     report appointment_canceled; cancel appointment_scheduled; cancel appointment_starting
//	appointment rescheduled  (report appointment_rescheduled); cancel appointment_starting; report appointment_starting at the new start
//	appointment completed    (report appointment_completed)
//	appointment no-show      (report appointment_no_show)
//	participant enrolled     report participant_enrolled_in_class; report class_starting at class start
//	  (or promoted from the waitlist: the same)
//	participant waitlisted   (report participant_waitlisted)
//	participant left         report participant_left_class; cancel participant_enrolled_in_class; cancel class_starting
//	class canceled           per seated enrollment: report class_canceled; cancel participant_enrolled_in_class; cancel class_starting
//	class rescheduled        per seated enrollment: (report class_rescheduled); cancel class_starting; report class_starting at the new start
//	class completed          per attendee: (report class_completed)
//
// Parenthesized triggers are optional and off in the default catalog. A
// disabled trigger gets neither reports nor cancels. The externalEntityId is
// the appointment ID for appointments and the enrollment ID for classes.
// Waitlisted participants had no events at Wix, so leaving the waitlist or
// losing it to a class cancel sends nothing.
type Policy struct {
	catalog *Catalog
}

// NewPolicy returns the policy for a catalog.
func NewPolicy(c *Catalog) *Policy { return &Policy{catalog: c} }

// Catalog returns the catalog the policy follows.
func (p *Policy) Catalog() *Catalog { return p.catalog }

// Calls returns the calls for events, in order. Each call gets a new ID from
// ids and is stamped created at now.
func (p *Policy) Calls(events []domain.Event, ids IDs, now time.Time) ([]Call, error) {
	b := callBuilder{policy: p, ids: ids, now: now.UTC()}
	for _, ev := range events {
		if err := b.add(ev); err != nil {
			return nil, err
		}
	}
	return b.calls, nil
}

type callBuilder struct {
	policy *Policy
	ids    IDs
	now    time.Time
	calls  []Call
}

func (b *callBuilder) add(ev domain.Event) error {
	switch e := ev.(type) {
	case appointment.Scheduled:
		p := appointmentPayload(e.Header)
		b.report(RoleAppointmentScheduled, e.SiteID, e.AppointmentID, ev, p, time.Time{})
		b.report(RoleAppointmentStarting, e.SiteID, e.AppointmentID, ev, p, e.Start)
	case appointment.Canceled:
		p := appointmentPayload(e.Header)
		p["reason"] = e.Reason
		b.report(RoleAppointmentCanceled, e.SiteID, e.AppointmentID, ev, p, time.Time{})
		b.cancel(RoleAppointmentScheduled, e.SiteID, e.AppointmentID, ev)
		b.cancel(RoleAppointmentStarting, e.SiteID, e.AppointmentID, ev)
	case appointment.Rescheduled:
		p := appointmentPayload(e.Header)
		notice := appointmentPayload(e.Header)
		notice["previousStartsAt"] = rfc3339(e.PreviousStart)
		b.report(RoleAppointmentRescheduled, e.SiteID, e.AppointmentID, ev, notice, time.Time{})
		b.cancel(RoleAppointmentStarting, e.SiteID, e.AppointmentID, ev)
		b.report(RoleAppointmentStarting, e.SiteID, e.AppointmentID, ev, p, e.Start)
	case appointment.Completed:
		b.report(RoleAppointmentCompleted, e.SiteID, e.AppointmentID, ev, appointmentPayload(e.Header), time.Time{})
	case appointment.MarkedNoShow:
		b.report(RoleAppointmentNoShow, e.SiteID, e.AppointmentID, ev, appointmentPayload(e.Header), time.Time{})
	case enrollment.Enrolled:
		b.enrolled(e.Header, ev)
	case enrollment.Promoted:
		b.enrolled(e.Header, ev)
	case enrollment.Waitlisted:
		b.report(RoleParticipantWaitlisted, e.SiteID, e.EnrollmentID, ev, enrollmentPayload(e.Header), time.Time{})
	case enrollment.Left:
		if e.WasWaitlisted {
			return nil
		}
		b.report(RoleParticipantLeft, e.SiteID, e.EnrollmentID, ev, enrollmentPayload(e.Header), time.Time{})
		b.cancel(RoleParticipantEnrolled, e.SiteID, e.EnrollmentID, ev)
		b.cancel(RoleClassStarting, e.SiteID, e.EnrollmentID, ev)
	case enrollment.ClassCanceled:
		if e.WasWaitlisted {
			return nil
		}
		p := enrollmentPayload(e.Header)
		p["reason"] = e.Reason
		b.report(RoleClassCanceled, e.SiteID, e.EnrollmentID, ev, p, time.Time{})
		b.cancel(RoleParticipantEnrolled, e.SiteID, e.EnrollmentID, ev)
		b.cancel(RoleClassStarting, e.SiteID, e.EnrollmentID, ev)
	case enrollment.ClassMoved:
		notice := enrollmentPayload(e.Header)
		notice["previousClassStartsAt"] = rfc3339(e.PreviousStart)
		b.report(RoleClassRescheduled, e.SiteID, e.EnrollmentID, ev, notice, time.Time{})
		b.cancel(RoleClassStarting, e.SiteID, e.EnrollmentID, ev)
		b.report(RoleClassStarting, e.SiteID, e.EnrollmentID, ev, enrollmentPayload(e.Header), e.Class.Start)
	case enrollment.Attended:
		b.report(RoleClassCompleted, e.SiteID, e.EnrollmentID, ev, enrollmentPayload(e.Header), time.Time{})
	}
	// Every other event (class events, WaitlistClosed) reaches Wix through
	// the enrollments, or not at all.
	return nil
}

func (b *callBuilder) enrolled(h enrollment.Header, ev domain.Event) {
	p := enrollmentPayload(h)
	b.report(RoleParticipantEnrolled, h.SiteID, h.EnrollmentID, ev, p, time.Time{})
	b.report(RoleClassStarting, h.SiteID, h.EnrollmentID, ev, p, h.Class.Start)
}

func (b *callBuilder) report(role Role, site, entity string, ev domain.Event, payload map[string]any, at time.Time) {
	t, ok := b.policy.catalog.Trigger(role)
	if !ok {
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		// payloads hold only strings; this cannot happen
		panic(fmt.Sprintf("lifecycle: encode payload: %v", err))
	}
	c := b.call(KindReport, t.Key, site, entity, ev)
	c.Payload = body
	if t.Timing == Scheduled {
		c.ScheduledAt = at.UTC()
	}
	b.calls = append(b.calls, c)
}

func (b *callBuilder) cancel(role Role, site, entity string, ev domain.Event) {
	t, ok := b.policy.catalog.Trigger(role)
	if !ok {
		return
	}
	b.calls = append(b.calls, b.call(KindCancel, t.Key, site, entity, ev))
}

func (b *callBuilder) call(kind CallKind, key, site, entity string, ev domain.Event) Call {
	return Call{
		ID: b.ids.NewID(), SiteID: site, OrderingKey: OrderingKey(site, entity),
		Kind: kind, TriggerKey: key, ExternalEntityID: entity, Cause: ev.EventName(),
		State: StatePending, CreatedAt: b.now, NextAttemptAt: b.now,
	}
}

// rfc3339 formats a payload date-time. Fractions of a second are kept, so
// that a scheduled report's date-time at Wix is its ScheduledAt exactly
// (TestRegressionSubSecondStartReachesWixExactly).
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func appointmentPayload(h appointment.Header) map[string]any {
	return map[string]any{
		"appointmentId": h.AppointmentID,
		"contactId":     h.ContactID,
		"title":         h.Title,
		"startsAt":      rfc3339(h.Start),
		"endsAt":        rfc3339(h.End),
	}
}

func enrollmentPayload(h enrollment.Header) map[string]any {
	return map[string]any{
		"enrollmentId":  h.EnrollmentID,
		"classId":       h.Class.ClassID,
		"participantId": h.ParticipantID,
		"classTitle":    h.Class.Title,
		"classStartsAt": rfc3339(h.Class.Start),
		"classEndsAt":   rfc3339(h.Class.End),
	}
}
