package courseenrollment_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
)

var (
	now      = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	site     = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	courseID = domain.MustID("c0a5e000-0000-4000-8000-000000000001")
	week     = 7 * 24 * time.Hour
)

func id(prefix string, n int) string { return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n) }

func newCourse(t *testing.T, capacity int) *course.Course {
	t.Helper()
	var sessions []course.NewSession
	for i := 1; i <= 3; i++ {
		start := now.Add(time.Duration(i) * week)
		sessions = append(sessions, course.NewSession{ID: domain.MustID(id("5e550000", i)), Start: start, End: start.Add(time.Hour)})
	}
	c, err := course.Schedule(course.New{ID: courseID, SiteID: site, Title: "Pottery", Capacity: capacity, Sessions: sessions}, now)
	require.NoError(t, err)
	return c
}

func enroll(t *testing.T, c *course.Course, n int) *courseenrollment.Enrollment {
	t.Helper()
	e, err := courseenrollment.Enroll(c, courseenrollment.New{ID: domain.MustID(id("e0000000", n)), SiteID: site, ParticipantID: domain.MustID(id("9a000000", n))}, nil, now)
	require.NoError(t, err)
	return e
}

func TestEnroll(t *testing.T) {
	c := newCourse(t, 2)
	e := enroll(t, c, 1)
	assert.Equal(t, courseenrollment.StateEnrolled, e.State())
	assert.Equal(t, int64(1), e.Position())
	assert.Equal(t, 1, c.Enrolled())
	assert.Equal(t, []domain.Event{courseenrollment.Enrolled{Header: courseenrollment.Header{EnrollmentID: e.ID(), SiteID: site,
		ParticipantID: domain.MustID(id("9a000000", 1)), Course: course.Info{CourseID: courseID, Title: "Pottery"}, At: now}}}, e.Events())

	_, err := courseenrollment.Enroll(c, courseenrollment.New{ID: domain.MustID(id("e0000000", 9)), SiteID: site, ParticipantID: domain.MustID(id("9a000000", 1))}, e, now)
	assert.Equal(t, &domain.AlreadyEnrolledError{CourseID: courseID.String(), ParticipantID: id("9a000000", 1), EnrollmentID: e.ID().String()}, err)
	assert.Contains(t, err.Error(), "in course")

	enroll(t, c, 2)
	_, err = courseenrollment.Enroll(c, courseenrollment.New{ID: domain.MustID(id("e0000000", 3)), SiteID: site, ParticipantID: domain.MustID(id("9a000000", 3))}, nil, now)
	assert.ErrorIs(t, err, domain.ErrClassFull)

	for _, bad := range []courseenrollment.New{
		{ID: domain.ID{}, SiteID: site, ParticipantID: domain.MustID(id("9a000000", 4))},
		{ID: domain.MustID(id("e0000000", 4)), SiteID: site, ParticipantID: domain.ID{}},
		{ID: domain.MustID(id("e0000000", 4)), SiteID: domain.MustSiteID("5e000000-0000-4000-8000-000000000002"), ParticipantID: domain.MustID(id("9a000000", 4))},
	} {
		_, err := courseenrollment.Enroll(c, bad, nil, now)
		assert.ErrorIs(t, err, domain.ErrInvalid, "%+v", bad)
	}
}

func TestLeaveGivesTheSeatBack(t *testing.T) {
	c := newCourse(t, 1)
	e := enroll(t, c, 1)
	left := now.Add(time.Hour)
	require.NoError(t, e.Leave(c, left))
	assert.Equal(t, courseenrollment.StateLeft, e.State())
	assert.Equal(t, left, e.EndedAt())
	assert.Equal(t, 0, c.Enrolled())
	enroll(t, c, 2) // the seat is free again
}

// TestCommandsFromEachState: an enrolled participant can leave, or end with
// the course; every other state is final and refuses each with the table's
// error.
func TestCommandsFromEachState(t *testing.T) {
	commands := map[string]func(e *courseenrollment.Enrollment, c *course.Course) error{
		"leave":           func(e *courseenrollment.Enrollment, c *course.Course) error { return e.Leave(c, now) },
		"course_cancel":   func(e *courseenrollment.Enrollment, c *course.Course) error { return e.CourseCanceled(c, "", now) },
		"course_complete": func(e *courseenrollment.Enrollment, c *course.Course) error { return e.CourseCompleted(c, now) },
	}
	into := map[string]func(e *courseenrollment.Enrollment, c *course.Course) error{
		"enrolled":        func(e *courseenrollment.Enrollment, c *course.Course) error { return nil },
		"left":            commands["leave"],
		"course_canceled": commands["course_cancel"],
		"completed":       commands["course_complete"],
	}
	for state, prepare := range into {
		for name, command := range commands {
			t.Run(state+"/"+name, func(t *testing.T) {
				c := newCourse(t, 3)
				e := enroll(t, c, 1)
				require.NoError(t, prepare(e, c))
				before := e.Snapshot()
				err := command(e, c)
				if state == "enrolled" {
					assert.NoError(t, err)
					return
				}
				assert.Equal(t, &domain.TransitionNotAllowedError{Aggregate: "course enrollment", ID: e.ID().String(), State: state, Event: name}, err)
				assert.Equal(t, before, e.Snapshot(), "a refused command changes nothing")
			})
		}
	}
}

func TestAnotherCourseIsRefused(t *testing.T) {
	c := newCourse(t, 3)
	e := enroll(t, c, 1)
	other, err := course.Schedule(course.New{ID: domain.MustID(id("c0a5e000", 2)), SiteID: site, Capacity: 1}, now)
	require.NoError(t, err)
	assert.ErrorIs(t, e.Leave(other, now), domain.ErrInvalid)
	assert.Equal(t, courseenrollment.StateEnrolled, e.State())
}

// TestHeld: the sessions that started while the participant held the seat
// stay theirs after they leave; the later ones do not.
func TestHeld(t *testing.T) {
	c := newCourse(t, 3)
	e := enroll(t, c, 1)
	sessions := c.Sessions()
	for _, s := range sessions {
		assert.True(t, e.Held(s), "an enrolled participant holds every session")
	}
	require.NoError(t, e.Leave(c, now.Add(week+time.Minute))) // after the first session started
	assert.True(t, e.Held(sessions[0]))
	assert.False(t, e.Held(sessions[1]))
	assert.False(t, e.Held(sessions[2]))
}

func TestRestore(t *testing.T) {
	c := newCourse(t, 3)
	e := enroll(t, c, 1)
	require.NoError(t, e.CourseCanceled(c, "", now.Add(time.Hour)))
	e.SetVersion(2)
	got, err := courseenrollment.Restore(e.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, e.Snapshot(), got.Snapshot())
	assert.Equal(t, courseenrollment.LookupKey(e.ID()), got.Snapshot().LookupKey)
	assert.False(t, got.Snapshot().Active())
	bad := e.Snapshot()
	bad.State = "waitlisted"
	_, err = courseenrollment.Restore(bad)
	assert.ErrorIs(t, err, domain.ErrInvalid)
}

func TestSessionEntityIDs(t *testing.T) {
	seen := map[string]string{}
	for n := 1; n <= 50; n++ {
		enr := id("e0000000", n)
		key := courseenrollment.LookupKey(domain.MustID(enr))
		assert.Len(t, key, 24)
		for session := 1; session <= 40; session++ {
			x := courseenrollment.SessionEntityID(domain.MustID(enr), session)
			u, err := uuid.Parse(x.String())
			require.NoError(t, err, "a GUID, as Wix requires")
			assert.Equal(t, uuid.Version(8), u.Version())
			assert.Equal(t, uuid.RFC4122, u.Variant())
			assert.NotEqual(t, enr, x.String())
			what := fmt.Sprintf("enrollment %d session %d", n, session)
			other, dup := seen[x.String()]
			require.False(t, dup, "%s and %s share %s", what, other, x)
			seen[x.String()] = what

			gotKey, gotSession, ok := courseenrollment.ParseSessionEntityID(x.String())
			require.True(t, ok)
			assert.Equal(t, key, gotKey)
			assert.Equal(t, session, gotSession)
		}
	}
	assert.Equal(t, courseenrollment.SessionEntityID(domain.MustID(id("e0000000", 1)), 3), courseenrollment.SessionEntityID(domain.MustID(strings.ToUpper(id("e0000000", 1))), 3),
		"derived from the canonical ID")
	assert.Equal(t, courseenrollment.SessionEntityID(domain.MustID(id("e0000000", 1)), 3), courseenrollment.SessionEntityID(domain.MustID(id("e0000000", 1)), 3),
		"deterministic")

	for _, notOne := range []string{"", "nope", id("e0000000", 1), "01a21df1-0000-7000-8000-000000000000",
		strings.TrimSuffix(courseenrollment.SessionEntityID(domain.MustID(id("e0000000", 1)), 1).String(), "00000001") + "00000000"} {
		_, _, ok := courseenrollment.ParseSessionEntityID(notOne)
		assert.False(t, ok, notOne)
	}
}
