package application

import (
	"strconv"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// The payload properties of each subject. Every instant is RFC 3339 UTC (a
// date-time Wix can schedule on) and has a local sibling for people: the
// wall-clock date and time in the site's zone ("2026-12-01T10:00"), the
// start also as English text ("Tuesday 1 December 2026, 10:00"), and the
// zone's name once per payload, so that an automation's email can say
// "Tuesday 10:00" in the customer's time.
var (
	appointmentFields = withFields([]Field{
		{Name: "appointmentId", Type: "string", Format: "uuid", Title: "Appointment ID", Example: "7c1b8f1e-3a55-4c8e-9a1d-0b6f6b7b2a10", Description: "The appointment; also the event's externalEntityId.",
			value: func(f facts) string { return f.appointmentID }},
		{Name: "contactId", Type: "string", Format: "uuid", Title: "Contact", Contact: true, Example: "1f0e6a7d-2c3b-4d5e-8f90-a1b2c3d4e5f6", Description: "The Wix contact who booked.",
			value: func(f facts) string { return f.contactID }},
		{Name: "title", Type: "string", Title: "Title", Example: "Haircut", Optional: true,
			value: func(f facts) string { return f.title }},
	}, span("startsAt", "endsAt", "Starts at", "Ends at", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z",
		func(f facts) time.Time { return f.start }, func(f facts) time.Time { return f.end })...)
	enrollmentFields = withFields([]Field{
		{Name: "enrollmentId", Type: "string", Format: "uuid", Title: "Enrollment ID", Example: "3d9f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", Description: "The enrollment; also the event's externalEntityId. New for every enrollment.",
			value: func(f facts) string { return f.enrollmentID }},
		{Name: "classId", Type: "string", Format: "uuid", Title: "Class ID", Example: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
			value: func(f facts) string { return f.classID }},
		participantField,
		{Name: "classTitle", Type: "string", Title: "Class", Example: "Morning yoga", Optional: true,
			value: func(f facts) string { return f.classTitle }},
	}, span("classStartsAt", "classEndsAt", "Class starts at", "Class ends at", "2026-12-01T07:00:00Z", "2026-12-01T08:00:00Z",
		func(f facts) time.Time { return f.classStart }, func(f facts) time.Time { return f.classEnd })...)
	courseEnrollmentFields = []Field{
		{Name: "enrollmentId", Type: "string", Format: "uuid", Title: "Course enrollment ID", Example: "4e0a2b3c-5d6e-4f70-8a9b-1c2d3e4f5a6b", Description: "The course enrollment; also the event's externalEntityId. New for every enrollment.",
			value: func(f facts) string { return f.enrollmentID }},
		courseIDField,
		participantField,
		courseTitleField,
	}
	sessionFields = withFields([]Field{
		{Name: "enrollmentId", Type: "string", Format: "uuid", Title: "Course enrollment ID", Example: "4e0a2b3c-5d6e-4f70-8a9b-1c2d3e4f5a6b", Description: "The participant's course enrollment. The event's externalEntityId is derived from it and the session number.",
			value: func(f facts) string { return f.enrollmentID }},
		courseIDField,
		{Name: "sessionId", Type: "string", Format: "uuid", Title: "Session ID", Example: "5f1b3c4d-6e7f-4a81-9b0c-2d3e4f5a6b7c",
			value: func(f facts) string { return f.sessionID }},
		{Name: "sessionNumber", Type: "string", Title: "Session number", Example: "3", Description: "The session's number in its course: 1, 2, 3 ... in the order sessions were added.",
			value: func(f facts) string { return strconv.Itoa(f.sessionNumber) }},
		participantField,
		courseTitleField,
	}, span("sessionStartsAt", "sessionEndsAt", "Session starts at", "Session ends at", "2026-12-01T17:00:00Z", "2026-12-01T19:00:00Z",
		func(f facts) time.Time { return f.sessionStart }, func(f facts) time.Time { return f.sessionEnd })...)

	participantField = Field{Name: "participantId", Type: "string", Format: "uuid", Title: "Participant", Contact: true, Example: "1f0e6a7d-2c3b-4d5e-8f90-a1b2c3d4e5f6", Description: "The Wix contact who attends.",
		value: func(f facts) string { return f.participantID }}
	courseIDField = Field{Name: "courseId", Type: "string", Format: "uuid", Title: "Course ID", Example: "8b7c6d5e-4f3a-4b2c-9d1e-0f9a8b7c6d5e",
		value: func(f facts) string { return f.courseID }}
	courseTitleField = Field{Name: "courseTitle", Type: "string", Title: "Course", Example: "Pottery for beginners", Optional: true,
		value: func(f facts) string { return f.courseTitle }}
	reasonField = Field{Name: "reason", Type: "string", Title: "Reason", Example: "Feeling unwell", Optional: true,
		value: func(f facts) string { return f.reason }}
	timeZoneField = Field{Name: "timeZone", Type: "string", Title: "Time zone", Example: exampleZone,
		Description: "The site's IANA time zone, which the local times are in (UTC unless the site set one).",
		value:       func(f facts) string { return f.zone.Name() }}
)

// exampleZone is the zone of the schemas' examples.
const exampleZone = "Europe/Berlin"

// span returns the properties of a start and an end: both as RFC 3339 UTC,
// both as local date-times, the start as text, and the zone.
func span(start, end, startTitle, endTitle, startExample, endExample string, from, to func(facts) time.Time) []Field {
	return []Field{
		instantField(start, startTitle, startExample, from),
		instantField(end, endTitle, endExample, to),
		localField(start, startTitle, startExample, from),
		localField(end, endTitle, endExample, to),
		textField(start, startTitle, startExample, from),
		timeZoneField,
	}
}

// previous returns the properties of a time before a reschedule: RFC 3339
// UTC and local. The instant tells one reschedule notice from the next
// (Field.occurrence).
func previous(name, title, example string, at func(facts) time.Time) []Field {
	instant := instantField(name, title, example, at)
	instant.occurrence = true
	return []Field{instant, localField(name, title, example, at)}
}

func instantField(name, title, example string, at func(facts) time.Time) Field {
	return Field{Name: name, Type: "string", Format: "date-time", Title: title, Example: example,
		value: func(f facts) string { return domain.FormatInstant(at(f)) }}
}

func localField(name, title, example string, at func(facts) time.Time) Field {
	return Field{Name: name + "Local", Type: "string", Title: title + " (local)", Example: exampleLocal(example, domain.LocalFormat),
		Description: "The date and time on the site's wall clock (ISO 8601, no offset), in timeZone.",
		value:       func(f facts) string { return f.zone.FormatLocal(at(f)) }}
}

func textField(name, title, example string, at func(facts) time.Time) Field {
	return Field{Name: name + "Text", Type: "string", Title: title + " (text)", Example: exampleLocal(example, domain.TextFormat),
		Description: "The weekday, date and 24-hour time on the site's wall clock, in English, ready for an email.",
		value:       func(f facts) string { return f.zone.FormatText(at(f)) }}
}

// exampleLocal writes an RFC 3339 example as the example zone shows it.
func exampleLocal(example, layout string) string {
	t, err := time.Parse(time.RFC3339, example)
	if err != nil {
		panic("lifecycle: bad example time " + example) // the examples are constants
	}
	loc, err := time.LoadLocation(exampleZone)
	if err != nil {
		panic("lifecycle: no zone " + exampleZone) // the zone database is embedded (domain)
	}
	return t.In(loc).Format(layout)
}

func withFields(base []Field, extra ...Field) []Field {
	out := append([]Field(nil), base...)
	return append(out, extra...)
}

func markFuture(fields []Field, name string) []Field {
	out := append([]Field(nil), fields...)
	for i := range out {
		if out[i].Name == name {
			out[i].FutureDate = true
		}
	}
	return out
}
