package application

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"
)

// Role is what a trigger means to lifecycle, independent of the key an app
// gave it in the Wix dashboard. Role names equal the default trigger keys.
type Role string

// The roles of the seed (on by default) and the optional ones (off by default).
const (
	RoleAppointmentScheduled   Role = "appointment_scheduled"
	RoleAppointmentStarting    Role = "appointment_starting"
	RoleAppointmentCanceled    Role = "appointment_canceled"
	RoleParticipantEnrolled    Role = "participant_enrolled_in_class"
	RoleClassStarting          Role = "class_starting"
	RoleParticipantLeft        Role = "participant_left_class"
	RoleClassCanceled          Role = "class_canceled"
	RoleAppointmentRescheduled Role = "appointment_rescheduled"
	RoleAppointmentCompleted   Role = "appointment_completed"
	RoleAppointmentNoShow      Role = "appointment_no_show"
	RoleParticipantWaitlisted  Role = "participant_waitlisted"
	RoleClassRescheduled       Role = "class_rescheduled"
	RoleClassCompleted         Role = "class_completed"
)

// The roles of courses (issue 16): the seed's class rules one level down,
// on by default, and two optional ones, off.
const (
	RoleParticipantEnrolledInCourse Role = "participant_enrolled_in_course"
	RoleCourseSessionStarting       Role = "course_session_starting"
	RoleCourseSessionCanceled       Role = "course_session_canceled"
	RoleParticipantLeftCourse       Role = "participant_left_course"
	RoleCourseCanceled              Role = "course_canceled"
	RoleCourseSessionRescheduled    Role = "course_session_rescheduled"
	RoleCourseCompleted             Role = "course_completed"
)

// Timing says when a trigger's event takes place. A Wix trigger is one or
// the other, never both.
type Timing string

// The two timings of a Wix trigger.
const (
	// RealTime events take place when reported.
	RealTime Timing = "real-time"
	// Scheduled events take place at the date-time in their payload.
	Scheduled Timing = "scheduled"
)

// Trigger is one entry of the catalog.
type Trigger struct {
	Role        Role
	Key         string // the trigger key in the Wix app dashboard
	Timing      Timing
	Enabled     bool
	Description string
	// Subject says whose events these are, and so what the externalEntityId
	// is: "appointment" (the appointment ID), "enrollment" (the class
	// enrollment ID), "course enrollment" (the course enrollment ID) or
	// "enrollment session" (an ID derived from the course enrollment and the
	// session, see courseenrollment.SessionEntityID).
	Subject string
	// Fields are the payload properties, in order.
	Fields []Field
}

// Field is one payload property of a trigger.
type Field struct {
	Name        string
	Type        string // JSON Schema type: "string"
	Format      string // "uuid", "date-time" or ""
	Title       string
	Contact     bool // the uuid property Wix links to a contact (identityType "contact")
	FutureDate  bool // the date-time a scheduled event takes place at
	Example     string
	Description string
	// Optional properties may be empty (a title, a reason): the schema does
	// not require them.
	Optional bool
	// value reads the property from the facts of a subject. Every payload
	// is built from its trigger's fields (payload.go), so a property is
	// declared once, here.
	value func(facts) string
	// occurrence marks a property that tells one real-time event of the
	// trigger from the next (a reschedule notice's previous start).
	occurrence bool
}

// defaultTriggers is the catalog lifecycle ships: the seed's seven triggers
// on, six optional real-time triggers off, then the courses' five on and two
// optional off. (The occurrences of a series are appointments: they have the
// appointment triggers.)
func defaultTriggers() []Trigger {
	return []Trigger{
		{Role: RoleAppointmentScheduled, Timing: RealTime, Enabled: true, Subject: "appointment", Fields: appointmentFields,
			Description: "Someone scheduled an appointment."},
		{Role: RoleAppointmentStarting, Timing: Scheduled, Enabled: true, Subject: "appointment", Fields: markFuture(appointmentFields, "startsAt"),
			Description: "Takes place at the appointment's start; automations run before, at or after it."},
		{Role: RoleAppointmentCanceled, Timing: RealTime, Enabled: true, Subject: "appointment", Fields: withFields(appointmentFields, reasonField),
			Description: "An appointment was canceled."},
		{Role: RoleParticipantEnrolled, Timing: RealTime, Enabled: true, Subject: "enrollment", Fields: enrollmentFields,
			Description: "A participant signed up for a class (or got a seat from the waitlist)."},
		{Role: RoleClassStarting, Timing: Scheduled, Enabled: true, Subject: "enrollment", Fields: markFuture(enrollmentFields, "classStartsAt"),
			Description: "Takes place at the class's start, once per enrolled participant."},
		{Role: RoleParticipantLeft, Timing: RealTime, Enabled: true, Subject: "enrollment", Fields: enrollmentFields,
			Description: "A participant left a class."},
		{Role: RoleClassCanceled, Timing: RealTime, Enabled: true, Subject: "enrollment", Fields: withFields(enrollmentFields, reasonField),
			Description: "A class was canceled; reported once per enrolled participant."},
		{Role: RoleAppointmentRescheduled, Timing: RealTime, Subject: "appointment",
			Fields: withFields(appointmentFields, previous("previousStartsAt", "Previously started at", "2026-11-30T09:00:00Z",
				func(f facts) time.Time { return f.previousStart })...),
			Description: "An appointment moved to a new time (optional)."},
		{Role: RoleAppointmentCompleted, Timing: RealTime, Subject: "appointment", Fields: appointmentFields,
			Description: "An appointment took place (optional)."},
		{Role: RoleAppointmentNoShow, Timing: RealTime, Subject: "appointment", Fields: appointmentFields,
			Description: "The contact did not come to an appointment (optional)."},
		{Role: RoleParticipantWaitlisted, Timing: RealTime, Subject: "enrollment", Fields: enrollmentFields,
			Description: "A participant joined the waitlist of a full class (optional)."},
		{Role: RoleClassRescheduled, Timing: RealTime, Subject: "enrollment",
			Fields: withFields(enrollmentFields, previous("previousClassStartsAt", "Class previously started at", "2026-11-30T07:00:00Z",
				func(f facts) time.Time { return f.previousClassStart })...),
			Description: "A class moved to a new time; reported once per enrolled participant (optional)."},
		{Role: RoleClassCompleted, Timing: RealTime, Subject: "enrollment", Fields: enrollmentFields,
			Description: "A class took place; reported once per attendee (optional)."},
		{Role: RoleParticipantEnrolledInCourse, Timing: RealTime, Enabled: true, Subject: "course enrollment", Fields: courseEnrollmentFields,
			Description: "A participant signed up for a course."},
		{Role: RoleCourseSessionStarting, Timing: Scheduled, Enabled: true, Subject: "enrollment session", Fields: markFuture(sessionFields, "sessionStartsAt"),
			Description: "Takes place at a course session's start, once per enrolled participant and session."},
		{Role: RoleCourseSessionCanceled, Timing: RealTime, Enabled: true, Subject: "enrollment session", Fields: withFields(sessionFields, reasonField),
			Description: "One session of a course was canceled; reported once per enrolled participant."},
		{Role: RoleParticipantLeftCourse, Timing: RealTime, Enabled: true, Subject: "course enrollment", Fields: courseEnrollmentFields,
			Description: "A participant left a course."},
		{Role: RoleCourseCanceled, Timing: RealTime, Enabled: true, Subject: "course enrollment", Fields: withFields(courseEnrollmentFields, reasonField),
			Description: "A course was canceled as a whole; reported once per enrolled participant."},
		{Role: RoleCourseSessionRescheduled, Timing: RealTime, Subject: "enrollment session",
			Fields: withFields(sessionFields, previous("previousSessionStartsAt", "Session previously started at", "2026-11-30T17:00:00Z",
				func(f facts) time.Time { return f.previousSessionStart })...),
			Description: "A course session moved to a new time; reported once per enrolled participant (optional)."},
		{Role: RoleCourseCompleted, Timing: RealTime, Subject: "course enrollment", Fields: courseEnrollmentFields,
			Description: "A course took place; reported once per participant who stayed (optional)."},
	}
}

// Roles lists every role in catalog order.
func Roles() []Role {
	ts := defaultTriggers()
	out := make([]Role, len(ts))
	for i, t := range ts {
		out[i] = t.Role
	}
	return out
}

// Catalog maps each role to its trigger: the key, real-time or scheduled,
// on or off. Build one with NewCatalog or ParseCatalog; the zero Catalog is
// not usable. A Catalog is immutable and safe for concurrent use.
type Catalog struct {
	triggers []Trigger
	byRole   map[Role]int
}

// Setting changes one role of the default catalog.
type Setting struct {
	Key     string `json:"key,omitempty"`     // the trigger key; "" keeps the default
	Enabled *bool  `json:"enabled,omitempty"` // nil keeps the default
}

// ErrCatalog marks an invalid catalog; the error names the role and the rule.
var ErrCatalog = errors.New("invalid trigger catalog")

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)

// ValidKey reports whether key follows Wix's rules for trigger keys: 1 to
// 100 characters of lowercase letters, digits, '-' and '_', starting with a
// letter or digit.
func ValidKey(key string) bool { return keyPattern.MatchString(key) }

// DefaultCatalog returns the seed's catalog: its seven triggers on, under
// their seed keys, and the optional ones off.
func DefaultCatalog() *Catalog {
	c, err := NewCatalog(nil)
	if err != nil {
		panic(err) // the defaults are valid; a test proves it
	}
	return c
}

// NewCatalog returns the default catalog changed by settings. It refuses,
// with an error wrapping ErrCatalog, an unknown role, a key that breaks
// Wix's rules, and two enabled roles sharing one key (a cancel for one would
// cancel the other's events).
func NewCatalog(settings map[Role]Setting) (*Catalog, error) {
	ts := defaultTriggers()
	c := &Catalog{byRole: make(map[Role]int, len(ts))}
	for i := range ts {
		ts[i].Key = string(ts[i].Role)
		c.byRole[ts[i].Role] = i
	}
	roles := make([]string, 0, len(settings))
	for r := range settings {
		roles = append(roles, string(r))
	}
	sort.Strings(roles)
	for _, r := range roles {
		s := settings[Role(r)]
		i, ok := c.byRole[Role(r)]
		if !ok {
			return nil, fmt.Errorf("%w: unknown role %q", ErrCatalog, r)
		}
		if s.Key != "" {
			if !ValidKey(s.Key) {
				return nil, fmt.Errorf("%w: role %s: key %q must be 1-100 characters of lowercase letters, digits, '-' and '_', starting with a letter or digit", ErrCatalog, r, s.Key)
			}
			ts[i].Key = s.Key
		}
		if s.Enabled != nil {
			ts[i].Enabled = *s.Enabled
		}
	}
	seen := map[string]Role{}
	for _, t := range ts {
		if !t.Enabled {
			continue
		}
		if other, dup := seen[t.Key]; dup {
			return nil, fmt.Errorf("%w: roles %s and %s share key %q", ErrCatalog, other, t.Role, t.Key)
		}
		seen[t.Key] = t.Role
	}
	c.triggers = ts
	return c, nil
}

// ParseCatalog reads catalog settings as JSON, an object from role to
// {"key": ..., "enabled": ...}, e.g.
//
//	{"appointment_starting": {"key": "myapp-appointment-reminder"},
//	 "appointment_no_show": {"enabled": true}}
//
// Unknown roles and fields are refused.
func ParseCatalog(data []byte) (*Catalog, error) {
	var settings map[Role]Setting
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&settings); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCatalog, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrCatalog)
	}
	return NewCatalog(settings)
}

// Trigger returns the trigger of role, and whether it is enabled.
func (c *Catalog) Trigger(role Role) (Trigger, bool) {
	i, ok := c.byRole[role]
	if !ok {
		return Trigger{}, false
	}
	t := c.triggers[i]
	return t, t.Enabled
}

// Triggers returns every trigger, enabled or not, in catalog order.
func (c *Catalog) Triggers() []Trigger {
	return append([]Trigger(nil), c.triggers...)
}

// Enabled returns the enabled triggers, in catalog order.
func (c *Catalog) Enabled() []Trigger {
	var out []Trigger
	for _, t := range c.triggers {
		if t.Enabled {
			out = append(out, t)
		}
	}
	return out
}

// Schema returns the payload JSON Schema of a trigger, in the form the Wix
// app dashboard takes: draft-07, an object whose properties carry title,
// type, format and examples, the contact-linked uuid marked with
// identityType "contact", and a scheduled trigger's date-time marked
// futureDate.
func (t Trigger) Schema() map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range t.Fields {
		p := map[string]any{"type": f.Type, "title": f.Title, "examples": []string{f.Example}}
		if f.Format != "" {
			p["format"] = f.Format
		}
		if f.Description != "" {
			p["description"] = f.Description
		}
		if f.Contact {
			p["identityType"] = "contact"
		}
		if f.FutureDate {
			p["futureDate"] = true
		}
		props[f.Name] = p
		if !f.Optional {
			required = append(required, f.Name)
		}
	}
	return map[string]any{
		"$schema":              "http://json-schema.org/draft-07/schema",
		"type":                 "object",
		"title":                t.Key,
		"description":          t.Description,
		"properties":           props,
		"required":             required,
		"additionalProperties": true,
	}
}

// ByKey returns the enabled trigger with key, if any.
func (c *Catalog) ByKey(key string) (Trigger, bool) {
	for _, t := range c.triggers {
		if t.Enabled && t.Key == key {
			return t, true
		}
	}
	return Trigger{}, false
}

// occurrenceFields names the payload properties that tell one event of the
// trigger from another of the same entity: a scheduled trigger's date-time,
// a notice's previous start.
func (t Trigger) occurrenceFields() []string {
	var out []string
	for _, f := range t.Fields {
		if f.FutureDate || f.occurrence {
			out = append(out, f.Name)
		}
	}
	return out
}

// DateTimeField returns the name of the payload property a scheduled
// trigger's event takes place at, or "" for a real-time trigger.
func (t Trigger) DateTimeField() string {
	for _, f := range t.Fields {
		if f.FutureDate {
			return f.Name
		}
	}
	return ""
}
