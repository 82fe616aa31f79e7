package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// activeCourseEnrollment is the condition of an active course enrollment,
// built from the domain's definition (courseenrollment.ActiveStates), and
// the WHERE of the partial indexes course_enrollments_one_active and
// course_enrollments_active_by_position (TestIndexConditionsFollowTheDomain).
var activeCourseEnrollment = "state IN (" + sqlStrings(courseenrollment.ActiveStates()) + ")"

const (
	courseCols = `site_id, id, title, capacity, enrolled, admissions, state, cancel_reason, scheduled_at, changed_at,
	sessions, version`
	courseEnrollmentCols = `site_id, id, course_id, participant_id, lookup_key, position, enrolled_at, ended_at, state, version`
	seriesCols           = `site_id, id, contact_id, title, first_start_at, length_ms, every, count, time_zone, cut_from, state,
	cancel_reason, scheduled_at, changed_at, version`
	settingsCols = `site_id, time_zone, changed_at, version`
)

// The reads of courses, course enrollments, series and site settings.
var (
	qCourse                 = `SELECT ` + courseCols + ` FROM courses WHERE site_id = $1 AND id = $2`
	qCourseEnrollment       = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments WHERE site_id = $1 AND id = $2`
	qCourseEnrollmentByKey  = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments WHERE site_id = $1 AND lookup_key = $2`
	qActiveCourseEnrollment = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments
		WHERE site_id = $1 AND course_id = $2 AND participant_id = $3 AND ` + activeCourseEnrollment
	qActiveCourseEnrollments = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments
		WHERE site_id = $1 AND course_id = $2 AND ` + activeCourseEnrollment + ` ORDER BY position`
	qSeries = `SELECT ` + seriesCols + ` FROM series WHERE site_id = $1 AND id = $2`
	// qSiteSettings takes the site twice, as an aggregate read by (site, ID).
	qSiteSettings           = `SELECT ` + settingsCols + ` FROM site_settings WHERE site_id = $1 AND site_id = $2`
	qCourseEnrollmentsAfter = `SELECT ` + courseEnrollmentCols + ` FROM course_enrollments
		WHERE site_id = $1 AND id > $2 ORDER BY id LIMIT $3`
)

// sessionRow is the stored form of a session in courses.sessions.
type sessionRow struct {
	ID            string    `json:"id"`
	Number        int       `json:"number"`
	State         string    `json:"state"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	AddedAt       time.Time `json:"addedAt,omitzero"`
	PreviousStart time.Time `json:"previousStart,omitzero"`
	RescheduledAt time.Time `json:"rescheduledAt,omitzero"`
	CanceledAt    time.Time `json:"canceledAt,omitzero"`
	CancelReason  string    `json:"cancelReason,omitempty"`
}

// encodeSessions writes a course's sessions as courses.sessions holds them.
func encodeSessions(ss []course.SessionSnapshot) ([]byte, error) {
	rows := make([]sessionRow, len(ss))
	for i, s := range ss {
		rows[i] = sessionRow{ID: s.ID, Number: s.Number, State: s.State, Start: s.Start.UTC(), End: s.End.UTC(),
			AddedAt: s.AddedAt.UTC(), PreviousStart: s.PreviousStart.UTC(), RescheduledAt: s.RescheduledAt.UTC(),
			CanceledAt: s.CanceledAt.UTC(), CancelReason: s.CancelReason}
	}
	return json.Marshal(rows)
}

func decodeSessions(text []byte) ([]course.SessionSnapshot, error) {
	var rows []sessionRow
	if err := json.Unmarshal(text, &rows); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	out := make([]course.SessionSnapshot, len(rows))
	for i, r := range rows {
		out[i] = course.SessionSnapshot{ID: r.ID, Number: r.Number, State: r.State, Start: r.Start.UTC(), End: r.End.UTC(),
			AddedAt: r.AddedAt.UTC(), PreviousStart: r.PreviousStart.UTC(), RescheduledAt: r.RescheduledAt.UTC(),
			CanceledAt: r.CanceledAt.UTC(), CancelReason: r.CancelReason}
	}
	return out, nil
}

func scanCourse(row pgx.Rows) (*course.Course, error) {
	var s course.Snapshot
	var scheduled, changed pgtype.Timestamptz
	var sessions []byte
	if err := row.Scan(&s.SiteID, &s.ID, &s.Title, &s.Capacity, &s.Enrolled, &s.Admissions, &s.State, &s.CancelReason,
		&scheduled, &changed, &sessions, &s.Version); err != nil {
		return nil, err
	}
	s.ScheduledAt, s.ChangedAt = fromTS(scheduled), fromTS(changed)
	var err error
	if s.Sessions, err = decodeSessions(sessions); err != nil {
		return nil, err
	}
	return course.Restore(s)
}

func scanCourseEnrollment(row pgx.Rows) (*courseenrollment.Enrollment, error) {
	var s courseenrollment.Snapshot
	var enrolled, ended pgtype.Timestamptz
	if err := row.Scan(&s.SiteID, &s.ID, &s.CourseID, &s.ParticipantID, &s.LookupKey, &s.Position, &enrolled, &ended,
		&s.State, &s.Version); err != nil {
		return nil, err
	}
	s.EnrolledAt, s.EndedAt = fromTS(enrolled), fromTS(ended)
	return courseenrollment.Restore(s)
}

func scanSeries(row pgx.Rows) (*series.Series, error) {
	var s series.Snapshot
	var first, scheduled, changed pgtype.Timestamptz
	var length int64
	if err := row.Scan(&s.SiteID, &s.ID, &s.ContactID, &s.Title, &first, &length, &s.Every, &s.Count, &s.TimeZone,
		&s.CutFrom, &s.State, &s.CancelReason, &scheduled, &changed, &s.Version); err != nil {
		return nil, err
	}
	s.FirstStart, s.Length = fromTS(first), time.Duration(length)*time.Millisecond
	s.ScheduledAt, s.ChangedAt = fromTS(scheduled), fromTS(changed)
	return series.Restore(s)
}

func scanSettings(row pgx.Rows) (*site.Settings, error) {
	var s site.Snapshot
	var changed pgtype.Timestamptz
	if err := row.Scan(&s.SiteID, &s.TimeZone, &changed, &s.Version); err != nil {
		return nil, err
	}
	s.ChangedAt = fromTS(changed)
	return site.Restore(s)
}

// Course implements application.ReadTx.
func (t *readTx) Course(ctx context.Context, siteID domain.SiteID, id domain.ID) (*course.Course, error) {
	var c *course.Course
	err := t.queryAggregate(ctx, "courses", siteID.String(), id.String(), qCourse, func(r pgx.Rows) (err error) {
		c, err = scanCourse(r)
		return err
	})
	return c, notFound(err, "course", id.String())
}

// CourseEnrollment implements application.ReadTx.
func (t *readTx) CourseEnrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*courseenrollment.Enrollment, error) {
	var e *courseenrollment.Enrollment
	err := t.queryAggregate(ctx, "course_enrollments", siteID.String(), id.String(), qCourseEnrollment, func(r pgx.Rows) (err error) {
		e, err = scanCourseEnrollment(r)
		return err
	})
	return e, notFound(err, "course enrollment", id.String())
}

// CourseEnrollmentByKey implements application.ReadTx.
func (t *readTx) CourseEnrollmentByKey(ctx context.Context, siteID domain.SiteID, key string) (*courseenrollment.Enrollment, error) {
	var e *courseenrollment.Enrollment
	err := t.queryOne(ctx, qCourseEnrollmentByKey, []any{siteID.String(), key}, func(r pgx.Rows) (err error) {
		e, err = scanCourseEnrollment(r)
		return err
	})
	return e, notFound(err, "course enrollment with key", key)
}

// ActiveCourseEnrollment implements application.ReadTx.
func (t *readTx) ActiveCourseEnrollment(ctx context.Context, siteID domain.SiteID, courseID, participantID domain.ID) (*courseenrollment.Enrollment, error) {
	var e *courseenrollment.Enrollment
	err := t.queryOne(ctx, qActiveCourseEnrollment, []any{siteID.String(), courseID.String(), participantID.String()}, func(r pgx.Rows) (err error) {
		e, err = scanCourseEnrollment(r)
		return err
	})
	return e, notFound(err, "active enrollment of participant "+participantID.String()+" in course", courseID.String())
}

// ActiveCourseEnrollments implements application.ReadTx.
func (t *readTx) ActiveCourseEnrollments(ctx context.Context, siteID domain.SiteID, courseID domain.ID) ([]*courseenrollment.Enrollment, error) {
	out := []*courseenrollment.Enrollment{}
	err := t.query(ctx, qActiveCourseEnrollments, []any{siteID.String(), courseID.String()}, func(r pgx.Rows) error {
		e, err := scanCourseEnrollment(r)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: active enrollments of course %s: %w", courseID, err)
	}
	return out, nil
}

// Series implements application.ReadTx.
func (t *readTx) Series(ctx context.Context, siteID domain.SiteID, id domain.ID) (*series.Series, error) {
	var s *series.Series
	err := t.queryAggregate(ctx, "series", siteID.String(), id.String(), qSeries, func(r pgx.Rows) (err error) {
		s, err = scanSeries(r)
		return err
	})
	return s, notFound(err, "series", id.String())
}

// SiteSettings implements application.ReadTx.
func (t *readTx) SiteSettings(ctx context.Context, siteID domain.SiteID) (*site.Settings, error) {
	var s *site.Settings
	err := t.queryAggregate(ctx, "site_settings", siteID.String(), siteID.String(), qSiteSettings, func(r pgx.Rows) (err error) {
		s, err = scanSettings(r)
		return err
	})
	return s, notFound(err, "settings of site", siteID.String())
}

// CourseEnrollmentsAfter implements application.Pages.
func (t *readTx) CourseEnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*courseenrollment.Enrollment, error) {
	out := []*courseenrollment.Enrollment{}
	err := t.query(ctx, qCourseEnrollmentsAfter, []any{siteID.String(), after.String(), limit}, func(r pgx.Rows) error {
		e, err := scanCourseEnrollment(r)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read course enrollments of site %s after %q: %w", siteID, after, err)
	}
	return out, nil
}
