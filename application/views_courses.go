package application

import (
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
)

// CourseView is a course as handlers return it, with its sessions.
type CourseView struct {
	SiteID       domain.SiteID
	ID           domain.ID
	Title        string
	Capacity     int
	Enrolled     int
	State        string
	CancelReason string
	Sessions     []SessionView
	Version      int64
}

// SessionView is a session of a course.
type SessionView struct {
	ID               domain.ID
	Number           int
	StartsAt, EndsAt time.Time
	State            string
	CancelReason     string
}

// CourseEnrollmentView is a course enrollment as handlers return it.
type CourseEnrollmentView struct {
	SiteID                      domain.SiteID
	ID, CourseID, ParticipantID domain.ID
	State                       string
	Position                    int64
	EnrolledAt                  time.Time
	Version                     int64
}

// SeriesView is a series as handlers return it, with its occurrences as
// their appointments are now.
type SeriesView struct {
	SiteID        domain.SiteID
	ID, ContactID domain.ID
	Title         string
	Every         string
	Count         int
	TimeZone      string
	State         string
	CutFrom       int
	Occurrences   []OccurrenceView
	Version       int64
}

// OccurrenceView is one occurrence of a series: its appointment's ID,
// times and state.
type OccurrenceView struct {
	Number           int
	AppointmentID    domain.ID
	StartsAt, EndsAt time.Time
	State            string
}

func courseView(c *course.Course) CourseView {
	v := CourseView{ID: c.ID(), SiteID: c.SiteID(), Title: c.Title(), Capacity: c.Capacity(), Enrolled: c.Enrolled(),
		State: c.State().String(), CancelReason: c.CancelReason(), Version: c.Version(), Sessions: []SessionView{}}
	for _, s := range c.Sessions() {
		v.Sessions = append(v.Sessions, SessionView{ID: s.ID(), Number: s.Number(), StartsAt: s.Start(), EndsAt: s.End(),
			State: s.State().String(), CancelReason: s.CancelReason()})
	}
	return v
}

func courseEnrollmentView(e *courseenrollment.Enrollment) CourseEnrollmentView {
	return CourseEnrollmentView{ID: e.ID(), SiteID: e.SiteID(), CourseID: e.CourseID(), ParticipantID: e.ParticipantID(),
		State: e.State().String(), Position: e.Position(), EnrolledAt: e.EnrolledAt(), Version: e.Version()}
}

// seriesView returns the view of s with its occurrences' appointments
// (by number; one not found is left out).
func seriesView(s *series.Series, occurrences map[int]*appointment.Appointment) SeriesView {
	v := SeriesView{ID: s.ID(), SiteID: s.SiteID(), ContactID: s.ContactID(), Title: s.Title(), Every: s.Every().String(),
		Count: s.Count(), TimeZone: s.Zone().Name(), State: s.State().String(), CutFrom: s.CutFrom(), Version: s.Version(),
		Occurrences: []OccurrenceView{}}
	for _, o := range s.Occurrences() {
		a, ok := occurrences[o.Number]
		if !ok {
			continue
		}
		v.Occurrences = append(v.Occurrences, OccurrenceView{Number: o.Number, AppointmentID: a.ID(), StartsAt: a.Start(),
			EndsAt: a.End(), State: a.State().String()})
	}
	return v
}
