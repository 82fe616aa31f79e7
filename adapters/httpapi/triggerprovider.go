package httpapi

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bookable/lifecycle/application"
)

// RefreshPayloadPath is where Wix's Trigger Provider service plugin calls
// Refresh Payload: the base URI to enter in the app dashboard is
// https://<host>/wix/trigger-provider, and Wix appends /refresh-payload.
const RefreshPayloadPath = application.TriggerProviderPath + "/refresh-payload"

// DefaultJWTLeeway is the clock skew allowed on a Refresh Payload JWT's
// iat and exp when TriggerProvider.Leeway is zero.
const DefaultJWTLeeway = 30 * time.Second

// TriggerProvider turns on the Refresh Payload route. The route is
// authenticated by the request's JWT, signed by Wix with its private key
// and verified with the app's public key, not by the API token.
type TriggerProvider struct {
	PublicKey *rsa.PublicKey // the app's public key from the Wix dashboard
	AppID     string         // the JWT's audience
	// Leeway is the clock skew allowed on iat and exp; zero means
	// DefaultJWTLeeway.
	Leeway time.Duration
}

// ParsePublicKey reads the app's public key as the Wix dashboard shows it: a
// PEM "PUBLIC KEY" (PKIX) block, or that PEM base64-encoded, RSA only.
func ParsePublicKey(data []byte) (*rsa.PublicKey, error) {
	data = bytes.TrimSpace(data)
	if !bytes.HasPrefix(data, []byte("-----BEGIN")) {
		if dec, err := base64.StdEncoding.DecodeString(string(data)); err == nil {
			data = dec
		}
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("public key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("public key: PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	rsaKey, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: %T is not an RSA key (Wix signs RS256)", key)
	}
	return rsaKey, nil
}

// refreshClaims are the claims of Wix's Refresh Payload JWT.
type refreshClaims struct {
	jwt.RegisteredClaims
	Data struct {
		Request struct {
			TriggerKey       string          `json:"triggerKey"`
			ExternalEntityID string          `json:"externalEntityId"`
			Payload          json.RawMessage `json:"payload"`
		} `json:"request"`
		Metadata struct {
			RequestID  string `json:"requestId"`
			InstanceID string `json:"instanceId"`
		} `json:"metadata"`
	} `json:"data"`
}

// RefreshPayloadAnswer is the body of a Refresh Payload answer: the
// event's current payload, or cancelActivation.
type RefreshPayloadAnswer struct {
	Payload          json.RawMessage `json:"payload,omitempty"`
	CancelActivation bool            `json:"cancelActivation,omitempty"`
}

// refreshCounter counts Refresh Payload answers for /metrics.
type refreshCounter struct {
	payload, cancel, errors, refused atomic.Uint64
}

// errBadJWT is any refusal of a Refresh Payload request: a 401, never a
// cancel.
type errBadJWT struct{ reason string }

func (e *errBadJWT) Error() string { return "refresh payload: " + e.reason }

// refreshPayload: POST /wix/trigger-provider/refresh-payload. The body is a
// compact JWT (RS256 only, iss wix.com, aud the app ID, exp and iat with a
// small leeway); anything else is a 401 problem. The answer comes from the
// bookings' current state (application.RefreshPayload). On an internal
// error it answers the payload it received, unchanged, with 200: Wix's
// behaviour on errors is not documented, and running the action as planned
// is what happens without this plugin.
func (s *Server) refreshPayload(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	claims, err := s.verifyRefresh(bytes.TrimSpace(body))
	if err != nil {
		s.refresh.refused.Add(1)
		s.log.InfoContext(r.Context(), "httpapi: refresh payload refused", "err", err, "request_id", RequestID(r.Context()))
		s.problem(w, r, &refusal{code: CodeUnauthenticated, detail: err.Error()})
		return
	}
	req := claims.Data.Request
	answer, err := s.app.RefreshPayload.Handle(r.Context(), application.RefreshPayload{
		SiteID: claims.Data.Metadata.InstanceID, TriggerKey: req.TriggerKey,
		ExternalEntityID: req.ExternalEntityID, Payload: req.Payload,
	})
	out := RefreshPayloadAnswer{}
	switch {
	case err != nil:
		s.refresh.errors.Add(1)
		s.log.ErrorContext(r.Context(), "httpapi: refresh payload: answering the payload as received", "err", err,
			"trigger", req.TriggerKey, "entity", req.ExternalEntityID, "wix_request_id", claims.Data.Metadata.RequestID)
		out.Payload = req.Payload
	case answer.Cancel:
		s.refresh.cancel.Add(1)
		out.CancelActivation = true
	default:
		s.refresh.payload.Add(1)
		out.Payload = answer.Payload
	}
	s.log.DebugContext(r.Context(), "httpapi: refresh payload", "trigger", req.TriggerKey, "entity", req.ExternalEntityID,
		"cancel", out.CancelActivation, "reason", answer.Reason, "wix_request_id", claims.Data.Metadata.RequestID)
	s.respond(w, r, http.StatusOK, out, nil)
}

// verifyRefresh checks the JWT and the shape of its request.
func (s *Server) verifyRefresh(token []byte) (*refreshClaims, error) {
	tp := s.provider
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer("wix.com"),
		jwt.WithAudience(tp.AppID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tp.Leeway),
		jwt.WithTimeFunc(s.clock.Now),
	)
	var claims refreshClaims
	if _, err := parser.ParseWithClaims(string(token), &claims, func(*jwt.Token) (any, error) { return tp.PublicKey, nil }); err != nil {
		return nil, &errBadJWT{reason: err.Error()}
	}
	if claims.IssuedAt == nil {
		return nil, &errBadJWT{reason: "the token has no iat"}
	}
	req := claims.Data.Request
	var obj map[string]any
	switch {
	case claims.Data.Metadata.InstanceID == "":
		return nil, &errBadJWT{reason: "data.metadata.instanceId is missing"}
	case req.TriggerKey == "":
		return nil, &errBadJWT{reason: "data.request.triggerKey is missing"}
	case req.ExternalEntityID == "":
		return nil, &errBadJWT{reason: "data.request.externalEntityId is missing"}
	case len(req.Payload) == 0 || json.Unmarshal(req.Payload, &obj) != nil || obj == nil:
		return nil, &errBadJWT{reason: "data.request.payload is not an object"}
	}
	return &claims, nil
}
