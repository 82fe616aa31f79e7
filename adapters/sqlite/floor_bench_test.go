package sqlite_test

// The floors: the raw baselines of bench_test.go run lifecycle's own schema
// instead of the minimal one. Each is the least SQL that any relay or any
// command handler would have to run on that schema, hand-written, with no
// application layer, no writer goroutine and no savepoints. They separate
// what the schema costs (its indexes, the outbox heads, the lease) from
// what lifecycle's code adds on top of it (docs/performance.md, "Floors").

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/bookable/lifecycle/adapters/sqlite"
	"github.com/bookable/lifecycle/application"
)

// openFloor opens a lifecycle database through the adapter (so that it has
// the schema of the current migrations) and a raw connection to the same
// file with the adapter's PRAGMAs. The adapter's writer stays idle while the
// raw connection writes.
func openFloor(b *testing.B) (*sqlite.DB, *sql.DB) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "floor.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	raw, err := sql.Open("sqlite", rawDSN(path))
	if err != nil {
		b.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	b.Cleanup(func() { raw.Close() })
	return db, raw
}

// The statements of the drain floor: lease up to 100 due heads, read their
// calls, mark them delivered as a settle does (one row each in
// outbox_delivered, schema version 12), and delete their heads.
const (
	floorLease = `UPDATE outbox_heads SET leased_until = ?2 WHERE seq IN (SELECT seq FROM outbox_heads
		WHERE +ready_at <= ?1 AND leased_until <= ?1 ORDER BY seq LIMIT 100) RETURNING seq`
	floorRead = `SELECT seq, id, site_id, ordering_key, kind, trigger_key, external_entity_id, payload,
		scheduled_at, cause, state, attempts, next_attempt_at, last_error_status, last_error_code,
		last_error_message, created_at, settled_at FROM outbox WHERE seq IN (SELECT value FROM json_each(?))`
	floorMark  = `INSERT INTO outbox_delivered (call_seq, delivered_at, attempted) SELECT value, ?1, 1 FROM json_each(?2)`
	floorHeads = `DELETE FROM outbox_heads WHERE seq IN (SELECT value FROM json_each(?))`
)

// BenchmarkRawDrainLifecycleSchema is the floor of BenchmarkRelayDrainNoop:
// 10,000 pending calls enqueued through the adapter, then drained 100 per
// transaction by the four statements a delivery needs on lifecycle's
// schema. It is cheaper than any relay can be: the lease and the outcome
// share one transaction, where a relay must commit the lease before it
// sends.
func BenchmarkRawDrainLifecycleSchema(b *testing.B) {
	const n = 10_000
	db, raw := openFloor(b)
	total := 0
	for b.Loop() {
		b.StopTimer()
		enqueueReports(b, db, n)
		b.StartTimer()
		marked := 0
		for {
			k, err := floorDrain100(raw)
			if err != nil {
				b.Fatal(err)
			}
			if k == 0 {
				break
			}
			marked += k
		}
		if marked != n {
			b.Fatalf("drained %d of %d", marked, n)
		}
		total += marked
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "calls/s")
}

func floorDrain100(raw *sql.DB) (int, error) {
	tx, err := raw.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	now := time.Now().UnixMilli()
	rows, err := tx.Query(floorLease, now, now+60_000)
	if err != nil {
		return 0, err
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return 0, err
		}
		seqs = append(seqs, seq)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if len(seqs) == 0 {
		return 0, nil
	}
	seqJSON, err := json.Marshal(seqs)
	if err != nil {
		return 0, err
	}
	if rows, err = tx.Query(floorRead, string(seqJSON)); err != nil {
		return 0, err
	}
	read := 0
	for rows.Next() {
		var (
			seq, scheduled, attempts, next, created, settled int64
			id, site, key, kind, trigger, entity, cause      string
			state, payload                                   string
			errStatus                                        sql.NullInt64
			errCode, errMessage                              sql.NullString
		)
		if err := rows.Scan(&seq, &id, &site, &key, &kind, &trigger, &entity, &payload, &scheduled, &cause,
			&state, &attempts, &next, &errStatus, &errCode, &errMessage, &created, &settled); err != nil {
			rows.Close()
			return 0, err
		}
		read++
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(floorMark, now, string(seqJSON)); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(floorHeads, string(seqJSON)); err != nil {
		return 0, err
	}
	return read, tx.Commit()
}

// The statements of the command floor: ScheduleAppointment's reads and
// writes on lifecycle's schema.
const (
	floorLoad   = `SELECT version FROM appointments WHERE site_id = ? AND id = ?`
	floorInsert = `INSERT INTO appointments (site_id, id, contact_id, title, start_at, end_at, state, cancel_reason, version)
		VALUES (?, ?, ?, 'Haircut', ?, ?, 'scheduled', '', 1)`
	floorCalls = `INSERT INTO outbox (id, site_id, ordering_key, kind, trigger_key, external_entity_id, payload,
		scheduled_at, cause, state, next_attempt_at, created_at) VALUES
		(?, ?, ?, 'report', 'appointment_scheduled', ?, ?, 0, 'bench', 'pending', ?, ?),
		(?, ?, ?, 'report', 'appointment_starting', ?, ?, ?, 'bench', 'pending', ?, ?)`
	floorOffer = `INSERT INTO outbox_heads (seq, ordering_key, ready_at, more)
		SELECT v.column1, v.column2, v.column3, 1 FROM (VALUES (?, ?, ?)) AS v WHERE NOT EXISTS (SELECT 1
		FROM outbox AS o WHERE o.ordering_key = v.column2 AND o.seq < v.column1 AND o.state = 'pending')`
)

// BenchmarkRawCommandBatch100LifecycleSchema is the floor of
// BenchmarkScheduleAppointmentParallel: 100 appointments scheduled per
// transaction by the statements ScheduleAppointment needs on lifecycle's
// schema (read the appointment, insert it, insert its 2 calls in one
// INSERT, offer the first as its key's head), with time-ordered IDs as the
// application mints them.
func BenchmarkRawCommandBatch100LifecycleSchema(b *testing.B) {
	_, raw := openFloor(b)
	ids := application.UUIDv7{}
	payload := `{"appointmentId":"0190a0b1-0000-7000-8000-000000000001","contactId":"0190a0b1-0000-7000-8000-000000000002","title":"Haircut","startsAt":"2030-01-09T09:00:00Z","endsAt":"2030-01-09T10:00:00Z"}`
	const contact = "c0b1c2d3-0000-4000-8000-000000000001"
	stmts := make([]*sql.Stmt, 4)
	for i, q := range []string{floorLoad, floorInsert, floorCalls, floorOffer} {
		s, err := raw.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		stmts[i] = s
	}
	for b.Loop() {
		tx, err := raw.Begin()
		if err != nil {
			b.Fatal(err)
		}
		load, insert, calls, offer := tx.Stmt(stmts[0]), tx.Stmt(stmts[1]), tx.Stmt(stmts[2]), tx.Stmt(stmts[3])
		for range 100 {
			id := ids.NewID()
			var version int64
			if err := load.QueryRow(benchSite, id).Scan(&version); err != sql.ErrNoRows {
				b.Fatalf("appointment %s: %v", id, err)
			}
			now := time.Now().UnixMilli()
			start := now + 48*3_600_000
			if _, err := insert.Exec(benchSite, id, contact, start, start+3_600_000); err != nil {
				b.Fatal(err)
			}
			key := application.OrderingKey(benchSite, id)
			res, err := calls.Exec(ids.NewID(), benchSite, key, id, payload, now, now,
				ids.NewID(), benchSite, key, id, payload, start, now, now)
			if err != nil {
				b.Fatal(err)
			}
			last, err := res.LastInsertId()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := offer.Exec(last-1, key, now); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "cmds/s")
}
