package application

import (
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// AppointmentView is an appointment as handlers return it.
type AppointmentView struct {
	SiteID           domain.SiteID
	ID, ContactID    domain.ID
	Title            string
	StartsAt, EndsAt time.Time
	State            string
	CancelReason     string
	Version          int64
}

// ClassView is a class as handlers return it.
type ClassView struct {
	SiteID           domain.SiteID
	ID               domain.ID
	Title            string
	StartsAt, EndsAt time.Time
	Capacity         int
	Waitlist         bool
	Enrolled         int
	Waitlisted       int
	State            string
	CancelReason     string
	Version          int64
}

// EnrollmentView is an enrollment as handlers return it.
type EnrollmentView struct {
	SiteID                     domain.SiteID
	ID, ClassID, ParticipantID domain.ID
	State                      string
	Position                   int64
	EnrolledAt                 time.Time
	Version                    int64
}

func appointmentView(a *appointment.Appointment) AppointmentView {
	return AppointmentView{
		ID: a.ID(), SiteID: a.SiteID(), ContactID: a.ContactID(), Title: a.Title(),
		StartsAt: a.Start(), EndsAt: a.End(), State: a.State().String(),
		CancelReason: a.CancelReason(), Version: a.Version(),
	}
}

func classView(c *class.Class) ClassView {
	return ClassView{
		ID: c.ID(), SiteID: c.SiteID(), Title: c.Title(), StartsAt: c.Start(), EndsAt: c.End(),
		Capacity: c.Capacity(), Waitlist: c.Waitlist(), Enrolled: c.Enrolled(), Waitlisted: c.Waitlisted(),
		State: c.State().String(), CancelReason: c.CancelReason(), Version: c.Version(),
	}
}

func enrollmentView(e *enrollment.Enrollment) EnrollmentView {
	return EnrollmentView{
		ID: e.ID(), SiteID: e.SiteID(), ClassID: e.ClassID(), ParticipantID: e.ParticipantID(),
		State: e.State().String(), Position: e.Position(), EnrolledAt: e.EnrolledAt(), Version: e.Version(),
	}
}
