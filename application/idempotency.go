package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// Idempotency: every command takes an optional IdempotencyKey, chosen by
// the caller, so that a caller who lost the answer can send the command
// again safely. The first run with a key stores, in the command's own
// transaction, a record of the key (per site), a fingerprint of the command
// and its arguments, and the command's result. A command with the same key
// on the same site within IdempotencyTTL then runs nothing: with the same
// fingerprint it returns the first result and queues no call; with another
// it is ErrIdempotencyKeyReused. A refused command stores nothing, so its
// retry runs again. Records older than IdempotencyTTL are ignored, and the
// store deletes a site's expired records whenever it saves a new one for
// that site (Tx.SaveIdempotency).

// IdempotencyTTL is how long an idempotency key's first result is kept.
const IdempotencyTTL = 24 * time.Hour

// MaxIdempotencyKeyLen bounds an idempotency key, in bytes.
const MaxIdempotencyKeyLen = 255

// ErrIdempotencyKeyReused: the site used the command's idempotency key,
// within IdempotencyTTL, for another command or other arguments. Nothing is
// changed.
var ErrIdempotencyKeyReused = errors.New("idempotency key already used for another request")

// IdempotencyRecord is what a store keeps of a command run with an
// idempotency key.
type IdempotencyRecord struct {
	SiteID domain.SiteID
	Key    string
	// Fingerprint identifies the command and its arguments (a SHA-256, in
	// hex): a replay must carry the same.
	Fingerprint string
	// Result is the command's result as JSON, returned again to a replay.
	Result    []byte
	CreatedAt time.Time
}

// once is the idempotency of one command run: its key ("" for none) and
// the command value whose fields are fingerprinted.
type once struct {
	key  string
	args any
}

// checkIdempotencyKey validates a key: 1 to MaxIdempotencyKeyLen visible
// ASCII characters.
func checkIdempotencyKey(key string) error {
	if len(key) > MaxIdempotencyKeyLen {
		return domain.Invalid("idempotencyKey", fmt.Sprintf("must be at most %d characters", MaxIdempotencyKeyLen))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return domain.Invalid("idempotencyKey", "must be visible ASCII characters (no spaces)")
		}
	}
	return nil
}

// fingerprint hashes a command's name and arguments.
func fingerprint(command string, args any) (string, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", command, err)
	}
	sum := sha256.Sum256(append([]byte(command+"\n"), b...))
	return hex.EncodeToString(sum[:]), nil
}

// runOnce is run with the idempotency of o: without a key it is run; with
// one, the change runs only if the site has no live record of the key, and
// its result (what out points to, after the change) is recorded in the same
// transaction. A replay fills out from the record and changes nothing.
func (r *runner) runOnce(ctx context.Context, command string, site domain.SiteID, o once, out any, fn change) error {
	if o.key == "" {
		return r.run(ctx, command, site, fn)
	}
	if err := checkIdempotencyKey(o.key); err != nil {
		return err
	}
	fp, err := fingerprint(command, o.args)
	if err != nil {
		return err
	}
	return r.run(ctx, command, site, func(ctx context.Context, tx Tx, now time.Time) ([]domain.Event, error) {
		rec, err := tx.Idempotency(ctx, site, o.key)
		switch {
		case err == nil && now.Sub(rec.CreatedAt) < IdempotencyTTL:
			if rec.Fingerprint != fp {
				return nil, fmt.Errorf("idempotency key %q: %w", o.key, ErrIdempotencyKeyReused)
			}
			if err := json.Unmarshal(rec.Result, out); err != nil {
				return nil, fmt.Errorf("idempotency key %q: stored result: %w", o.key, err)
			}
			return nil, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, err
		}
		events, err := fn(ctx, tx, now)
		if err != nil {
			return nil, err
		}
		result, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("idempotency key %q: encode result: %w", o.key, err)
		}
		rec = IdempotencyRecord{SiteID: site, Key: o.key, Fingerprint: fp, Result: result, CreatedAt: now}
		if err := tx.SaveIdempotency(ctx, rec, now.Add(-IdempotencyTTL)); err != nil {
			return nil, fmt.Errorf("idempotency key %q: %w", o.key, err)
		}
		return events, nil
	})
}

// Remember gives an operation that commits in a transaction of its own
// (the outbox's operator actions: Outbox.Retry and Outbox.Discard) the
// idempotency of a command, as far as it can without sharing that
// transaction: with a live record of the site's key it fills out from the
// record (or returns ErrIdempotencyKeyReused for other args) and does not
// call do; otherwise it calls do and, when do succeeded and filled out,
// records the key in a transaction of its own just after. A crash between
// do's commit and the record loses the record, not the action: a retry then
// runs do again, which those operations refuse in the call's new state
// (ErrCallState), so an action never happens twice. Without a key it just
// calls do.
func (a *App) Remember(ctx context.Context, command string, site domain.SiteID, key string, args, out any, do func(ctx context.Context) error) error {
	if key == "" {
		return do(ctx)
	}
	if err := site.Require(); err != nil {
		return err
	}
	if err := checkIdempotencyKey(key); err != nil {
		return err
	}
	fp, err := fingerprint(command, args)
	if err != nil {
		return err
	}
	store, clock := a.r.cfg.Store, a.r.cfg.Clock
	replayed := false
	err = store.Update(ctx, func(ctx context.Context, tx Tx) error {
		rec, err := tx.Idempotency(ctx, site, key)
		switch {
		case err == nil && clock.Now().Sub(rec.CreatedAt) < IdempotencyTTL:
			if rec.Fingerprint != fp {
				return fmt.Errorf("idempotency key %q: %w", key, ErrIdempotencyKeyReused)
			}
			replayed = true
			return json.Unmarshal(rec.Result, out)
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil || replayed {
		return err
	}
	if err := do(ctx); err != nil {
		return err
	}
	result, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("idempotency key %q: encode result: %w", key, err)
	}
	now := clock.Now().UTC()
	rec := IdempotencyRecord{SiteID: site, Key: key, Fingerprint: fp, Result: result, CreatedAt: now}
	err = store.Update(ctx, func(ctx context.Context, tx Tx) error {
		return tx.SaveIdempotency(ctx, rec, now.Add(-IdempotencyTTL))
	})
	if errors.Is(err, ErrConflict) {
		return nil // a concurrent request with the key recorded its answer first
	}
	return err
}
