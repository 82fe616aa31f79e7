package relay_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/memory"
	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
)

// How few requests a backlog needs. Wix allows 200 requests a minute per
// site and 100 items a request, so for most users the number of requests,
// not the relay's speed, decides how soon a backlog reaches Wix. Calls of
// one key go in order, one request at a time, so a backlog drains in rounds:
// round k holds each key's k-th pending call. The lower bound is the sum
// over rounds of ceil(calls of one kind and trigger / 100).
//
//	go test -run '^$' -bench 'BenchmarkRequests' -benchtime 1x ./application/
//
// reports requests/bound and, under the 200/min limit on the simulated
// clock, drain-time/needed: the time the drain took against the least time
// its own requests need under the limit.

// backlogBound is the lower bound of requests for the pending calls, by
// rounds of heads.
func backlogBound(calls []application.Call) int {
	byKey := map[string][]application.Call{}
	var keys []string
	for _, c := range calls {
		if c.State != application.StatePending {
			continue
		}
		if _, ok := byKey[c.OrderingKey]; !ok {
			keys = append(keys, c.OrderingKey)
		}
		byKey[c.OrderingKey] = append(byKey[c.OrderingKey], c)
	}
	bound := 0
	for round := 0; ; round++ {
		groups := map[string]int{}
		for _, k := range keys {
			if q := byKey[k]; round < len(q) {
				groups[string(q[round].Kind)+" "+q[round].TriggerKey]++
			}
		}
		if len(groups) == 0 {
			return bound
		}
		for _, n := range groups {
			bound += (n + application.MaxBatch - 1) / application.MaxBatch
		}
	}
}

// neededTime is the least time r requests of one site take under the relay's
// default limit: the burst at once, then one per interval.
func neededTime(r int) time.Duration {
	l := relay.NewRateLimiter(relay.DefaultRequestsPerMinute, 0, time.Now)
	burst := max(1, relay.DefaultRequestsPerMinute/10)
	return time.Duration(max(r-burst, 0)) * l.Interval()
}

// requestsBench runs one backlog: setup books and delivers what comes
// before, backlog makes the calls to measure; the drain runs under the
// default limit with the clock moved by the relay's waits.
func requestsBench(b *testing.B, setup, backlog func(ctx context.Context, app *application.App, now time.Time)) {
	for _, name := range []string{"memory", "sqlite"} {
		b.Run("store="+name, func(b *testing.B) { requestsBenchOn(b, name, setup, backlog) })
	}
}

// benchStore is a store and its outbox for the requests benchmarks.
type benchStore interface {
	application.Store
	application.Outbox
}

func requestsBenchOn(b *testing.B, storeName string, setup, backlog func(ctx context.Context, app *application.App, now time.Time)) {
	ctx := context.Background()
	var ratio, timeRatio float64
	for b.Loop() {
		b.StopTimer()
		t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
		clock := fake.NewClock(t0)
		var store benchStore = memory.New()
		if storeName == "sqlite" {
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.WithClock(clock))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			store = db
		}
		app, err := application.New(application.Config{Store: store, Clock: clock, IDs: fake.NewIDs("0e000000")})
		if err != nil {
			b.Fatal(err)
		}
		gw := fake.NewGateway(clock)
		relay := func() *relay.Relay {
			r, err := relay.New(relay.Config{Outbox: store, Gateway: gw, Clock: clock,
				Workers: 8,
				After: func(d time.Duration) <-chan time.Time {
					ch := make(chan time.Time, 1)
					ch <- clock.Advance(d)
					return ch
				}})
			if err != nil {
				b.Fatal(err)
			}
			return r
		}
		setup(ctx, app, t0)
		if err := relay().Drain(ctx); err != nil {
			b.Fatal(err)
		}
		clock.Advance(time.Hour) // the setup's requests are out of the limit's window
		backlog(ctx, app, clock.Now())
		pending, err := store.List(ctx, application.Filter{State: application.StatePending, Limit: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		bound := backlogBound(pending)
		before, start := gw.RequestCount(), clock.Now()
		b.StartTimer()
		if err := relay().Drain(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		requests := gw.RequestCount() - before
		ratio = float64(requests) / float64(bound)
		took, need := clock.Now().Sub(start), neededTime(requests)
		timeRatio = 1
		if need > 0 {
			timeRatio = took.Seconds() / need.Seconds()
		}
		b.ReportMetric(float64(bound), "bound")
		b.ReportMetric(float64(requests), "requests")
		b.StartTimer()
	}
	b.ReportMetric(ratio, "requests/bound")
	b.ReportMetric(timeRatio, "drain-time/needed")
}

// requestsSite is the one site of the request benchmarks.
var requestsSite = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")

// scheduleN books n appointments of one site and returns their IDs.
func scheduleN(ctx context.Context, b *testing.B, app *application.App, now time.Time, n int) []domain.ID {
	ids := make([]domain.ID, n)
	for i := range ids {
		a, err := app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{
			SiteID: requestsSite, ContactID: domain.MustID("9a000000-0000-4000-8000-000000000001"),
			Title: "visit", StartsAt: now.Add(48 * time.Hour), EndsAt: now.Add(49 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = a.ID
	}
	return ids
}

// BenchmarkRequestsMassReschedule: N appointments of one site rescheduled
// at once (N cancels, then N reports, each pair in order); the bound is
// 2 x ceil(N/100).
func BenchmarkRequestsMassReschedule(b *testing.B) {
	site := requestsSite
	for _, n := range []int{100, 1000, 10_000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var ids []domain.ID
			requestsBench(b, func(ctx context.Context, app *application.App, now time.Time) {
				ids = scheduleN(ctx, b, app, now, n)
			}, func(ctx context.Context, app *application.App, now time.Time) {
				for _, id := range ids {
					if _, err := app.RescheduleAppointment.Handle(ctx, application.RescheduleAppointment{
						SiteID: site, ID: id, StartsAt: now.Add(72 * time.Hour), EndsAt: now.Add(73 * time.Hour)}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkRequestsMixed: a mixed backlog of 1,000 booked appointments of
// one site: a third rescheduled, a third canceled, a sixth rescheduled and
// then canceled, and 100 new ones booked.
func BenchmarkRequestsMixed(b *testing.B) {
	site := requestsSite
	var ids []domain.ID
	requestsBench(b, func(ctx context.Context, app *application.App, now time.Time) {
		ids = scheduleN(ctx, b, app, now, 1000)
	}, func(ctx context.Context, app *application.App, now time.Time) {
		move := func(id domain.ID) {
			if _, err := app.RescheduleAppointment.Handle(ctx, application.RescheduleAppointment{
				SiteID: site, ID: id, StartsAt: now.Add(72 * time.Hour), EndsAt: now.Add(73 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
		cancel := func(id domain.ID) {
			if _, err := app.CancelAppointment.Handle(ctx, application.CancelAppointment{SiteID: site, ID: id}); err != nil {
				b.Fatal(err)
			}
		}
		for i, id := range ids {
			switch i % 6 {
			case 0, 1:
				move(id)
			case 2, 3:
				cancel(id)
			case 4:
				move(id)
				cancel(id)
			}
		}
		scheduleN(ctx, b, app, now, 100)
	})
}
