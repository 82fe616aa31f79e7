package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// runCourses runs the cases of courses, course enrollments, series and
// site settings.
func runCourses(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("course and course enrollment round trip", func(t *testing.T) { testCourseRoundTrip(t, newHarness(t)) })
	t.Run("course enrollment by lookup key", func(t *testing.T) { testCourseEnrollmentByKey(t, newHarness(t)) })
	t.Run("one active course enrollment per participant", func(t *testing.T) { testOneActiveCourseEnrollment(t, newHarness(t)) })
	t.Run("course enrollment queries see the transaction's saves", func(t *testing.T) { testCourseEnrollmentQueries(t, newHarness(t)) })
	t.Run("course version conflict", func(t *testing.T) { testCourseVersionConflict(t, newHarness(t)) })
	t.Run("series round trip", func(t *testing.T) { testSeriesRoundTrip(t, newHarness(t)) })
	t.Run("site settings", func(t *testing.T) { testSiteSettings(t, newHarness(t)) })
	t.Run("pages of course enrollments", func(t *testing.T) { testCoursePages(t, newHarness(t)) })
	t.Run("tenancy of courses, series and settings", func(t *testing.T) { testCourseTenancy(t, newHarness(t)) })
}

// NewCourse returns a new scheduled course n on site with sessions sessions,
// a day apart from three days after T0, an hour each.
func NewCourse(t testing.TB, site domain.SiteID, n, capacity, sessions int) *course.Course {
	var ss []course.NewSession
	for i := 1; i <= sessions; i++ {
		start := T0.Add(time.Duration(48+24*i) * time.Hour)
		ss = append(ss, course.NewSession{ID: ID(fmt.Sprintf("5e55%04d", n), i), Start: start, End: start.Add(time.Hour)})
	}
	c, err := course.Schedule(course.New{ID: ID("c0a50000", n), SiteID: site, Title: fmt.Sprintf("course %d", n),
		Capacity: capacity, Sessions: ss}, T0)
	require.NoError(t, err)
	return c
}

// EnrollInCourse enrolls participant p in c at T0 as enrollment n.
func EnrollInCourse(t testing.TB, c *course.Course, n, p int) *courseenrollment.Enrollment {
	e, err := courseenrollment.Enroll(c, courseenrollment.New{ID: ID("ce000000", n), SiteID: c.SiteID(), ParticipantID: ID("f0000000", p)}, nil, T0)
	require.NoError(t, err)
	return e
}

func testCourseRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewCourse(t, SiteA, 1, 3, 3)
	stays, leaves := EnrollInCourse(t, c, 1, 1), EnrollInCourse(t, c, 2, 2)
	later := T0.Add(time.Minute + 1500*time.Microsecond)
	sessions := c.Sessions()
	require.NoError(t, c.CancelSession(sessions[0].ID(), "rain", later))
	require.NoError(t, c.RescheduleSession(sessions[1].ID(), T0.Add(200*time.Hour), T0.Add(201*time.Hour), later))
	_, err := c.AddSession(course.NewSession{ID: ID("5e559999", 1), Start: T0.Add(300 * time.Hour), End: T0.Add(301 * time.Hour)}, later)
	require.NoError(t, err)
	require.NoError(t, leaves.Leave(c, later))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveCourse(ctx, c); err != nil {
			return err
		}
		if err := tx.SaveCourseEnrollment(ctx, stays); err != nil {
			return err
		}
		return tx.SaveCourseEnrollment(ctx, leaves)
	})
	assert.Equal(t, int64(1), c.Version())
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Course(ctx, SiteA, c.ID())
		require.NoError(t, err)
		assert.Equal(t, c.Snapshot(), got.Snapshot())
		require.Len(t, got.Sessions(), 4)
		assert.Equal(t, later.Truncate(time.Millisecond), got.Sessions()[0].CanceledAt(), "at the millisecond")
		assert.Equal(t, "rain", got.Sessions()[0].CancelReason())
		assert.Equal(t, T0.Add(96*time.Hour), got.Sessions()[1].PreviousStart())
		assert.Equal(t, 4, got.Sessions()[3].Number())
		assert.Equal(t, 1, got.Enrolled())
		assert.Empty(t, got.Events())
		for _, e := range []*courseenrollment.Enrollment{stays, leaves} {
			ge, err := tx.CourseEnrollment(ctx, SiteA, e.ID())
			require.NoError(t, err)
			assert.Equal(t, e.Snapshot(), ge.Snapshot())
		}
		_, err = tx.Course(ctx, SiteA, ID("c0a50000", 99))
		assert.ErrorIs(t, err, application.ErrNotFound)
		_, err = tx.CourseEnrollment(ctx, SiteA, ID("ce000000", 99))
		assert.ErrorIs(t, err, application.ErrNotFound)
		return nil
	}))
}

func testCourseEnrollmentByKey(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewCourse(t, SiteA, 1, 5, 2)
	var es []*courseenrollment.Enrollment
	for n := 1; n <= 3; n++ {
		es = append(es, EnrollInCourse(t, c, n, n))
	}
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		for _, e := range es[:2] {
			if err := tx.SaveCourseEnrollment(ctx, e); err != nil {
				return err
			}
		}
		return tx.SaveCourse(ctx, c)
	})
	find := func(tx application.ReadTx, e *courseenrollment.Enrollment, session int) {
		key, n, ok := courseenrollment.ParseSessionEntityID(courseenrollment.SessionEntityID(e.ID(), session).String())
		require.True(t, ok)
		assert.Equal(t, session, n)
		got, err := tx.CourseEnrollmentByKey(ctx, SiteA, key)
		require.NoError(t, err)
		assert.Equal(t, e.ID(), got.ID())
	}
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		find(tx, es[0], 2)
		find(tx, es[1], 1)
		_, err := tx.CourseEnrollmentByKey(ctx, SiteA, courseenrollment.LookupKey(es[2].ID()))
		assert.ErrorIs(t, err, application.ErrNotFound, "not saved")
		_, err = tx.CourseEnrollmentByKey(ctx, SiteB, courseenrollment.LookupKey(es[0].ID()))
		assert.ErrorIs(t, err, application.ErrNotFound, "another site's")
		return nil
	}))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveCourseEnrollment(ctx, es[2]); err != nil {
			return err
		}
		find(tx, es[2], 1) // the transaction sees its own save
		find(tx, es[0], 1)
		return nil
	})
}

func testOneActiveCourseEnrollment(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewCourse(t, SiteA, 1, 5, 1)
	first := EnrollInCourse(t, c, 1, 1)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveCourseEnrollment(ctx, first) })
	second := EnrollInCourse(t, c, 2, 1) // the same participant, as a racing command would
	err := h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveCourseEnrollment(ctx, second) })
	assert.ErrorIs(t, err, application.ErrConflict)

	require.NoError(t, first.Leave(c, T0))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveCourseEnrollment(ctx, first) })
	again := EnrollInCourse(t, c, 3, 1)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveCourseEnrollment(ctx, again) })
}

func testCourseEnrollmentQueries(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewCourse(t, SiteA, 1, 5, 1)
	a, b, gone := EnrollInCourse(t, c, 1, 1), EnrollInCourse(t, c, 2, 2), EnrollInCourse(t, c, 3, 3)
	require.NoError(t, gone.Leave(c, T0))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		for _, e := range []*courseenrollment.Enrollment{b, gone, a} {
			if err := tx.SaveCourseEnrollment(ctx, e); err != nil {
				return err
			}
		}
		return tx.SaveCourse(ctx, c)
	})
	ids := func(es []*courseenrollment.Enrollment) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID().String())
		}
		return out
	}
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		active, err := tx.ActiveCourseEnrollments(ctx, SiteA, c.ID())
		require.NoError(t, err)
		assert.Equal(t, []string{a.ID().String(), b.ID().String()}, ids(active), "active ones, by position")
		got, err := tx.ActiveCourseEnrollment(ctx, SiteA, c.ID(), ID("f0000000", 2))
		require.NoError(t, err)
		assert.Equal(t, b.ID(), got.ID())
		_, err = tx.ActiveCourseEnrollment(ctx, SiteA, c.ID(), ID("f0000000", 3))
		assert.ErrorIs(t, err, application.ErrNotFound, "participant 3 left")
		none, err := tx.ActiveCourseEnrollments(ctx, SiteA, ID("c0a50000", 9))
		require.NoError(t, err)
		assert.NotNil(t, none)
		assert.Empty(t, none)
		return nil
	}))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		loaded, err := tx.CourseEnrollment(ctx, SiteA, a.ID())
		require.NoError(t, err)
		cl, err := tx.Course(ctx, SiteA, c.ID())
		require.NoError(t, err)
		require.NoError(t, loaded.Leave(cl, T0))
		fresh := EnrollInCourse(t, cl, 4, 4)
		for _, e := range []*courseenrollment.Enrollment{loaded, fresh} {
			if err := tx.SaveCourseEnrollment(ctx, e); err != nil {
				return err
			}
		}
		active, err := tx.ActiveCourseEnrollments(ctx, SiteA, c.ID())
		require.NoError(t, err)
		assert.Equal(t, []string{b.ID().String(), fresh.ID().String()}, ids(active), "the transaction's leave and enrollment are seen")
		got, err := tx.ActiveCourseEnrollment(ctx, SiteA, c.ID(), ID("f0000000", 4))
		require.NoError(t, err)
		assert.Equal(t, fresh.ID(), got.ID())
		_, err = tx.ActiveCourseEnrollment(ctx, SiteA, c.ID(), ID("f0000000", 1))
		assert.ErrorIs(t, err, application.ErrNotFound)
		return tx.SaveCourse(ctx, cl)
	})
}

func testCourseVersionConflict(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewCourse(t, SiteA, 1, 5, 1)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveCourse(ctx, c) })
	var first, second *course.Course
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		var err error
		if first, err = tx.Course(ctx, SiteA, c.ID()); err != nil {
			return err
		}
		second, err = tx.Course(ctx, SiteA, c.ID())
		return err
	}))
	require.NoError(t, first.CancelSession(first.Sessions()[0].ID(), "", T0))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveCourse(ctx, first) })
	require.NoError(t, second.Cancel("", T0))
	err := h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveCourse(ctx, second) })
	assert.ErrorIs(t, err, application.ErrConflict, "a stale course is never written")
	err = h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		return tx.SaveCourse(ctx, NewCourse(t, SiteA, 1, 5, 1))
	})
	assert.ErrorIs(t, err, application.ErrConflict, "an ID is inserted once")
}

func testSeriesRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	zone, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	s, err := series.Schedule(series.New{ID: ID("5e1e5000", 1), SiteID: SiteA, ContactID: ID("c0000000", 1), Title: "Physio",
		Start: T0.Add(48 * time.Hour), End: T0.Add(48*time.Hour + 45*time.Minute), Every: series.Weekly, Count: 6, Zone: zone}, T0)
	require.NoError(t, err)
	require.NoError(t, s.CancelFollowing(4, "moving", T0.Add(time.Minute)))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveSeries(ctx, s) })
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Series(ctx, SiteA, s.ID())
		require.NoError(t, err)
		assert.Equal(t, s.Snapshot(), got.Snapshot())
		assert.Equal(t, s.Occurrences(), got.Occurrences())
		_, err = tx.Series(ctx, SiteA, ID("5e1e5000", 2))
		assert.ErrorIs(t, err, application.ErrNotFound)
		return nil
	}))
	stale, err := series.Restore(s.Snapshot())
	require.NoError(t, err)
	stale.SetVersion(0)
	require.NoError(t, s.CancelAll("", T0.Add(time.Hour)))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveSeries(ctx, s) })
	err = h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveSeries(ctx, stale) })
	assert.ErrorIs(t, err, application.ErrConflict)
}

func testSiteSettings(t *testing.T, h Harness) {
	ctx := context.Background()
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		_, err := tx.SiteSettings(ctx, SiteA)
		assert.ErrorIs(t, err, application.ErrNotFound, "a site that never saved settings")
		return nil
	}))
	berlin, err := domain.ParseTimeZone("Europe/Berlin")
	require.NoError(t, err)
	s, err := site.Defaults(SiteA)
	require.NoError(t, err)
	s.SetTimeZone(berlin, T0.Add(1500*time.Microsecond))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveSiteSettings(ctx, s); err != nil {
			return err
		}
		got, err := tx.SiteSettings(ctx, SiteA)
		require.NoError(t, err, "the transaction sees its own save")
		assert.Equal(t, "Europe/Berlin", got.TimeZone().Name())
		return nil
	})
	assert.Equal(t, int64(1), s.Version())
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.SiteSettings(ctx, SiteA)
		require.NoError(t, err)
		assert.Equal(t, site.Snapshot{SiteID: SiteA.String(), TimeZone: "Europe/Berlin", ChangedAt: T0.Add(time.Millisecond), Version: 1}, got.Snapshot())
		return nil
	}))

	again, err := site.Defaults(SiteA)
	require.NoError(t, err)
	err = h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveSiteSettings(ctx, again) })
	assert.ErrorIs(t, err, application.ErrConflict, "a site's first record is inserted once")

	ny, err := domain.ParseTimeZone("America/New_York")
	require.NoError(t, err)
	s.SetTimeZone(ny, T0.Add(time.Hour))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveSiteSettings(ctx, s) })
	stale, err := site.Restore(site.Snapshot{SiteID: SiteA.String(), TimeZone: "UTC", Version: 1})
	require.NoError(t, err)
	err = h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveSiteSettings(ctx, stale) })
	assert.ErrorIs(t, err, application.ErrConflict)
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.SiteSettings(ctx, SiteA)
		require.NoError(t, err)
		assert.Equal(t, "America/New_York", got.TimeZone().Name())
		assert.Equal(t, int64(2), got.Version())
		return nil
	}))
}

func testCoursePages(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewCourse(t, SiteB, 1, 10, 1) // site B has course enrollments only
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		for _, n := range []int{3, 1, 2} {
			if err := tx.SaveCourseEnrollment(ctx, EnrollInCourse(t, c, n, n)); err != nil {
				return err
			}
		}
		return tx.SaveCourse(ctx, c)
	})
	walk := func(tx application.ReadTx) {
		var ids []string
		for after := (domain.ID{}); ; {
			page, err := tx.CourseEnrollmentsAfter(ctx, SiteB, after, 2)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				ids = append(ids, e.ID().String())
			}
			after = page[len(page)-1].ID()
		}
		assert.Equal(t, []string{ID("ce000000", 1).String(), ID("ce000000", 2).String(), ID("ce000000", 3).String()}, ids)
		none, err := tx.CourseEnrollmentsAfter(ctx, SiteA, domain.ID{}, 10)
		require.NoError(t, err)
		assert.Empty(t, none)
		first, err := tx.SiteAfter(ctx, domain.SiteID{})
		require.NoError(t, err)
		assert.Equal(t, SiteB, first, "a site with course enrollments only is walked too")
	}
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error { walk(tx); return nil }))
	require.NoError(t, h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { walk(tx); return nil }))
}

func testCourseTenancy(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewCourse(t, SiteA, 1, 10, 1)
	e := EnrollInCourse(t, c, 1, 1)
	s, err := series.Schedule(series.New{ID: ID("5e1e5000", 1), SiteID: SiteA, ContactID: ID("c0000000", 1),
		Start: T0.Add(48 * time.Hour), End: T0.Add(49 * time.Hour), Every: series.Daily, Count: 2}, T0)
	require.NoError(t, err)
	settings, err := site.Defaults(SiteA)
	require.NoError(t, err)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		return errors.Join(tx.SaveCourse(ctx, c), tx.SaveCourseEnrollment(ctx, e), tx.SaveSeries(ctx, s), tx.SaveSiteSettings(ctx, settings))
	})
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		_, err := tx.Course(ctx, SiteB, c.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		_, err = tx.CourseEnrollment(ctx, SiteB, e.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		_, err = tx.ActiveCourseEnrollment(ctx, SiteB, c.ID(), e.ParticipantID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		active, err := tx.ActiveCourseEnrollments(ctx, SiteB, c.ID())
		require.NoError(t, err)
		assert.Empty(t, active)
		_, err = tx.Series(ctx, SiteB, s.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		_, err = tx.SiteSettings(ctx, SiteB)
		assert.ErrorIs(t, err, application.ErrNotFound)
		return nil
	}))
}
