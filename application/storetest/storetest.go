// Package storetest is the contract suite of the application.Store port.
// Every adapter runs it from its own tests:
//
//	func TestStoreContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Harness {
//			db := open(t)
//			return storetest.Harness{Store: db, Outbox: db}
//		})
//	}
//
// It checks round trips, rollback, optimistic versions, the race for the
// last seat of a class, tenancy, and idempotency records; and the same for
// courses, course enrollments, series and site settings (courses.go).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// Harness is an adapter under test: its Store, and the Outbox that shows
// what its transactions enqueued.
type Harness struct {
	Store  application.Store
	Outbox application.Outbox
}

// Fixed identities and times of the suite.
var (
	SiteA = domain.MustSiteID("a0000000-0000-4000-8000-000000000001")
	SiteB = domain.MustSiteID("b0000000-0000-4000-8000-000000000002")
)

// T0 is the suite's "now".
var T0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

// ID returns the n-th UUID of a family of suite IDs (prefix: 8 hex digits).
func ID(prefix string, n int) domain.ID {
	return domain.MustID(fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n))
}

// Run runs the suite; newHarness must return a fresh, empty adapter.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("appointment round trip", func(t *testing.T) { testAppointmentRoundTrip(t, newHarness(t)) })
	t.Run("class and enrollment round trip", func(t *testing.T) { testClassRoundTrip(t, newHarness(t)) })
	t.Run("rollback leaves nothing", func(t *testing.T) { testRollback(t, newHarness(t)) })
	t.Run("version conflict", func(t *testing.T) { testVersionConflict(t, newHarness(t)) })
	t.Run("duplicate insert", func(t *testing.T) { testDuplicateInsert(t, newHarness(t)) })
	t.Run("one active enrollment per participant", func(t *testing.T) { testOneActiveEnrollment(t, newHarness(t)) })
	t.Run("enrollment queries", func(t *testing.T) { testEnrollmentQueries(t, newHarness(t)) })
	t.Run("enqueue keeps order", func(t *testing.T) { testEnqueueOrder(t, newHarness(t)) })
	t.Run("twenty racers for the last seat", func(t *testing.T) { testLastSeatRace(t, newHarness(t)) })
	t.Run("tenancy", func(t *testing.T) { testTenancy(t, newHarness(t)) })
	t.Run("canceled context changes nothing", func(t *testing.T) { testCanceledContext(t, newHarness(t)) })
	t.Run("idempotency records", func(t *testing.T) { testIdempotency(t, newHarness(t)) })
	t.Run("twenty racers for one idempotency key", func(t *testing.T) { testIdempotencyRace(t, newHarness(t)) })
	t.Run("pages of a site's aggregates", func(t *testing.T) { testPages(t, newHarness(t)) })
	runCourses(t, newHarness)
}

// NewAppointment returns a new scheduled appointment n on site.
func NewAppointment(t testing.TB, site domain.SiteID, n int) *appointment.Appointment {
	a, err := appointment.Schedule(appointment.New{
		ID: ID("a1000000", n), SiteID: site, ContactID: ID("c0000000", n), Title: fmt.Sprintf("appointment %d", n),
		Start: T0.Add(48 * time.Hour), End: T0.Add(49 * time.Hour),
	}, T0)
	require.NoError(t, err)
	return a
}

// NewClass returns a new scheduled class n on site.
func NewClass(t testing.TB, site domain.SiteID, n, capacity int, waitlist bool) *class.Class {
	c, err := class.Schedule(class.New{
		ID: ID("c1000000", n), SiteID: site, Title: fmt.Sprintf("class %d", n),
		Start: T0.Add(72 * time.Hour), End: T0.Add(73 * time.Hour), Capacity: capacity, Waitlist: waitlist,
	}, T0)
	require.NoError(t, err)
	return c
}

func save(t *testing.T, s application.Store, fn func(ctx context.Context, tx application.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), fn))
}

func testAppointmentRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	a := NewAppointment(t, SiteA, 1)
	moved, canceled := T0.Add(time.Minute+1500*time.Microsecond), T0.Add(2*time.Minute)
	require.NoError(t, a.Reschedule(T0.Add(50*time.Hour), T0.Add(51*time.Hour), moved))
	require.NoError(t, a.Cancel("ill", canceled))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, a) })
	assert.Equal(t, int64(1), a.Version(), "a save sets the version written")

	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Appointment(ctx, SiteA, a.ID())
		require.NoError(t, err)
		assert.Equal(t, a.Snapshot(), got.Snapshot())
		assert.Equal(t, time.UTC, got.Start().Location())
		assert.Equal(t, T0, got.BookedAt())
		assert.Equal(t, canceled, got.ChangedAt())
		assert.Equal(t, T0.Add(48*time.Hour), got.PreviousStart())
		assert.Equal(t, T0.Add(time.Minute+time.Millisecond), got.RescheduledAt(), "at the millisecond")
		assert.Empty(t, got.Events(), "a loaded aggregate has no new events")
		_, err = tx.Appointment(ctx, SiteA, ID("a1000000", 99))
		assert.ErrorIs(t, err, application.ErrNotFound)
		return nil
	}))

	fresh := NewAppointment(t, SiteA, 2)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, fresh) })
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Appointment(ctx, SiteA, fresh.ID())
		require.NoError(t, err)
		assert.Equal(t, fresh.Snapshot(), got.Snapshot())
		assert.True(t, got.PreviousStart().IsZero(), "never rescheduled")
		assert.True(t, got.RescheduledAt().IsZero())
		return nil
	}))
}

func testClassRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewClass(t, SiteA, 1, 1, true)
	enroll := func(n int) *enrollment.Enrollment {
		e, err := enrollment.Enroll(c, enrollment.New{ID: ID("e0000000", n), SiteID: SiteA, ParticipantID: ID("f0000000", n)}, nil, T0)
		require.NoError(t, err)
		return e
	}
	seated, waiting, stays := enroll(1), enroll(2), enroll(3)
	left, moved := T0.Add(time.Minute), T0.Add(2*time.Minute)
	_, err := seated.Leave(c, left)
	require.NoError(t, err)
	require.NoError(t, waiting.Promote(c, left))
	require.NoError(t, c.Reschedule(T0.Add(96*time.Hour), T0.Add(97*time.Hour), moved))
	require.NoError(t, waiting.ClassRescheduled(c, T0, moved)) // seated now: told of the move
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveClass(ctx, c); err != nil {
			return err
		}
		for _, e := range []*enrollment.Enrollment{seated, waiting, stays} {
			if err := tx.SaveEnrollment(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		gc, err := tx.Class(ctx, SiteA, c.ID())
		require.NoError(t, err)
		assert.Equal(t, c.Snapshot(), gc.Snapshot())
		assert.Equal(t, T0, gc.ScheduledAt())
		assert.Equal(t, moved, gc.ChangedAt())
		assert.Equal(t, T0.Add(72*time.Hour), gc.PreviousStart())
		assert.Equal(t, moved, gc.RescheduledAt())
		for _, want := range []struct {
			e             *enrollment.Enrollment
			seated, ended time.Time
		}{
			{seated, T0, left},                // seated at once, then left
			{waiting, left, time.Time{}},      // seated by promotion, active, told of the move
			{stays, time.Time{}, time.Time{}}, // still waiting: never seated
		} {
			ge, err := tx.Enrollment(ctx, SiteA, want.e.ID())
			require.NoError(t, err)
			assert.Equal(t, want.e.Snapshot(), ge.Snapshot())
			assert.Equal(t, T0, ge.EnrolledAt())
			assert.Equal(t, want.seated, ge.SeatedAt(), "seated at, %s", ge.ID())
			assert.Equal(t, want.ended, ge.EndedAt(), "ended at, %s", ge.ID())
			if want.e == waiting {
				assert.Equal(t, moved, ge.ClassMovedAt(), "class moved at")
			}
		}
		return nil
	}))
}

func testRollback(t *testing.T, h Harness) {
	ctx := context.Background()
	boom := errors.New("boom")
	a := NewAppointment(t, SiteA, 1)
	err := h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		require.NoError(t, tx.SaveAppointment(ctx, a))
		require.NoError(t, tx.Enqueue(ctx, []application.Call{testCall(SiteA.String(), a.ID().String(), 1)}))
		// The transaction sees its own write.
		_, err := tx.Appointment(ctx, SiteA, a.ID())
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		_, err := tx.Appointment(ctx, SiteA, a.ID())
		assert.ErrorIs(t, err, application.ErrNotFound, "a rolled back insert is not visible")
		return nil
	}))
	calls, err := h.Outbox.List(ctx, application.Filter{})
	require.NoError(t, err)
	assert.Empty(t, calls, "a rolled back transaction enqueues nothing")
}

func testVersionConflict(t *testing.T, h Harness) {
	ctx := context.Background()
	a := NewAppointment(t, SiteA, 1)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, a) })

	var first, second *appointment.Appointment
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		var err error
		if first, err = tx.Appointment(ctx, SiteA, a.ID()); err != nil {
			return err
		}
		second, err = tx.Appointment(ctx, SiteA, a.ID())
		return err
	}))
	require.NoError(t, first.Cancel("first", T0))
	require.NoError(t, second.Reschedule(T0.Add(96*time.Hour), T0.Add(97*time.Hour), T0))
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, first) })
	assert.Equal(t, int64(2), first.Version())

	err := h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, second) })
	require.ErrorIs(t, err, application.ErrConflict, "a stale write is refused, never lost")
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Appointment(ctx, SiteA, a.ID())
		require.NoError(t, err)
		assert.Equal(t, appointment.StateCanceled, got.State(), "the first write stands")
		assert.Equal(t, int64(2), got.Version())
		return nil
	}))
}

func testDuplicateInsert(t *testing.T, h Harness) {
	a := NewAppointment(t, SiteA, 1)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, a) })
	again := NewAppointment(t, SiteA, 1)
	err := h.Store.Update(context.Background(), func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, again) })
	assert.ErrorIs(t, err, application.ErrConflict)

	c := NewClass(t, SiteA, 1, 1, false)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveClass(ctx, c) })
	err = h.Store.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		return tx.SaveClass(ctx, NewClass(t, SiteA, 1, 1, false))
	})
	assert.ErrorIs(t, err, application.ErrConflict)
}

func testOneActiveEnrollment(t *testing.T, h Harness) {
	c := NewClass(t, SiteA, 1, 5, false)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveClass(ctx, c) })
	// Two enrollments of one participant, each built against its own copy
	// of the class, as two racing commands would.
	enroll := func(n int) error {
		return h.Store.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
			cls, err := tx.Class(ctx, SiteA, c.ID())
			if err != nil {
				return err
			}
			e, err := enrollment.Enroll(cls, enrollment.New{ID: ID("e0000000", n), SiteID: SiteA, ParticipantID: ID("f0000000", 1)}, nil, T0)
			if err != nil {
				return err
			}
			return tx.SaveEnrollment(ctx, e) // the class is deliberately not saved
		})
	}
	require.NoError(t, enroll(1))
	assert.ErrorIs(t, enroll(2), application.ErrConflict, "a second active enrollment of one participant in one class is refused")
}

func testEnrollmentQueries(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewClass(t, SiteA, 1, 2, true)
	var es []*enrollment.Enrollment
	for i := 1; i <= 4; i++ {
		e, err := enrollment.Enroll(c, enrollment.New{ID: ID("e0000000", i), SiteID: SiteA, ParticipantID: ID("f0000000", i)}, nil, T0)
		require.NoError(t, err)
		es = append(es, e)
	}
	_, err := es[0].Leave(c, T0)
	require.NoError(t, err)
	other := NewClass(t, SiteA, 2, 2, false)
	oe, err := enrollment.Enroll(other, enrollment.New{ID: ID("e0000000", 9), SiteID: SiteA, ParticipantID: ID("f0000000", 2)}, nil, T0)
	require.NoError(t, err)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveClass(ctx, c); err != nil {
			return err
		}
		if err := tx.SaveClass(ctx, other); err != nil {
			return err
		}
		for _, e := range append(es, oe) {
			if err := tx.SaveEnrollment(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		act, err := tx.ActiveEnrollments(ctx, SiteA, c.ID())
		require.NoError(t, err)
		var ids []string
		for _, e := range act {
			ids = append(ids, e.ID().String())
		}
		assert.Equal(t, []string{es[1].ID().String(), es[2].ID().String(), es[3].ID().String()}, ids, "active enrollments by position, without the one who left nor other classes")

		got, err := tx.ActiveEnrollment(ctx, SiteA, c.ID(), ID("f0000000", 2))
		require.NoError(t, err)
		assert.Equal(t, es[1].ID(), got.ID())
		_, err = tx.ActiveEnrollment(ctx, SiteA, c.ID(), ID("f0000000", 1))
		assert.ErrorIs(t, err, application.ErrNotFound, "who left holds no active enrollment")

		w, err := tx.OldestWaitlisted(ctx, SiteA, c.ID())
		require.NoError(t, err)
		assert.Equal(t, es[2].ID(), w.ID(), "the oldest waitlisted enrollment")
		_, err = tx.OldestWaitlisted(ctx, SiteA, other.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)

		none, err := tx.ActiveEnrollments(ctx, SiteA, ID("c1000000", 77))
		require.NoError(t, err)
		assert.Empty(t, none)
		return nil
	}))
}

func testCall(site, entity string, n int) application.Call {
	return application.Call{
		ID: ID("d0000000", n).String(), SiteID: site, OrderingKey: application.OrderingKey(site, entity),
		Kind: application.KindReport, TriggerKey: fmt.Sprintf("trigger_%d", n), ExternalEntityID: entity,
		Payload: []byte(`{"n":1}`), Cause: "test", State: application.StatePending,
		CreatedAt: T0, NextAttemptAt: T0,
	}
}

func testEnqueueOrder(t *testing.T, h Harness) {
	ctx := context.Background()
	entity := ID("a1000000", 1)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []application.Call{testCall(SiteA.String(), entity.String(), 1), testCall(SiteA.String(), entity.String(), 2)})
	})
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		return tx.Enqueue(ctx, []application.Call{testCall(SiteA.String(), entity.String(), 3)})
	})
	calls, err := h.Outbox.List(ctx, application.Filter{SiteID: SiteA.String()})
	require.NoError(t, err)
	require.Len(t, calls, 3)
	for i, c := range calls {
		assert.Equal(t, ID("d0000000", i+1).String(), c.ID, "calls listed in commit order")
		assert.Equal(t, application.StatePending, c.State)
		assert.JSONEq(t, `{"n":1}`, string(c.Payload))
		if i > 0 {
			assert.Greater(t, c.Seq, calls[i-1].Seq, "Seq grows in commit order")
		}
	}
}

func testLastSeatRace(t *testing.T, h Harness) {
	ctx := context.Background()
	c := NewClass(t, SiteA, 1, 3, false)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error { return tx.SaveClass(ctx, c) })
	// Two seats are taken; twenty participants race for the last one.
	for i := 1; i <= 2; i++ {
		require.NoError(t, enrollWithRetry(ctx, h.Store, c.ID(), i))
	}
	const racers = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, racers)
	)
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = enrollWithRetry(ctx, h.Store, c.ID(), 100+i)
		}(i)
	}
	close(start)
	wg.Wait()
	won, full := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, domain.ErrClassFull):
			full++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, 1, won, "exactly one racer gets the last seat")
	assert.Equal(t, racers-1, full, "every other racer is told the class is full")
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		got, err := tx.Class(ctx, SiteA, c.ID())
		require.NoError(t, err)
		assert.Equal(t, 3, got.Enrolled())
		act, err := tx.ActiveEnrollments(ctx, SiteA, c.ID())
		require.NoError(t, err)
		assert.Len(t, act, 3, "capacity is never exceeded")
		return nil
	}))
}

// enrollWithRetry enrolls participant n as a handler does: load, change,
// save, retried on version conflicts.
func enrollWithRetry(ctx context.Context, s application.Store, classID domain.ID, n int) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		err = s.Update(ctx, func(ctx context.Context, tx application.Tx) error {
			cls, err := tx.Class(ctx, SiteA, classID)
			if err != nil {
				return err
			}
			e, err := enrollment.Enroll(cls, enrollment.New{ID: ID("e0000000", n), SiteID: SiteA, ParticipantID: ID("f0000000", n)}, nil, T0)
			if err != nil {
				return err
			}
			if err := tx.SaveClass(ctx, cls); err != nil {
				return err
			}
			return tx.SaveEnrollment(ctx, e)
		})
		if !errors.Is(err, application.ErrConflict) {
			return err
		}
	}
	return err
}

func testTenancy(t *testing.T, h Harness) {
	ctx := context.Background()
	a := NewAppointment(t, SiteA, 1)
	c := NewClass(t, SiteA, 1, 2, true)
	e, err := enrollment.Enroll(c, enrollment.New{ID: ID("e0000000", 1), SiteID: SiteA, ParticipantID: ID("f0000000", 1)}, nil, T0)
	require.NoError(t, err)
	save(t, h.Store, func(ctx context.Context, tx application.Tx) error {
		if err := tx.SaveAppointment(ctx, a); err != nil {
			return err
		}
		if err := tx.SaveClass(ctx, c); err != nil {
			return err
		}
		if err := tx.SaveEnrollment(ctx, e); err != nil {
			return err
		}
		return tx.Enqueue(ctx, []application.Call{testCall(SiteA.String(), a.ID().String(), 1)})
	})
	require.NoError(t, h.Store.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		_, err := tx.Appointment(ctx, SiteB, a.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		_, err = tx.Class(ctx, SiteB, c.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		_, err = tx.Enrollment(ctx, SiteB, e.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		_, err = tx.ActiveEnrollment(ctx, SiteB, c.ID(), ID("f0000000", 1))
		assert.ErrorIs(t, err, application.ErrNotFound)
		act, err := tx.ActiveEnrollments(ctx, SiteB, c.ID())
		require.NoError(t, err)
		assert.Empty(t, act)
		return nil
	}))
	calls, err := h.Outbox.List(ctx, application.Filter{SiteID: SiteB.String()})
	require.NoError(t, err)
	assert.Empty(t, calls, "another site's calls are not listed")
	_, err = h.Outbox.Get(ctx, SiteB.String(), ID("d0000000", 1).String())
	assert.ErrorIs(t, err, application.ErrNotFound)
	stats, err := h.Outbox.Stats(ctx, SiteB.String())
	require.NoError(t, err)
	assert.Zero(t, stats[application.StatePending])

	// An update of site B cannot reach site A's aggregate either.
	err = h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error {
		_, err := tx.Appointment(ctx, SiteB, a.ID())
		return err
	})
	assert.ErrorIs(t, err, application.ErrNotFound)
}

func testCanceledContext(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := NewAppointment(t, SiteA, 1)
	err := h.Store.Update(ctx, func(ctx context.Context, tx application.Tx) error { return tx.SaveAppointment(ctx, a) })
	require.Error(t, err)
	require.NoError(t, h.Store.View(context.Background(), func(ctx context.Context, tx application.ReadTx) error {
		_, err := tx.Appointment(ctx, SiteA, a.ID())
		assert.ErrorIs(t, err, application.ErrNotFound)
		return nil
	}))
}
