// Package appointment is the one-to-many aggregate: a contact books many
// appointments, and each appointment's own ID is the externalEntityId of its
// Wix events, so canceling one appointment's events never touches another's.
//
// Transitions are declared once in Transitions and enforced by a looplab/fsm
// machine held privately by each Appointment.
package appointment

import (
	"fmt"
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
func ParseState(name string) (State, error) {
	for _, s := range []State{StateScheduled, StateCanceled, StateCompleted, StateNoShow} {
		if s.name == name {
			return s, nil
		}
	}
	return State{}, domain.Invalid("state", fmt.Sprintf("unknown appointment state %q", name))
}

// Machine events, as named in TransitionNotAllowedError.
const (
	eventReschedule = "reschedule"
	eventCancel     = "cancel"
	eventComplete   = "complete"
	eventNoShow     = "mark_no_show"
)

// Transitions is the appointment's transition table; it also renders the
// state diagram in docs/.
var Transitions = []domain.Transition{
	{Event: eventReschedule, From: []string{StateScheduled.name}, To: StateScheduled.name},
	{Event: eventCancel, From: []string{StateScheduled.name}, To: StateCanceled.name},
	{Event: eventComplete, From: []string{StateScheduled.name}, To: StateCompleted.name},
	{Event: eventNoShow, From: []string{StateScheduled.name}, To: StateNoShow.name},
}

// Limits on free text, so that payloads stay small.
const (
	MaxTitleLen  = 200
	MaxReasonLen = 500
)

// Appointment is one booked appointment of one contact on one site.
type Appointment struct {
	id, siteID, contactID string
	title                 string
	start, end            time.Time
	cancelReason          string
	version               int64
	machine               *domain.Machine
	events                []domain.Event
}

// New is what Schedule needs to book an appointment. Times are kept in UTC
// at millisecond precision (see domain.Instant).
type New struct {
	ID        string // a UUID chosen by the caller (the externalEntityId at Wix)
	SiteID    string
	ContactID string // the Wix contact the automations address
	Title     string
	Start     time.Time
	End       time.Time
}

// Schedule books an appointment at time at. The start must lie after at and
// the end after the start. It records Scheduled.
func Schedule(n New, at time.Time) (*Appointment, error) {
	site, err := domain.ParseSiteID(n.SiteID)
	if err != nil {
		return nil, err
	}
	id, err := domain.ParseID("id", n.ID)
	if err != nil {
		return nil, err
	}
	contact, err := domain.ParseID("contactId", n.ContactID)
	if err != nil {
		return nil, err
	}
	if err := domain.CheckText("title", n.Title, MaxTitleLen); err != nil {
		return nil, err
	}
	start, end := domain.Instant(n.Start), domain.Instant(n.End)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return nil, err
	}
	a := &Appointment{
		id: id, siteID: site, contactID: contact, title: n.Title,
		start: start, end: end,
		machine: domain.NewMachine("appointment", StateScheduled.name, Transitions),
	}
	a.record(Scheduled{a.header(at)})
	return a, nil
}

// Reschedule moves a scheduled appointment to a new start and end, which
// must lie in the future. It records Rescheduled with the old and new times.
func (a *Appointment) Reschedule(start, end, at time.Time) error {
	if !a.machine.Can(eventReschedule) {
		return a.machine.Fire(a.id, eventReschedule)
	}
	start, end = domain.Instant(start), domain.Instant(end)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return err
	}
	oldStart, oldEnd := a.start, a.end
	if err := a.machine.Fire(a.id, eventReschedule); err != nil {
		return err
	}
	a.start, a.end = start, end
	a.record(Rescheduled{Header: a.header(at), PreviousStart: oldStart, PreviousEnd: oldEnd})
	return nil
}

// Cancel cancels a scheduled appointment for reason (which may be empty).
// It records Canceled.
func (a *Appointment) Cancel(reason string, at time.Time) error {
	if err := domain.CheckText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if err := a.machine.Fire(a.id, eventCancel); err != nil {
		return err
	}
	a.cancelReason = reason
	a.record(Canceled{Header: a.header(at), Reason: reason})
	return nil
}

// Complete marks a scheduled appointment as attended. It may only happen once
// the appointment has started. It records Completed.
func (a *Appointment) Complete(at time.Time) error {
	if err := a.checkStarted(eventComplete, at); err != nil {
		return err
	}
	if err := a.machine.Fire(a.id, eventComplete); err != nil {
		return err
	}
	a.record(Completed{a.header(at)})
	return nil
}

// MarkNoShow records that the contact did not come. It may only happen once
// the appointment has started. It records MarkedNoShow.
func (a *Appointment) MarkNoShow(at time.Time) error {
	if err := a.checkStarted(eventNoShow, at); err != nil {
		return err
	}
	if err := a.machine.Fire(a.id, eventNoShow); err != nil {
		return err
	}
	a.record(MarkedNoShow{a.header(at)})
	return nil
}

func (a *Appointment) checkStarted(event string, at time.Time) error {
	if !a.machine.Can(event) {
		return a.machine.Fire(a.id, event)
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

func (a *Appointment) record(e domain.Event) { a.events = append(a.events, e) }

// ID returns the appointment's ID, also its externalEntityId at Wix.
func (a *Appointment) ID() string { return a.id }

// SiteID returns the site (Wix app instance) the appointment belongs to.
func (a *Appointment) SiteID() string { return a.siteID }

// ContactID returns the contact who booked.
func (a *Appointment) ContactID() string { return a.contactID }

// Title returns the free-text title.
func (a *Appointment) Title() string { return a.title }

// Start returns the start time, in UTC.
func (a *Appointment) Start() time.Time { return a.start }

// End returns the end time, in UTC.
func (a *Appointment) End() time.Time { return a.end }

// CancelReason returns the reason given when the appointment was canceled.
func (a *Appointment) CancelReason() string { return a.cancelReason }

// State returns the current state.
func (a *Appointment) State() State { s, _ := ParseState(a.machine.State()); return s }

// Version returns the stored version the aggregate was loaded at (0 when new).
func (a *Appointment) Version() int64 { return a.version }

// SetVersion is for store adapters only: it records the version just written,
// so that the caller sees what it will read back.
func (a *Appointment) SetVersion(v int64) { a.version = v }

// Events returns the events recorded since the aggregate was created or
// loaded, oldest first.
func (a *Appointment) Events() []domain.Event { return append([]domain.Event(nil), a.events...) }

// Snapshot is the stored form of an appointment, for store adapters.
type Snapshot struct {
	ID, SiteID, ContactID string
	Title                 string
	Start, End            time.Time
	State                 string
	CancelReason          string
	Version               int64
}

// Snapshot returns the aggregate's stored form.
func (a *Appointment) Snapshot() Snapshot {
	return Snapshot{
		ID: a.id, SiteID: a.siteID, ContactID: a.contactID, Title: a.title,
		Start: a.start, End: a.end, State: a.machine.State(),
		CancelReason: a.cancelReason, Version: a.version,
	}
}

// Restore rebuilds an appointment from its stored form. It is the door for
// store adapters only, never a constructor: it validates the snapshot but
// records no event and applies no business rule about time.
func Restore(s Snapshot) (*Appointment, error) {
	state, err := ParseState(s.State)
	if err != nil {
		return nil, err
	}
	if _, err := domain.ParseID("id", s.ID); err != nil {
		return nil, err
	}
	if _, err := domain.ParseSiteID(s.SiteID); err != nil {
		return nil, err
	}
	return &Appointment{
		id: s.ID, siteID: s.SiteID, contactID: s.ContactID, title: s.Title,
		start: s.Start.UTC(), end: s.End.UTC(), cancelReason: s.CancelReason, version: s.Version,
		machine: domain.NewMachine("appointment", state.name, Transitions),
	}, nil
}
