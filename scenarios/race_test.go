package scenarios

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
)

// Race tests: many goroutines on one aggregate, through the App and every
// store. Run them under -race. Whatever the interleaving, no update is
// lost, no seat is sold twice, and the queued calls tell the story of the
// commands that won, in the order they committed.

const racers = 24

// race runs fn(i) for i in [0, n) at once, released together, and returns
// each one's error.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// refusedAs asserts that err is nil or a refusal with one of codes.
func refusedAs(t *testing.T, err error, codes ...application.Code) bool {
	t.Helper()
	if err == nil {
		return false
	}
	assert.Contains(t, codes, application.ErrorCode(err), "refusal %v", err)
	return true
}

func TestRaceCancelAndRescheduleOneAppointment(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleAppointment(1, 1, 2*day)
		w.newCalls()
		newStart := func(i int) time.Time { return at(3*day + time.Duration(i)*time.Hour) }

		// Half the racers cancel, half move the appointment, each to its own hour.
		errs := race(racers, func(i int) error {
			if i%2 == 0 {
				_, err := w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(1), Reason: fmt.Sprint(i)})
				return err
			}
			_, err := w.app.RescheduleAppointment.Handle(w.ctx, application.RescheduleAppointment{
				SiteID: Site, ID: appointmentID(1), StartsAt: newStart(i), EndsAt: newStart(i).Add(time.Hour)})
			return err
		})
		cancels, moves := 0, map[time.Time]bool{}
		for i, err := range errs {
			if refusedAs(t, err, application.CodeTransitionNotAllowed, application.CodeConflict) {
				continue
			}
			if i%2 == 0 {
				cancels++
			} else {
				moves[newStart(i)] = true
			}
		}
		// Then exactly one cancel won, and every accepted command counted.
		assert.Equal(t, 1, cancels, "exactly one cancel wins")
		v, err := w.app.GetAppointment.Handle(w.ctx, application.GetAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		assert.Equal(t, "canceled", v.State)
		assert.Equal(t, int64(1+len(moves)+1), v.Version, "no lost update: one version per accepted command")

		// And the calls are those of the winners, in commit order: each
		// move, then the cancel, and nothing after it.
		calls := w.newCalls()
		require.Equal(t, 2*len(moves)+3, len(calls))
		for i := 0; i < 2*len(moves); i += 2 {
			assert.Equal(t, cancel("appointment_starting", appointmentID(1)).String(), describe(calls[i]))
			assert.Equal(t, application.KindReport, calls[i+1].Kind)
			assert.True(t, moves[calls[i+1].ScheduledAt], "a reminder at %s, which an accepted move asked for", calls[i+1].ScheduledAt)
			delete(moves, calls[i+1].ScheduledAt)
		}
		tail := calls[len(calls)-3:]
		assert.Equal(t, []string{
			report("appointment_canceled", appointmentID(1)).String(),
			cancel("appointment_scheduled", appointmentID(1)).String(),
			cancel("appointment_starting", appointmentID(1)).String(),
		}, []string{describe(tail[0]), describe(tail[1]), describe(tail[2])})
	})
}

func TestRaceEndOneStartedAppointment(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleAppointment(1, 1, time.Hour)
		w.newCalls()
		w.clock.Advance(2 * time.Hour)

		// A third of the racers cancel, a third complete, a third mark a no-show.
		errs := race(racers, func(i int) error {
			var err error
			switch i % 3 {
			case 0:
				_, err = w.app.CancelAppointment.Handle(w.ctx, application.CancelAppointment{SiteID: Site, ID: appointmentID(1)})
			case 1:
				_, err = w.app.CompleteAppointment.Handle(w.ctx, application.CompleteAppointment{SiteID: Site, ID: appointmentID(1)})
			default:
				_, err = w.app.MarkNoShow.Handle(w.ctx, application.MarkNoShow{SiteID: Site, ID: appointmentID(1)})
			}
			return err
		})
		winners := []int{}
		for i, err := range errs {
			if !refusedAs(t, err, application.CodeTransitionNotAllowed, application.CodeConflict) {
				winners = append(winners, i)
			}
		}
		require.Len(t, winners, 1, "exactly one command ends the appointment")
		v, err := w.app.GetAppointment.Handle(w.ctx, application.GetAppointment{SiteID: Site, ID: appointmentID(1)})
		require.NoError(t, err)
		assert.Equal(t, int64(2), v.Version)
		want := map[int]string{0: "canceled", 1: "completed", 2: "no_show"}[winners[0]%3]
		assert.Equal(t, want, v.State)
		switch want {
		case "canceled":
			w.thenCalls(
				report("appointment_canceled", appointmentID(1)),
				cancel("appointment_scheduled", appointmentID(1)),
				cancel("appointment_starting", appointmentID(1)))
		case "no_show": // the no-show trigger is optional, off by default; the visit's actions end
			w.thenCalls(
				cancel("appointment_scheduled", appointmentID(1)),
				cancel("appointment_starting", appointmentID(1)))
		default:
			w.thenNoCalls() // the completed trigger is optional, off by default
		}
	})
}

func TestRaceForTheLastSeats(t *testing.T) {
	for _, waitlist := range []bool{false, true} {
		t.Run(fmt.Sprintf("waitlist %v", waitlist), func(t *testing.T) {
			eachStore(t, func(t *testing.T, w *world) {
				const seats = 3
				w.scheduleClass(1, seats, waitlist, 2*day)
				views := make([]application.EnrollmentView, racers)
				errs := race(racers, func(i int) error {
					v, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(1), ParticipantID: participantID(i)})
					views[i] = v
					return err
				})
				seated, waiting := map[string]bool{}, 0
				positions := map[int64]bool{}
				for i, err := range errs {
					if refusedAs(t, err, application.CodeClassFull, application.CodeConflict) {
						continue
					}
					assert.False(t, positions[views[i].Position], "positions are unique")
					positions[views[i].Position] = true
					if views[i].State == "enrolled" {
						seated[views[i].ID.String()] = true
					} else {
						assert.Equal(t, "waitlisted", views[i].State)
						waiting++
					}
				}
				assert.Len(t, seated, seats, "exactly the seats are taken, never more")
				c, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: Site, ID: classID(1)})
				require.NoError(t, err)
				assert.Equal(t, seats, c.Enrolled)
				assert.Equal(t, waiting, c.Waitlisted)
				if waitlist {
					assert.Equal(t, racers-seats, waiting, "everyone else waits")
				} else {
					assert.Zero(t, waiting)
				}
				// Enrollment calls went out for the seated only: two each.
				calls := w.newCalls()
				assert.Equal(t, 2*seats, len(calls))
				for _, call := range calls {
					assert.True(t, seated[call.ExternalEntityID], "%s is for a seated enrollment", describe(call))
				}
			})
		})
	}
}

func TestRaceLeaveAndEnrollOnAFullClass(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		const seats = 4
		w.scheduleClass(1, seats, true, 2*day)
		var first []application.EnrollmentView
		for p := range seats {
			first = append(first, w.enroll(1, p))
		}
		w.newCalls()
		// Those seated leave while as many newcomers enroll, all at once.
		errs := race(2*seats, func(i int) error {
			if i < seats {
				_, err := w.app.Leave.Handle(w.ctx, application.Leave{SiteID: Site, EnrollmentID: first[i].ID})
				return err
			}
			_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(1), ParticipantID: participantID(100 + i)})
			return err
		})
		for _, err := range errs {
			require.NoError(t, err, "a leave always succeeds, and an enroll finds a seat or the waitlist")
		}
		// Every newcomer ends up seated (promoted, if they had to wait), and
		// the class counts agree.
		c, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: Site, ID: classID(1)})
		require.NoError(t, err)
		assert.Equal(t, seats, c.Enrolled)
		assert.Zero(t, c.Waitlisted)
		// Each seat change is in the outbox: the leavers' three calls, and
		// two for every newcomer, whether seated at once or promoted.
		assert.Equal(t, 3*seats+2*seats, len(w.newCalls()))
	})
}

func TestRaceOneParticipantEnrollsTwiceAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		w.scheduleClass(1, 10, false, 2*day)
		errs := race(racers, func(int) error {
			_, err := w.app.Enroll.Handle(w.ctx, application.Enroll{SiteID: Site, ClassID: classID(1), ParticipantID: participantID(1)})
			return err
		})
		ok := 0
		for _, err := range errs {
			if !refusedAs(t, err, application.CodeAlreadyEnrolled, application.CodeConflict) {
				ok++
			}
		}
		assert.Equal(t, 1, ok, "one active enrollment per participant and class")
		c, err := w.app.GetClass.Handle(w.ctx, application.GetClass{SiteID: Site, ID: classID(1)})
		require.NoError(t, err)
		assert.Equal(t, 1, c.Enrolled)
		assert.Equal(t, 2, len(w.newCalls()))
	})
}

// describe renders a queued call as the scenarios' call does.
func describe(c application.Call) string {
	return call{kind: c.Kind, trigger: c.TriggerKey, entity: c.ExternalEntityID, at: c.ScheduledAt}.String()
}
