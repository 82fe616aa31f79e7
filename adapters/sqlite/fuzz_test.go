package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/application/outbox"
)

// FuzzOutboxRowDecoding stores an outbox row with arbitrary column values
// (text where numbers belong, unknown kinds and states, broken payloads,
// NULL and odd error columns) straight through SQL, as a damaged file or a
// hand edit could, and reads it back through every outbox read: List, Get,
// Claim, NextDue and Stats. None may panic; each either returns an error or
// calls that are well-formed (a known kind and state).
func FuzzOutboxRowDecoding(f *testing.F) {
	type row struct {
		kind, state, payload, trigger string
		scheduled, next, created      string
		status                        string
		numeric                       uint8 // bit i: column i above is stored as an integer when it parses as one
	}
	seeds := []row{
		{"report", "pending", `{"a":1}`, "appointment_scheduled", "0", "1000", "1000", "", 0xff},
		{"cancel", "pending", "", "appointment_starting", "0", "1000", "1000", "503", 0xff},
		{"bogus", "pending", `{}`, "t", "0", "0", "0", "", 0xff},
		{"report", "limbo", `{}`, "t", "0", "0", "0", "", 0xff},
		{"report", "pending", `{"a":`, "t", "not a time", "soon", "", "four hundred", 0},
		{"report", "pending", "\x00\xff", "", "-9223372036854775808", "9223372036854775807", "1", "-1", 0xff},
		{"", "", "", "", "", "", "", "", 0},
		{"report", "delivered", `null`, "t", "1e400", "0x10", "3.5", "200", 0xff},
	}
	for _, s := range seeds {
		f.Add(s.kind, s.state, s.payload, s.trigger, s.scheduled, s.next, s.created, s.status, s.numeric)
	}
	db, err := Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"), WithSynchronous(true))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	const site, id, key = "5e000000-0000-4000-8000-000000000001", "0e000000-0000-4000-8000-000000000001", "5e000000-0000-4000-8000-000000000001/entity"

	f.Fuzz(func(t *testing.T, kind, state, payload, trigger, scheduled, next, created, status string, numeric uint8) {
		ctx := context.Background()
		value := func(i int, s string) any {
			if numeric&(1<<i) != 0 {
				if n, err := strconv.ParseInt(s, 10, 64); err == nil {
					return n
				}
			}
			return s
		}
		var errStatus any
		if status != "" {
			errStatus = value(4, status)
		}
		err := db.w.do(ctx, func(ctx context.Context, c *writeConn) error {
			for _, q := range []string{`DELETE FROM outbox_attempts`, `DELETE FROM outbox_heads`, `DELETE FROM outbox`} {
				if _, err := c.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			res, err := c.ExecContext(ctx, `INSERT INTO outbox (id, site_id, ordering_key, kind, trigger_key,
				external_entity_id, payload, scheduled_at, cause, state, next_attempt_at, created_at,
				last_error_status, last_error_code, last_error_message)
				VALUES (?, ?, ?, ?, ?, 'entity', ?, ?, 'fuzz', ?, ?, ?, ?, ?, ?)`,
				id, site, key, kind, trigger, payload, value(1, scheduled), state, value(2, next), value(3, created),
				errStatus, status, payload)
			if err != nil {
				return err
			}
			seq, err := res.LastInsertId()
			if err != nil {
				return err
			}
			_, err = c.ExecContext(ctx, `INSERT INTO outbox_heads (seq, ordering_key, ready_at) VALUES (?, ?, ?)`, seq, key, value(2, next))
			return err
		})
		if err != nil {
			return // the schema refused the row (a NOT NULL or type rule): nothing to read
		}
		wellFormed := func(op string, calls ...application.Call) {
			for _, c := range calls {
				if _, err := outbox.ParseKind(string(c.Kind)); err != nil {
					t.Errorf("%s decoded a call of unknown kind %q instead of an error", op, c.Kind)
				}
				if _, err := outbox.ParseState(string(c.State)); err != nil {
					t.Errorf("%s decoded a call in unknown state %q instead of an error", op, c.State)
				}
			}
		}
		if calls, err := db.List(ctx, application.Filter{SiteID: site}); err == nil {
			wellFormed("List", calls...)
		}
		if d, err := db.Get(ctx, site, id); err == nil {
			wellFormed("Get", d.Call)
		}
		if calls, err := db.Claim(ctx, outbox.ClaimRequest{Relay: "fuzz", Now: time.UnixMilli(1 << 40), Limit: 10, Lease: time.Minute}); err == nil {
			wellFormed("Claim", calls...)
		}
		_, _, _ = db.NextDue(ctx)
		_, _ = db.Stats(ctx, site)
	})
}
