package application

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// facts are the values a payload is made of, for one subject: an
// appointment, an enrollment with its class, a course enrollment with its
// course (and for a session's events, the session), and the site's zone. A trigger's payload holds
// the facts its Fields name, and nothing else.
type facts struct {
	zone domain.TimeZone // the site's, that local times are shown in

	appointmentID, contactID, title string
	start, end, previousStart       time.Time
	reason                          string

	enrollmentID, classID, participantID, classTitle string
	classStart, classEnd, previousClassStart         time.Time

	courseID, courseTitle, sessionID               string
	sessionNumber                                  int
	sessionStart, sessionEnd, previousSessionStart time.Time
}

func appointmentFacts(z domain.TimeZone, a *appointment.Appointment) facts {
	return facts{
		zone: z, appointmentID: a.ID().String(), contactID: a.ContactID().String(), title: a.Title(),
		start: a.Start(), end: a.End(), previousStart: a.PreviousStart(), reason: a.CancelReason(),
	}
}

func enrollmentFacts(z domain.TimeZone, e *enrollment.Enrollment, c *class.Class) facts {
	return facts{
		zone: z, enrollmentID: e.ID().String(), classID: c.ID().String(), participantID: e.ParticipantID().String(), classTitle: c.Title(),
		classStart: c.Start(), classEnd: c.End(), previousClassStart: c.PreviousStart(), reason: c.CancelReason(),
	}
}

// courseEnrollmentFacts are the facts of a course enrollment, and with s
// (when not nil) of its place in that session.
func courseEnrollmentFacts(z domain.TimeZone, e *courseenrollment.Enrollment, c *course.Course, s *course.Session) facts {
	f := facts{zone: z, enrollmentID: e.ID().String(), courseID: c.ID().String(), participantID: e.ParticipantID().String(), courseTitle: c.Title(),
		reason: c.CancelReason()}
	if s != nil {
		f.sessionID, f.sessionNumber = s.ID().String(), s.Number()
		f.sessionStart, f.sessionEnd, f.previousSessionStart = s.Start(), s.End(), s.PreviousStart()
		f.reason = s.CancelReason()
	}
	return f
}

// payload encodes the properties of t's fields from f, as the JSON object
// Wix receives (keys in order, so that equal payloads are equal bytes).
func (t Trigger) payload(f facts) json.RawMessage {
	m := make(map[string]string, len(t.Fields))
	for _, field := range t.Fields {
		m[field.Name] = field.value(f)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("lifecycle: encode payload: %v", err)) // a map of strings always encodes
	}
	return b
}
