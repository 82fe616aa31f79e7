package application

import (
	"time"
)

// Policy turns what a command changed into the Wix calls that keep site
// automations true to it. It compares, for every aggregate the command
// touched, the events its state called for at Wix before (the desired
// state, DesiredAppointment and DesiredEnrollment) with those it calls for
// after, and queues the difference in the order DESIGN.md section 4 fixes
// (the new report first, then the cancels; a cancel before the report that
// replaces it):
//
//  1. real-time events now called for: report; one that changed (a second
//     reschedule notice): cancel the old one, report the new one;
//  2. events no longer called for: cancel;
//  3. scheduled events now called for: report; one whose time or payload
//     changed: cancel, then report at the new time.
//
// For the default catalog that gives the seed's tables:
//
//	appointment scheduled    report appointment_scheduled; report appointment_starting at start
//	appointment canceled     report appointment_canceled; cancel appointment_scheduled; cancel appointment_starting
//	appointment rescheduled  (report appointment_rescheduled); cancel appointment_starting; report appointment_starting at the new start
//	appointment completed    (report appointment_completed)
//	appointment no-show      (report appointment_no_show); cancel appointment_scheduled; cancel appointment_starting
//	participant enrolled     report participant_enrolled_in_class; report class_starting at class start
//	  (or promoted from the waitlist: the same, and (cancel participant_waitlisted))
//	participant waitlisted   (report participant_waitlisted)
//	participant left         report participant_left_class; cancel participant_enrolled_in_class; cancel class_starting
//	class canceled           per seated enrollment: report class_canceled; cancel participant_enrolled_in_class; cancel class_starting
//	class rescheduled        per seated enrollment: (report class_rescheduled); cancel class_starting; report class_starting at the new start
//	class completed          per attendee: (report class_completed)
//	participant enrolled in a course  report participant_enrolled_in_course; per scheduled session: report course_session_starting at its start
//	session added            per enrolled participant: report course_session_starting at its start
//	session rescheduled      per enrolled participant: (report course_session_rescheduled); cancel course_session_starting; report it at the new start
//	session canceled         per enrolled participant: report course_session_canceled; cancel course_session_starting
//	participant left a course  report participant_left_course; cancel participant_enrolled_in_course; per session not started: cancel course_session_starting
//	course canceled          per enrolled participant: report course_canceled; cancel participant_enrolled_in_course; per session not started: cancel course_session_starting
//	course completed         per participant: (report course_completed)
//	series occurrence        the appointment rows, per occurrence: "this", "this and following" and "all" cancel the occurrences they name
//
// Parenthesized triggers are optional and off in the default catalog; an
// optional event that stops being true is canceled too (a reschedule notice
// when the appointment is canceled, a waitlist place when it ends). A
// disabled trigger gets neither reports nor cancels. The externalEntityId
// is the appointment ID for appointments (a series' occurrences included),
// the enrollment ID for classes and for a course as a whole, and for a
// course session the seat's ID (courseenrollment.SessionEntityID).
type Policy struct {
	catalog *Catalog
}

// NewPolicy returns the policy for a catalog.
func NewPolicy(c *Catalog) *Policy { return &Policy{catalog: c} }

// Catalog returns the catalog the policy follows.
func (p *Policy) Catalog() *Catalog { return p.catalog }

// Change is what one command did to one aggregate, as the desired state
// sees it: the events its state called for at Wix before and after, and
// what to name as the calls' cause.
type Change struct {
	Before, After []Live
	Cause         string // e.g. "appointment:canceled"
}

// Calls returns the calls for changes, in order. Each call gets a new ID from
// ids and is stamped created at now.
func (p *Policy) Calls(changes []Change, ids IDs, now time.Time) []Call {
	b := callBuilder{ids: ids, now: now.UTC()}
	for _, ch := range changes {
		b.change(ch)
	}
	return b.calls
}

type callBuilder struct {
	ids   IDs
	now   time.Time
	calls []Call
}

// change adds the calls of one aggregate's change, in the three steps of
// the Policy's doc.
func (b *callBuilder) change(ch Change) {
	before := map[Role]Live{}
	for _, l := range ch.Before {
		before[l.Role] = l
	}
	now := map[Role]bool{}
	for _, l := range ch.After {
		now[l.Role] = true
	}
	renew := func(timing Timing) {
		for _, l := range ch.After {
			if l.Timing != timing {
				continue
			}
			old, was := before[l.Role]
			switch {
			case !was:
				b.report(l, ch.Cause)
			case !old.Same(l):
				b.cancel(old, ch.Cause)
				b.report(l, ch.Cause)
			}
		}
	}
	renew(RealTime)
	for _, l := range ch.Before {
		if !now[l.Role] {
			b.cancel(l, ch.Cause)
		}
	}
	renew(Scheduled)
}

func (b *callBuilder) report(l Live, cause string) {
	c := b.call(KindReport, l, cause)
	c.Payload = l.Payload
	c.ScheduledAt = l.ScheduledAt
	b.calls = append(b.calls, c)
}

func (b *callBuilder) cancel(l Live, cause string) {
	b.calls = append(b.calls, b.call(KindCancel, l, cause))
}

func (b *callBuilder) call(kind CallKind, l Live, cause string) Call {
	return Call{
		ID: b.ids.NewID(), SiteID: l.SiteID, OrderingKey: OrderingKey(l.SiteID, l.EntityID),
		Kind: kind, TriggerKey: l.TriggerKey, ExternalEntityID: l.EntityID, Cause: cause,
		State: StatePending, CreatedAt: b.now, NextAttemptAt: b.now,
	}
}
