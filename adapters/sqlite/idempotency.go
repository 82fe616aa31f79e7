package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// The statements of idempotency records (migration 0007).
const (
	qIdempotency = `SELECT fingerprint, result, created_at FROM idempotency_keys WHERE site_id = ? AND key = ?`
	// qSaveIdempotency inserts a record, replacing one of the same key only
	// when it has expired: a live one makes it change no row.
	qSaveIdempotency = `INSERT INTO idempotency_keys (site_id, key, fingerprint, result, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (site_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, result = excluded.result,
		created_at = excluded.created_at WHERE idempotency_keys.created_at < ?`
	qPruneIdempotency = `DELETE FROM idempotency_keys WHERE site_id = ? AND created_at < ?`
)

// Idempotency implements application.Tx: the transaction's own saved
// record, else the snapshot's.
func (t *stageTx) Idempotency(ctx context.Context, siteID domain.SiteID, key string) (application.IdempotencyRecord, error) {
	if err := t.check(ctx); err != nil {
		return application.IdempotencyRecord{}, err
	}
	if rec, ok := t.keys[aggKey{siteID.String(), key}]; ok {
		return rec, nil
	}
	if err := t.reader(ctx); err != nil {
		return application.IdempotencyRecord{}, err
	}
	rec := application.IdempotencyRecord{SiteID: siteID, Key: key}
	var at int64
	err := t.q.QueryRowContext(ctx, qIdempotency, siteID.String(), key).Scan(&rec.Fingerprint, &rec.Result, &at)
	if err != nil {
		return application.IdempotencyRecord{}, notFound(err, "idempotency key", fmt.Sprintf("%q", key))
	}
	rec.CreatedAt = fromMS(at)
	return rec, nil
}

// SaveIdempotency implements application.Tx: it stages the record, which
// the writer inserts (ErrConflict when a live record of the key exists by
// then) before it deletes the site's expired records.
func (t *stageTx) SaveIdempotency(ctx context.Context, rec application.IdempotencyRecord, expiredBefore time.Time) error {
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
	t.ops = append(t.ops, idempotencyWrite{rec: rec, expiredBefore: expiredBefore})
	return nil
}

// idempotencyWrite stores one idempotency record and prunes its site's
// expired ones. The insert goes first, so that a conflict has written
// nothing.
type idempotencyWrite struct {
	rec           application.IdempotencyRecord
	expiredBefore time.Time
}

func (w idempotencyWrite) apply(c *writeConn) error {
	r, before := w.rec, toMS(w.expiredBefore)
	err := updated(c.ExecContext(context.Background(), qSaveIdempotency,
		r.SiteID.String(), r.Key, r.Fingerprint, r.Result, toMS(r.CreatedAt), before))
	if errors.Is(err, errStale) {
		return fmt.Errorf("save idempotency key %q: the site has a live record of it: %w", r.Key, application.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: save idempotency key %q: %w", r.Key, err)
	}
	if _, err := c.ExecContext(context.Background(), qPruneIdempotency, r.SiteID.String(), before); err != nil {
		return fmt.Errorf("sqlite: prune idempotency keys of site %s: %w", r.SiteID, err)
	}
	return nil
}
