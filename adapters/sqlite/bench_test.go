package sqlite_test

// The performance suite of issue 6 (docs/performance.md). Every benchmark
// reports a throughput metric, cmds/s or calls/s, and the raw baselines live
// here too, so that each ratio of the targets is measured in one run:
//
//	go test -run '^$' -bench . -count 5 ./adapters/sqlite/
//
// The raw baselines are plain database/sql on a modernc SQLite file with the
// PRAGMAs the adapter uses; they are what the hardware and the SQLite engine
// allow, without lifecycle's application layer, savepoints or outbox heads.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/adapters/wix"
	"github.com/bookable/lifecycle/adapters/wixsim"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/enrollment"
)

const benchSite = "a0b1c2d3-0000-4000-8000-000000000001"

// rawDSN is the DSN of the raw baselines: the adapter's PRAGMAs (see
// sqlite.DB.dsn) on a plain file.
func rawDSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(FULL)",
		"temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// rawSchema is a minimal transactional outbox: aggregates with a version,
// and calls with a unique ID and an index of the pending ones in order.
const rawSchema = `
CREATE TABLE items (id TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE outbox (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,
	item_id    TEXT    NOT NULL,
	payload    TEXT    NOT NULL,
	state      TEXT    NOT NULL DEFAULT 'pending',
	created_at INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';`

// rawDB is the raw baseline: one connection, statements prepared once.
type rawDB struct {
	db                   *sql.DB
	read, update, insert *sql.Stmt
	claim, markDelivered *sql.Stmt
	items                int
	payload              string
	nextCall             atomic.Int64
}

func openRaw(b *testing.B, items int) *rawDB {
	b.Helper()
	db, err := sql.Open("sqlite", rawDSN(filepath.Join(b.TempDir(), "raw.db")))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	if _, err := db.Exec(rawSchema); err != nil {
		b.Fatal(err)
	}
	r := &rawDB{db: db, items: items,
		payload: `{"appointmentId":"0190a0b1-0000-7000-8000-000000000001","contactId":"0190a0b1-0000-7000-8000-000000000002","title":"Haircut","startsAt":"2030-01-09T09:00:00Z","endsAt":"2030-01-09T10:00:00Z"}`}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range items {
		if _, err := tx.Exec(`INSERT INTO items (id, data, version) VALUES (?, ?, 1)`, rawItemID(i), r.payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	prep := func(q string) *sql.Stmt {
		s, err := db.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	r.read = prep(`SELECT data, version FROM items WHERE id = ?`)
	r.update = prep(`UPDATE items SET data = ?, version = version + 1 WHERE id = ? AND version = ?`)
	r.insert = prep(`INSERT INTO outbox (id, item_id, payload, created_at) VALUES (?, ?, ?, ?)`)
	r.claim = prep(`SELECT seq, id, item_id, payload FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 100`)
	r.markDelivered = prep(`UPDATE outbox SET state = 'delivered' WHERE seq IN (SELECT value FROM json_each(?))`)
	return r
}

func rawItemID(i int) string { return fmt.Sprintf("b0000000-0000-4000-8000-%012d", i) }

// command runs the raw pattern of one command in tx: read a row, update it
// with a version check, insert 3 outbox rows.
func (r *rawDB) command(tx *sql.Tx, i int) error {
	id := rawItemID(i % r.items)
	var data string
	var version int64
	if err := tx.Stmt(r.read).QueryRow(id).Scan(&data, &version); err != nil {
		return err
	}
	res, err := tx.Stmt(r.update).Exec(data, id, version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("update matched %d rows: %v", n, err)
	}
	ins := tx.Stmt(r.insert)
	for range 3 {
		n := r.nextCall.Add(1)
		if _, err := ins.Exec(fmt.Sprintf("c0000000-0000-4000-8000-%012d", n), id, r.payload, time.Now().UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// commands runs n raw commands in one transaction.
func (r *rawDB) commands(from, n int) error {
	tx, err := r.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	for i := from; i < from+n; i++ {
		if err := r.command(tx, i); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// BenchmarkRawCommandTx is the raw pattern of one command in its own
// transaction: bound by the fsync of each commit.
func BenchmarkRawCommandTx(b *testing.B) {
	r := openRaw(b, 1000)
	i := 0
	for b.Loop() {
		if err := r.commands(i, 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkRawCommandBatch100 is the raw pattern, 100 commands per
// transaction: the CPU ceiling of the engine for this write pattern.
func BenchmarkRawCommandBatch100(b *testing.B) {
	r := openRaw(b, 1000)
	i := 0
	for b.Loop() {
		if err := r.commands(i, 100); err != nil {
			b.Fatal(err)
		}
		i += 100
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkRawMark100 is the raw drain: read the first 100 pending rows and
// mark them delivered, one transaction per 100, over a backlog of 10,000.
func BenchmarkRawMark100(b *testing.B) {
	const n = 10_000
	r := openRaw(b, 100)
	total := 0
	for b.Loop() {
		b.StopTimer()
		for i := 0; i < n; i += 100 {
			if err := r.commands(i, 100/3+1); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		marked := 0
		for {
			k, err := r.mark100()
			if err != nil {
				b.Fatal(err)
			}
			if k == 0 {
				break
			}
			marked += k
		}
		if marked < n {
			b.Fatalf("marked %d of at least %d", marked, n)
		}
		total += marked
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "calls/s")
}

// mark100 marks the first 100 pending rows delivered in one transaction.
func (r *rawDB) mark100() (int, error) {
	tx, err := r.db.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	rows, err := tx.Stmt(r.claim).Query()
	if err != nil {
		return 0, err
	}
	var seqs []string
	for rows.Next() {
		var seq int64
		var id, item, payload string
		if err := rows.Scan(&seq, &id, &item, &payload); err != nil {
			rows.Close()
			return 0, err
		}
		seqs = append(seqs, fmt.Sprint(seq))
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if len(seqs) == 0 {
		return 0, nil
	}
	if _, err := tx.Stmt(r.markDelivered).Exec("[" + strings.Join(seqs, ",") + "]"); err != nil {
		return 0, err
	}
	return len(seqs), tx.Commit()
}

// newApp returns the application on db, on the wall clock.
func newApp(b *testing.B, db *sqlite.DB) *application.App {
	b.Helper()
	app, err := application.New(application.Config{Store: db})
	if err != nil {
		b.Fatal(err)
	}
	return app
}

func scheduleCmd() application.ScheduleAppointment {
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	return application.ScheduleAppointment{SiteID: domain.MustSiteID(benchSite), ContactID: domain.MustID("c0b1c2d3-0000-4000-8000-000000000001"),
		Title: "Haircut", StartsAt: start, EndsAt: start.Add(time.Hour)}
}

// reportWriter adds the writer's batching figures to a benchmark.
func reportWriter(b *testing.B, db *sqlite.DB, before sqlite.WriterStats) {
	s := db.WriterStats()
	if n := s.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(s.Writes-before.Writes)/float64(n), "cmds/batch")
	}
}

// BenchmarkScheduleAppointment: one caller schedules appointments through
// the application (two calls enqueued each), synchronous=FULL.
func BenchmarkScheduleAppointment(b *testing.B) {
	db := open(b)
	app := newApp(b, db)
	cmd := scheduleCmd()
	ctx := context.Background()
	for b.Loop() {
		if _, err := app.ScheduleAppointment.Handle(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkScheduleAppointmentParallel: 64 concurrent callers, FULL.
func BenchmarkScheduleAppointmentParallel(b *testing.B) {
	db := open(b)
	app := newApp(b, db)
	cmd := scheduleCmd()
	before := db.WriterStats()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := app.ScheduleAppointment.Handle(ctx, cmd); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cmds/s")
	reportWriter(b, db, before)
}

// BenchmarkEnroll: one caller enrolls participants in classes of 1,000
// seats (two calls enqueued each), FULL.
func BenchmarkEnroll(b *testing.B) {
	db := open(b)
	app := newApp(b, db)
	ctx := context.Background()
	start := time.Now().Add(72 * time.Hour).Truncate(time.Minute)
	var classID string
	for i := 0; b.Loop(); i++ {
		if i%1000 == 0 {
			b.StopTimer()
			c, err := app.ScheduleClass.Handle(ctx, application.ScheduleClass{SiteID: domain.MustSiteID(benchSite), Title: "Yoga",
				StartsAt: start, EndsAt: start.Add(time.Hour), Capacity: 1000})
			if err != nil {
				b.Fatal(err)
			}
			classID = c.ID.String()
			b.StartTimer()
		}
		if _, err := app.Enroll.Handle(ctx, application.Enroll{SiteID: domain.MustSiteID(benchSite), ClassID: domain.MustID(classID),
			ParticipantID: domain.MustID(uuid.NewString())}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkCancelClass1000 cancels a class of 1,000 enrolled participants:
// 1,001 aggregates saved and 3,000 calls enqueued in one command.
func BenchmarkCancelClass1000(b *testing.B) {
	db := open(b)
	app := newApp(b, db)
	ctx := context.Background()
	calls := 0
	for b.Loop() {
		b.StopTimer()
		id := seedClass(b, db, 1000)
		b.StartTimer()
		if _, err := app.CancelClass.Handle(ctx, application.CancelClass{SiteID: domain.MustSiteID(benchSite), ID: domain.MustID(id), Reason: "snow"}); err != nil {
			b.Fatal(err)
		}
		calls += 3000
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
	b.ReportMetric(float64(calls)/b.Elapsed().Seconds(), "calls/s")
}

// seedClass stores a class with n enrolled participants in one write,
// without their calls, and returns its ID.
func seedClass(b *testing.B, db *sqlite.DB, n int) string {
	b.Helper()
	now := time.Now().UTC()
	start := now.Add(72 * time.Hour).Truncate(time.Minute)
	id := uuid.NewString()
	err := db.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
		c, err := class.Schedule(class.New{ID: domain.MustID(id), SiteID: domain.MustSiteID(benchSite), Title: "Yoga", Start: start,
			End: start.Add(time.Hour), Capacity: n}, now)
		if err != nil {
			return err
		}
		for range n {
			e, err := enrollment.Enroll(c, enrollment.New{ID: domain.MustID(uuid.NewString()), SiteID: domain.MustSiteID(benchSite),
				ParticipantID: domain.MustID(uuid.NewString())}, nil, now)
			if err != nil {
				return err
			}
			if err := tx.SaveEnrollment(ctx, e); err != nil {
				return err
			}
		}
		return tx.SaveClass(ctx, c)
	})
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// noopGateway accepts every item and does nothing.
type noopGateway struct{}

func (noopGateway) Report(_ context.Context, _, _ string, events []application.ReportEvent) ([]error, error) {
	return make([]error, len(events)), nil
}

func (noopGateway) Cancel(_ context.Context, _, _ string, ids []string) ([]error, error) {
	return make([]error, len(ids)), nil
}

// enqueueReports stores n pending real-time reports of one trigger, each
// for its own entity, in writes of up to 10,000.
func enqueueReports(tb testing.TB, db *sqlite.DB, n int) {
	tb.Helper()
	now := time.Now().UTC()
	for done := 0; done < n; {
		k := min(10_000, n-done)
		calls := make([]application.Call, k)
		for i := range calls {
			entity := uuid.NewString()
			calls[i] = application.Call{ID: uuid.NewString(), SiteID: benchSite,
				OrderingKey: application.OrderingKey(benchSite, entity), Kind: application.KindReport,
				TriggerKey: "appointment_scheduled", ExternalEntityID: entity, Cause: "bench",
				Payload: []byte(`{"appointmentId":"` + entity + `","title":"Haircut"}`), CreatedAt: now, NextAttemptAt: now}
		}
		if err := db.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
			return tx.Enqueue(ctx, calls)
		}); err != nil {
			tb.Fatal(err)
		}
		done += k
	}
}

// drainBench drains 10,000 pending calls per iteration to gw.
func drainBench(b *testing.B, gw application.Gateway, workers int) {
	const n = 10_000
	db := open(b)
	for b.Loop() {
		b.StopTimer()
		enqueueReports(b, db, n)
		r, err := relay.New(relay.Config{Outbox: db, Gateway: gw, Workers: workers,
			RequestsPerMinute: relay.NoRateLimit})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := r.Drain(context.Background()); err != nil {
			b.Fatal(err)
		}
		if got := r.Metrics().Delivered; got != n {
			b.Fatalf("delivered %d of %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkRelayDrainNoop drains 10,000 pending calls to a gateway that
// does nothing: the relay's and the outbox's own cost.
func BenchmarkRelayDrainNoop(b *testing.B) {
	drainBench(b, noopGateway{}, relay.DefaultWorkers)
}

// simGateway starts the simulator's HTTP server and returns the Wix REST
// client pointed at it.
func simGateway(b *testing.B) application.Gateway {
	b.Helper()
	sim := wixsim.New(nil)
	if err := sim.RegisterTriggers(application.DefaultCatalog()); err != nil {
		b.Fatal(err)
	}
	srv := sim.NewServer()
	b.Cleanup(srv.Close)
	gw, err := wix.New(wix.Config{BaseURL: srv.URL, AppID: "wixsim-app", AppSecret: "wixsim-secret"})
	if err != nil {
		b.Fatal(err)
	}
	return gw
}

// BenchmarkRelayDrainHTTP drains 10,000 pending calls to the simulator over
// loopback HTTP, 8 requests in flight.
func BenchmarkRelayDrainHTTP(b *testing.B) {
	drainBench(b, simGateway(b), 8)
}

// BenchmarkPlainHTTP8 is the baseline of BenchmarkRelayDrainHTTP: the same
// 100 bulk requests of 100 reports, sent from 8 goroutines in a plain loop,
// with no outbox.
func BenchmarkPlainHTTP8(b *testing.B) {
	const n, workers = 10_000, 8
	gw := simGateway(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		batches := make(chan []application.ReportEvent, n/application.MaxBatch)
		for range n / application.MaxBatch {
			events := make([]application.ReportEvent, application.MaxBatch)
			for i := range events {
				entity := uuid.NewString()
				events[i] = application.ReportEvent{ExternalEntityID: entity, IdempotencyKey: uuid.NewString(),
					Payload: []byte(`{"appointmentId":"` + entity + `","title":"Haircut"}`)}
			}
			batches <- events
		}
		close(batches)
		b.StartTimer()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for events := range batches {
					if _, err := gw.Report(ctx, benchSite, "appointment_scheduled", events); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "calls/s")
}

// bigDBs caches the prebuilt databases of the LargeDB and SmallDB
// benchmarks for the process: building a million rows takes a while.
var bigDBs struct {
	sync.Mutex
	dir   string
	paths map[int]string
}

// TestMain removes the prebuilt databases after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if bigDBs.dir != "" {
		os.RemoveAll(bigDBs.dir)
	}
	os.Exit(code)
}

// prebuilt returns a database file holding n appointments (and their
// delivered calls' worth of nothing else), built once per process with
// multi-row INSERTs in one transaction.
func prebuilt(b *testing.B, n int) string {
	b.Helper()
	bigDBs.Lock()
	defer bigDBs.Unlock()
	if p, ok := bigDBs.paths[n]; ok {
		return p
	}
	if bigDBs.dir == "" {
		dir, err := os.MkdirTemp("", "lifecycle-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bigDBs.dir, bigDBs.paths = dir, map[int]string{}
	}
	path := filepath.Join(bigDBs.dir, fmt.Sprintf("appointments-%d.db", n))
	db, err := sqlite.Open(context.Background(), path) // creates the schema
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("sqlite", rawDSN(path))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	const rowsPerInsert = 500
	start := time.Now().Add(48 * time.Hour).UnixMilli()
	var sb strings.Builder
	args := make([]any, 0, 4*rowsPerInsert)
	for done := 0; done < n; {
		k := min(rowsPerInsert, n-done)
		sb.Reset()
		args = args[:0]
		sb.WriteString(`INSERT INTO appointments (site_id, id, contact_id, title, start_at, end_at, state, version) VALUES `)
		for i := range k {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`(?, ?, ?, 'Haircut', ?, ?, 'scheduled', 1)`)
			at := start + int64(done+i)*60_000
			args = append(args, benchSite, prebuiltID(done+i).String(), uuid.NewString(), at, at+3_600_000)
		}
		if _, err := tx.Exec(sb.String(), args...); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	bigDBs.paths[n] = path
	return path
}

// prebuiltNamespace names the IDs of prebuilt appointments.
var prebuiltNamespace = uuid.MustParse("6b1d2c3e-4f50-4a61-8b72-9c83d4e5f601")

// prebuiltID is the ID of prebuilt appointment i: a UUID (version 5) of i,
// so that a benchmark can pick existing rows at random, and as random in
// the primary key's order as the UUIDs products mint.
func prebuiltID(i int) domain.ID {
	return domain.MustID(uuid.NewSHA1(prebuiltNamespace, []byte(strconv.Itoa(i))).String())
}

// appOnPrebuilt returns an App on the prebuilt database of stored
// appointments, closed after the benchmark.
func appOnPrebuilt(b *testing.B, stored int) *application.App {
	db, err := sqlite.Open(context.Background(), prebuilt(b, stored))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return newApp(b, db)
}

// rescheduleRandomOn reschedules appointments picked at random among the
// stored ones, with callers at once (1, or 64 as the parallel benchmark):
// the read of an existing row, its update, the cancel and report it queues
// and their supersession, on a large or a small database.
func rescheduleRandomOn(b *testing.B, stored, callers int) {
	app := appOnPrebuilt(b, stored)
	site := domain.MustSiteID(benchSite)
	var seed atomic.Uint64
	reschedule := func(rnd *rand.Rand) error {
		start := time.Now().Add(72*time.Hour + time.Duration(rnd.IntN(10_000))*time.Minute).Truncate(time.Minute)
		_, err := app.RescheduleAppointment.Handle(context.Background(), application.RescheduleAppointment{
			SiteID: site, ID: prebuiltID(rnd.IntN(stored)), StartsAt: start, EndsAt: start.Add(time.Hour)})
		return err
	}
	if callers == 1 {
		rnd := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if err := reschedule(rnd); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			rnd := rand.New(rand.NewPCG(seed.Add(1), 2))
			for pb.Next() {
				if err := reschedule(rnd); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkRescheduleRandomLargeDB reschedules random appointments among
// 1,000,000 stored, one caller; compare with ...SmallDB (1,000 stored).
func BenchmarkRescheduleRandomLargeDB(b *testing.B) { rescheduleRandomOn(b, 1_000_000, 1) }

// BenchmarkRescheduleRandomSmallDB: as LargeDB, 1,000 stored.
func BenchmarkRescheduleRandomSmallDB(b *testing.B) { rescheduleRandomOn(b, 1_000, 1) }

// BenchmarkRescheduleRandomLargeDBParallel: as LargeDB, 64 callers.
func BenchmarkRescheduleRandomLargeDBParallel(b *testing.B) { rescheduleRandomOn(b, 1_000_000, 64) }

// BenchmarkRescheduleRandomSmallDBParallel: as SmallDB, 64 callers.
func BenchmarkRescheduleRandomSmallDBParallel(b *testing.B) { rescheduleRandomOn(b, 1_000, 64) }

// scheduleOn runs BenchmarkScheduleAppointment on a prebuilt database.
func scheduleOn(b *testing.B, stored int) {
	app := appOnPrebuilt(b, stored)
	cmd := scheduleCmd()
	ctx := context.Background()
	for b.Loop() {
		if _, err := app.ScheduleAppointment.Handle(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkScheduleAppointmentLargeDB schedules with 1,000,000 appointments
// already stored; compare with BenchmarkScheduleAppointmentSmallDB.
func BenchmarkScheduleAppointmentLargeDB(b *testing.B) { scheduleOn(b, 1_000_000) }

// BenchmarkScheduleAppointmentSmallDB schedules with 1,000 appointments
// stored.
func BenchmarkScheduleAppointmentSmallDB(b *testing.B) { scheduleOn(b, 1_000) }
