// Package appointment is the one-to-many aggregate: a contact books many
// appointments, and each appointment's own ID is the externalEntityId of its
// Wix events, so canceling one appointment's events never touches another's.
//
// Transitions are declared once in the package's table (a copy is
// Transitions) and enforced by a looplab/fsm machine held privately by each
// Appointment.
package appointment

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// State is the lifecycle state of an appointment. It is a closed set: the
// zero value is not a state, and ParseState is the only way in from text.
type State struct{ name string }

// The states of an appointment.
var (
	StateScheduled = State{"scheduled"}
	StateCanceled  = State{"canceled"}
	StateCompleted = State{"completed"}
	StateNoShow    = State{"no_show"}
)

// String returns the state's stored and wire name.
func (s State) String() string { return s.name }

// ParseState reads a state from its name.
func ParseState(name string) (State, error) { return table.Parse(name) }

// Machine events, as named in TransitionNotAllowedError.
const (
	eventReschedule = "reschedule"
	eventRename     = "rename"
	eventCancel     = "cancel"
	eventComplete   = "complete"
	eventNoShow     = "mark_no_show"
)

// table is the appointment's states and transitions; it also renders the
// state diagram in docs/.
var table = domain.MustTable("appointment",
	[]State{StateScheduled, StateCanceled, StateCompleted, StateNoShow},
	[]domain.Transition[State]{
		{Event: eventReschedule, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventRename, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventCancel, From: []State{StateScheduled}, To: StateCanceled},
		{Event: eventComplete, From: []State{StateScheduled}, To: StateCompleted},
		{Event: eventNoShow, From: []State{StateScheduled}, To: StateNoShow},
	})

// Transitions returns a copy of the appointment's transition table.
func Transitions() []domain.Transition[State] { return table.Transitions() }

// Diagram returns the transition table as a Mermaid state diagram.
func Diagram() string { return table.Mermaid(StateScheduled) }

// Limits on free text, so that payloads stay small.
const (
	MaxTitleLen  = 200
	MaxReasonLen = 500
)

// root is the embedded domain.Root: State, Version, SetVersion and Events.
type root = domain.Root[State]

// Appointment is one booked appointment of one contact on one site.
type Appointment struct {
	root
	machine             *domain.Machine[State]
	id, contactID       domain.ID
	siteID              domain.SiteID
	title               string
	start, end          time.Time
	cancelReason        string
	bookedAt, changedAt time.Time
	previousStart       time.Time
	rescheduledAt       time.Time
}

// New is what Schedule needs to book an appointment. Times are kept in UTC
// at millisecond precision (see domain.Instant).
type New struct {
	ID        domain.ID // chosen by the caller (the externalEntityId at Wix)
	SiteID    domain.SiteID
	ContactID domain.ID // the Wix contact the automations address
	Title     string
	Start     time.Time
	End       time.Time
}

// Schedule books an appointment at time at. The start must lie after at and
// the end after the start. It records Scheduled.
func Schedule(n New, at time.Time) (*Appointment, error) {
	if err := domain.First(n.SiteID.Require(), n.ID.Require("id"), n.ContactID.Require("contactId"),
		domain.CheckText("title", n.Title, MaxTitleLen)); err != nil {
		return nil, err
	}
	start, end := domain.Instant(n.Start), domain.Instant(n.End)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return nil, err
	}
	a := &Appointment{
		id: n.ID, siteID: n.SiteID, contactID: n.ContactID, title: n.Title,
		start: start, end: end, bookedAt: domain.Instant(at), changedAt: domain.Instant(at),
	}
	a.drive(table.Start(n.ID, StateScheduled), 0)
	a.machine.Record(Scheduled{a.header(at)})
	return a, nil
}

// Reschedule moves a scheduled appointment to a new start and end, which
// must lie in the future. It records Rescheduled with the old and new times.
func (a *Appointment) Reschedule(start, end, at time.Time) error {
	if err := a.machine.Check(eventReschedule); err != nil {
		return err
	}
	start, end = domain.Instant(start), domain.Instant(end)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return err
	}
	oldStart, oldEnd := a.start, a.end
	if err := a.machine.Fire(eventReschedule); err != nil {
		return err
	}
	a.start, a.end = start, end
	a.previousStart, a.rescheduledAt, a.changedAt = oldStart, domain.Instant(at), domain.Instant(at)
	a.machine.Record(Rescheduled{Header: a.header(at), PreviousStart: oldStart, PreviousEnd: oldEnd})
	return nil
}

// Rename gives a scheduled appointment a new title, which its reminders and
// follow-ups then show. It records Renamed; a title equal to the current
// one changes nothing and records nothing.
func (a *Appointment) Rename(title string, at time.Time) error {
	if err := a.machine.Check(eventRename); err != nil {
		return err
	}
	if err := domain.CheckText("title", title, MaxTitleLen); err != nil {
		return err
	}
	if title == a.title {
		return nil
	}
	if err := a.machine.Fire(eventRename); err != nil {
		return err
	}
	previous := a.title
	a.title, a.changedAt = title, domain.Instant(at)
	a.machine.Record(Renamed{Header: a.header(at), PreviousTitle: previous})
	return nil
}

// Cancel cancels a scheduled appointment for reason (which may be empty).
// It records Canceled.
func (a *Appointment) Cancel(reason string, at time.Time) error {
	if err := domain.CheckText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if err := a.machine.Fire(eventCancel); err != nil {
		return err
	}
	a.cancelReason, a.changedAt = reason, domain.Instant(at)
	a.machine.Record(Canceled{Header: a.header(at), Reason: reason})
	return nil
}

// Complete marks a scheduled appointment as attended. It may only happen once
// the appointment has started. It records Completed.
func (a *Appointment) Complete(at time.Time) error {
	if err := a.checkStarted(eventComplete, at); err != nil {
		return err
	}
	if err := a.machine.Fire(eventComplete); err != nil {
		return err
	}
	a.changedAt = domain.Instant(at)
	a.machine.Record(Completed{a.header(at)})
	return nil
}

// MarkNoShow records that the contact did not come. It may only happen once
// the appointment has started. It records MarkedNoShow.
func (a *Appointment) MarkNoShow(at time.Time) error {
	if err := a.checkStarted(eventNoShow, at); err != nil {
		return err
	}
	if err := a.machine.Fire(eventNoShow); err != nil {
		return err
	}
	a.changedAt = domain.Instant(at)
	a.machine.Record(MarkedNoShow{a.header(at)})
	return nil
}

func (a *Appointment) checkStarted(event string, at time.Time) error {
	if err := a.machine.Check(event); err != nil {
		return err
	}
	if at.Before(a.start) {
		return domain.Invalid("at", "the appointment has not started yet")
	}
	return nil
}

func (a *Appointment) header(at time.Time) Header {
	return Header{
		AppointmentID: a.id, SiteID: a.siteID, ContactID: a.contactID,
		Title: a.title, Start: a.start, End: a.end, At: at.UTC(),
	}
}

// drive gives the appointment its machine and the root that reads it.
func (a *Appointment) drive(m *domain.Machine[State], version int64) {
	a.machine, a.root = m, domain.NewRoot(m, version)
}

// ID returns the appointment's ID, also its externalEntityId at Wix.
func (a *Appointment) ID() domain.ID { return a.id }

// SiteID returns the site (Wix app instance) the appointment belongs to.
func (a *Appointment) SiteID() domain.SiteID { return a.siteID }

// ContactID returns the contact who booked.
func (a *Appointment) ContactID() domain.ID { return a.contactID }

// Title returns the free-text title.
func (a *Appointment) Title() string { return a.title }

// Start returns the start time, in UTC.
func (a *Appointment) Start() time.Time { return a.start }

// End returns the end time, in UTC.
func (a *Appointment) End() time.Time { return a.end }

// CancelReason returns the reason given when the appointment was canceled.
func (a *Appointment) CancelReason() string { return a.cancelReason }

// BookedAt returns when the appointment was booked (the time Schedule ran);
// zero for an appointment stored before lifecycle kept it.
func (a *Appointment) BookedAt() time.Time { return a.bookedAt }

// ChangedAt returns the time of the last change: schedule, reschedule,
// cancel, complete or no-show; zero for an appointment stored before
// lifecycle kept it.
func (a *Appointment) ChangedAt() time.Time { return a.changedAt }

// PreviousStart returns the start before the last reschedule; zero if the
// appointment was never rescheduled.
func (a *Appointment) PreviousStart() time.Time { return a.previousStart }

// RescheduledAt returns when the appointment was last rescheduled; zero if
// never.
func (a *Appointment) RescheduledAt() time.Time { return a.rescheduledAt }

// Snapshot is the stored form of an appointment, for store adapters. Its
// times are UTC at millisecond precision; a zero time is unset.
type Snapshot struct {
	ID, SiteID, ContactID string
	Title                 string
	Start, End            time.Time
	State                 string
	CancelReason          string
	BookedAt, ChangedAt   time.Time
	PreviousStart         time.Time
	RescheduledAt         time.Time
	Version               int64
}

// Snapshot returns the aggregate's stored form.
func (a *Appointment) Snapshot() Snapshot {
	return Snapshot{
		ID: a.id.String(), SiteID: a.siteID.String(), ContactID: a.contactID.String(), Title: a.title,
		Start: a.start, End: a.end, State: a.State().String(), CancelReason: a.cancelReason,
		BookedAt: a.bookedAt, ChangedAt: a.changedAt, PreviousStart: a.previousStart, RescheduledAt: a.rescheduledAt,
		Version: a.Version(),
	}
}

// Restore rebuilds an appointment from its stored form. It is the door for
// store adapters only, never a constructor: it validates the snapshot but
// records no event and applies no business rule about time. Zero times are
// accepted: rows stored before lifecycle kept them have none.
func Restore(s Snapshot) (*Appointment, error) {
	m, id, site, err := table.Restore(s.ID, s.SiteID, s.State)
	if err != nil {
		return nil, err
	}
	contact, err := domain.ParseID("contactId", s.ContactID)
	if err != nil {
		return nil, err
	}
	a := &Appointment{
		id: id, siteID: site, contactID: contact, title: s.Title,
		start: s.Start.UTC(), end: s.End.UTC(), cancelReason: s.CancelReason,
		bookedAt: s.BookedAt.UTC(), changedAt: s.ChangedAt.UTC(),
		previousStart: s.PreviousStart.UTC(), rescheduledAt: s.RescheduledAt.UTC(),
	}
	a.drive(m, s.Version)
	return a, nil
}
