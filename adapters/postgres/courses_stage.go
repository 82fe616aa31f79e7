package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bookable/lifecycle/adapters/overlay"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// The writes of courses, course enrollments, series and site settings. An
// update names the version it read and raises a conflict (lifecycle_expect)
// when no row has it.
var (
	qInsertCourse = `INSERT INTO courses (` + courseCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	qUpdateCourse = `WITH u AS (UPDATE courses SET title = $3, capacity = $4, enrolled = $5, admissions = $6, state = $7,
		cancel_reason = $8, scheduled_at = $9, changed_at = $10, sessions = $11, version = $12
		WHERE site_id = $1 AND id = $2 AND version = $13 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $14) FROM u`
	qInsertCourseEnrollment = `INSERT INTO course_enrollments (` + courseEnrollmentCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	qUpdateCourseEnrollment = `WITH u AS (UPDATE course_enrollments SET course_id = $3, participant_id = $4, lookup_key = $5,
		position = $6, enrolled_at = $7, ended_at = $8, state = $9, version = $10
		WHERE site_id = $1 AND id = $2 AND version = $11 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $12) FROM u`
	qInsertSeries = `INSERT INTO series (` + seriesCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	qUpdateSeries = `WITH u AS (UPDATE series SET contact_id = $3, title = $4, first_start_at = $5, length_ms = $6, every = $7,
		count = $8, time_zone = $9, cut_from = $10, state = $11, cancel_reason = $12, scheduled_at = $13, changed_at = $14,
		version = $15 WHERE site_id = $1 AND id = $2 AND version = $16 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $17) FROM u`
	qInsertSettings = `INSERT INTO site_settings (` + settingsCols + `) VALUES ($1, $2, $3, $4)`
	qUpdateSettings = `WITH u AS (UPDATE site_settings SET time_zone = $2, changed_at = $3, version = $4
		WHERE site_id = $1 AND version = $5 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $6) FROM u`
)

// stageSave stages the save of an aggregate whose stored form is s, saved
// at version, into m (at the version it will have): cols builds the row
// for the written version, and the write is an insert (version 0) or an
// update checked against the version it was loaded at.
func stageSave[S any](t *tx, table, what string, m *map[aggKey]S, k aggKey, s S, version int64,
	staged func(S) int64, setVersion func(*S, int64), agg interface{ SetVersion(int64) },
	insert, update string, cols func(written int64) []any) error {
	prev, ok := (*m)[k]
	if err := checkStaged(what, k.id, staged(prev), version, ok); err != nil {
		return err
	}
	err := t.stage(table, k, agg, version, func(from int64) stagedOp {
		args := cols(version + 1)
		if from == 0 {
			return stagedOp{sql: insert, args: args}
		}
		return stagedOp{sql: update, args: append(args, from, what+" "+k.id+" changed since it was loaded"), from: from}
	})
	if err != nil {
		return err
	}
	if *m == nil {
		*m = map[aggKey]S{}
	}
	setVersion(&s, version+1)
	(*m)[k] = s
	return nil
}

// SaveCourse implements application.Tx, sessions included.
func (t *tx) SaveCourse(ctx context.Context, c *course.Course) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := c.Snapshot()
	sessions, err := encodeSessions(s.Sessions)
	if err != nil {
		return fmt.Errorf("save course %s: %w", s.ID, err)
	}
	return stageSave(t, "courses", "course", &t.courses, aggKey{s.SiteID, s.ID}, s, s.Version,
		func(s course.Snapshot) int64 { return s.Version }, func(s *course.Snapshot, v int64) { s.Version = v }, c,
		qInsertCourse, qUpdateCourse, func(v int64) []any {
			return []any{s.SiteID, s.ID, s.Title, s.Capacity, s.Enrolled, s.Admissions, s.State, s.CancelReason,
				ts(s.ScheduledAt), ts(s.ChangedAt), json.RawMessage(sessions), v}
		})
}

// SaveCourseEnrollment implements application.Tx. A second active
// enrollment of the participant in the course is ErrConflict: at once when
// this transaction staged it, else from the unique index
// course_enrollments_one_active at commit.
func (t *tx) SaveCourseEnrollment(ctx context.Context, e *courseenrollment.Enrollment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := e.Snapshot()
	if s.Active() {
		for other, o := range t.courseEnrs {
			if other.site == s.SiteID && other.id != s.ID && o.CourseID == s.CourseID && o.ParticipantID == s.ParticipantID && o.Active() {
				return fmt.Errorf("save course enrollment: participant %s already active in course %s: %w",
					s.ParticipantID, s.CourseID, application.ErrConflict)
			}
		}
	}
	return stageSave(t, "course_enrollments", "course enrollment", &t.courseEnrs, aggKey{s.SiteID, s.ID}, s, s.Version,
		func(s courseenrollment.Snapshot) int64 { return s.Version },
		func(s *courseenrollment.Snapshot, v int64) { s.Version = v }, e,
		qInsertCourseEnrollment, qUpdateCourseEnrollment, func(v int64) []any {
			return []any{s.SiteID, s.ID, s.CourseID, s.ParticipantID, s.LookupKey, s.Position, ts(s.EnrolledAt),
				ts(s.EndedAt), s.State, v}
		})
}

// SaveSeries implements application.Tx.
func (t *tx) SaveSeries(ctx context.Context, x *series.Series) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := x.Snapshot()
	return stageSave(t, "series", "series", &t.series, aggKey{s.SiteID, s.ID}, s, s.Version,
		func(s series.Snapshot) int64 { return s.Version }, func(s *series.Snapshot, v int64) { s.Version = v }, x,
		qInsertSeries, qUpdateSeries, func(v int64) []any {
			return []any{s.SiteID, s.ID, s.ContactID, s.Title, ts(s.FirstStart), s.Length.Milliseconds(), s.Every, s.Count,
				s.TimeZone, s.CutFrom, s.State, s.CancelReason, ts(s.ScheduledAt), ts(s.ChangedAt), v}
		})
}

// SaveSiteSettings implements application.Tx.
func (t *tx) SaveSiteSettings(ctx context.Context, x *site.Settings) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := x.Snapshot()
	return stageSave(t, "site_settings", "settings of site", &t.settings, aggKey{s.SiteID, s.SiteID}, s, s.Version,
		func(s site.Snapshot) int64 { return s.Version }, func(s *site.Snapshot, v int64) { s.Version = v }, x,
		qInsertSettings, qUpdateSettings, func(v int64) []any {
			return []any{s.SiteID, s.TimeZone, ts(s.ChangedAt), v}
		})
}

// The staged reads: a staged aggregate is read as staged.

// Course implements application.ReadTx.
func (t *tx) Course(ctx context.Context, siteID domain.SiteID, id domain.ID) (*course.Course, error) {
	if s, ok := t.courses[aggKey{siteID.String(), id.String()}]; ok {
		if err := t.check(ctx); err != nil {
			return nil, err
		}
		return course.Restore(s)
	}
	return t.readTx.Course(ctx, siteID, id)
}

// CourseEnrollment implements application.ReadTx.
func (t *tx) CourseEnrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*courseenrollment.Enrollment, error) {
	if s, ok := t.courseEnrs[aggKey{siteID.String(), id.String()}]; ok {
		if err := t.check(ctx); err != nil {
			return nil, err
		}
		return courseenrollment.Restore(s)
	}
	return t.readTx.CourseEnrollment(ctx, siteID, id)
}

// CourseEnrollmentByKey implements application.ReadTx: a staged enrollment
// with the key, else the snapshot's (in its staged version, when the
// transaction saved it).
func (t *tx) CourseEnrollmentByKey(ctx context.Context, siteID domain.SiteID, key string) (*courseenrollment.Enrollment, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	for k, s := range t.courseEnrs {
		if k.site == siteID.String() && s.LookupKey == key {
			return courseenrollment.Restore(s)
		}
	}
	e, err := t.readTx.CourseEnrollmentByKey(ctx, siteID, key)
	if err != nil {
		return nil, err
	}
	if s, ok := t.courseEnrs[aggKey{siteID.String(), e.ID().String()}]; ok {
		return courseenrollment.Restore(s)
	}
	return e, nil
}

// ActiveCourseEnrollment implements application.ReadTx.
func (t *tx) ActiveCourseEnrollment(ctx context.Context, siteID domain.SiteID, courseID, participantID domain.ID) (*courseenrollment.Enrollment, error) {
	if len(t.courseEnrs) == 0 {
		return t.readTx.ActiveCourseEnrollment(ctx, siteID, courseID, participantID)
	}
	all, err := t.ActiveCourseEnrollments(ctx, siteID, courseID)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.ParticipantID() == participantID {
			return e, nil
		}
	}
	return nil, notFound(pgx.ErrNoRows, "active enrollment of participant "+participantID.String()+" in course", courseID.String())
}

// ActiveCourseEnrollments implements application.ReadTx: the snapshot's
// active enrollments of the course, replaced by their staged versions, plus
// the staged ones the snapshot lacks, by position.
func (t *tx) ActiveCourseEnrollments(ctx context.Context, siteID domain.SiteID, courseID domain.ID) ([]*courseenrollment.Enrollment, error) {
	stored, err := t.readTx.ActiveCourseEnrollments(ctx, siteID, courseID)
	if err != nil || len(t.courseEnrs) == 0 {
		return stored, err
	}
	return overlay.Merge(stored, t.courseEnrs, func(id domain.ID) aggKey { return aggKey{siteID.String(), id.String()} },
		func(k aggKey, s courseenrollment.Snapshot) bool {
			return k.site == siteID.String() && s.CourseID == courseID.String() && s.Active()
		},
		courseenrollment.Restore, func(a, b *courseenrollment.Enrollment) bool { return a.Position() < b.Position() })
}

// Series implements application.ReadTx.
func (t *tx) Series(ctx context.Context, siteID domain.SiteID, id domain.ID) (*series.Series, error) {
	if s, ok := t.series[aggKey{siteID.String(), id.String()}]; ok {
		if err := t.check(ctx); err != nil {
			return nil, err
		}
		return series.Restore(s)
	}
	return t.readTx.Series(ctx, siteID, id)
}

// SiteSettings implements application.ReadTx.
func (t *tx) SiteSettings(ctx context.Context, siteID domain.SiteID) (*site.Settings, error) {
	if s, ok := t.settings[aggKey{siteID.String(), siteID.String()}]; ok {
		if err := t.check(ctx); err != nil {
			return nil, err
		}
		return site.Restore(s)
	}
	return t.readTx.SiteSettings(ctx, siteID)
}

// CourseEnrollmentsAfter implements application.Pages on the snapshot: a
// page read after a save in the same transaction does not see the save.
func (t *tx) CourseEnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*courseenrollment.Enrollment, error) {
	return t.readTx.CourseEnrollmentsAfter(ctx, siteID, after, limit)
}
