package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/fake"
	"github.com/bookable/lifecycle/domain"
)

// Now is when every scenario starts: Monday 7 January 2030, 09:00 UTC.
var Now = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

// Site is the Wix app instance the scenarios run on; OtherSite is another one.
var (
	Site      = domain.MustSiteID("5e000000-0000-4000-8000-000000000001")
	OtherSite = domain.MustSiteID("5e000000-0000-4000-8000-000000000002")
)

// world is one scenario's lifecycle: an App on a store, a clock that moves
// only when told, and predictable IDs.
type world struct {
	t      *testing.T
	ctx    context.Context
	app    *application.App
	outbox application.Outbox
	clock  *fake.Clock
	seen   int64 // the Seq of the last call a Then has looked at
}

// eachStore runs a scenario against every store adapter (stores, in
// stores_test.go).
func eachStore(t *testing.T, scenario func(t *testing.T, w *world)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			store, outbox := s.open(t)
			scenario(t, newWorld(t, store, outbox, nil))
		})
	}
}

// eachStoreWithCatalog is eachStore with a trigger catalog of the app's own.
func eachStoreWithCatalog(t *testing.T, c *application.Catalog, scenario func(t *testing.T, w *world)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			store, outbox := s.open(t)
			scenario(t, newWorld(t, store, outbox, c))
		})
	}
}

func newWorld(t *testing.T, store application.Store, outbox application.Outbox, c *application.Catalog) *world {
	clock := fake.NewClock(Now)
	app, err := application.New(application.Config{Store: store, Catalog: c, Clock: clock, IDs: fake.NewIDs("0e000000")})
	require.NoError(t, err)
	return &world{t: t, ctx: context.Background(), app: app, outbox: outbox, clock: clock}
}

// Identities, readable in failures: appointment 1, contact 2, class 3 ...
func appointmentID(n int) domain.ID { return nthID("a0000000", n) }
func contactID(n int) domain.ID     { return nthID("c0000000", n) }
func classID(n int) domain.ID       { return nthID("c1a55000", n) }
func participantID(n int) domain.ID { return nthID("9a000000", n) }

// nthID is the n-th ID of a kind, told apart by its first 8 hex digits.
func nthID(prefix string, n int) domain.ID {
	return domain.MustID(fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n))
}

// at returns a time relative to Now.
func at(d time.Duration) time.Time { return Now.Add(d) }

const day = 24 * time.Hour

// call is what a scenario expects of one queued Wix call.
type call struct {
	kind    application.CallKind
	trigger string
	entity  string
	at      time.Time // the date-time of a scheduled report
}

func (c call) String() string {
	s := fmt.Sprintf("%s %s (%s)", c.kind, c.trigger, c.entity)
	if !c.at.IsZero() {
		s += " at " + c.at.Format(time.RFC3339)
	}
	return s
}

func report(trigger string, entity domain.ID) call {
	return call{kind: application.KindReport, trigger: trigger, entity: entity.String()}
}

func reportAt(trigger string, entity domain.ID, t time.Time) call {
	return call{kind: application.KindReport, trigger: trigger, entity: entity.String(), at: t}
}

func cancel(trigger string, entity domain.ID) call {
	return call{kind: application.KindCancel, trigger: trigger, entity: entity.String()}
}

// newCalls returns the calls queued since the last look, in commit order.
func (w *world) newCalls() []application.Call {
	w.t.Helper()
	var out []application.Call
	for {
		page, err := w.outbox.List(w.ctx, application.Filter{After: w.seen, Limit: 500})
		require.NoError(w.t, err)
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		w.seen = page[len(page)-1].Seq
	}
}

// thenCalls asserts the exact, ordered calls queued since the last look.
func (w *world) thenCalls(want ...call) []application.Call {
	w.t.Helper()
	got := w.newCalls()
	gotS := make([]string, len(got))
	for i, c := range got {
		gotS[i] = call{kind: c.Kind, trigger: c.TriggerKey, entity: c.ExternalEntityID, at: c.ScheduledAt}.String()
		assert.Equal(w.t, Site.String(), c.SiteID, "every call belongs to the command's site")
		assert.Equal(w.t, application.OrderingKey(c.SiteID, c.ExternalEntityID), c.OrderingKey)
	}
	wantS := make([]string, len(want))
	for i, c := range want {
		wantS[i] = c.String()
	}
	assert.Equal(w.t, strings.Join(wantS, "\n"), strings.Join(gotS, "\n"), "queued calls, in order")
	return got
}

// thenNoCalls asserts that nothing was queued since the last look.
func (w *world) thenNoCalls() { w.t.Helper(); w.thenCalls() }
