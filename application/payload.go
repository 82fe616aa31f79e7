package application

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// facts are the values a payload is made of, for one subject: an
// appointment, or an enrollment with its class. A trigger's payload holds
// the facts its Fields name, and nothing else.
type facts struct {
	appointmentID, contactID, title string
	start, end, previousStart       time.Time
	reason                          string

	enrollmentID, classID, participantID, classTitle string
	classStart, classEnd, previousClassStart         time.Time
}

func appointmentFacts(a *appointment.Appointment) facts {
	return facts{
		appointmentID: a.ID(), contactID: a.ContactID(), title: a.Title(),
		start: a.Start(), end: a.End(), previousStart: a.PreviousStart(), reason: a.CancelReason(),
	}
}

func enrollmentFacts(e *enrollment.Enrollment, c *class.Class) facts {
	return facts{
		enrollmentID: e.ID(), classID: c.ID(), participantID: e.ParticipantID(), classTitle: c.Title(),
		classStart: c.Start(), classEnd: c.End(), previousClassStart: c.PreviousStart(), reason: c.CancelReason(),
	}
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
