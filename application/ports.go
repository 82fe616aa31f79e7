package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// Errors that store adapters return, wrapped or not, and callers test with
// errors.Is.
var (
	// ErrNotFound: no such aggregate or call on this site. Another site's
	// aggregate is not found either: nothing crosses sites. It is
	// outbox.ErrNotFound, so one errors.Is matches both.
	ErrNotFound = outbox.ErrNotFound
	// ErrCallState: an outbox operation does not apply to the call's state
	// (see outbox.ErrCallState).
	ErrCallState = outbox.ErrCallState
	// ErrConflict: the aggregate changed since it was loaded (optimistic
	// version check), or an aggregate with the same ID already exists.
	// Handlers retry a command a bounded number of times on a version
	// conflict; nothing is ever overwritten.
	ErrConflict = errors.New("conflict")
	// ErrIDTaken: a create named an ID that already belongs to an aggregate
	// with other details. It is an ErrConflict (errors.Is matches both) that
	// no retry can resolve, so handlers do not retry it.
	ErrIDTaken = fmt.Errorf("id already used with other details: %w", ErrConflict)
)

// Store is the unit of work port. A command runs in one Update: everything
// it saves and every call it enqueues commit together, or nothing does.
//
// The function passed to Update must be free of side effects other than the
// transaction: adapters may run it more than once (the application retries
// on ErrConflict, and an adapter may re-run it itself), and it may run either
// under the write lock or, as the SQLite adapter does under load, on a
// consistent read snapshot whose writes are applied with the optimistic
// version checks afterwards. Either way no update is lost: every write is
// checked against the version that was read.
type Store interface {
	// Update runs fn in a read-write transaction. It commits when fn returns
	// nil and rolls back when fn returns an error, which Update returns.
	// Update returns only once the commit is durable.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// View runs fn on a consistent read-only view.
	View(ctx context.Context, fn func(ctx context.Context, tx ReadTx) error) error
}

// ReadTx reads aggregates of one site. Every method returns ErrNotFound when
// nothing matches on that site.
type ReadTx interface {
	Appointment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*appointment.Appointment, error)
	Class(ctx context.Context, siteID domain.SiteID, id domain.ID) (*class.Class, error)
	Enrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*enrollment.Enrollment, error)
	// ActiveEnrollment returns the participant's enrolled or waitlisted
	// enrollment in the class.
	ActiveEnrollment(ctx context.Context, siteID domain.SiteID, classID, participantID domain.ID) (*enrollment.Enrollment, error)
	// ActiveEnrollments returns the enrolled and waitlisted enrollments of a
	// class, by position (order of admission). It returns an empty slice, not
	// ErrNotFound, when there are none.
	ActiveEnrollments(ctx context.Context, siteID domain.SiteID, classID domain.ID) ([]*enrollment.Enrollment, error)
	// OldestWaitlisted returns the waitlisted enrollment of a class with the
	// lowest position.
	OldestWaitlisted(ctx context.Context, siteID domain.SiteID, classID domain.ID) (*enrollment.Enrollment, error)
	// Course returns a course with its sessions.
	Course(ctx context.Context, siteID domain.SiteID, id domain.ID) (*course.Course, error)
	// CourseEnrollment returns an enrollment in a course.
	CourseEnrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*courseenrollment.Enrollment, error)
	// CourseEnrollmentByKey returns the course enrollment whose LookupKey
	// (courseenrollment.LookupKey, kept in its Snapshot) is key: the
	// enrollment a session entity ID names (courseenrollment.ParseSessionEntityID).
	CourseEnrollmentByKey(ctx context.Context, siteID domain.SiteID, key string) (*courseenrollment.Enrollment, error)
	// ActiveCourseEnrollment returns the participant's active enrollment in
	// the course (courseenrollment.ActiveStates).
	ActiveCourseEnrollment(ctx context.Context, siteID domain.SiteID, courseID, participantID domain.ID) (*courseenrollment.Enrollment, error)
	// ActiveCourseEnrollments returns the active enrollments of a course, by
	// position. It returns an empty slice, not ErrNotFound, when there are
	// none.
	ActiveCourseEnrollments(ctx context.Context, siteID domain.SiteID, courseID domain.ID) ([]*courseenrollment.Enrollment, error)
	// Series returns an appointment series (its occurrences are appointments,
	// read with Appointment).
	Series(ctx context.Context, siteID domain.SiteID, id domain.ID) (*series.Series, error)
	// SiteSettings returns the site's settings, or ErrNotFound when the site
	// never saved any (it then has site.Defaults).
	SiteSettings(ctx context.Context, siteID domain.SiteID) (*site.Settings, error)
	// Histories reads what lifecycle believes is live at Wix, from the
	// outbox, in the same view as the aggregates.
	outbox.Histories
	// Pages reads every aggregate of a site a page at a time, for reconcile.
	Pages
}

// Pages reads a site's aggregates in pages ordered by ID, so that a walk of
// every booking (reconcile) never holds a site's aggregates at once. Each
// method returns at most limit aggregates whose ID is greater than after
// (the zero ID for the first page), and an empty slice after the last.
type Pages interface {
	AppointmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*appointment.Appointment, error)
	EnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*enrollment.Enrollment, error)
	CourseEnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*courseenrollment.Enrollment, error)
	// SiteAfter returns the lowest site ID greater than after (the zero
	// SiteID for the first) that has an appointment, an enrollment or a
	// course enrollment, or ErrNotFound.
	SiteAfter(ctx context.Context, after domain.SiteID) (domain.SiteID, error)
}

// Tx is a read-write transaction.
type Tx interface {
	ReadTx
	// SaveAppointment inserts a new appointment (Version 0) or updates one
	// whose stored version still equals Version; otherwise it returns
	// ErrConflict. On success it sets the aggregate's version to the one
	// written (Version+1).
	SaveAppointment(ctx context.Context, a *appointment.Appointment) error
	// SaveClass is SaveAppointment for classes.
	SaveClass(ctx context.Context, c *class.Class) error
	// SaveEnrollment is SaveAppointment for enrollments. Saving a second
	// active enrollment for the same participant and class is ErrConflict.
	SaveEnrollment(ctx context.Context, e *enrollment.Enrollment) error
	// SaveCourse is SaveAppointment for courses, sessions included.
	SaveCourse(ctx context.Context, c *course.Course) error
	// SaveCourseEnrollment is SaveAppointment for course enrollments. Saving
	// a second active enrollment for the same participant and course is
	// ErrConflict.
	SaveCourseEnrollment(ctx context.Context, e *courseenrollment.Enrollment) error
	// SaveSeries is SaveAppointment for series.
	SaveSeries(ctx context.Context, s *series.Series) error
	// SaveSiteSettings is SaveAppointment for a site's settings: version 0
	// inserts the site's first record.
	SaveSiteSettings(ctx context.Context, s *site.Settings) error
	// Enqueue appends calls to the outbox in the given order. Each call's
	// Seq is assigned by the adapter, increasing in commit order; its State
	// is pending and NextAttemptAt its CreatedAt.
	Enqueue(ctx context.Context, calls []Call) error
	// Idempotency returns the record of a site's idempotency key, or
	// ErrNotFound. It may return a record older than IdempotencyTTL; the
	// caller ignores it.
	Idempotency(ctx context.Context, siteID domain.SiteID, key string) (IdempotencyRecord, error)
	// SaveIdempotency stores rec. It first deletes the records of rec's site
	// created before expiredBefore (so an expired record of the same key is
	// replaced). A record of the same site and key that remains is
	// ErrConflict: another transaction with the key committed first, and the
	// command, run again, finds its record.
	SaveIdempotency(ctx context.Context, rec IdempotencyRecord, expiredBefore time.Time) error
}

// Clock tells the time. Inject one so that tests are deterministic.
type Clock interface {
	Now() time.Time
}

// IDs mints new UUIDs (enrollment IDs, call IDs). Inject one so that tests
// are deterministic.
type IDs interface {
	NewID() string
}
