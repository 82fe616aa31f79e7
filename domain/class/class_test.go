package class_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
)

var (
	now     = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	site    = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	classID = domain.MustID("c1a55000-0000-4000-8000-000000000001")
	start   = now.Add(24 * time.Hour)
	end     = start.Add(time.Hour)
)

func newClass(t *testing.T, capacity int, waitlist bool) *class.Class {
	t.Helper()
	c, err := class.Schedule(class.New{ID: classID, SiteID: site, Title: "Yoga",
		Start: start, End: end, Capacity: capacity, Waitlist: waitlist}, now)
	require.NoError(t, err)
	return c
}

// admit takes n places and fails the test on any refusal.
func admit(t *testing.T, c *class.Class, n int) []class.Admission {
	t.Helper()
	out := make([]class.Admission, n)
	for i := range out {
		a, err := c.Admit(now)
		require.NoError(t, err)
		out[i] = a
	}
	return out
}

func TestScheduleValidates(t *testing.T) {
	ok := class.New{ID: classID, SiteID: site, Start: start, End: end, Capacity: 1}
	tests := []struct {
		name  string
		edit  func(n *class.New)
		field string
	}{
		{"no site", func(n *class.New) { n.SiteID = domain.SiteID{} }, "siteId"},
		{"no id", func(n *class.New) { n.ID = domain.ID{} }, "id"},
		{"title too long", func(n *class.New) { n.Title = strings.Repeat("x", class.MaxTitleLen+1) }, "title"},
		{"start in the past", func(n *class.New) { n.Start = now.Add(-time.Minute) }, "startsAt"},
		{"start now", func(n *class.New) { n.Start = now }, "startsAt"},
		{"end at start", func(n *class.New) { n.End = n.Start }, "endsAt"},
		{"no capacity", func(n *class.New) { n.Capacity = 0 }, "capacity"},
		{"negative capacity", func(n *class.New) { n.Capacity = -1 }, "capacity"},
		{"capacity above MaxCapacity", func(n *class.New) { n.Capacity = class.MaxCapacity + 1 }, "capacity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			tc.edit(&n)
			_, err := class.Schedule(n, now)
			var ve *domain.ValidationError
			require.True(t, errors.As(err, &ve), "got %v", err)
			assert.Equal(t, tc.field, ve.Field)
			assert.ErrorIs(t, err, domain.ErrInvalid)
		})
	}
}

func TestScheduleRecordsScheduled(t *testing.T) {
	c, err := class.Schedule(class.New{ID: classID, SiteID: site, Title: "Yoga",
		Start: start.Add(1500 * time.Microsecond).In(time.FixedZone("CET", 3600)), End: end, Capacity: 3}, now)
	require.NoError(t, err)
	assert.Equal(t, class.StateScheduled, c.State())
	assert.Equal(t, start.Add(time.Millisecond), c.Start(), "UTC, at the millisecond that stores keep")
	assert.Equal(t, int64(0), c.Version())
	assert.Equal(t, []domain.Event{class.Scheduled{Header: class.Header{ClassID: classID, SiteID: site, Title: "Yoga",
		Start: start.Add(time.Millisecond), End: end, At: now}}}, c.Events())
	assert.True(t, c.IsOpen(now))
	assert.Equal(t, class.Info{ClassID: classID, Title: "Yoga", Start: c.Start(), End: end}, c.Info())
}

func TestAdmit(t *testing.T) {
	t.Run("capacity 1 seats one", func(t *testing.T) {
		c := newClass(t, 1, false)
		assert.Equal(t, []class.Admission{{Seated: true, Position: 1}}, admit(t, c, 1))
		_, err := c.Admit(now)
		var full *domain.ClassFullError
		require.True(t, errors.As(err, &full), "got %v", err)
		assert.Equal(t, domain.ClassFullError{ClassID: classID.String(), Capacity: 1}, *full)
		assert.ErrorIs(t, err, domain.ErrClassFull)
		assert.Equal(t, 1, c.Enrolled(), "a refused admission takes no seat")
		assert.Equal(t, 0, c.Waitlisted())
	})
	t.Run("a full class with waitlist waitlists in order", func(t *testing.T) {
		c := newClass(t, 2, true)
		assert.Equal(t, []class.Admission{{Seated: true, Position: 1}, {Seated: true, Position: 2},
			{Seated: false, Position: 3}, {Seated: false, Position: 4}}, admit(t, c, 4))
		assert.Equal(t, 2, c.Enrolled())
		assert.Equal(t, 2, c.Waitlisted())
		assert.Len(t, c.Events(), 1, "admissions record no class event")
	})
	t.Run("MaxCapacity seats are taken, then the class is full", func(t *testing.T) {
		c := newClass(t, class.MaxCapacity, false)
		admit(t, c, class.MaxCapacity)
		assert.Equal(t, class.MaxCapacity, c.Enrolled())
		_, err := c.Admit(now)
		assert.ErrorIs(t, err, domain.ErrClassFull)
	})
	t.Run("a started class is not open", func(t *testing.T) {
		c := newClass(t, 5, true)
		for _, at := range []time.Time{start, start.Add(time.Minute)} {
			_, err := c.Admit(at)
			var notOpen *domain.ClassNotOpenError
			require.True(t, errors.As(err, &notOpen), "got %v", err)
			assert.Equal(t, domain.ClassNotOpenError{ClassID: classID.String(), State: "scheduled", Started: true}, *notOpen)
			assert.ErrorIs(t, err, domain.ErrClassNotOpen)
			assert.False(t, c.IsOpen(at))
		}
		assert.True(t, c.IsOpen(start.Add(-time.Millisecond)), "open until its start")
		assert.Equal(t, 0, c.Enrolled())
	})
}

func TestReleaseAndPromote(t *testing.T) {
	tests := []struct {
		name             string
		capacity, admits int
		release          []bool // seated or not, one per Release
		freed            []bool
		enrolled, waits  int
	}{
		{"a seat of a class without waiters frees none for the waitlist", 2, 2, []bool{true}, []bool{false}, 1, 0},
		{"a seat with waiters frees one", 1, 3, []bool{true}, []bool{true}, 0, 2},
		{"a waitlist place frees no seat", 1, 3, []bool{false}, []bool{false}, 1, 1},
		{"the last waiter leaving, then a seat, frees none", 1, 2, []bool{false, true}, []bool{false, false}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClass(t, tc.capacity, true)
			admit(t, c, tc.admits)
			for i, seated := range tc.release {
				freed, err := c.Release(seated)
				require.NoError(t, err)
				assert.Equal(t, tc.freed[i], freed, "release %d", i)
			}
			assert.Equal(t, tc.enrolled, c.Enrolled())
			assert.Equal(t, tc.waits, c.Waitlisted())
		})
	}

	t.Run("promote moves a waiter to the freed seat", func(t *testing.T) {
		c := newClass(t, 1, true)
		admit(t, c, 2)
		_, err := c.Release(true)
		require.NoError(t, err)
		require.NoError(t, c.Promote())
		assert.Equal(t, 1, c.Enrolled())
		assert.Equal(t, 0, c.Waitlisted())
	})
	t.Run("promote needs a waiter and a free seat", func(t *testing.T) {
		noWaiter := newClass(t, 2, true)
		admit(t, noWaiter, 1)
		full := newClass(t, 1, true)
		admit(t, full, 2)
		for name, c := range map[string]*class.Class{"no waiter": noWaiter, "no free seat": full} {
			before := c.Snapshot()
			err := c.Promote()
			var ve *domain.ValidationError
			require.True(t, errors.As(err, &ve), "%s: got %v", name, err)
			assert.Equal(t, "waitlist", ve.Field, name)
			assert.Equal(t, before, c.Snapshot(), "%s: a refused promotion changes nothing", name)
		}
	})
}

func TestReschedule(t *testing.T) {
	c := newClass(t, 1, false)
	later := now.Add(time.Hour)
	require.NoError(t, c.Reschedule(start.Add(48*time.Hour), end.Add(48*time.Hour), later))
	assert.Equal(t, start.Add(48*time.Hour), c.Start())
	assert.Equal(t, end.Add(48*time.Hour), c.End())
	assert.Equal(t, class.StateScheduled, c.State())
	evs := c.Events()
	require.Len(t, evs, 2)
	assert.Equal(t, class.Rescheduled{Header: class.Header{ClassID: classID, SiteID: site, Title: "Yoga",
		Start: start.Add(48 * time.Hour), End: end.Add(48 * time.Hour), At: later}, PreviousStart: start}, evs[1])

	for name, span := range map[string][2]time.Time{
		"startsAt": {later, later.Add(time.Hour)},
		"endsAt":   {start, start},
	} {
		before := c.Snapshot()
		err := c.Reschedule(span[0], span[1], later)
		var ve *domain.ValidationError
		require.True(t, errors.As(err, &ve), "got %v", err)
		assert.Equal(t, name, ve.Field)
		assert.Equal(t, before, c.Snapshot(), "an invalid reschedule changes nothing")
		assert.Len(t, c.Events(), 2)
	}
}

func TestCancelAndComplete(t *testing.T) {
	c := newClass(t, 1, false)
	err := c.Cancel(strings.Repeat("x", class.MaxReasonLen+1), now)
	assert.ErrorIs(t, err, domain.ErrInvalid)
	require.NoError(t, c.Cancel("storm", now))
	assert.Equal(t, class.StateCanceled, c.State())
	assert.Equal(t, "storm", c.CancelReason())
	assert.Equal(t, class.Canceled{Header: class.Header{ClassID: classID, SiteID: site, Title: "Yoga",
		Start: start, End: end, At: now}, Reason: "storm"}, c.Events()[1])

	held := newClass(t, 1, false)
	var ve *domain.ValidationError
	require.True(t, errors.As(held.Complete(start.Add(-time.Millisecond)), &ve), "not before its start")
	assert.Equal(t, "at", ve.Field)
	require.NoError(t, held.Complete(start), "from its start")
	assert.Equal(t, class.StateCompleted, held.State())
	assert.IsType(t, class.Completed{}, held.Events()[1])
}

func TestCountsWhenTheClassEnds(t *testing.T) {
	canceled := newClass(t, 1, true)
	admit(t, canceled, 3)
	require.NoError(t, canceled.Cancel("", now))
	assert.Zero(t, canceled.Enrolled(), "nobody holds a seat in a canceled class")
	assert.Zero(t, canceled.Waitlisted(), "nor waits for one")

	held := newClass(t, 2, true)
	admit(t, held, 3)
	require.NoError(t, held.Complete(start))
	assert.Equal(t, 2, held.Enrolled(), "the seated attended")
	assert.Zero(t, held.Waitlisted(), "the waitlist closed")
}

// TestCommandsFromEachState puts a full class (one seat, one taken, one
// waiting) in each state and runs every command: a scheduled class takes
// them all; a canceled or completed one refuses each with the error its
// table or its rules give, and changes nothing.
func TestCommandsFromEachState(t *testing.T) {
	after := start.Add(time.Minute)
	commands := map[string]func(c *class.Class) error{
		"reschedule": func(c *class.Class) error { return c.Reschedule(after.Add(time.Hour), after.Add(2*time.Hour), after) },
		"cancel":     func(c *class.Class) error { return c.Cancel("", after) },
		"complete":   func(c *class.Class) error { return c.Complete(after) },
		"admit":      func(c *class.Class) error { _, err := c.Admit(now); return err },
		"release":    func(c *class.Class) error { _, err := c.Release(true); return err },
	}
	into := map[string]func(c *class.Class) error{
		"scheduled": func(c *class.Class) error { return nil },
		"canceled":  func(c *class.Class) error { return c.Cancel("", now) },
		"completed": func(c *class.Class) error { return c.Complete(after) },
	}
	for state, prepare := range into {
		for name, command := range commands {
			t.Run(state+"/"+name, func(t *testing.T) {
				c := newClass(t, 1, true)
				admit(t, c, 2)
				require.NoError(t, prepare(c))
				before := c.Snapshot()
				err := command(c)
				if state == "scheduled" {
					assert.NoError(t, err)
					return
				}
				var want error = &domain.TransitionNotAllowedError{Aggregate: "class", ID: classID.String(), State: state, Event: name}
				if name == "admit" {
					want = &domain.ClassNotOpenError{ClassID: classID.String(), State: state}
				}
				assert.Equal(t, want, err)
				assert.Equal(t, before, c.Snapshot(), "a refused command changes nothing")
			})
		}
	}
}

// TestTheTableRefusesBeforeTheRules: a command the state forbids is refused
// as such, even when its input is also invalid.
func TestTheTableRefusesBeforeTheRules(t *testing.T) {
	c := newClass(t, 1, false)
	require.NoError(t, c.Cancel("", now))
	err := c.Reschedule(now.Add(-time.Hour), now.Add(-2*time.Hour), now)
	assert.ErrorIs(t, err, domain.ErrTransitionNotAllowed)
	assert.ErrorIs(t, c.Complete(now), domain.ErrTransitionNotAllowed, "not 'has not started yet'")
}

func TestPromoteInAClosedClass(t *testing.T) {
	c := newClass(t, 1, true)
	admit(t, c, 2)
	_, err := c.Release(true)
	require.NoError(t, err)
	require.NoError(t, c.Cancel("", now))
	assert.Equal(t, &domain.ClassNotOpenError{ClassID: classID.String(), State: "canceled"}, c.Promote())
}

func TestRestore(t *testing.T) {
	c := newClass(t, 2, true)
	admit(t, c, 3)
	require.NoError(t, c.Cancel("storm", now))
	c.SetVersion(7)
	got, err := class.Restore(c.Snapshot())
	require.NoError(t, err)
	assert.Equal(t, c.Snapshot(), got.Snapshot())
	assert.Empty(t, got.Events(), "a restored class has recorded nothing")
	assert.Equal(t, class.StateCanceled, got.State())
	assert.Equal(t, int64(7), got.Version())

	for name, edit := range map[string]func(s *class.Snapshot){
		"state":             func(s *class.Snapshot) { s.State = "exploded" },
		"id":                func(s *class.Snapshot) { s.ID = "x" },
		"siteId":            func(s *class.Snapshot) { s.SiteID = "" },
		"capacity":          func(s *class.Snapshot) { s.Capacity = 0 },
		"more seated":       func(s *class.Snapshot) { s.Enrolled = s.Capacity + 1 },
		"negative waitlist": func(s *class.Snapshot) { s.Waitlisted = -1 },
	} {
		s := c.Snapshot()
		edit(&s)
		_, err := class.Restore(s)
		assert.ErrorIs(t, err, domain.ErrInvalid, name)
	}
}

func TestCopiesDoNotShareTheMachine(t *testing.T) {
	c := newClass(t, 1, false)
	other, err := class.Restore(c.Snapshot())
	require.NoError(t, err)
	require.NoError(t, other.Cancel("", now))
	assert.Equal(t, class.StateScheduled, c.State())
	assert.True(t, c.IsOpen(now))
}

// TestFactsOfTheLastChanges: what a desired state reads of a class after
// each command; seats taken and given back are not changes of the class.
func TestFactsOfTheLastChanges(t *testing.T) {
	c := newClass(t, 1, true)
	assert.Equal(t, now, c.ScheduledAt())
	assert.Equal(t, now, c.ChangedAt())
	assert.Zero(t, c.PreviousStart(), "never rescheduled")
	assert.Zero(t, c.RescheduledAt())

	admit(t, c, 2)
	_, err := c.Release(true)
	require.NoError(t, err)
	require.NoError(t, c.Promote())
	assert.Equal(t, now, c.ChangedAt(), "seats are not changes of the class")

	moved := now.Add(time.Hour + 1500*time.Microsecond)
	require.NoError(t, c.Reschedule(start.Add(24*time.Hour), end.Add(24*time.Hour), moved))
	assert.Equal(t, start, c.PreviousStart())
	assert.Equal(t, now.Add(time.Hour+time.Millisecond), c.RescheduledAt(), "UTC at the millisecond")
	assert.Equal(t, c.RescheduledAt(), c.ChangedAt())

	held := start.Add(24*time.Hour + time.Minute)
	require.NoError(t, c.Complete(held))
	assert.Equal(t, held, c.ChangedAt())
	assert.Equal(t, now, c.ScheduledAt())

	d := newClass(t, 1, false)
	require.NoError(t, d.Cancel("", moved))
	assert.Equal(t, c.RescheduledAt(), d.ChangedAt())
	assert.Error(t, d.Cancel("", held))
	assert.Equal(t, c.RescheduledAt(), d.ChangedAt(), "a refused command changes nothing")

	s := d.Snapshot()
	s.ScheduledAt, s.ChangedAt = time.Time{}, time.Time{}
	r, err := class.Restore(s)
	require.NoError(t, err, "rows stored before lifecycle kept the times have none")
	assert.Equal(t, s, r.Snapshot())
}
