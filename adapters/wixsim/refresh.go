package wixsim

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DefaultRefreshTimeout is how long the simulator waits for the app's
// answer to Refresh Payload. Wix documents no timeout for service plugin
// calls; this is the one it documents for webhooks (1250 ms).
const DefaultRefreshTimeout = 1250 * time.Millisecond

// RefreshTokenTTL is how long a Refresh Payload JWT is valid after its
// iat (Wix does not document it; its samples show a minute).
const RefreshTokenTTL = time.Minute

// RefreshPath is appended to the trigger provider's base URI, as Wix does.
const RefreshPath = "/refresh-payload"

// AppExtensionType is what the simulator sends as
// data.metadata.appExtensionType. Wix's SDK requires the field, but its
// value for the trigger provider is not documented: this one is invented.
const AppExtensionType = "TRIGGER_PROVIDER"

// ErrInvalidTriggerProvider: a trigger provider's base URI or key is
// unusable.
var ErrInvalidTriggerProvider = errors.New("wixsim: invalid trigger provider")

// RefreshErrorPolicy says what the simulator does with a delayed
// activation when the app's Refresh Payload call fails (a transport
// error, a timeout, a status other than 200, a body that is not the
// documented JSON). Wix does not document what it does then.
type RefreshErrorPolicy string

// The policies on a failed Refresh Payload call.
const (
	// RunOnRefreshError runs the action with the payload as reported (the
	// default: a failed refresh changes nothing, like no trigger provider).
	RunOnRefreshError RefreshErrorPolicy = "run"
	// FailOnRefreshError fails the activation (ActivationFailed): the
	// action does not run.
	FailOnRefreshError RefreshErrorPolicy = "fail"
)

// RefreshAnswer is how a Refresh Payload call ended.
type RefreshAnswer string

// The answers to a Refresh Payload call.
const (
	// AnswerPayload: the app answered a payload; the action runs with it.
	AnswerPayload RefreshAnswer = "payload"
	// AnswerCancel: the app answered cancelActivation true.
	AnswerCancel RefreshAnswer = "cancel"
	// AnswerEmpty: the app answered 200 with neither field; the action
	// runs with the payload as reported.
	AnswerEmpty RefreshAnswer = "empty"
	// AnswerError: the call failed; the RefreshErrorPolicy decides.
	AnswerError RefreshAnswer = "error"
)

// Refresh records one Refresh Payload round trip of an activation.
type Refresh struct {
	// At is the simulator's time of the call: the activation's DueAt.
	At        time.Time
	RequestID string // data.metadata.requestId
	Answer    RefreshAnswer
	Status    int    // the HTTP status answered; 0 when there was no answer
	Error     string // why the call failed, for AnswerError
	// Took is the round trip's wall-clock time.
	Took time.Duration
}

// WithTriggerProvider makes the simulator call the app's Refresh Payload
// (POST baseURL + "/refresh-payload", a JWT signed RS256 with key) just
// before it runs a delayed activation of one of triggers (every trigger
// when none are given), and honour the answer: cancel the activation, or
// run it with the refreshed payload. An activation is delayed when it
// runs later than its event was reported: an offset before, at or after a
// scheduled event, or a delay after a real-time one. A base URL that is
// not an absolute http(s) URL, or a nil key, makes New panic (check it
// with CheckBaseURL first).
func WithTriggerProvider(baseURL string, key *rsa.PrivateKey, triggers ...string) Option {
	return func(s *Sim) {
		s.provider = &triggerProvider{baseURL: strings.TrimRight(baseURL, "/"), key: key, triggers: slices.Clone(triggers)}
	}
}

// WithRefreshTimeout sets how long a Refresh Payload call may take
// (default DefaultRefreshTimeout); a call that takes longer is an error.
func WithRefreshTimeout(d time.Duration) Option {
	return func(s *Sim) { s.refresh.timeout = d }
}

// WithRefreshErrorPolicy sets what a failed Refresh Payload call does to
// its activation (default RunOnRefreshError).
func WithRefreshErrorPolicy(p RefreshErrorPolicy) Option {
	return func(s *Sim) { s.refresh.onError = p }
}

// WithRefreshHTTPClient sets the client of Refresh Payload calls (default:
// a client of its own), e.g. one that trusts a test server's certificate.
func WithRefreshHTTPClient(c *http.Client) Option {
	return func(s *Sim) { s.refresh.client = c }
}

// WithRefreshTokenClock sets the clock of the JWT's iat and exp, and of
// the round trip's duration (default: the wall clock). It is not the
// simulator's clock: the app checks the token against its own clock, which
// does not move when a test or the control API moves the simulator's.
func WithRefreshTokenClock(c application.Clock) Option {
	return func(s *Sim) { s.refresh.tokenClock = c }
}

// CheckBaseURL returns an error wrapping ErrInvalidTriggerProvider unless
// raw is an absolute http or https URL without query or fragment, as a
// trigger provider's base URI must be.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%w: base URI %q: %w", ErrInvalidTriggerProvider, raw, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("%w: base URI %q must be an absolute http or https URL", ErrInvalidTriggerProvider, raw)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%w: base URI %q must have no query or fragment", ErrInvalidTriggerProvider, raw)
	}
	return nil
}

type triggerProvider struct {
	baseURL  string
	key      *rsa.PrivateKey
	triggers []string // empty: every trigger
}

func (p *triggerProvider) check() error {
	if p.key == nil {
		return fmt.Errorf("%w: no private key", ErrInvalidTriggerProvider)
	}
	return CheckBaseURL(p.baseURL)
}

func (p *triggerProvider) serves(triggerKey string) bool {
	return len(p.triggers) == 0 || slices.Contains(p.triggers, triggerKey)
}

type refreshSettings struct {
	timeout    time.Duration
	onError    RefreshErrorPolicy
	client     *http.Client
	tokenClock application.Clock
}

func defaultRefreshSettings() refreshSettings {
	return refreshSettings{
		timeout:    DefaultRefreshTimeout,
		onError:    RunOnRefreshError,
		client:     &http.Client{},
		tokenClock: application.SystemClock{},
	}
}

// refreshResult is a Refresh Payload call's record and, for
// AnswerPayload, the payload answered.
type refreshResult struct {
	record  Refresh
	payload json.RawMessage
}

// callRefresh makes one activation's Refresh Payload call. It runs
// without s.mu; the activation is claimed, so its fields do not change.
// The call is bounded by the refresh timeout and not by ctx (which only
// carries values): the caller giving up must not turn into an error the
// app never caused.
func (s *Sim) callRefresh(ctx context.Context, a *Activation) refreshResult {
	rec := Refresh{At: a.DueAt, RequestID: uuid.NewString()}
	wall := s.refresh.tokenClock
	started := wall.Now()
	payload, status, err := s.postRefresh(ctx, a, rec.RequestID)
	rec.Took, rec.Status = wall.Now().Sub(started), status
	var res refreshResult
	switch {
	case err != nil:
		rec.Answer, rec.Error = AnswerError, err.Error()
	case payload.cancel:
		rec.Answer = AnswerCancel
	case payload.payload != nil:
		rec.Answer, res.payload = AnswerPayload, payload.payload
	default:
		rec.Answer = AnswerEmpty
	}
	res.record = rec
	return res
}

// refreshAnswer is the app's answer, decoded.
type refreshAnswer struct {
	payload json.RawMessage // nil: none
	cancel  bool
}

func (s *Sim) postRefresh(ctx context.Context, a *Activation, requestID string) (refreshAnswer, int, error) {
	token, err := s.signRefresh(a, requestID)
	if err != nil {
		return refreshAnswer{}, 0, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.refresh.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.provider.baseURL+RefreshPath, strings.NewReader(token))
	if err != nil {
		return refreshAnswer{}, 0, fmt.Errorf("refresh payload: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "Wix")
	res, err := s.refresh.client.Do(req)
	if err != nil {
		return refreshAnswer{}, 0, fmt.Errorf("refresh payload: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return refreshAnswer{}, res.StatusCode, fmt.Errorf("refresh payload: reading the answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return refreshAnswer{}, res.StatusCode, fmt.Errorf("refresh payload: HTTP %d: %s", res.StatusCode, snippet(body))
	}
	ans, err := decodeRefreshAnswer(body)
	return ans, res.StatusCode, err
}

// decodeRefreshAnswer reads {"payload": {...}, "cancelActivation": bool};
// both are optional, a cancel wins over a payload, and a payload must be
// a JSON object. It replaces the reported payload whole (Wix's sample
// answers the whole payload; whether Wix merges is not documented).
func decodeRefreshAnswer(body []byte) (refreshAnswer, error) {
	var wire struct {
		Payload          json.RawMessage `json:"payload"`
		CancelActivation bool            `json:"cancelActivation"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return refreshAnswer{}, fmt.Errorf("refresh payload: the answer is not the documented JSON object: %w", err)
	}
	if wire.CancelActivation {
		return refreshAnswer{cancel: true}, nil
	}
	if len(wire.Payload) == 0 || bytes.Equal(wire.Payload, []byte("null")) {
		return refreshAnswer{}, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(wire.Payload, &obj); err != nil {
		return refreshAnswer{}, errors.New("refresh payload: the answered payload is not a JSON object")
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, wire.Payload) // valid JSON, checked above
	return refreshAnswer{payload: compact.Bytes()}, nil
}

// signRefresh builds the compact JWT that is the body of a Refresh
// Payload call: Wix's documented claims, signed RS256.
func (s *Sim) signRefresh(a *Activation, requestID string) (string, error) {
	now := s.refresh.tokenClock.Now()
	request := map[string]any{"triggerKey": a.TriggerKey, "payload": json.RawMessage(a.Payload)}
	if a.ExternalEntityID != "" {
		request["externalEntityId"] = a.ExternalEntityID
	}
	claims := jwt.MapClaims{
		"iss": "wix.com",
		"aud": s.appID, // a string, as Wix sends it (jwt's RegisteredClaims would send an array)
		"iat": now.Unix(),
		"exp": now.Add(RefreshTokenTTL).Unix(),
		"data": map[string]any{
			"request": request,
			"metadata": map[string]any{
				"requestId":        requestID,
				"instanceId":       a.Site,
				"identity":         map[string]any{"identityType": "APP", "appId": s.appID},
				"appExtensionType": AppExtensionType,
			},
		},
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(s.provider.key)
	if err != nil {
		return "", fmt.Errorf("refresh payload: signing the JWT: %w", err)
	}
	return token, nil
}

// snippet is the start of a body, for an error message.
func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
