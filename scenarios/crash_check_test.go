package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

// crashReport counts what the crash test checked, for its summary.
type crashReport struct {
	acked, refused, inDoubt                 int
	inDoubtCommitted                        int // of the creating commands in doubt, those the store holds
	ackedByOp, refusedByOp                  map[string]int
	appointments, classes, enrollments      int
	calls, requests                         int
	repeatedReports, repeatedCancels        int
	problems                                []string
	problemCount                            int
	appointmentIDs, classIDs, enrollmentIDs map[string]string // ID -> site, from intents
}

// maxShownProblems bounds the violations a failing run prints.
const maxShownProblems = 30

func (r *crashReport) problem(format string, args ...any) {
	r.problemCount++
	if len(r.problems) < maxShownProblems {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// Call shapes: what the policy queues, as "kind trigger".
const (
	rApptScheduled = "report appointment_scheduled"
	rApptStarting  = "report appointment_starting"
	rApptCanceled  = "report appointment_canceled"
	cApptScheduled = "cancel appointment_scheduled"
	cApptStarting  = "cancel appointment_starting"
	rEnrolled      = "report participant_enrolled_in_class"
	rClassStarting = "report class_starting"
	rLeft          = "report participant_left_class"
	rClassCanceled = "report class_canceled"
	cEnrolled      = "cancel participant_enrolled_in_class"
	cClassStarting = "cancel class_starting"
)

func callShape(c application.Call) string { return string(c.Kind) + " " + c.TriggerKey }

func shapes(calls []application.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = callShape(c)
	}
	return out
}

// appointmentCalls returns the calls of an appointment that reached state at
// version: scheduled (version 1), rescheduled version-1 times, then canceled
// or not. Only these three commands run on appointments in the test.
func appointmentCalls(state string, version int64) ([]string, bool) {
	calls := []string{rApptScheduled, rApptStarting}
	reschedules := version - 1
	if state == appointment.StateCanceled.String() {
		reschedules--
	} else if state != appointment.StateScheduled.String() {
		return nil, false
	}
	if reschedules < 0 {
		return nil, false
	}
	for range reschedules {
		calls = append(calls, cApptStarting, rApptStarting)
	}
	if state == appointment.StateCanceled.String() {
		calls = append(calls, rApptCanceled, cApptScheduled, cApptStarting)
	}
	return calls, true
}

// enrollmentHistory is one way an enrollment can reach a state, with the
// calls it queues. Classes are never rescheduled or completed in the test.
type enrollmentHistory struct {
	initial, final string
	version        int64
	calls          []string
}

var (
	seatedCalls    = []string{rEnrolled, rClassStarting}
	leftCalls      = []string{rEnrolled, rClassStarting, rLeft, cEnrolled, cClassStarting}
	lostClassCalls = []string{rEnrolled, rClassStarting, rClassCanceled, cEnrolled, cClassStarting}
)

var enrollmentHistories = func() []enrollmentHistory {
	enrolled, waitlisted := enrollment.StateEnrolled.String(), enrollment.StateWaitlisted.String()
	left, canceled := enrollment.StateLeft.String(), enrollment.StateClassCanceled.String()
	return []enrollmentHistory{
		{enrolled, enrolled, 1, seatedCalls},
		{enrolled, left, 2, leftCalls},
		{enrolled, canceled, 2, lostClassCalls},
		{waitlisted, waitlisted, 1, nil},
		{waitlisted, enrolled, 2, seatedCalls}, // promoted
		{waitlisted, left, 2, nil},
		{waitlisted, canceled, 2, nil},
		{waitlisted, left, 3, leftCalls}, // promoted, then left
		{waitlisted, canceled, 3, lostClassCalls},
	}
}()

// crashState is what the store holds at the end.
type crashState struct {
	appointments map[string]*appointment.Appointment
	classes      map[string]*class.Class
	enrollments  map[string]*enrollment.Enrollment
}

// checkCrash runs the checks of TestCrashSafety (see crash_test.go) and
// fails t with the first violations.
func checkCrash(t *testing.T, ctx context.Context, dir string, db *sqlite.DB, sim *wixsim.Sim) *crashReport {
	t.Helper()
	recs, err := readCrashLogs(dir)
	require.NoError(t, err)
	rep := &crashReport{ackedByOp: map[string]int{}, refusedByOp: map[string]int{},
		appointmentIDs: map[string]string{}, classIDs: map[string]string{}, enrollmentIDs: map[string]string{}}
	for _, r := range recs {
		switch r.Kind {
		case recIntent:
			switch r.Op {
			case opScheduleAppointment:
				rep.appointmentIDs[r.ID] = r.Site
			case opScheduleClass:
				rep.classIDs[r.ID] = r.Site
			case opEnroll:
				rep.enrollmentIDs[r.ID] = r.Site
			}
		case recAck:
			rep.acked++
			rep.ackedByOp[r.Op]++
		case recRefused:
			rep.refused++
			rep.refusedByOp[r.Op]++
		}
	}
	rep.inDoubt = countIntents(recs) - rep.acked - rep.refused
	require.Positive(t, rep.acked, "no child acknowledged a command: the kills came too early to test anything")

	st := loadCrashState(t, ctx, db, rep)
	rep.inDoubtCommitted = committedInDoubt(recs, st)
	calls := listCalls(t, ctx, db)
	rep.calls = len(calls)
	byKey := map[string][]application.Call{}
	for _, c := range calls {
		byKey[c.OrderingKey] = append(byKey[c.OrderingKey], c)
		if c.State != application.StateDelivered {
			rep.problem("call %s (%s %s, seq %d) is %s, not delivered: %v", c.ID, c.OrderingKey, callShape(c), c.Seq, c.State, c.LastError)
		}
	}

	checkAcks(rep, recs, st, byKey)
	checkAggregates(rep, recs, st, byKey)
	checkGateway(rep, sim, byKey)
	checkEvents(rep, sim, calls)
	checkLive(rep, sim, st, byKey)

	assert.Zero(t, rep.problemCount, "crash safety violations (first %d of %d):\n%s",
		len(rep.problems), rep.problemCount, strings.Join(rep.problems, "\n"))
	return rep
}

// committedInDoubt counts the creating commands that a child logged but
// did not see end (killed meanwhile) and that committed all the same.
func committedInDoubt(recs []crashRecord, st crashState) int {
	ended := map[string]bool{}
	for _, r := range recs {
		if r.Kind != recIntent {
			ended[r.ID+"/"+r.Op] = true
		}
	}
	n := 0
	for _, r := range recs {
		if r.Kind != recIntent || ended[r.ID+"/"+r.Op] {
			continue
		}
		switch r.Op {
		case opScheduleAppointment:
			n += b2i(st.appointments[r.ID] != nil)
		case opScheduleClass:
			n += b2i(st.classes[r.ID] != nil)
		case opEnroll:
			n += b2i(st.enrollments[r.ID] != nil)
		}
	}
	return n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func countIntents(recs []crashRecord) int {
	n := 0
	for _, r := range recs {
		if r.Kind == recIntent {
			n++
		}
	}
	return n
}

// loadCrashState reads every aggregate an intent names, in one read
// transaction. Those not found were never committed.
func loadCrashState(t *testing.T, ctx context.Context, db *sqlite.DB, rep *crashReport) crashState {
	t.Helper()
	st := crashState{appointments: map[string]*appointment.Appointment{}, classes: map[string]*class.Class{},
		enrollments: map[string]*enrollment.Enrollment{}}
	err := db.View(ctx, func(ctx context.Context, tx application.ReadTx) error {
		for id, site := range rep.appointmentIDs {
			a, err := tx.Appointment(ctx, site, id)
			switch {
			case err == nil:
				st.appointments[id] = a
			case !errors.Is(err, application.ErrNotFound): // not found: never committed
				return err
			}
		}
		for id, site := range rep.classIDs {
			c, err := tx.Class(ctx, site, id)
			switch {
			case err == nil:
				st.classes[id] = c
			case !errors.Is(err, application.ErrNotFound): // not found: never committed
				return err
			}
		}
		for id, site := range rep.enrollmentIDs {
			e, err := tx.Enrollment(ctx, site, id)
			switch {
			case err == nil:
				st.enrollments[id] = e
			case !errors.Is(err, application.ErrNotFound): // not found: never committed
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	rep.appointments, rep.classes, rep.enrollments = len(st.appointments), len(st.classes), len(st.enrollments)
	return st
}

// listCalls returns every call of the outbox, by Seq.
func listCalls(t *testing.T, ctx context.Context, db *sqlite.DB) []application.Call {
	t.Helper()
	var out []application.Call
	var after int64
	for {
		page, err := db.List(ctx, application.Filter{After: after, Limit: 1000})
		require.NoError(t, err)
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// checkAcks: every acknowledged command's effect is in the store and in the
// outbox.
func checkAcks(rep *crashReport, recs []crashRecord, st crashState, byKey map[string][]application.Call) {
	for _, r := range recs {
		if r.Kind != recAck {
			continue
		}
		key := application.OrderingKey(r.Site, r.ID)
		switch r.Op {
		case opScheduleAppointment, opRescheduleAppointment, opCancelAppointment:
			a := st.appointments[r.ID]
			if a == nil {
				rep.problem("%s %s was acknowledged, but the appointment is not in the store", r.Op, r.ID)
				continue
			}
			switch {
			case a.Version() < r.Version:
				rep.problem("%s %s was acknowledged at version %d, the store has version %d", r.Op, r.ID, r.Version, a.Version())
			case r.Op == opCancelAppointment && (a.State() != appointment.StateCanceled || a.Version() != r.Version):
				rep.problem("cancel appointment %s was acknowledged at version %d, the store has it %s at version %d",
					r.ID, r.Version, a.State(), a.Version())
			}
			if r.Op == opCancelAppointment {
				continue
			}
			// The report of its start: the second call, plus two per
			// reschedule before it.
			i := 1 + 2*int(r.Version-1)
			calls := byKey[key]
			if i >= len(calls) || callShape(calls[i]) != rApptStarting || !calls[i].ScheduledAt.Equal(r.Start) {
				rep.problem("%s %s (version %d, start %s) was acknowledged, but its outbox calls are %v",
					r.Op, r.ID, r.Version, r.Start.Format(time.RFC3339), describeCalls(calls))
			}
		case opScheduleClass, opCancelClass:
			c := st.classes[r.ID]
			switch {
			case c == nil:
				rep.problem("%s %s was acknowledged, but the class is not in the store", r.Op, r.ID)
			case r.Op == opCancelClass && (c.State() != class.StateCanceled || c.Version() != r.Version):
				rep.problem("cancel class %s was acknowledged at version %d, the store has it %s at version %d",
					r.ID, r.Version, c.State(), c.Version())
			}
		case opEnroll, opLeave:
			e := st.enrollments[r.ID]
			switch {
			case e == nil:
				rep.problem("%s %s was acknowledged, but the enrollment is not in the store", r.Op, r.ID)
			case e.Version() < r.Version:
				rep.problem("%s %s was acknowledged at version %d, the store has version %d", r.Op, r.ID, r.Version, e.Version())
			case r.Op == opLeave && (e.State() != enrollment.StateLeft || e.Version() != r.Version):
				rep.problem("leave %s was acknowledged at version %d, the store has it %s at version %d",
					r.ID, r.Version, e.State(), e.Version())
			case r.Op == opEnroll && r.State == enrollment.StateEnrolled.String() &&
				!slices.Equal(shapes(firstN(byKey[key], 2)), seatedCalls):
				rep.problem("enroll %s was acknowledged seated, but its outbox calls are %v", r.ID, describeCalls(byKey[key]))
			}
		}
	}
}

func firstN(calls []application.Call, n int) []application.Call { return calls[:min(n, len(calls))] }

// checkAggregates: every aggregate's outbox calls are those of a history
// that leads to its state and version; every call belongs to an aggregate;
// classes' seat counts match their enrollments.
func checkAggregates(rep *crashReport, recs []crashRecord, st crashState, byKey map[string][]application.Call) {
	seen := map[string]bool{}
	for id, a := range st.appointments {
		key := application.OrderingKey(a.SiteID(), id)
		seen[key] = true
		calls := byKey[key]
		want, ok := appointmentCalls(a.State().String(), a.Version())
		if !ok {
			rep.problem("appointment %s is %s at version %d, which no test history reaches", id, a.State(), a.Version())
			continue
		}
		if !slices.Equal(shapes(calls), want) {
			rep.problem("appointment %s is %s at version %d: want calls %v, the outbox has %v",
				id, a.State(), a.Version(), want, describeCalls(calls))
			continue
		}
		// The last report of its start carries the current start.
		for i := len(calls) - 1; i >= 0; i-- {
			if callShape(calls[i]) == rApptStarting {
				if !calls[i].ScheduledAt.Equal(a.Start()) {
					rep.problem("appointment %s starts at %s, its last starting report says %s",
						id, a.Start().Format(time.RFC3339), calls[i].ScheduledAt.Format(time.RFC3339))
				}
				break
			}
		}
	}

	initial := map[string]string{} // enrollment -> acknowledged state after enroll
	for _, r := range recs {
		if r.Kind == recAck && r.Op == opEnroll {
			initial[r.ID] = r.State
		}
	}
	byClass := map[string][]*enrollment.Enrollment{}
	for id, e := range st.enrollments {
		key := application.OrderingKey(e.SiteID(), id)
		seen[key] = true
		byClass[e.ClassID()] = append(byClass[e.ClassID()], e)
		calls := shapes(byKey[key])
		var candidates [][]string
		for _, h := range enrollmentHistories {
			if h.final == e.State().String() && h.version == e.Version() && (initial[id] == "" || initial[id] == h.initial) {
				candidates = append(candidates, h.calls)
			}
		}
		if !slices.ContainsFunc(candidates, func(want []string) bool { return slices.Equal(calls, want) }) {
			rep.problem("enrollment %s (enroll acknowledged as %q) is %s at version %d: want calls among %v, the outbox has %v",
				id, initial[id], e.State(), e.Version(), candidates, describeCalls(byKey[key]))
		}
		c := st.classes[e.ClassID()]
		if c == nil {
			rep.problem("enrollment %s is in class %s, which is not in the store", id, e.ClassID())
			continue
		}
		for _, call := range byKey[key] {
			if callShape(call) == rClassStarting && !call.ScheduledAt.Equal(c.Start()) {
				rep.problem("enrollment %s: class_starting report at %s, the class starts at %s",
					id, call.ScheduledAt.Format(time.RFC3339), c.Start().Format(time.RFC3339))
			}
		}
	}

	for id, c := range st.classes {
		if calls := byKey[application.OrderingKey(c.SiteID(), id)]; len(calls) > 0 {
			rep.problem("class %s has calls of its own: %v", id, describeCalls(calls))
		}
		seated, waiting := 0, 0
		for _, e := range byClass[id] {
			switch e.State() {
			case enrollment.StateEnrolled:
				seated++
			case enrollment.StateWaitlisted:
				waiting++
			}
		}
		switch c.State() {
		case class.StateScheduled:
			if c.Enrolled() != seated || c.Waitlisted() != waiting {
				rep.problem("class %s counts %d seated and %d waiting; its enrollments, %d and %d",
					id, c.Enrolled(), c.Waitlisted(), seated, waiting)
			}
			if waiting > 0 && seated < c.Capacity() {
				rep.problem("class %s has a free seat (%d of %d) and %d waiting", id, seated, c.Capacity(), waiting)
			}
		case class.StateCanceled:
			if seated+waiting > 0 {
				rep.problem("class %s is canceled with %d seated and %d waiting enrollments", id, seated, waiting)
			}
		default:
			rep.problem("class %s is %s, which no command of the test leads to", id, c.State())
		}
	}

	for key, calls := range byKey {
		if !seen[key] {
			rep.problem("calls of %s belong to no aggregate in the store: %v", key, describeCalls(calls))
		}
	}
}

// gatewayItem is one item of a request the simulator received.
type gatewayItem struct {
	request int // the simulator's request Seq
	kind    application.CallKind
	trigger string
	key     string // a report's idempotency key
}

func (g gatewayItem) matches(c application.Call) bool {
	return g.kind == c.Kind && g.trigger == c.TriggerKey && (g.kind == application.KindCancel || g.key == c.ID)
}

// checkGateway: per ordering key, Wix received the outbox calls in Seq
// order, every one of them, and repeated a call only right after itself.
func checkGateway(rep *crashReport, sim *wixsim.Sim, byKey map[string][]application.Call) {
	items := map[string][]gatewayItem{}
	for _, r := range sim.Requests("") {
		var kind application.CallKind
		switch r.Endpoint {
		case wixsim.EndpointReport, wixsim.EndpointBulkReport:
			kind = application.KindReport
			if len(r.IdempotencyKeys) != len(r.ExternalEntityIDs) {
				rep.problem("request %d reports %d events with %d idempotency keys", r.Seq, len(r.ExternalEntityIDs), len(r.IdempotencyKeys))
				continue
			}
		case wixsim.EndpointCancel, wixsim.EndpointBulkCancel:
			kind = application.KindCancel
		default:
			continue
		}
		rep.requests++
		for i, entity := range r.ExternalEntityIDs {
			it := gatewayItem{request: r.Seq, kind: kind, trigger: r.TriggerKey}
			if kind == application.KindReport {
				it.key = r.IdempotencyKeys[i]
			}
			key := application.OrderingKey(r.Site, entity)
			items[key] = append(items[key], it)
		}
	}
	for key, got := range items {
		if _, ok := byKey[key]; !ok {
			rep.problem("Wix received %d items for %s, which has no call in the outbox", len(got), key)
		}
	}
	for key, calls := range byKey {
		got := items[key]
		cur := -1 // the call Wix received last
		for _, it := range got {
			switch {
			case cur >= 0 && it.matches(calls[cur]):
				if it.kind == application.KindReport {
					rep.repeatedReports++
				} else {
					rep.repeatedCancels++
				}
			case cur+1 < len(calls) && it.matches(calls[cur+1]):
				cur++
			default:
				if j := slices.IndexFunc(calls, it.matches); j > cur {
					rep.problem("%s: Wix received call %d of %v in request %d, before calls %d to %d (lost or out of order)",
						key, j, describeCalls(calls), it.request, cur+1, j-1)
				} else {
					rep.problem("%s: Wix received %s %s (key %q) in request %d after call %d of %v",
						key, it.kind, it.trigger, it.key, it.request, cur, describeCalls(calls))
				}
				cur = len(calls) // reported; skip the rest of the key
			}
			if cur == len(calls) {
				break
			}
		}
		if cur < len(calls)-1 {
			rep.problem("%s: Wix received only %d of its %d calls %v", key, cur+1, len(calls), describeCalls(calls))
		}
	}
}

// checkEvents: Wix recorded each report once, under its call's ID, with its
// payload.
func checkEvents(rep *crashReport, sim *wixsim.Sim, calls []application.Call) {
	byID := map[string]application.Call{}
	reports := map[string]int{} // per site
	for _, c := range calls {
		byID[c.ID] = c
		if c.Kind == application.KindReport {
			reports[c.SiteID]++
		}
	}
	for _, site := range crashSites {
		events := sim.Events(site)
		if len(events) != reports[site] {
			rep.problem("site %s: Wix recorded %d events for %d reports in the outbox", site, len(events), reports[site])
		}
		keys := map[string]bool{}
		for _, ev := range events {
			if keys[ev.IdempotencyKey] {
				rep.problem("site %s: Wix recorded two events with idempotency key %q", site, ev.IdempotencyKey)
			}
			keys[ev.IdempotencyKey] = true
			c, ok := byID[ev.IdempotencyKey]
			if !ok || c.Kind != application.KindReport || c.SiteID != site || c.TriggerKey != ev.TriggerKey || c.ExternalEntityID != ev.ExternalEntityID {
				rep.problem("site %s: Wix recorded event %s %s with key %q, which is no report call of the outbox",
					site, ev.TriggerKey, ev.ExternalEntityID, ev.IdempotencyKey)
				continue
			}
			if !sameJSON(c.Payload, ev.Payload) {
				rep.problem("call %s: payload %s, Wix recorded %s", c.ID, c.Payload, ev.Payload)
			}
		}
	}
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// checkLive: the events live at Wix are those the final states call for,
// and scheduled ones take place at the aggregate's current start.
func checkLive(rep *crashReport, sim *wixsim.Sim, st crashState, byKey map[string][]application.Call) {
	type liveEvent struct {
		trigger string
		at      time.Time
	}
	live := map[string][]liveEvent{}
	for _, site := range crashSites {
		for _, ev := range sim.LiveEvents(site) {
			key := application.OrderingKey(site, ev.ExternalEntityID)
			live[key] = append(live[key], liveEvent{ev.TriggerKey, ev.At})
		}
	}
	check := func(key, what string, want []string, start time.Time) {
		got := live[key]
		delete(live, key)
		triggers := make([]string, len(got))
		for i, ev := range got {
			triggers[i] = ev.trigger
			if strings.HasSuffix(ev.trigger, "_starting") && !ev.at.Equal(start) {
				rep.problem("%s: live %s event at %s, it starts at %s", what, ev.trigger,
					ev.at.Format(time.RFC3339), start.Format(time.RFC3339))
			}
		}
		sort.Strings(triggers)
		sort.Strings(want)
		if !slices.Equal(triggers, want) {
			rep.problem("%s: live events at Wix %v, want %v", what, triggers, want)
		}
	}
	for id, a := range st.appointments {
		var want []string
		switch a.State() {
		case appointment.StateScheduled:
			want = []string{"appointment_scheduled", "appointment_starting"}
		case appointment.StateCanceled:
			want = []string{"appointment_canceled"}
		}
		check(application.OrderingKey(a.SiteID(), id), fmt.Sprintf("appointment %s (%s)", id, a.State()), want, a.Start())
	}
	for id, e := range st.enrollments {
		key := application.OrderingKey(e.SiteID(), id)
		seated := len(byKey[key]) > 0 // it had calls only if it was seated once
		var want []string
		switch {
		case !seated:
		case e.State() == enrollment.StateEnrolled:
			want = []string{"participant_enrolled_in_class", "class_starting"}
		case e.State() == enrollment.StateLeft:
			want = []string{"participant_left_class"}
		case e.State() == enrollment.StateClassCanceled:
			want = []string{"class_canceled"}
		}
		var start time.Time
		if c := st.classes[e.ClassID()]; c != nil {
			start = c.Start()
		}
		check(key, fmt.Sprintf("enrollment %s (%s)", id, e.State()), want, start)
	}
	for key, evs := range live {
		rep.problem("%s: %d live events at Wix for no aggregate of the store", key, len(evs))
	}
}

// describeCalls prints calls briefly, for a violation's message.
func describeCalls(calls []application.Call) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = fmt.Sprintf("#%d %s", c.Seq, callShape(c))
		if c.Kind == application.KindReport {
			parts[i] += " " + c.ID
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
