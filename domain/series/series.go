// Package series is a recurring appointment of one contact: the same
// appointment every day or every week, a fixed number of times. Each
// occurrence is an appointment of its own (package appointment), with its
// own ID, derived from the series (OccurrenceID), so the seed's one-to-many
// rule holds per occurrence: canceling one occurrence cancels its events and
// no other's, and "this and following" or "all" cancels exactly the
// occurrences it names.
//
// Occurrences keep the wall-clock time of the first one in the site's time
// zone: a weekly series at 9:00 in Europe/Berlin stays at 9:00 across a
// daylight saving change (its UTC time moves by an hour).
package series

import (
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/bookable/lifecycle/domain"
)

// State is the lifecycle state of a series. It is a closed set.
type State struct{ name string }

// The states of a series. A series cut by "this and following" stays
// scheduled, with fewer occurrences; "all" cancels it.
var (
	StateScheduled = State{"scheduled"}
	StateCanceled  = State{"canceled"}
)

// String returns the state's stored and wire name.
func (s State) String() string { return s.name }

// ParseState reads a state from its name.
func ParseState(name string) (State, error) { return table.Parse(name) }

const (
	eventCancelFollowing = "cancel_following"
	eventCancelAll       = "cancel_all"
)

// table is the series' states and transitions; it also renders the state
// diagram in docs/. Canceling or moving one occurrence is a change of that
// appointment, not of the series.
var table = domain.MustTable("series",
	[]State{StateScheduled, StateCanceled},
	[]domain.Transition[State]{
		{Event: eventCancelFollowing, From: []State{StateScheduled}, To: StateScheduled},
		{Event: eventCancelAll, From: []State{StateScheduled}, To: StateCanceled},
	})

// Transitions returns a copy of the series' transition table.
func Transitions() []domain.Transition[State] { return table.Transitions() }

// Diagram returns the transition table as a Mermaid state diagram.
func Diagram() string { return table.Mermaid(StateScheduled) }

// Every is how often a series recurs. It is a closed set.
type Every struct{ name string }

// The recurrences of a series.
var (
	Daily  = Every{"day"}
	Weekly = Every{"week"}
)

// String returns the recurrence's stored and wire name: "day" or "week".
func (e Every) String() string { return e.name }

// ParseEvery reads a recurrence from its name; an unknown one is a
// *domain.ValidationError on the field "every".
func ParseEvery(name string) (Every, error) {
	switch name {
	case Daily.name:
		return Daily, nil
	case Weekly.name:
		return Weekly, nil
	}
	return Every{}, domain.Invalid("every", `must be "day" or "week"`)
}

func (e Every) days() int {
	if e == Weekly {
		return 7
	}
	return 1
}

// Limits on input.
const (
	MaxTitleLen  = 200
	MaxReasonLen = 500
	// MaxOccurrences bounds a series: each occurrence is an appointment with
	// its own Wix events, all created at once.
	MaxOccurrences = 100
)

// root is the embedded domain.Root: State, Version, SetVersion and Events.
type root = domain.Root[State]

// Series is a recurring appointment of one contact on one site.
type Series struct {
	root
	machine       *domain.Machine[State]
	id, contactID domain.ID
	siteID        domain.SiteID
	title         string
	first         time.Time // the first occurrence's start, UTC
	length        time.Duration
	every         Every
	count         int
	zone          domain.TimeZone
	cutFrom       int // the first occurrence canceled by "this and following"; 0 if none
	cancelReason  string
	scheduledAt   time.Time
	changedAt     time.Time
}

// New is what Schedule needs to create a series.
type New struct {
	ID, ContactID domain.ID
	SiteID        domain.SiteID
	Title         string
	Start, End    time.Time // of the first occurrence
	Every         Every
	Count         int             // occurrences, 1 to MaxOccurrences
	Zone          domain.TimeZone // the site's zone, whose wall clock the occurrences keep
}

// Schedule creates a series at time at. The first occurrence must lie in
// the future. It records Scheduled; the application books its occurrences.
func Schedule(n New, at time.Time) (*Series, error) {
	if err := domain.First(n.SiteID.Require(), n.ID.Require("id"), n.ContactID.Require("contactId"),
		domain.CheckText("title", n.Title, MaxTitleLen)); err != nil {
		return nil, err
	}
	start, end := domain.Instant(n.Start), domain.Instant(n.End)
	if err := domain.CheckSpan(start, end, at); err != nil {
		return nil, err
	}
	if n.Every == (Every{}) {
		return nil, domain.Invalid("every", `is required ("day" or "week")`)
	}
	if n.Count < 1 || n.Count > MaxOccurrences {
		return nil, domain.Invalid("count", fmt.Sprintf("must be 1 to %d", MaxOccurrences))
	}
	s := &Series{id: n.ID, siteID: n.SiteID, contactID: n.ContactID, title: n.Title, first: start, length: end.Sub(start),
		every: n.Every, count: n.Count, zone: n.Zone, scheduledAt: domain.Instant(at), changedAt: domain.Instant(at)}
	s.drive(table.Start(n.ID, StateScheduled), 0)
	s.machine.Record(Scheduled{Header: s.header(at), Every: n.Every, Count: n.Count})
	return s, nil
}

// Occurrence is one occurrence of a series: its number (from 1), the ID of
// its appointment and its times as the series planned them (a rescheduled
// occurrence's appointment has moved since).
type Occurrence struct {
	Number        int
	AppointmentID domain.ID
	Start, End    time.Time
}

// Occurrences returns every occurrence the series planned, canceled ones
// included, in order.
func (s *Series) Occurrences() []Occurrence {
	out := make([]Occurrence, s.count)
	for i := range out {
		out[i], _ = s.Occurrence(i + 1)
	}
	return out
}

// Occurrence returns occurrence n, and false when the series has none.
// Occurrences keep the first one's wall-clock time in the series' zone.
func (s *Series) Occurrence(n int) (Occurrence, bool) {
	if n < 1 || n > s.count {
		return Occurrence{}, false
	}
	local := s.zone.In(s.first)
	start := domain.Instant(time.Date(local.Year(), local.Month(), local.Day()+(n-1)*s.every.days(),
		local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), local.Location()))
	return Occurrence{Number: n, AppointmentID: OccurrenceID(s.id, n), Start: start, End: start.Add(s.length)}, true
}

// Planned reports whether occurrence n is still part of the series: it
// exists, the series is not canceled, and "this and following" did not cut
// it off. (Canceling the one occurrence is a change of its appointment.)
func (s *Series) Planned(n int) bool {
	return n >= 1 && n <= s.count && s.State() == StateScheduled && (s.cutFrom == 0 || n < s.cutFrom)
}

// occurrenceNamespace is the namespace of occurrence IDs.
var occurrenceNamespace = uuid.MustParse("3e7d0c4b-5a1f-4b8e-8c2d-9f6a1e0b7c35")

// OccurrenceID returns the ID of occurrence n's appointment: a UUID
// (version 5) of the series ID and n, so that it needs no storage, a retried
// create books the same appointments, and no two occurrences share one.
func OccurrenceID(seriesID domain.ID, n int) domain.ID {
	return domain.MustID(uuid.NewSHA1(occurrenceNamespace, []byte(seriesID.String()+"/"+strconv.Itoa(n))).String())
}

// CancelFollowing cuts the series before occurrence n: occurrences n and
// after are no longer planned ("this and following"). From the first
// occurrence it cancels the series (see CancelAll). It records
// CanceledFollowing; the application cancels the occurrences' appointments.
func (s *Series) CancelFollowing(n int, reason string, at time.Time) error {
	if err := s.machine.Check(eventCancelFollowing); err != nil {
		return err
	}
	if !s.Planned(n) {
		return domain.Invalid("occurrence", fmt.Sprintf("series %s has no planned occurrence %d", s.id, n))
	}
	if n == 1 {
		return s.CancelAll(reason, at)
	}
	if err := domain.CheckText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if err := s.machine.Fire(eventCancelFollowing); err != nil {
		return err
	}
	s.cutFrom, s.cancelReason, s.changedAt = n, reason, domain.Instant(at)
	s.machine.Record(CanceledFollowing{Header: s.header(at), From: n, Reason: reason})
	return nil
}

// CancelAll cancels the series: no occurrence is planned any more. It
// records Canceled; the application cancels the occurrences that have not
// taken place.
func (s *Series) CancelAll(reason string, at time.Time) error {
	if err := domain.CheckText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if err := s.machine.Fire(eventCancelAll); err != nil {
		return err
	}
	s.cancelReason, s.changedAt = reason, domain.Instant(at)
	s.machine.Record(Canceled{Header: s.header(at), Reason: reason})
	return nil
}

func (s *Series) header(at time.Time) Header {
	return Header{SeriesID: s.id, SiteID: s.siteID, ContactID: s.contactID, Title: s.title, At: at.UTC()}
}

// drive gives the series its machine and the root that reads it.
func (s *Series) drive(m *domain.Machine[State], version int64) {
	s.machine, s.root = m, domain.NewRoot(m, version)
}

// ID returns the series ID.
func (s *Series) ID() domain.ID { return s.id }

// SiteID returns the site.
func (s *Series) SiteID() domain.SiteID { return s.siteID }

// ContactID returns the contact whose appointments these are.
func (s *Series) ContactID() domain.ID { return s.contactID }

// Title returns the title every occurrence carries.
func (s *Series) Title() string { return s.title }

// Every returns how often the series recurs.
func (s *Series) Every() Every { return s.every }

// Count returns how many occurrences the series planned at first.
func (s *Series) Count() int { return s.count }

// Zone returns the time zone whose wall clock the occurrences keep.
func (s *Series) Zone() domain.TimeZone { return s.zone }

// CutFrom returns the first occurrence that "this and following" canceled,
// or 0.
func (s *Series) CutFrom() int { return s.cutFrom }

// CancelReason returns the reason of the last cancel.
func (s *Series) CancelReason() string { return s.cancelReason }

// ScheduledAt returns when the series was created.
func (s *Series) ScheduledAt() time.Time { return s.scheduledAt }

// ChangedAt returns when the series last changed.
func (s *Series) ChangedAt() time.Time { return s.changedAt }

// Snapshot is the stored form of a series, for store adapters.
type Snapshot struct {
	ID, SiteID, ContactID string
	Title                 string
	FirstStart            time.Time
	Length                time.Duration // of each occurrence, at millisecond precision
	Every                 string
	Count                 int
	TimeZone              string
	CutFrom               int
	State                 string
	CancelReason          string
	ScheduledAt           time.Time
	ChangedAt             time.Time
	Version               int64
}

// Snapshot returns the series' stored form.
func (s *Series) Snapshot() Snapshot {
	return Snapshot{
		ID: s.id.String(), SiteID: s.siteID.String(), ContactID: s.contactID.String(), Title: s.title, FirstStart: s.first, Length: s.length,
		Every: s.every.String(), Count: s.count, TimeZone: s.zone.Name(), CutFrom: s.cutFrom, State: s.State().String(),
		CancelReason: s.cancelReason, ScheduledAt: s.scheduledAt, ChangedAt: s.changedAt, Version: s.Version(),
	}
}

// Restore rebuilds a series from its stored form, for store adapters only.
func Restore(s Snapshot) (*Series, error) {
	m, id, site, err := table.Restore(s.ID, s.SiteID, s.State)
	if err != nil {
		return nil, err
	}
	contact, err := domain.ParseID("contactId", s.ContactID)
	if err != nil {
		return nil, err
	}
	every, err := ParseEvery(s.Every)
	if err != nil {
		return nil, err
	}
	zone, err := domain.ParseTimeZone(s.TimeZone)
	if err != nil {
		return nil, err
	}
	if s.Count < 1 || s.Count > MaxOccurrences || s.CutFrom < 0 || s.CutFrom > s.Count || s.Length <= 0 {
		return nil, domain.Invalid("count", "stored occurrences are inconsistent")
	}
	x := &Series{
		id: id, siteID: site, contactID: contact, title: s.Title, first: s.FirstStart.UTC(),
		length: s.Length, every: every, count: s.Count, zone: zone, cutFrom: s.CutFrom, cancelReason: s.CancelReason,
		scheduledAt: s.ScheduledAt.UTC(), changedAt: s.ChangedAt.UTC(),
	}
	x.drive(m, s.Version)
	return x, nil
}
