package scenarios

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wix"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
)

// Environment of a crash test child, set by the parent.
const (
	envCrashChild = "LIFECYCLE_CRASH_CHILD" // the test's directory; its presence selects child mode
	envCrashURL   = "LIFECYCLE_CRASH_URL"   // the simulator's base URL
	envCrashSeed  = "LIFECYCLE_CRASH_SEED"  // the parent's seed (the parent reads it too, to replay a run)
	envCrashRun   = "LIFECYCLE_CRASH_RUN"   // the child's number, from 0
	envCrashKills = "LIFECYCLE_CRASH_KILLS" // the parent's number of kills
	envCrashDir   = "LIFECYCLE_CRASH_DIR"   // where the parent keeps a run's files; a temp dir when unset
)

// The simulator's app credentials, shared by parent and children.
const (
	crashAppID     = "c4a50000-0000-4000-8000-000000000001"
	crashAppSecret = "crash-test-secret"
)

// Relay settings of the children. The lease is short so that a restarted
// child soon claims again what a killed one held; backoffs are short so that
// injected faults cost little time.
const (
	crashLease = 1500 * time.Millisecond
	crashPoll  = 100 * time.Millisecond
	// A request must end well inside the lease it starts under: 2 x (400ms
	// + 350ms) fits the 1.5s lease, so a child paused or slow past its
	// lease can never send after another has taken its calls over.
	crashRequestTimeout = 400 * time.Millisecond
	crashLeaseMargin    = 350 * time.Millisecond
	crashBackoffBase    = 20 * time.Millisecond
	crashBackoffMax     = 400 * time.Millisecond
	crashRatePerMin     = 1200 // per site: a fresh child may burst 120 requests, then 20 a second
	// crashTightRatePerMin: a burst of 6 requests, then 1 a second.
	crashTightRatePerMin = 60
	crashWorkers         = 2  // goroutines running commands in a child
	crashParticipants    = 10 // participants per site: small, so enrollments collide
)

// crashSites are the sites the children run commands on.
var crashSites = []string{Site.String(), OtherSite.String()}

// crashChildEnv is what a child learns from its environment.
type crashChildEnv struct {
	dir, url string
	seed     int64
	run      int
}

func crashChildEnvFrom(dir string) (crashChildEnv, error) {
	env := crashChildEnv{dir: dir, url: os.Getenv(envCrashURL)}
	var err error
	if env.seed, err = strconv.ParseInt(os.Getenv(envCrashSeed), 10, 64); err != nil {
		return env, fmt.Errorf("%s: %w", envCrashSeed, err)
	}
	if env.run, err = strconv.Atoi(os.Getenv(envCrashRun)); err != nil {
		return env, fmt.Errorf("%s: %w", envCrashRun, err)
	}
	if env.url == "" {
		return env, fmt.Errorf("%s is not set", envCrashURL)
	}
	return env, nil
}

// crashReadyPath is the file a child creates once its store and relay run,
// so that the parent can choose to kill it in the middle of its work.
func crashReadyPath(dir string, run int) string {
	return filepath.Join(dir, fmt.Sprintf("ready-%03d", run))
}

// runCrashChild is the child: it opens the store, runs the relay and
// crashWorkers goroutines of random commands, and never returns on its own
// unless something fails; the parent kills it.
func runCrashChild(t *testing.T, env crashChildEnv) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(env.dir, "lifecycle.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	wake := application.NewSignal()
	app, err := application.New(application.Config{Store: db, Wake: wake})
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	// One child in three runs a tight rate limit, so that the relay hands
	// calls of throttled sites back to the outbox (deferred) and is killed
	// with some of them pending for later.
	perMinute, workers := crashRatePerMin, 0
	if env.run%3 == 2 {
		perMinute, workers = crashTightRatePerMin, 2
	}
	rl, err := crashRelay(db, env.url, wake, perMinute, workers)
	if err != nil {
		t.Fatalf("new relay: %v", err)
	}
	known, err := crashKnownFrom(env.dir)
	if err != nil {
		t.Fatalf("read earlier logs: %v", err)
	}

	failed := make(chan error, crashWorkers+1)
	go func() { failed <- fmt.Errorf("relay stopped: %w", rl.Run(ctx)) }()
	var n atomic.Int64
	for i := range crashWorkers {
		log, err := openCrashLog(env.dir, env.run, i)
		if err != nil {
			t.Fatal(err)
		}
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(env.seed))
		binary.LittleEndian.PutUint64(seed[8:], uint64(env.run))
		binary.LittleEndian.PutUint64(seed[16:], uint64(i))
		src := rand.NewChaCha8(seed)
		w := &crashWorker{app: app, log: log, known: known, rng: rand.New(src), ids: src, n: &n, run: env.run, worker: i}
		go func() {
			for {
				if err := w.step(ctx); err != nil {
					failed <- err
					return
				}
			}
		}()
	}
	if err := os.WriteFile(crashReadyPath(env.dir, env.run), nil, 0o600); err != nil {
		t.Fatalf("write ready file: %v", err)
	}
	// The relay's counters go to the output every 100ms; the parent sums the
	// last line of each child for its summary.
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			m := rl.Metrics()
			m.DeliveryLatency = relay.Histogram{}
			b, _ := json.Marshal(m) // counters only: cannot fail
			fmt.Printf("%s%s\n", crashMetricsPrefix, b)
		}
	}()
	// Only a failure ends a child; a healthy one runs until it is killed.
	t.Fatalf("child %d failed: %v", env.run, <-failed)
}

// crashMetricsPrefix starts a child's output line of relay counters.
const crashMetricsPrefix = "crash relay metrics: "

// crashRelay builds a relay over the store that delivers to the simulator at
// url through the REST client, as production would. Zero workers means the
// relay's default.
func crashRelay(outbox application.Outbox, url string, wake *application.Signal, perMinute, workers int) (*relay.Relay, error) {
	gw, err := wix.New(wix.Config{BaseURL: url, AppID: crashAppID, AppSecret: crashAppSecret, Timeout: crashRequestTimeout})
	if err != nil {
		return nil, err
	}
	return relay.New(relay.Config{
		Outbox: outbox, Gateway: gw, Wake: wake,
		Lease: crashLease, RequestTimeout: crashRequestTimeout, LeaseMargin: crashLeaseMargin, PollInterval: crashPoll,
		BackoffBase: crashBackoffBase, BackoffMax: crashBackoffMax,
		RequestsPerMinute: perMinute, Workers: workers,
	})
}

// crashTarget is an aggregate a command may act on.
type crashTarget struct{ site, id string }

// crashKnown is what a child may act on: every appointment, class and
// enrollment whose creation an earlier child or this one logged.
type crashKnown struct {
	mu                               sync.Mutex
	appointments, classes, enrollees []crashTarget
}

func crashKnownFrom(dir string) (*crashKnown, error) {
	recs, err := readCrashLogs(dir)
	if err != nil {
		return nil, err
	}
	k := &crashKnown{}
	for _, r := range recs {
		k.add(r)
	}
	return k, nil
}

// add learns from a record: the intent of a creating command adds the
// aggregate it makes (or may make); the ack of a command that ends an
// aggregate removes it, so that few commands are refused.
func (k *crashKnown) add(r crashRecord) {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := crashTarget{r.Site, r.ID}
	switch {
	case r.Kind == crashIntent && r.Op == crashOpScheduleAppointment:
		k.appointments = append(k.appointments, t)
	case r.Kind == crashIntent && r.Op == crashOpScheduleClass:
		k.classes = append(k.classes, t)
	case r.Kind == crashIntent && r.Op == crashOpEnroll:
		k.enrollees = append(k.enrollees, t)
	case r.Kind == crashAck && r.Op == crashOpCancelAppointment:
		k.appointments = slices.DeleteFunc(k.appointments, func(x crashTarget) bool { return x == t })
	case r.Kind == crashAck && r.Op == crashOpCancelClass:
		k.classes = slices.DeleteFunc(k.classes, func(x crashTarget) bool { return x == t })
	case r.Kind == crashAck && r.Op == crashOpLeave:
		k.enrollees = slices.DeleteFunc(k.enrollees, func(x crashTarget) bool { return x == t })
	}
}

// pick returns a random target of the list, favouring recent ones (half of
// the picks go to the last 20), or false when the list is empty.
func (k *crashKnown) pick(rng *rand.Rand, list *[]crashTarget) (crashTarget, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := *list
	if len(l) == 0 {
		return crashTarget{}, false
	}
	if rng.IntN(2) == 0 && len(l) > 20 {
		return l[len(l)-20+rng.IntN(20)], true
	}
	return l[rng.IntN(len(l))], true
}

// crashWorker runs random commands, logging each before and after.
type crashWorker struct {
	app    *application.App
	log    *crashLog
	known  *crashKnown
	rng    *rand.Rand
	ids    io.Reader
	n      *atomic.Int64
	run    int   // the child's number, from the parent
	worker int   // the worker's number in its child
	spans  int64 // starts drawn so far
}

// crashDo runs a command and returns the state and version of its aggregate.
type crashDo func(ctx context.Context) (state string, version int64, err error)

// step runs one command: intent logged, Handle, outcome logged. It returns
// an error only for an outcome that is neither success nor a refusal.
func (w *crashWorker) step(ctx context.Context) error {
	r, do := w.next()
	r.Kind, r.N = crashIntent, w.n.Add(1)
	if err := w.log.write(r); err != nil {
		return err
	}
	w.known.add(r)
	state, version, err := do(ctx)
	switch {
	case err == nil:
		r.Kind, r.State, r.Version = crashAck, state, version
	case crashRefusal(err):
		r.Kind, r.Err = crashRefused, err.Error()
	default:
		return fmt.Errorf("%s %s: %w", r.Op, r.ID, err)
	}
	if err := w.log.write(r); err != nil {
		return err
	}
	w.known.add(r)
	time.Sleep(time.Duration(w.rng.IntN(3)) * time.Millisecond)
	return nil
}

// crashRefusal: the command was refused and changed nothing, as a command
// may be on a target that another worker changed first, or that an earlier
// child logged but never committed.
func crashRefusal(err error) bool {
	for _, e := range []error{application.ErrNotFound, application.ErrConflict, domain.ErrTransitionNotAllowed,
		domain.ErrClassFull, domain.ErrAlreadyEnrolled, domain.ErrClassNotOpen} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// next chooses a command: its log record (without kind and number) and how
// to run it.
func (w *crashWorker) next() (crashRecord, crashDo) {
	k, rng := w.known, w.rng
	roll := rng.IntN(100)
	switch {
	case roll < 14:
		if t, ok := k.pick(rng, &k.appointments); ok {
			start, end := w.span()
			r := crashRecord{Op: crashOpRescheduleAppointment, Site: t.site, ID: t.id, Start: start, End: end}
			return r, func(ctx context.Context) (string, int64, error) {
				v, err := w.app.RescheduleAppointment.Handle(ctx, application.RescheduleAppointment{
					SiteID: domain.MustSiteID(t.site), ID: domain.MustID(t.id), StartsAt: start, EndsAt: end})
				return v.State, v.Version, err
			}
		}
	case roll < 24:
		if t, ok := k.pick(rng, &k.appointments); ok {
			r := crashRecord{Op: crashOpCancelAppointment, Site: t.site, ID: t.id}
			return r, func(ctx context.Context) (string, int64, error) {
				v, err := w.app.CancelAppointment.Handle(ctx, application.CancelAppointment{
					SiteID: domain.MustSiteID(t.site), ID: domain.MustID(t.id), Reason: "crash test"})
				return v.State, v.Version, err
			}
		}
	case roll < 30:
		return w.scheduleClass()
	case roll < 62:
		if t, ok := k.pick(rng, &k.classes); ok {
			id := w.newID()
			participant := crashParticipant(rng.IntN(crashParticipants))
			r := crashRecord{Op: crashOpEnroll, Site: t.site, ID: id, ClassID: t.id, Participant: participant}
			return r, func(ctx context.Context) (string, int64, error) {
				v, err := w.app.Enroll.Handle(ctx, application.Enroll{
					SiteID: domain.MustSiteID(t.site), ClassID: domain.MustID(t.id), ParticipantID: domain.MustID(participant), EnrollmentID: domain.MustID(id)})
				return v.State, v.Version, err
			}
		}
		return w.scheduleClass()
	case roll < 75:
		if t, ok := k.pick(rng, &k.enrollees); ok {
			r := crashRecord{Op: crashOpLeave, Site: t.site, ID: t.id}
			return r, func(ctx context.Context) (string, int64, error) {
				v, err := w.app.Leave.Handle(ctx, application.Leave{SiteID: domain.MustSiteID(t.site), EnrollmentID: domain.MustID(t.id)})
				return v.State, v.Version, err
			}
		}
	case roll < 79:
		if t, ok := k.pick(rng, &k.classes); ok {
			r := crashRecord{Op: crashOpCancelClass, Site: t.site, ID: t.id}
			return r, func(ctx context.Context) (string, int64, error) {
				v, err := w.app.CancelClass.Handle(ctx, application.CancelClass{
					SiteID: domain.MustSiteID(t.site), ID: domain.MustID(t.id), Reason: "crash test"})
				return v.State, v.Version, err
			}
		}
	}
	return w.scheduleAppointment()
}

func (w *crashWorker) scheduleAppointment() (crashRecord, crashDo) {
	site, id := crashSites[w.rng.IntN(len(crashSites))], w.newID()
	start, end := w.span()
	contact := crashParticipant(w.rng.IntN(crashParticipants))
	r := crashRecord{Op: crashOpScheduleAppointment, Site: site, ID: id, Participant: contact, Start: start, End: end}
	return r, func(ctx context.Context) (string, int64, error) {
		v, err := w.app.ScheduleAppointment.Handle(ctx, application.ScheduleAppointment{
			SiteID: domain.MustSiteID(site), ID: domain.MustID(id), ContactID: domain.MustID(contact), Title: "Crash test appointment", StartsAt: start, EndsAt: end})
		return v.State, v.Version, err
	}
}

func (w *crashWorker) scheduleClass() (crashRecord, crashDo) {
	site, id := crashSites[w.rng.IntN(len(crashSites))], w.newID()
	start, end := w.span()
	capacity, waitlist := 1+w.rng.IntN(3), w.rng.IntN(4) != 0
	r := crashRecord{Op: crashOpScheduleClass, Site: site, ID: id, Start: start, End: end, Capacity: capacity, Waitlist: waitlist}
	return r, func(ctx context.Context) (string, int64, error) {
		v, err := w.app.ScheduleClass.Handle(ctx, application.ScheduleClass{
			SiteID: domain.MustSiteID(site), ID: domain.MustID(id), Title: "Crash test class", StartsAt: start, EndsAt: end,
			Capacity: capacity, Waitlist: waitlist})
		return v.State, v.Version, err
	}
}

// span returns a start one to sixty days ahead, on a whole second, and an
// end an hour later: far enough that no scheduled report expires during the
// test. Each start is some whole hours plus one more second than the last
// one's, so that a reschedule always moves the start (a reschedule to the
// same start changes nothing at Wix and queues no call, which the oracle's
// count of two calls per reschedule does not model).
func (w *crashWorker) span() (time.Time, time.Time) {
	w.spans++
	start := time.Now().UTC().Truncate(time.Hour).
		Add(time.Duration(24+w.rng.IntN(59*24))*time.Hour + w.within())
	return start, start.Add(time.Hour)
}

// crashSpansPerSlot is how many starts one worker of one child draws before
// its offsets within the hour repeat.
const crashSpansPerSlot = 20_000

// within returns the offset within the hour of the worker's next start: a
// millisecond unique to this child (run), this worker and this draw, so that
// no start is ever drawn twice in a test, even across kills (a counter alone
// restarts with each child), as long as there are fewer than 90 children
// and each worker draws fewer than crashSpansPerSlot starts. A reschedule to
// the start an appointment already has queues no call (decision 16), which
// the checker's count of calls per reschedule does not expect.
func (w *crashWorker) within() time.Duration {
	const slots = int64(time.Hour/time.Millisecond) / crashSpansPerSlot
	slot := (int64(w.run)*crashWorkers + int64(w.worker)) % slots
	return time.Duration(slot*crashSpansPerSlot+w.spans%crashSpansPerSlot) * time.Millisecond
}

func (w *crashWorker) newID() string {
	return uuid.Must(uuid.NewRandomFromReader(w.ids)).String()
}

// crashParticipant returns the i-th participant (or contact) ID.
func crashParticipant(i int) string {
	return fmt.Sprintf("9a000000-0000-4000-8000-%012d", i+1)
}
