package postgres_test

// The performance suite of PostgreSQL (docs/postgres.md, "Figures"). Every
// benchmark reports a throughput metric, cmds/s or calls/s, and the raw pgx
// baselines live here too, so that each ratio of the targets is measured in
// one run:
//
//	LIFECYCLE_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test \
//	  go test -run '^$' -bench . -count 5 ./adapters/postgres/
//
// The raw baselines are plain pgx on a minimal schema (a versioned row and
// an outbox with a partial index of the pending calls): what the server
// allows for the write pattern, without lifecycle's application layer,
// locks, heads, supersession or fencing.

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookable/lifecycle/adapters/postgres"
	"github.com/bookable/lifecycle/adapters/postgres/pgtest"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/relay"
	"github.com/bookable/lifecycle/domain"
)

const benchSite = "a0b1c2d3-0000-4000-8000-000000000001"

const benchPayload = `{"appointmentId":"0190a0b1-0000-7000-8000-000000000001","contactId":"0190a0b1-0000-7000-8000-000000000002","title":"Haircut","startsAt":"2030-01-09T09:00:00Z","endsAt":"2030-01-09T10:00:00Z"}`

// rawSchema is the raw baselines' minimal transactional outbox.
const rawSchema = `
CREATE TABLE items (id text PRIMARY KEY, data text NOT NULL, version bigint NOT NULL);
CREATE TABLE raw_outbox (
	seq        bigserial   PRIMARY KEY,
	id         text        NOT NULL UNIQUE,
	item_id    text        NOT NULL,
	payload    text        NOT NULL,
	state      text        NOT NULL DEFAULT 'pending',
	created_at timestamptz NOT NULL
);
CREATE INDEX raw_outbox_pending ON raw_outbox (seq) WHERE state = 'pending';`

// rawDB is the raw baseline: a pool on a schema of its own.
type rawDB struct {
	pool  *pgxpool.Pool
	items int
	calls atomic.Int64
}

func openRaw(b *testing.B, items int) *rawDB {
	b.Helper()
	ctx := context.Background()
	schema := pgtest.Schema(b)
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 64
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	admin, err := pgx.Connect(ctx, pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, rawSchema); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO items SELECT 'item-' || i, $1, 1 FROM generate_series(0, $2 - 1) AS i`,
		benchPayload, items); err != nil {
		b.Fatal(err)
	}
	return &rawDB{pool: pool, items: items}
}

func (r *rawDB) callID() string { return fmt.Sprintf("c0000000-0000-4000-8000-%012d", r.calls.Add(1)) }

// command is the raw pattern of one command, a round trip per statement:
// read a row, update it with a version check, insert 3 outbox rows, in one
// transaction.
func (r *rawDB) command(ctx context.Context, i int) error {
	id := fmt.Sprintf("item-%d", i%r.items)
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var data string
		var version int64
		if err := tx.QueryRow(ctx, `SELECT data, version FROM items WHERE id = $1`, id).Scan(&data, &version); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE items SET data = $1, version = version + 1 WHERE id = $2 AND version = $3`, data, id, version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("version moved")
		}
		for range 3 {
			if _, err := tx.Exec(ctx, `INSERT INTO raw_outbox (id, item_id, payload, created_at) VALUES ($1, $2, $3, now())`,
				r.callID(), id, benchPayload); err != nil {
				return err
			}
		}
		return nil
	})
}

// commandPipelined is the same pattern in the fewest round trips: BEGIN
// with the read, then the update, the inserts and COMMIT together.
func (r *rawDB) commandPipelined(ctx context.Context, i int) error {
	id := fmt.Sprintf("item-%d", i%r.items)
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT data, version FROM items WHERE id = $1`, id)
	br := conn.SendBatch(ctx, b)
	var data string
	var version int64
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&data, &version)
	}
	if err := errorsJoin(err, br.Close()); err != nil {
		_, _ = conn.Exec(ctx, "ROLLBACK")
		return err
	}
	w := &pgx.Batch{}
	w.Queue(`UPDATE items SET data = $1, version = version + 1 WHERE id = $2 AND version = $3`, data, id, version)
	for range 3 {
		w.Queue(`INSERT INTO raw_outbox (id, item_id, payload, created_at) VALUES ($1, $2, $3, now())`, r.callID(), id, benchPayload)
	}
	w.Queue("COMMIT")
	if err := conn.SendBatch(ctx, w).Close(); err != nil {
		_, _ = conn.Exec(ctx, "ROLLBACK")
		return err
	}
	return nil
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// parallel runs fn from 64 goroutines and reports cmds/s.
func parallel(b *testing.B, fn func(ctx context.Context, i int) error) {
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	var n atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := fn(ctx, int(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cmds/s")
}

// serial runs fn from one goroutine and reports cmds/s.
func serial(b *testing.B, fn func(ctx context.Context, i int) error) {
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if err := fn(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

func BenchmarkRawCommandTx(b *testing.B)          { serial(b, openRaw(b, 1000).command) }
func BenchmarkRawCommandTx64(b *testing.B)        { parallel(b, openRaw(b, 1000).command) }
func BenchmarkRawCommandPipelined(b *testing.B)   { serial(b, openRaw(b, 1000).commandPipelined) }
func BenchmarkRawCommandPipelined64(b *testing.B) { parallel(b, openRaw(b, 1000).commandPipelined) }

// schedule returns a command that schedules an appointment (two calls
// enqueued) through the application on s.
func schedule(b *testing.B, s *postgres.Store) func(ctx context.Context, i int) error {
	app, err := application.New(application.Config{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	cmd := application.ScheduleAppointment{SiteID: domain.MustSiteID(benchSite), ContactID: domain.MustID("c0b1c2d3-0000-4000-8000-000000000001"),
		Title: "Haircut", StartsAt: start, EndsAt: start.Add(time.Hour)}
	return func(ctx context.Context, _ int) error {
		_, err := app.ScheduleAppointment.Handle(ctx, cmd)
		return err
	}
}

// BenchmarkScheduleAppointment: one caller schedules appointments through
// the application (read, insert, two calls enqueued each).
func BenchmarkScheduleAppointment(b *testing.B) {
	serial(b, schedule(b, pgtest.Open(b, postgres.WithMaxConns(64))))
}

// BenchmarkScheduleAppointment64: 64 concurrent callers.
func BenchmarkScheduleAppointment64(b *testing.B) {
	parallel(b, schedule(b, pgtest.Open(b, postgres.WithMaxConns(64))))
}

// stored caches, per size, a schema holding that many delivered calls, for
// the benchmarks of the cost per command as the outbox grows.
var stored = struct {
	sync.Mutex
	schemas map[int]string
}{schemas: map[int]string{}}

// storedSchema returns a schema whose outbox holds n delivered calls (and
// n/2 appointments), built with INSERT ... SELECT and dropped when the
// benchmark ends.
func storedSchema(b *testing.B, n int) string {
	stored.Lock()
	defer stored.Unlock()
	if s, ok := stored.schemas[n]; ok {
		return s
	}
	ctx := context.Background()
	schema := "lc_bench_stored_" + fmt.Sprint(n)
	admin, err := pgx.Connect(ctx, pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
		b.Fatal(err)
	}
	s, err := postgres.Open(ctx, pgtest.DSN(b), postgres.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	_ = s.Close()
	for _, q := range []string{
		`INSERT INTO ` + schema + `.appointments (site_id, id, contact_id, title, start_at, end_at, state, version)
			SELECT $1, gen_random_uuid()::text, gen_random_uuid()::text, 'Haircut', now(), now() + interval '1 hour',
			'scheduled', 1 FROM generate_series(1, $2 / 2)`,
		`INSERT INTO ` + schema + `.outbox (seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id,
			payload, state, attempts, next_attempt_at, created_at, settled_at, delivery_unlogged)
			SELECT i, gen_random_uuid()::text, $1, $1 || '/' || (i / 2), 'report', 't_' || (i % 2), (i / 2)::text,
			'{}', 'delivered', 1, now(), now(), now(), true FROM generate_series(1, $2) AS i`,
		`VACUUM ANALYZE ` + schema + `.outbox`,
		`VACUUM ANALYZE ` + schema + `.appointments`,
	} {
		var err error
		if q[0] == 'V' {
			_, err = admin.Exec(ctx, q)
		} else {
			_, err = admin.Exec(ctx, q, benchSite, n)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	stored.schemas[n] = schema
	b.Cleanup(func() { // each size serves one benchmark: leave nothing behind
		stored.Lock()
		defer stored.Unlock()
		delete(stored.schemas, n)
		conn, err := pgx.Connect(context.Background(), pgtest.DSN(b))
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			b.Error(err)
		}
	})
	return schema
}

// scheduleStored runs BenchmarkScheduleAppointment with n calls stored.
func scheduleStored(b *testing.B, n int) {
	schema := storedSchema(b, n)
	s, err := postgres.Open(context.Background(), pgtest.DSN(b), postgres.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	serial(b, schedule(b, s))
}

func BenchmarkScheduleAppointmentStored1e3(b *testing.B) { scheduleStored(b, 1_000) }
func BenchmarkScheduleAppointmentStored1e6(b *testing.B) { scheduleStored(b, 1_000_000) }

// enqueueReports stores n pending real-time reports of one trigger, each
// for its own entity, in commands of up to 5,000 calls.
func enqueueReports(b *testing.B, s *postgres.Store, n int) {
	now := time.Now().UTC()
	for done := 0; done < n; {
		k := min(5_000, n-done)
		calls := make([]application.Call, k)
		for i := range calls {
			entity := uuid.NewString()
			calls[i] = application.Call{ID: uuid.NewString(), SiteID: benchSite,
				OrderingKey: application.OrderingKey(benchSite, entity), Kind: application.KindReport,
				TriggerKey: "appointment_scheduled", ExternalEntityID: entity, Cause: "bench",
				Payload: []byte(`{"appointmentId":"` + entity + `","title":"Haircut"}`), CreatedAt: now, NextAttemptAt: now}
		}
		if err := s.Update(context.Background(), func(ctx context.Context, tx application.Tx) error {
			return tx.Enqueue(ctx, calls)
		}); err != nil {
			b.Fatal(err)
		}
		done += k
	}
}

// noopGateway accepts every item and does nothing.
type noopGateway struct{}

func (noopGateway) Report(_ context.Context, _, _ string, events []application.ReportEvent) ([]error, error) {
	return make([]error, len(events)), nil
}

func (noopGateway) Cancel(_ context.Context, _, _ string, ids []string) ([]error, error) {
	return make([]error, len(ids)), nil
}

// drainer is a relay that drains what is due and reports how many calls
// it delivered. newDrainer is the one place that builds the relay, so that
// the benchmarks follow the relay when it moves to application/relay.
type drainer interface {
	Drain(ctx context.Context) error
	Delivered() uint64
}

type appRelay struct{ *relay.Relay }

func (r appRelay) Delivered() uint64 { return r.Metrics().Delivered }

func newDrainer(b *testing.B, o application.Outbox) drainer {
	r, err := relay.New(relay.Config{Outbox: o, Gateway: noopGateway{},
		RequestsPerMinute: relay.NoRateLimit})
	if err != nil {
		b.Fatal(err)
	}
	return appRelay{r}
}

// drainBench drains n pending calls per iteration with relays relays, each
// in an instance (a Store) of its own on one schema.
func drainBench(b *testing.B, relays int) {
	const n = 30_000
	schema := pgtest.Schema(b)
	var stores []*postgres.Store
	for range relays {
		s, err := postgres.Open(context.Background(), pgtest.DSN(b), postgres.WithSchema(schema))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		stores = append(stores, s)
	}
	total := 0
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		enqueueReports(b, stores[0], n)
		ds := make([]drainer, relays)
		for i := range ds {
			ds[i] = newDrainer(b, stores[i])
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				if err := d.Drain(context.Background()); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		var got uint64
		for _, d := range ds {
			got += d.Delivered()
		}
		if got != n {
			b.Fatalf("delivered %d of %d", got, n)
		}
		total += n
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "calls/s")
}

func BenchmarkRelayDrain1(b *testing.B) { drainBench(b, 1) }
func BenchmarkRelayDrain3(b *testing.B) { drainBench(b, 3) }

// rawMarkBench is the raw drain: workers mark pending rows delivered, 100
// per transaction, unordered, with FOR UPDATE SKIP LOCKED, over a backlog
// of n rows per iteration.
func rawMarkBench(b *testing.B, workers int) {
	const n = 30_000
	r := openRaw(b, 100)
	ctx := context.Background()
	total := 0
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := r.pool.Exec(ctx, `INSERT INTO raw_outbox (id, item_id, payload, created_at)
			SELECT gen_random_uuid()::text, 'item-1', $1, now() FROM generate_series(1, $2)`, benchPayload, n); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		var marked atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					var k int64
					err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
						rows, err := tx.Query(ctx, `SELECT seq, id, item_id, payload FROM raw_outbox WHERE state = 'pending'
							LIMIT 100 FOR UPDATE SKIP LOCKED`)
						if err != nil {
							return err
						}
						var seqs []int64
						for rows.Next() {
							var seq int64
							var id, item, payload string
							if err := rows.Scan(&seq, &id, &item, &payload); err != nil {
								rows.Close()
								return err
							}
							seqs = append(seqs, seq)
						}
						rows.Close()
						if len(seqs) == 0 {
							return rows.Err()
						}
						tag, err := tx.Exec(ctx, `UPDATE raw_outbox SET state = 'delivered' WHERE seq = ANY($1)`, seqs)
						k = tag.RowsAffected()
						return err
					})
					if err != nil {
						b.Error(err)
						return
					}
					if k == 0 {
						return
					}
					marked.Add(k)
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		if marked.Load() < n {
			b.Fatalf("marked %d of %d", marked.Load(), n)
		}
		total += int(marked.Load())
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "calls/s")
}

func BenchmarkRawMark100x1(b *testing.B) { rawMarkBench(b, 1) }
func BenchmarkRawMark100x3(b *testing.B) { rawMarkBench(b, 3) }
