package application

import (
	"encoding/json"
	"reflect"
	"slices"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// Live is one event that an aggregate's current state calls for at Wix: the
// desired state. The policy reports and cancels what changes in it when a
// command runs, reconcile makes Wix match it, and the Refresh Payload answer
// is read from it. It is a pure function of the aggregate, the catalog and
// the site's time zone (DesiredAppointment, DesiredEnrollment,
// DesiredCourseEnrollment; DesiredFor finds it by externalEntityId): one
// rule for all three.
type Live struct {
	Role       Role
	TriggerKey string
	Timing     Timing
	SiteID     string
	EntityID   string // the externalEntityId
	Payload    json.RawMessage
	// ScheduledAt is when a scheduled trigger's event takes place; zero for
	// a real-time one.
	ScheduledAt time.Time
	// Since is when the state that calls for the event began: for a
	// real-time event, when it happened. Zero when the aggregate was stored
	// before lifecycle kept that time.
	Since time.Time
	// Occurrence tells the real-time events of one trigger apart beyond
	// their time: two reschedule notices are two events even within one
	// millisecond.
	Occurrence string
}

// Same reports whether l and o are the same event at Wix, so that nothing
// needs to be sent: a scheduled event at the same time with the same
// payload, or a real-time event of the same occurrence (its payload may
// have moved on, as an appointment's start does, but it happened once).
func (l Live) Same(o Live) bool {
	if l.Role != o.Role || l.TriggerKey != o.TriggerKey {
		return false
	}
	if l.Timing == Scheduled {
		return l.ScheduledAt.Equal(o.ScheduledAt) && sameJSON(l.Payload, o.Payload)
	}
	return l.Since.Equal(o.Since) && l.Occurrence == o.Occurrence
}

// sameJSON reports whether two JSON objects hold the same members.
func sameJSON(a, b json.RawMessage) bool {
	if string(a) == string(b) {
		return true
	}
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// lifeRule is when one trigger's events are live for a subject: only in
// the states listed, and then when since says so (ok), since that time.
// occurrence, when set, tells one real-time event from the next of the same
// trigger beyond its time.
type lifeRule[S comparable, T any] struct {
	role       Role
	states     []S
	since      func(T) (time.Time, bool)
	occurrence func(T) string
}

// appointmentRules are the appointment triggers' lives. An appointment's
// booking and reminder stay live once it took place (automations after the
// visit run); a cancel or a no-show ends them.
var appointmentRules = []lifeRule[appointment.State, *appointment.Appointment]{
	{RoleAppointmentScheduled, []appointment.State{appointment.StateScheduled, appointment.StateCompleted},
		func(a *appointment.Appointment) (time.Time, bool) { return a.BookedAt(), true }, nil},
	{RoleAppointmentStarting, []appointment.State{appointment.StateScheduled, appointment.StateCompleted},
		func(a *appointment.Appointment) (time.Time, bool) {
			return latest(a.BookedAt(), a.RescheduledAt()), true
		}, nil},
	{RoleAppointmentCanceled, []appointment.State{appointment.StateCanceled},
		func(a *appointment.Appointment) (time.Time, bool) { return a.ChangedAt(), true }, nil},
	{RoleAppointmentRescheduled, []appointment.State{appointment.StateScheduled, appointment.StateCompleted},
		func(a *appointment.Appointment) (time.Time, bool) {
			return a.RescheduledAt(), !a.RescheduledAt().IsZero()
		},
		func(a *appointment.Appointment) string { return moved(a.PreviousStart(), a.Start()) }},
	{RoleAppointmentCompleted, []appointment.State{appointment.StateCompleted},
		func(a *appointment.Appointment) (time.Time, bool) { return a.ChangedAt(), true }, nil},
	{RoleAppointmentNoShow, []appointment.State{appointment.StateNoShow},
		func(a *appointment.Appointment) (time.Time, bool) { return a.ChangedAt(), true }, nil},
}

// enrolled is an enrollment with its class, the subject of the class
// triggers.
type enrolled struct {
	e *enrollment.Enrollment
	c *class.Class
}

// seated reports whether the enrollment held a seat: it got one, or it
// ended before lifecycle kept the time of seating (counted as seated, so
// that nothing it may have at Wix is canceled by mistake).
func (x enrolled) seated() bool {
	return !x.e.SeatedAt().IsZero() || (!x.e.State().Active() && x.e.EndedAt().IsZero())
}

// enrollmentRules are the class triggers' lives, per enrollment. A seat's
// events end when the participant leaves or the class is canceled; a
// waitlist place's when it gets a seat or ends.
var enrollmentRules = []lifeRule[enrollment.State, enrolled]{
	{RoleParticipantEnrolled, []enrollment.State{enrollment.StateEnrolled, enrollment.StateAttended},
		func(x enrolled) (time.Time, bool) { return x.e.SeatedAt(), true }, nil},
	{RoleClassStarting, []enrollment.State{enrollment.StateEnrolled, enrollment.StateAttended},
		func(x enrolled) (time.Time, bool) { return latest(x.e.SeatedAt(), x.c.RescheduledAt()), true }, nil},
	{RoleParticipantLeft, []enrollment.State{enrollment.StateLeft},
		func(x enrolled) (time.Time, bool) { return x.e.EndedAt(), x.seated() }, nil},
	{RoleClassCanceled, []enrollment.State{enrollment.StateClassCanceled},
		func(x enrolled) (time.Time, bool) { return x.e.EndedAt(), x.seated() }, nil},
	{RoleParticipantWaitlisted, []enrollment.State{enrollment.StateWaitlisted},
		func(x enrolled) (time.Time, bool) { return x.e.EnrolledAt(), true }, nil},
	{RoleClassRescheduled, []enrollment.State{enrollment.StateEnrolled, enrollment.StateAttended},
		func(x enrolled) (time.Time, bool) { return x.e.ClassMovedAt(), !x.e.ClassMovedAt().IsZero() },
		func(x enrolled) string { return moved(x.c.PreviousStart(), x.c.Start()) }},
	{RoleClassCompleted, []enrollment.State{enrollment.StateAttended},
		func(x enrolled) (time.Time, bool) { return x.e.EndedAt(), true }, nil},
}

// moved names one reschedule by where it moved the start from and to: two
// reschedules in one millisecond are two notices unless both left the start
// where it was (the second then changes nothing).
func moved(from, to time.Time) string {
	return domain.FormatInstant(from) + ">" + domain.FormatInstant(to)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// DesiredAppointment returns the events a's state calls for at Wix under
// catalog c, their payloads showing local times in zone z, in catalog
// order. A disabled trigger calls for none.
func DesiredAppointment(c *Catalog, z domain.TimeZone, a *appointment.Appointment) []Live {
	f := appointmentFacts(z, a)
	return desired(c, appointmentRules, a.State(), a, a.SiteID().String(), a.ID().String(), f, a.Start())
}

// DesiredEnrollment returns the events e's state in class cls calls for at
// Wix under catalog c in zone z, in catalog order: each keyed by the
// enrollment ID.
func DesiredEnrollment(c *Catalog, z domain.TimeZone, e *enrollment.Enrollment, cls *class.Class) []Live {
	f := enrollmentFacts(z, e, cls)
	return desired(c, enrollmentRules, e.State(), enrolled{e, cls}, e.SiteID().String(), e.ID().String(), f, cls.Start())
}

func desired[S comparable, T any](c *Catalog, rules []lifeRule[S, T], state S, subject T, site, entity string,
	f facts, start time.Time) []Live {
	var out []Live
	for _, t := range c.Enabled() {
		for _, r := range rules {
			if r.role != t.Role || !slices.Contains(r.states, state) {
				continue
			}
			since, ok := r.since(subject)
			if !ok {
				continue
			}
			l := Live{Role: t.Role, TriggerKey: t.Key, Timing: t.Timing, SiteID: site, EntityID: entity,
				Payload: t.payload(f), Since: since}
			if r.occurrence != nil {
				l.Occurrence = r.occurrence(subject)
			}
			if t.Timing == Scheduled {
				l.ScheduledAt = start
			}
			out = append(out, l)
		}
	}
	return out
}
