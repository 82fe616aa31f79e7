package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookable/lifecycle/adapters/overlay"
	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
	"github.com/bookable/lifecycle/domain"
	"github.com/bookable/lifecycle/domain/appointment"
	"github.com/bookable/lifecycle/domain/class"
	"github.com/bookable/lifecycle/domain/course"
	"github.com/bookable/lifecycle/domain/courseenrollment"
	"github.com/bookable/lifecycle/domain/enrollment"
	"github.com/bookable/lifecycle/domain/series"
	"github.com/bookable/lifecycle/domain/site"
)

// tx implements application.Tx: reads go to the read snapshot overlaid with
// the transaction's own staged writes; saves, idempotency records and calls
// are staged and sent by commit.
type tx struct {
	readTx
	appointments map[aggKey]appointment.Snapshot // staged, at their written version
	classes      map[aggKey]class.Snapshot
	enrollments  map[aggKey]enrollment.Snapshot
	courses      map[aggKey]course.Snapshot
	courseEnrs   map[aggKey]courseenrollment.Snapshot
	series       map[aggKey]series.Snapshot
	settings     map[aggKey]site.Snapshot // keyed by {site, site}
	keys         map[aggKey]application.IdempotencyRecord
	staged       map[stagedKey]int // the index in ops of each aggregate's write
	ops          []stagedOp
	calls        []outbox.Call
	callIDs      map[string]struct{}
	undo         []versionUndo
}

// aggKey names an aggregate or an idempotency key: its site and ID.
type aggKey struct{ site, id string }

// stagedKey names a staged aggregate write.
type stagedKey struct {
	table string
	aggKey
}

// stagedOp is one statement of the commit.
type stagedOp struct {
	sql  string
	args []any
	from int64 // for an aggregate's write, the version it was loaded at
}

// versionUndo puts an aggregate's version back when its write does not
// commit.
type versionUndo struct {
	agg     interface{ SetVersion(int64) }
	version int64
}

func (t *tx) rollbackVersions() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i].agg.SetVersion(t.undo[i].version)
	}
	t.undo = nil
}

// The aggregates' writes. An update names the version it read and raises a
// conflict (lifecycle_expect) when no row has it.
var (
	qInsertAppointment = `INSERT INTO appointments (` + appointmentCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	qUpdateAppointment = `WITH u AS (UPDATE appointments SET contact_id = $3, title = $4, start_at = $5, end_at = $6,
		state = $7, cancel_reason = $8, booked_at = $9, changed_at = $10, previous_start_at = $11, rescheduled_at = $12,
		version = $13 WHERE site_id = $1 AND id = $2 AND version = $14 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $15) FROM u`
	qInsertClass = `INSERT INTO classes (` + classCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`
	qUpdateClass = `WITH u AS (UPDATE classes SET title = $3, start_at = $4, end_at = $5, capacity = $6, waitlist = $7,
		enrolled = $8, waitlisted = $9, admissions = $10, state = $11, cancel_reason = $12, scheduled_at = $13,
		changed_at = $14, previous_start_at = $15, rescheduled_at = $16, version = $17
		WHERE site_id = $1 AND id = $2 AND version = $18 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $19) FROM u`
	qInsertEnrollment = `INSERT INTO enrollments (` + enrollmentCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	qUpdateEnrollment = `WITH u AS (UPDATE enrollments SET class_id = $3, participant_id = $4, position = $5,
		enrolled_at = $6, seated_at = $7, ended_at = $8, class_moved_at = $9, state = $10, version = $11
		WHERE site_id = $1 AND id = $2 AND version = $12 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $13) FROM u`
)

// stage records the write of an aggregate saved at version (0: a new one),
// or replaces the write staged for it earlier in the transaction, which
// must be the version saved now. The aggregate takes the version it will
// have once written.
func (t *tx) stage(table string, k aggKey, agg interface{ SetVersion(int64) }, version int64, build func(from int64) stagedOp) error {
	if err := t.check(context.Background()); err != nil {
		return err
	}
	if t.staged == nil {
		t.staged = map[stagedKey]int{}
	}
	sk := stagedKey{table, k}
	from := version
	i, ok := t.staged[sk]
	if ok {
		from = t.ops[i].from
	}
	op := build(from)
	if ok {
		t.ops[i] = op
	} else {
		t.staged[sk] = len(t.ops)
		t.ops = append(t.ops, op)
	}
	t.undo = append(t.undo, versionUndo{agg: agg, version: version})
	agg.SetVersion(version + 1)
	return nil
}

// checkStaged compares a save's version with the write staged for the
// same aggregate in this transaction, if any.
func checkStaged(what, id string, staged, version int64, ok bool) error {
	if ok && staged != version {
		return fmt.Errorf("save %s: %s changed since it was loaded (version %d, staged %d): %w",
			what, id, version, staged, application.ErrConflict)
	}
	return nil
}

// SaveAppointment implements application.Tx.
func (t *tx) SaveAppointment(ctx context.Context, a *appointment.Appointment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := a.Snapshot()
	k := aggKey{s.SiteID, s.ID}
	prev, ok := t.appointments[k]
	if err := checkStaged("appointment", s.ID, prev.Version, s.Version, ok); err != nil {
		return err
	}
	version := s.Version
	err := t.stage("appointments", k, a, version, func(from int64) stagedOp {
		cols := []any{s.SiteID, s.ID, s.ContactID, s.Title, ts(s.Start), ts(s.End), s.State, s.CancelReason,
			ts(s.BookedAt), ts(s.ChangedAt), ts(s.PreviousStart), ts(s.RescheduledAt), version + 1}
		if from == 0 {
			return stagedOp{sql: qInsertAppointment, args: cols}
		}
		return stagedOp{sql: qUpdateAppointment, args: append(cols, from, "appointment "+s.ID+" changed since it was loaded"), from: from}
	})
	if err != nil {
		return err
	}
	if t.appointments == nil {
		t.appointments = map[aggKey]appointment.Snapshot{}
	}
	s.Version = version + 1
	t.appointments[k] = s
	return nil
}

// SaveClass implements application.Tx.
func (t *tx) SaveClass(ctx context.Context, c *class.Class) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := c.Snapshot()
	k := aggKey{s.SiteID, s.ID}
	prev, ok := t.classes[k]
	if err := checkStaged("class", s.ID, prev.Version, s.Version, ok); err != nil {
		return err
	}
	version := s.Version
	err := t.stage("classes", k, c, version, func(from int64) stagedOp {
		cols := []any{s.SiteID, s.ID, s.Title, ts(s.Start), ts(s.End), s.Capacity, s.Waitlist, s.Enrolled, s.Waitlisted,
			s.Admissions, s.State, s.CancelReason, ts(s.ScheduledAt), ts(s.ChangedAt), ts(s.PreviousStart),
			ts(s.RescheduledAt), version + 1}
		if from == 0 {
			return stagedOp{sql: qInsertClass, args: cols}
		}
		return stagedOp{sql: qUpdateClass, args: append(cols, from, "class "+s.ID+" changed since it was loaded"), from: from}
	})
	if err != nil {
		return err
	}
	if t.classes == nil {
		t.classes = map[aggKey]class.Snapshot{}
	}
	s.Version = version + 1
	t.classes[k] = s
	return nil
}

// SaveEnrollment implements application.Tx. A second active enrollment of
// the participant in the class is refused by the unique index
// enrollments_one_active when the commit runs.
func (t *tx) SaveEnrollment(ctx context.Context, e *enrollment.Enrollment) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	s := e.Snapshot()
	k := aggKey{s.SiteID, s.ID}
	prev, ok := t.enrollments[k]
	if err := checkStaged("enrollment", s.ID, prev.Version, s.Version, ok); err != nil {
		return err
	}
	if s.Active() {
		for other, o := range t.enrollments {
			if other.site == s.SiteID && other.id != s.ID && o.ClassID == s.ClassID && o.ParticipantID == s.ParticipantID && o.Active() {
				return fmt.Errorf("save enrollment: participant %s already active in class %s: %w",
					s.ParticipantID, s.ClassID, application.ErrConflict)
			}
		}
	}
	version := s.Version
	err := t.stage("enrollments", k, e, version, func(from int64) stagedOp {
		cols := []any{s.SiteID, s.ID, s.ClassID, s.ParticipantID, s.Position, ts(s.EnrolledAt), ts(s.SeatedAt),
			ts(s.EndedAt), ts(s.ClassMovedAt), s.State, version + 1}
		if from == 0 {
			return stagedOp{sql: qInsertEnrollment, args: cols}
		}
		return stagedOp{sql: qUpdateEnrollment, args: append(cols, from, "enrollment "+s.ID+" changed since it was loaded"), from: from}
	})
	if err != nil {
		return err
	}
	if t.enrollments == nil {
		t.enrollments = map[aggKey]enrollment.Snapshot{}
	}
	s.Version = version + 1
	t.enrollments[k] = s
	return nil
}

// Enqueue implements application.Tx: the calls are checked and staged, and
// written by the commit (outbox_enqueue.go). A call ID already in the
// outbox is ErrConflict then.
func (t *tx) Enqueue(ctx context.Context, calls []application.Call) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	for _, c := range calls {
		if c.ID == "" || c.SiteID == "" || c.OrderingKey == "" || c.TriggerKey == "" {
			return fmt.Errorf("enqueue: call is missing its ID, site, ordering key or trigger key")
		}
		if _, err := outbox.ParseKind(string(c.Kind)); err != nil {
			return fmt.Errorf("enqueue call %s: %w", c.ID, err)
		}
		if t.callIDs == nil {
			t.callIDs = map[string]struct{}{}
		}
		if _, ok := t.callIDs[c.ID]; ok {
			return fmt.Errorf("enqueue: call %s twice: %w", c.ID, application.ErrConflict)
		}
		t.callIDs[c.ID] = struct{}{}
		if c.NextAttemptAt.IsZero() {
			c.NextAttemptAt = c.CreatedAt
		}
		c.Payload = append([]byte(nil), c.Payload...)
		t.calls = append(t.calls, c)
	}
	if len(t.calls) >= maxCallsPerTx {
		return fmt.Errorf("enqueue: %d calls in one transaction, at most %d", len(t.calls), maxCallsPerTx-1)
	}
	return nil
}

// commit sends the staged writes and COMMIT in one round trip. A
// transaction that wrote nothing only ends its read.
func (t *tx) commit(ctx context.Context) error {
	if len(t.ops) == 0 && len(t.calls) == 0 {
		t.rollback()
		return nil
	}
	b := &pgx.Batch{}
	switch {
	case t.locked && t.begun: // the reads ran in the write transaction
	case t.begun:
		b.Queue("COMMIT") // the read snapshot
		b.Queue("BEGIN")
	default:
		b.Queue("BEGIN")
	}
	t.begun = false
	var keys []string
	if len(t.calls) > 0 {
		keys = callKeys(t.calls)
		b.Queue(qLockKeys, t.s.lockKeys(keys))
		b.Queue(qLockHeads, keys)
	}
	for _, op := range t.ops {
		b.Queue(op.sql, op.args...)
	}
	if len(t.calls) > 0 {
		queueEnqueue(b, t.calls, keys)
	}
	b.Queue("COMMIT")
	// Once sent, the commit is waited for whatever ctx does: a nil error
	// means durable, an error means nothing was written.
	br := t.conn.SendBatch(context.WithoutCancel(ctx), b)
	for i := 0; i < b.Len(); i++ {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			t.abort()
			if c := conflict(err); c != err {
				return fmt.Errorf("commit: %w", c)
			}
			return fmt.Errorf("postgres: commit: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		t.abort()
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// abort rolls back a commit that failed part way; a connection that cannot
// is closed.
func (t *tx) abort() {
	if t.conn.PgConn().TxStatus() == 'I' {
		return
	}
	if _, err := t.conn.Exec(context.Background(), "ROLLBACK"); err != nil {
		_ = t.conn.Close(context.Background())
	}
}

// callKeys returns the ordering keys of calls, sorted, once each.
func callKeys(calls []outbox.Call) []string {
	seen := make(map[string]struct{}, len(calls))
	keys := make([]string, 0, len(calls))
	for _, c := range calls {
		if _, ok := seen[c.OrderingKey]; !ok {
			seen[c.OrderingKey] = struct{}{}
			keys = append(keys, c.OrderingKey)
		}
	}
	sort.Strings(keys)
	return keys
}

// The staged reads: a staged aggregate is read as staged.

// Appointment implements application.ReadTx.
func (t *tx) Appointment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*appointment.Appointment, error) {
	if s, ok := t.appointments[aggKey{siteID.String(), id.String()}]; ok {
		if err := t.check(ctx); err != nil {
			return nil, err
		}
		return appointment.Restore(s)
	}
	return t.readTx.Appointment(ctx, siteID, id)
}

// Class implements application.ReadTx.
func (t *tx) Class(ctx context.Context, siteID domain.SiteID, id domain.ID) (*class.Class, error) {
	if s, ok := t.classes[aggKey{siteID.String(), id.String()}]; ok {
		if err := t.check(ctx); err != nil {
			return nil, err
		}
		return class.Restore(s)
	}
	return t.readTx.Class(ctx, siteID, id)
}

// Enrollment implements application.ReadTx.
func (t *tx) Enrollment(ctx context.Context, siteID domain.SiteID, id domain.ID) (*enrollment.Enrollment, error) {
	if s, ok := t.enrollments[aggKey{siteID.String(), id.String()}]; ok {
		if err := t.check(ctx); err != nil {
			return nil, err
		}
		return enrollment.Restore(s)
	}
	return t.readTx.Enrollment(ctx, siteID, id)
}

// ActiveEnrollment implements application.ReadTx.
func (t *tx) ActiveEnrollment(ctx context.Context, siteID domain.SiteID, classID, participantID domain.ID) (*enrollment.Enrollment, error) {
	if len(t.enrollments) == 0 {
		return t.readTx.ActiveEnrollment(ctx, siteID, classID, participantID)
	}
	all, err := t.ActiveEnrollments(ctx, siteID, classID)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.ParticipantID() == participantID {
			return e, nil
		}
	}
	return nil, notFound(pgx.ErrNoRows, "active enrollment of participant "+participantID.String()+" in class", classID.String())
}

// ActiveEnrollments implements application.ReadTx: the snapshot's active
// enrollments of the class, replaced by their staged versions, plus the
// staged ones the snapshot lacks, by position.
func (t *tx) ActiveEnrollments(ctx context.Context, siteID domain.SiteID, classID domain.ID) ([]*enrollment.Enrollment, error) {
	stored, err := t.readTx.ActiveEnrollments(ctx, siteID, classID)
	if err != nil || len(t.enrollments) == 0 {
		return stored, err
	}
	return overlay.Merge(stored, t.enrollments, func(id domain.ID) aggKey { return aggKey{siteID.String(), id.String()} },
		func(k aggKey, s enrollment.Snapshot) bool {
			return k.site == siteID.String() && s.ClassID == classID.String() && s.Active()
		},
		enrollment.Restore, func(a, b *enrollment.Enrollment) bool { return a.Position() < b.Position() })
}

// OldestWaitlisted implements application.ReadTx.
func (t *tx) OldestWaitlisted(ctx context.Context, siteID domain.SiteID, classID domain.ID) (*enrollment.Enrollment, error) {
	if len(t.enrollments) == 0 {
		return t.readTx.OldestWaitlisted(ctx, siteID, classID)
	}
	all, err := t.ActiveEnrollments(ctx, siteID, classID)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.State() == enrollment.StateWaitlisted {
			return e, nil
		}
	}
	return nil, notFound(pgx.ErrNoRows, "waitlisted enrollment of class", classID.String())
}

// The statements of idempotency records. A save inserts the record,
// replacing one of the same key only when it has expired, and raises a
// conflict when a live one stands; then it deletes the site's expired ones.
const (
	qIdempotency     = `SELECT fingerprint, result, created_at FROM idempotency_keys WHERE site_id = $1 AND key = $2`
	qSaveIdempotency = `WITH s AS (INSERT INTO idempotency_keys (site_id, key, fingerprint, result, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
		result = excluded.result, created_at = excluded.created_at WHERE idempotency_keys.created_at < $6 RETURNING 1)
		SELECT lifecycle_expect(count(*) = 1, $7) FROM s`
	qPruneIdempotency = `DELETE FROM idempotency_keys WHERE site_id = $1 AND created_at < $2`
)

// Idempotency implements application.Tx: the transaction's own saved
// record, else the snapshot's.
func (t *tx) Idempotency(ctx context.Context, siteID domain.SiteID, key string) (application.IdempotencyRecord, error) {
	if err := t.check(ctx); err != nil {
		return application.IdempotencyRecord{}, err
	}
	if rec, ok := t.keys[aggKey{siteID.String(), key}]; ok {
		rec.Result = append([]byte(nil), rec.Result...)
		return rec, nil
	}
	rec := application.IdempotencyRecord{SiteID: siteID, Key: key}
	err := t.queryOne(ctx, qIdempotency, []any{siteID.String(), key}, func(r pgx.Rows) error {
		var at time.Time
		err := r.Scan(&rec.Fingerprint, &rec.Result, &at)
		rec.CreatedAt = at.UTC()
		return err
	})
	if err != nil {
		return application.IdempotencyRecord{}, notFound(err, "idempotency key", fmt.Sprintf("%q", key))
	}
	return rec, nil
}

// SaveIdempotency implements application.Tx: the record is staged; the
// commit inserts it (ErrConflict when a live record of the key exists by
// then) before it deletes the site's expired records.
func (t *tx) SaveIdempotency(ctx context.Context, rec application.IdempotencyRecord, expiredBefore time.Time) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	k := aggKey{rec.SiteID.String(), rec.Key}
	if _, ok := t.keys[k]; ok {
		return fmt.Errorf("save idempotency key %q: saved twice in one transaction: %w", rec.Key, application.ErrConflict)
	}
	if t.keys == nil {
		t.keys = map[aggKey]application.IdempotencyRecord{}
	}
	rec.Result = append([]byte(nil), rec.Result...)
	t.keys[k] = rec
	msg := fmt.Sprintf("save idempotency key %q: the site has a live record of it", rec.Key)
	t.ops = append(t.ops,
		stagedOp{sql: qSaveIdempotency, args: []any{rec.SiteID.String(), rec.Key, rec.Fingerprint, rec.Result, ts(rec.CreatedAt), ts(expiredBefore), msg}},
		stagedOp{sql: qPruneIdempotency, args: []any{rec.SiteID.String(), ts(expiredBefore)}})
	return nil
}

// AppointmentsAfter implements application.Pages on the snapshot: a page
// read after a save in the same transaction does not see the save.
func (t *tx) AppointmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*appointment.Appointment, error) {
	return t.readTx.AppointmentsAfter(ctx, siteID, after, limit)
}

// EnrollmentsAfter implements application.Pages on the snapshot, as
// AppointmentsAfter.
func (t *tx) EnrollmentsAfter(ctx context.Context, siteID domain.SiteID, after domain.ID, limit int) ([]*enrollment.Enrollment, error) {
	return t.readTx.EnrollmentsAfter(ctx, siteID, after, limit)
}
