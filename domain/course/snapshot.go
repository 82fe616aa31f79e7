package course

import (
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Snapshot is the stored form of a course, sessions included, for store
// adapters. Its times are UTC at millisecond precision; a zero time is unset.
type Snapshot struct {
	ID, SiteID   string
	Title        string
	Capacity     int
	Enrolled     int
	Admissions   int64
	State        string
	CancelReason string
	ScheduledAt  time.Time
	ChangedAt    time.Time
	Sessions     []SessionSnapshot
	Version      int64
}

// Snapshot returns the course's stored form.
func (c *Course) Snapshot() Snapshot {
	s := Snapshot{
		ID: c.id.String(), SiteID: c.siteID.String(), Title: c.title, Capacity: c.capacity, Enrolled: c.seated,
		Admissions: c.admissions, State: c.State().String(), CancelReason: c.cancelReason,
		ScheduledAt: c.scheduledAt, ChangedAt: c.changedAt, Version: c.Version(),
		Sessions: make([]SessionSnapshot, len(c.sessions)),
	}
	for i, x := range c.sessions {
		s.Sessions[i] = x.snapshot()
	}
	return s
}

// Restore rebuilds a course from its stored form. It is the door for store
// adapters only, never a constructor.
func Restore(s Snapshot) (*Course, error) {
	m, id, site, err := table.Restore(s.ID, s.SiteID, s.State)
	if err != nil {
		return nil, err
	}
	if s.Capacity < 1 || s.Enrolled < 0 || s.Enrolled > s.Capacity {
		return nil, domain.Invalid("capacity", "stored seat counts are inconsistent")
	}
	c := &Course{
		id: id, siteID: site, title: s.Title, capacity: s.Capacity, seated: s.Enrolled,
		admissions: s.Admissions, cancelReason: s.CancelReason,
		scheduledAt: s.ScheduledAt.UTC(), changedAt: s.ChangedAt.UTC(),
	}
	for _, ss := range s.Sessions {
		x, err := restoreSession(ss)
		if err != nil {
			return nil, err
		}
		if c.Session(x.id) != nil || x.number < c.nextNumber() {
			return nil, domain.Invalid("sessions", "stored sessions repeat an ID or a number")
		}
		c.sessions = append(c.sessions, x)
	}
	c.drive(m, s.Version)
	return c, nil
}
