// Package class is the session that many participants attend. A class owns
// its seats: every enrollment takes a seat (or a waitlist place) through the
// class, so the class's version is the point where concurrent enrollments
// meet and capacity can never be exceeded.
//
// A class has no Wix events of its own. What participants are told about it
// travels on their enrollments (see package enrollment), because many
// participants share one class and canceling by the class ID would cancel
// everyone's events at once.
package class

import (
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// State is the lifecycle state of a class. It is a closed set.
type State struct{ name string }

// The states of a class.
var (
	StateScheduled = State{"scheduled"}
	StateCanceled  = State{"canceled"}
	StateCompleted = State{"completed"}
)

// String returns the state's stored and wire name.
func (s State) String() string { return s.name }

// ParseState reads a state from its name.
func ParseState(name string) (State, error) { return table.Parse(name) }

const (
	eventReschedule = "reschedule"
	eventCancel     = "cancel"
	eventComplete   = "complete"
	eventAdmit      = "admit"
	eventRelease    = "release"
)

// table is the class's states and transitions; it also renders the state
// diagram in docs/. Admitting and releasing participants keeps the state.
var table = domain.MustTable("class",
	[]State{StateScheduled, StateCanceled, StateCompleted},
	[]domain.Transition[State]{
		{Event: eventReschedule, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventAdmit, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventRelease, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventCancel, From: []State{StateScheduled}, To: StateCanceled},
		{Event: eventComplete, From: []State{StateScheduled}, To: StateCompleted},
	})

// Transitions returns a copy of the class's transition table.
func Transitions() []domain.Transition[State] { return table.Transitions() }

// Diagram returns the transition table as a Mermaid state diagram.
func Diagram() string { return table.Mermaid(StateScheduled) }

// Limits on input.
const (
	MaxTitleLen  = 200
	MaxReasonLen = 500
	MaxCapacity  = 100000
)

// root is the embedded domain.Root: State, Version, SetVersion and Events.
type root = domain.Root[State]

// Class is one session with a capacity, on one site.
type Class struct {
	root
	machine       *domain.Machine[State]
	id            domain.ID
	siteID        domain.SiteID
	title         string
	start, end    time.Time
	capacity      int
	waitlist      bool
	seated        int   // enrolled participants
	waiting       int   // waitlisted participants
	admissions    int64 // admissions ever made; orders the waitlist
	cancelReason  string
	scheduledAt   time.Time
	changedAt     time.Time
	previousStart time.Time
	rescheduledAt time.Time
}

// New is what Schedule needs to create a class.
type New struct {
	ID       domain.ID
	SiteID   domain.SiteID
	Title    string
	Start    time.Time
	End      time.Time
	Capacity int  // seats, at least 1
	Waitlist bool // when full, put participants on a waitlist instead of refusing
}

// Schedule creates a class at time at. It records Scheduled.
func Schedule(n New, at time.Time) (*Class, error) {
	if err := domain.First(n.SiteID.Require(), n.ID.Require("id"),
		domain.CheckText("title", n.Title, MaxTitleLen)); err != nil {
		return nil, err
	}
	start, end := domain.Instant(n.Start), domain.Instant(n.End)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return nil, err
	}
	if n.Capacity < 1 {
		return nil, domain.Invalid("capacity", "must be at least 1")
	}
	if n.Capacity > MaxCapacity {
		return nil, domain.Invalid("capacity", fmt.Sprintf("must be at most %d", MaxCapacity))
	}
	c := &Class{
		id: n.ID, siteID: n.SiteID, title: n.Title, start: start, end: end,
		capacity: n.Capacity, waitlist: n.Waitlist,
		scheduledAt: domain.Instant(at), changedAt: domain.Instant(at),
	}
	c.drive(table.Start(n.ID, StateScheduled), 0)
	c.machine.Record(Scheduled{c.header(at)})
	return c, nil
}

// Reschedule moves a scheduled class to a new start and end in the future.
// It records Rescheduled; the enrollments learn of it through
// enrollment.Enrollment.ClassRescheduled.
func (c *Class) Reschedule(start, end, at time.Time) error {
	if err := c.machine.Check(eventReschedule); err != nil {
		return err
	}
	start, end = domain.Instant(start), domain.Instant(end)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return err
	}
	prev := c.start
	if err := c.machine.Fire(eventReschedule); err != nil {
		return err
	}
	c.start, c.end = start, end
	c.previousStart, c.rescheduledAt, c.changedAt = prev, domain.Instant(at), domain.Instant(at)
	c.machine.Record(Rescheduled{Header: c.header(at), PreviousStart: prev})
	return nil
}

// Cancel cancels a scheduled class. It records Canceled; every active
// enrollment must then be told through enrollment.Enrollment.ClassCanceled.
func (c *Class) Cancel(reason string, at time.Time) error {
	if err := domain.CheckText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if err := c.machine.Fire(eventCancel); err != nil {
		return err
	}
	c.cancelReason, c.changedAt = reason, domain.Instant(at)
	// Every active enrollment ends with the class: nobody holds a seat or
	// waits any more.
	c.seated, c.waiting = 0, 0
	c.machine.Record(Canceled{Header: c.header(at), Reason: reason})
	return nil
}

// Complete marks a class that has started as held. It records Completed.
func (c *Class) Complete(at time.Time) error {
	if err := c.machine.Check(eventComplete); err != nil {
		return err
	}
	if at.Before(c.start) {
		return domain.Invalid("at", "the class has not started yet")
	}
	if err := c.machine.Fire(eventComplete); err != nil {
		return err
	}
	c.changedAt = domain.Instant(at)
	c.waiting = 0 // the waitlist closes; the seated attended
	c.machine.Record(Completed{c.header(at)})
	return nil
}

// Admission is the outcome of Admit: a seat, or a place on the waitlist.
type Admission struct {
	Seated   bool
	Position int64 // order of admission; the lowest waitlisted position is promoted first
}

// Admit takes a seat for a new participant, or a waitlist place when the
// class is full and has a waitlist. It refuses with a *domain.ClassNotOpenError
// when the class is canceled, completed or started, and with a
// *domain.ClassFullError when it is full without waitlist.
func (c *Class) Admit(at time.Time) (Admission, error) {
	if !c.machine.Can(eventAdmit) {
		return Admission{}, &domain.ClassNotOpenError{ClassID: c.id.String(), State: c.State().String()}
	}
	if !at.Before(c.start) {
		return Admission{}, &domain.ClassNotOpenError{ClassID: c.id.String(), State: c.State().String(), Started: true}
	}
	seated := c.seated < c.capacity
	if !seated && !c.waitlist {
		return Admission{}, &domain.ClassFullError{ClassID: c.id.String(), Capacity: c.capacity}
	}
	if err := c.machine.Fire(eventAdmit); err != nil {
		return Admission{}, err
	}
	c.admissions++
	if seated {
		c.seated++
	} else {
		c.waiting++
	}
	return Admission{Seated: seated, Position: c.admissions}, nil
}

// Release gives back a seat (seated) or a waitlist place (!seated) when a
// participant leaves. It reports whether a seat became free for the waitlist.
func (c *Class) Release(seated bool) (seatFreed bool, err error) {
	if err := c.machine.Fire(eventRelease); err != nil {
		return false, err
	}
	if seated {
		if c.seated > 0 {
			c.seated--
		}
		return c.waiting > 0 && c.seated < c.capacity, nil
	}
	if c.waiting > 0 {
		c.waiting--
	}
	return false, nil
}

// Promote moves one waitlisted participant to a free seat. It is called by
// enrollment.Enrollment.Promote.
func (c *Class) Promote() error {
	if !c.machine.Can(eventAdmit) {
		return &domain.ClassNotOpenError{ClassID: c.id.String(), State: c.State().String()}
	}
	if c.waiting == 0 || c.seated >= c.capacity {
		return domain.Invalid("waitlist", "no waitlisted participant or no free seat")
	}
	c.waiting--
	c.seated++
	return nil
}

// IsOpen reports whether the class takes enrollments at time at.
func (c *Class) IsOpen(at time.Time) bool {
	return c.machine.Can(eventAdmit) && at.Before(c.start)
}

func (c *Class) header(at time.Time) Header {
	return Header{ClassID: c.id, SiteID: c.siteID, Title: c.title, Start: c.start, End: c.end, At: at.UTC()}
}

// drive gives the class its machine and the root that reads it.
func (c *Class) drive(m *domain.Machine[State], version int64) {
	c.machine, c.root = m, domain.NewRoot(m, version)
}

// ID returns the class ID.
func (c *Class) ID() domain.ID { return c.id }

// SiteID returns the site the class belongs to.
func (c *Class) SiteID() domain.SiteID { return c.siteID }

// Title returns the title.
func (c *Class) Title() string { return c.title }

// Start returns the start, in UTC.
func (c *Class) Start() time.Time { return c.start }

// End returns the end, in UTC.
func (c *Class) End() time.Time { return c.end }

// Capacity returns the number of seats.
func (c *Class) Capacity() int { return c.capacity }

// Waitlist reports whether a full class puts participants on a waitlist.
func (c *Class) Waitlist() bool { return c.waitlist }

// Enrolled returns the number of seated participants.
func (c *Class) Enrolled() int { return c.seated }

// Waitlisted returns the number of participants on the waitlist.
func (c *Class) Waitlisted() int { return c.waiting }

// CancelReason returns the reason given when the class was canceled.
func (c *Class) CancelReason() string { return c.cancelReason }

// ScheduledAt returns when the class was created (the time Schedule ran);
// zero for a class stored before lifecycle kept it.
func (c *Class) ScheduledAt() time.Time { return c.scheduledAt }

// ChangedAt returns the time of the last change of the class itself:
// schedule, reschedule, cancel or complete (seats taken and given back are
// not changes of the class); zero for a class stored before lifecycle kept
// it.
func (c *Class) ChangedAt() time.Time { return c.changedAt }

// PreviousStart returns the start before the last reschedule; zero if the
// class was never rescheduled.
func (c *Class) PreviousStart() time.Time { return c.previousStart }

// RescheduledAt returns when the class was last rescheduled; zero if never.
func (c *Class) RescheduledAt() time.Time { return c.rescheduledAt }

// Info is the view of a class that enrollment events carry.
func (c *Class) Info() Info {
	return Info{ClassID: c.id, Title: c.title, Start: c.start, End: c.end}
}

// Info is what a participant's events say about their class.
type Info struct {
	ClassID    domain.ID
	Title      string
	Start, End time.Time
}

// Snapshot is the stored form of a class, for store adapters. Its times are
// UTC at millisecond precision; a zero time is unset.
type Snapshot struct {
	ID, SiteID    string
	Title         string
	Start, End    time.Time
	Capacity      int
	Waitlist      bool
	Enrolled      int
	Waitlisted    int
	Admissions    int64
	State         string
	CancelReason  string
	ScheduledAt   time.Time
	ChangedAt     time.Time
	PreviousStart time.Time
	RescheduledAt time.Time
	Version       int64
}

// Snapshot returns the class's stored form.
func (c *Class) Snapshot() Snapshot {
	return Snapshot{
		ID: c.id.String(), SiteID: c.siteID.String(), Title: c.title, Start: c.start, End: c.end,
		Capacity: c.capacity, Waitlist: c.waitlist, Enrolled: c.seated, Waitlisted: c.waiting,
		Admissions: c.admissions, State: c.State().String(), CancelReason: c.cancelReason,
		ScheduledAt: c.scheduledAt, ChangedAt: c.changedAt, PreviousStart: c.previousStart,
		RescheduledAt: c.rescheduledAt, Version: c.Version(),
	}
}

// Restore rebuilds a class from its stored form. It is the door for store
// adapters only, never a constructor. Zero times are accepted: rows stored
// before lifecycle kept them have none.
func Restore(s Snapshot) (*Class, error) {
	m, id, site, err := table.Restore(s.ID, s.SiteID, s.State)
	if err != nil {
		return nil, err
	}
	if s.Capacity < 1 || s.Enrolled < 0 || s.Waitlisted < 0 || s.Enrolled > s.Capacity {
		return nil, domain.Invalid("capacity", "stored seat counts are inconsistent")
	}
	c := &Class{
		id: id, siteID: site, title: s.Title, start: s.Start.UTC(), end: s.End.UTC(),
		capacity: s.Capacity, waitlist: s.Waitlist, seated: s.Enrolled, waiting: s.Waitlisted,
		admissions: s.Admissions, cancelReason: s.CancelReason,
		scheduledAt: s.ScheduledAt.UTC(), changedAt: s.ChangedAt.UTC(),
		previousStart: s.PreviousStart.UTC(), rescheduledAt: s.RescheduledAt.UTC(),
	}
	c.drive(m, s.Version)
	return c, nil
}
