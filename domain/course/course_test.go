package course_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/course"
)

var (
	now      = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	site     = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	courseID = domain.MustID("c0a5e000-0000-4000-8000-000000000001")
	week     = 7 * 24 * time.Hour
)

func sessionID(n int) domain.ID {
	return domain.MustID(fmt.Sprintf("5e55000%d-0000-4000-8000-000000000000", n))
}

// weekly returns n sessions a week apart from a week after now, an hour each.
func weekly(n int) []course.NewSession {
	out := make([]course.NewSession, n)
	for i := range out {
		start := now.Add(time.Duration(i+1) * week)
		out[i] = course.NewSession{ID: sessionID(i + 1), Start: start, End: start.Add(time.Hour)}
	}
	return out
}

func newCourse(t *testing.T, capacity, sessions int) *course.Course {
	t.Helper()
	c, err := course.Schedule(course.New{ID: courseID, SiteID: site, Title: "Pottery", Capacity: capacity, Sessions: weekly(sessions)}, now)
	require.NoError(t, err)
	return c
}

func TestScheduleValidates(t *testing.T) {
	ok := course.New{ID: courseID, SiteID: site, Capacity: 1, Sessions: weekly(2)}
	tests := []struct {
		name  string
		edit  func(n *course.New)
		field string
	}{
		{"no site", func(n *course.New) { n.SiteID = domain.SiteID{} }, "siteId"},
		{"no id", func(n *course.New) { n.ID = domain.ID{} }, "id"},
		{"title too long", func(n *course.New) { n.Title = strings.Repeat("x", course.MaxTitleLen+1) }, "title"},
		{"no capacity", func(n *course.New) { n.Capacity = 0 }, "capacity"},
		{"capacity above MaxCapacity", func(n *course.New) { n.Capacity = course.MaxCapacity + 1 }, "capacity"},
		{"a session in the past", func(n *course.New) { n.Sessions[1].Start = now.Add(-time.Hour) }, "startsAt"},
		{"a session ending at its start", func(n *course.New) { n.Sessions[0].End = n.Sessions[0].Start }, "endsAt"},
		{"a session ID twice", func(n *course.New) { n.Sessions[1].ID = n.Sessions[0].ID }, "sessionId"},
		{"no session ID", func(n *course.New) { n.Sessions[0].ID = domain.ID{} }, "sessionId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			n.Sessions = weekly(2)
			tc.edit(&n)
			_, err := course.Schedule(n, now)
			var ve *domain.ValidationError
			require.True(t, errors.As(err, &ve), "got %v", err)
			assert.Equal(t, tc.field, ve.Field)
		})
	}
}

func TestScheduleNumbersTheSessions(t *testing.T) {
	c := newCourse(t, 5, 3)
	assert.Equal(t, course.StateScheduled, c.State())
	var numbers []int
	for _, s := range c.Sessions() {
		numbers = append(numbers, s.Number())
		assert.Equal(t, course.SessionStateScheduled, s.State())
		assert.Equal(t, now, s.AddedAt())
	}
	assert.Equal(t, []int{1, 2, 3}, numbers)
	require.Len(t, c.Events(), 1)
	ev := c.Events()[0].(course.Scheduled)
	assert.Len(t, ev.Sessions, 3)
	assert.Equal(t, course.SessionInfo{SessionID: sessionID(2), Number: 2, Start: now.Add(2 * week), End: now.Add(2*week + time.Hour)}, ev.Sessions[1])
}

func TestSessionsOneByOne(t *testing.T) {
	c := newCourse(t, 5, 2)
	later := now.Add(time.Hour)

	s, err := c.AddSession(course.NewSession{ID: sessionID(3), Start: now.Add(3 * week), End: now.Add(3*week + time.Hour)}, later)
	require.NoError(t, err)
	assert.Equal(t, 3, s.Number())
	assert.Equal(t, later, s.AddedAt())

	moved := now.Add(2*week + 2*time.Hour)
	require.NoError(t, c.RescheduleSession(sessionID(2), moved, moved.Add(time.Hour), later))
	two := c.Session(sessionID(2))
	assert.Equal(t, moved, two.Start())
	assert.Equal(t, now.Add(2*week), two.PreviousStart())
	assert.Equal(t, later, two.RescheduledAt())

	require.NoError(t, c.CancelSession(sessionID(1), "teacher ill", later))
	one := c.Session(sessionID(1))
	assert.Equal(t, course.SessionStateCanceled, one.State())
	assert.Equal(t, later, one.CanceledAt())
	assert.Equal(t, "teacher ill", one.CancelReason())

	// A session number is never reused, even after a cancel.
	s, err = c.AddSession(course.NewSession{ID: sessionID(4), Start: now.Add(4 * week), End: now.Add(4*week + time.Hour)}, later)
	require.NoError(t, err)
	assert.Equal(t, 4, s.Number())
	assert.Same(t, s, c.SessionNumber(4))
	assert.Nil(t, c.SessionNumber(9))
	assert.Equal(t, later, c.ChangedAt())

	var names []string
	for _, e := range c.Events() {
		names = append(names, e.EventName())
	}
	assert.Equal(t, []string{"course:scheduled", "course:session_added", "course:session_rescheduled",
		"course:session_canceled", "course:session_added"}, names)
	assert.Equal(t, course.SessionRescheduled{Header: course.Header{CourseID: courseID, SiteID: site, Title: "Pottery", At: later},
		Session: two.Info(), PreviousStart: now.Add(2 * week)}, c.Events()[2])
}

func TestSessionRefusals(t *testing.T) {
	c := newCourse(t, 5, 2)
	require.NoError(t, c.CancelSession(sessionID(1), "", now))
	before := c.Snapshot()

	err := c.CancelSession(sessionID(1), "", now)
	assert.Equal(t, &domain.TransitionNotAllowedError{Aggregate: "session", ID: sessionID(1).String(), State: "canceled", Event: "cancel"}, err)
	err = c.RescheduleSession(sessionID(1), now.Add(week), now.Add(week+time.Hour), now)
	assert.Equal(t, &domain.TransitionNotAllowedError{Aggregate: "session", ID: sessionID(1).String(), State: "canceled", Event: "reschedule"}, err)

	started := now.Add(2 * week)
	assert.ErrorIs(t, c.CancelSession(sessionID(2), "", started), domain.ErrInvalid, "a session that started is not canceled")
	assert.ErrorIs(t, c.RescheduleSession(sessionID(2), started.Add(week), started.Add(week+time.Hour), started), domain.ErrInvalid)
	assert.ErrorIs(t, c.CancelSession(sessionID(7), "", now), domain.ErrInvalid, "no such session")
	_, err = c.AddSession(course.NewSession{ID: sessionID(2), Start: now.Add(week), End: now.Add(week + time.Hour)}, now)
	assert.ErrorIs(t, err, domain.ErrInvalid, "a session ID is used once")
	assert.Equal(t, before, c.Snapshot(), "refusals change nothing")
}

func TestAtMostMaxSessions(t *testing.T) {
	c, err := course.Schedule(course.New{ID: courseID, SiteID: site, Capacity: 1}, now)
	require.NoError(t, err)
	for i := 1; i <= course.MaxSessions; i++ {
		start := now.Add(time.Duration(i) * time.Hour)
		_, err := c.AddSession(course.NewSession{ID: domain.MustID(fmt.Sprintf("5e550000-0000-4000-8000-%012d", i)), Start: start, End: start.Add(time.Minute)}, now)
		require.NoError(t, err)
	}
	_, err = c.AddSession(course.NewSession{ID: sessionID(1), Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}, now)
	var ve *domain.ValidationError
	require.True(t, errors.As(err, &ve), "got %v", err)
	assert.Equal(t, "sessions", ve.Field)
}

func TestAdmitAndRelease(t *testing.T) {
	c := newCourse(t, 2, 2)
	p1, err := c.Admit(now)
	require.NoError(t, err)
	p2, err := c.Admit(now)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, []int64{p1, p2})
	_, err = c.Admit(now)
	assert.Equal(t, &domain.CourseFullError{CourseID: courseID.String(), Capacity: 2}, err)
	assert.ErrorIs(t, err, domain.ErrClassFull)
	require.NoError(t, c.Release())
	assert.Equal(t, 1, c.Enrolled())

	first := now.Add(week)
	assert.True(t, c.IsOpen(first.Add(-time.Millisecond)))
	_, err = c.Admit(first)
	assert.Equal(t, &domain.CourseNotOpenError{CourseID: courseID.String()}, err, "a course takes nobody once its first session started")
	assert.ErrorIs(t, err, domain.ErrClassNotOpen)

	// A canceled first session does not count as the course's start.
	d := newCourse(t, 2, 2)
	require.NoError(t, d.CancelSession(sessionID(1), "", now))
	assert.True(t, d.IsOpen(first.Add(time.Hour)))
	assert.False(t, d.IsOpen(now.Add(2*week)))
}

func TestCancelAndComplete(t *testing.T) {
	c := newCourse(t, 2, 2)
	_, err := c.Admit(now)
	require.NoError(t, err)
	require.NoError(t, c.Cancel("not enough people", now))
	assert.Equal(t, course.StateCanceled, c.State())
	assert.Equal(t, 0, c.Enrolled(), "a canceled course seats nobody")
	assert.Equal(t, "not enough people", c.CancelReason())

	d := newCourse(t, 2, 2)
	last := now.Add(2 * week)
	assert.ErrorIs(t, d.Complete(last.Add(-time.Minute)), domain.ErrInvalid, "the last session has not started")
	require.NoError(t, d.Complete(last))
	assert.Equal(t, course.StateCompleted, d.State())

	e := newCourse(t, 2, 1)
	require.NoError(t, e.CancelSession(sessionID(1), "", now))
	var ve *domain.ValidationError
	require.True(t, errors.As(e.Complete(now.Add(week)), &ve))
	assert.Equal(t, "sessions", ve.Field, "a course without a scheduled session did not take place")
}

// TestCommandsFromEachState runs every command on a course in each state: a
// scheduled course takes them all; a canceled or completed one refuses each
// with the error its table gives, and changes nothing.
func TestCommandsFromEachState(t *testing.T) {
	after := now.Add(2*week + time.Minute)
	commands := map[string]func(c *course.Course) error{
		"add_session": func(c *course.Course) error {
			_, err := c.AddSession(course.NewSession{ID: sessionID(9), Start: after.Add(week), End: after.Add(week + time.Hour)}, after)
			return err
		},
		"reschedule_session": func(c *course.Course) error {
			return c.RescheduleSession(sessionID(3), after.Add(week), after.Add(week+time.Hour), after)
		},
		"cancel_session": func(c *course.Course) error { return c.CancelSession(sessionID(3), "", after) },
		"admit":          func(c *course.Course) error { _, err := c.Admit(now); return err },
		"release":        func(c *course.Course) error { return c.Release() },
		"cancel":         func(c *course.Course) error { return c.Cancel("", after) },
		"complete":       func(c *course.Course) error { return c.Complete(now.Add(3 * week)) },
	}
	into := map[string]func(c *course.Course) error{
		"scheduled": func(c *course.Course) error { return nil },
		"canceled":  func(c *course.Course) error { return c.Cancel("", now) },
		"completed": func(c *course.Course) error { return c.Complete(now.Add(3 * week)) },
	}
	for state, prepare := range into {
		for name, command := range commands {
			t.Run(state+"/"+name, func(t *testing.T) {
				c := newCourse(t, 5, 3)
				_, err := c.Admit(now)
				require.NoError(t, err)
				require.NoError(t, prepare(c))
				before := c.Snapshot()
				err = command(c)
				if state == "scheduled" {
					if name == "admit" || name == "complete" {
						return // admit after the start and complete before it have rules of their own
					}
					assert.NoError(t, err)
					return
				}
				assert.Equal(t, &domain.TransitionNotAllowedError{Aggregate: "course", ID: courseID.String(), State: state, Event: name}, err)
				assert.Equal(t, before, c.Snapshot(), "a refused command changes nothing")
			})
		}
	}
}

func TestRestore(t *testing.T) {
	c := newCourse(t, 3, 3)
	_, err := c.Admit(now)
	require.NoError(t, err)
	require.NoError(t, c.CancelSession(sessionID(2), "rain", now))
	require.NoError(t, c.RescheduleSession(sessionID(3), now.Add(5*week), now.Add(5*week+time.Hour), now))
	c.SetVersion(4)
	got, err := course.Restore(c.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, c.Snapshot(), got.Snapshot())
	assert.Empty(t, got.Events())

	bad := c.Snapshot()
	bad.Sessions[2].Number = 1
	_, err = course.Restore(bad)
	assert.ErrorIs(t, err, domain.ErrInvalid, "numbers repeat")
	bad = c.Snapshot()
	bad.Sessions[0].State = "held"
	_, err = course.Restore(bad)
	assert.ErrorIs(t, err, domain.ErrInvalid)
	bad = c.Snapshot()
	bad.Enrolled = 4
	_, err = course.Restore(bad)
	assert.ErrorIs(t, err, domain.ErrInvalid)
}

func TestSessionsAreCopies(t *testing.T) {
	c := newCourse(t, 3, 2)
	list := c.Sessions()
	list[0] = nil
	assert.NotNil(t, c.Sessions()[0], "the course's list is its own")
}
