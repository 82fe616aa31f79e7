package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// Problem is an RFC 9457 problem details object, as every error response
// carries it (Content-Type application/problem+json). Code is the stable
// member clients switch on; Title and Detail are for people.
type Problem struct {
	Type     string `json:"type"`               // ProblemTypePrefix + Code
	Title    string `json:"title"`              // a short summary of the code
	Status   int    `json:"status"`             // the HTTP status
	Detail   string `json:"detail,omitempty"`   // what went wrong with this request
	Instance string `json:"instance,omitempty"` // the request path
	Code     string `json:"code"`               // one of the Code* constants
	// Errors names the offending fields of an invalid_argument problem.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError names one request field (a JSON member, path parameter or
// query parameter) and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ProblemTypePrefix starts every problem's type URI; the code ends it.
const ProblemTypePrefix = "urn:lifecycle:problem:"

// The codes of problems. Those shared with the application are its codes;
// the rest are the transport's own.
const (
	CodeInvalidArgument      = string(application.CodeInvalidArgument)      // 400
	CodeUnauthenticated      = "unauthenticated"                            // 401
	CodeForbidden            = "forbidden"                                  // 403
	CodeNotFound             = string(application.CodeNotFound)             // 404
	CodeMethodNotAllowed     = "method_not_allowed"                         // 405
	CodeTransitionNotAllowed = string(application.CodeTransitionNotAllowed) // 409
	CodeSuperseded           = string(application.CodeSuperseded)           // 409
	CodeClassFull            = string(application.CodeClassFull)            // 409
	CodeAlreadyEnrolled      = string(application.CodeAlreadyEnrolled)      // 409
	CodeConflict             = string(application.CodeConflict)             // 409
	CodePreconditionFailed   = string(application.CodePreconditionFailed)   // 412
	CodePayloadTooLarge      = "payload_too_large"                          // 413
	CodeUnsupportedMedia     = "unsupported_media_type"                     // 415
	CodeIdempotencyKeyReused = string(application.CodeIdempotencyKeyReused) // 422
	CodeHeadersTooLarge      = "headers_too_large"                          // 431
	CodeInternal             = string(application.CodeInternal)             // 500
	CodeUnsupportedRequest   = "unsupported_request"                        // 501, 505
	CodeCanceled             = string(application.CodeCanceled)             // 503
	CodeUnavailable          = "unavailable"                                // 503
)

// statusOf maps a code to its HTTP status and title.
var statusOf = map[string]struct {
	status int
	title  string
}{
	CodeInvalidArgument:      {http.StatusBadRequest, "Invalid argument"},
	CodeUnauthenticated:      {http.StatusUnauthorized, "Unauthenticated"},
	CodeForbidden:            {http.StatusForbidden, "Forbidden"},
	CodeNotFound:             {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeTransitionNotAllowed: {http.StatusConflict, "Transition not allowed"},
	CodeSuperseded:           {http.StatusConflict, "Superseded by a newer call"},
	CodeClassFull:            {http.StatusConflict, "Class full"},
	CodeAlreadyEnrolled:      {http.StatusConflict, "Already enrolled"},
	CodeConflict:             {http.StatusConflict, "Conflict"},
	CodePreconditionFailed:   {http.StatusPreconditionFailed, "Precondition failed"},
	CodePayloadTooLarge:      {http.StatusRequestEntityTooLarge, "Payload too large"},
	CodeUnsupportedMedia:     {http.StatusUnsupportedMediaType, "Unsupported media type"},
	CodeIdempotencyKeyReused: {http.StatusUnprocessableEntity, "Idempotency key reused"},
	CodeHeadersTooLarge:      {http.StatusRequestHeaderFieldsTooLarge, "Request header fields too large"},
	CodeInternal:             {http.StatusInternalServerError, "Internal error"},
	CodeUnsupportedRequest:   {http.StatusNotImplemented, "Unsupported request"},
	CodeCanceled:             {http.StatusServiceUnavailable, "Request canceled"},
	CodeUnavailable:          {http.StatusServiceUnavailable, "Unavailable"},
}

// errUnauthenticated: the request lacks the API token or carries another.
var errUnauthenticated = errors.New("missing or invalid bearer token")

// refusal is a request the transport refuses before routing it, with its
// problem code: a foreign Host or Origin (forbidden), a body that is not
// JSON (unsupported_media_type), a store that does not answer
// (unavailable).
type refusal struct {
	code   string
	detail string
}

func (e *refusal) Error() string { return e.detail }

// invalidError is a request the transport refuses before the application
// sees it: bad JSON, unknown or missing fields, bad path or query
// parameters. It unwraps to domain.ErrInvalid, like the domain's own
// validation errors.
type invalidError struct {
	detail string
	fields []FieldError
}

func (e *invalidError) Error() string { return e.detail }

// Unwrap lets errors.Is(err, domain.ErrInvalid) match.
func (e *invalidError) Unwrap() error { return domain.ErrInvalid }

// invalid returns an *invalidError for one field.
func invalid(field, reason string) *invalidError {
	return &invalidError{detail: fmt.Sprintf("invalid %s: %s", field, reason), fields: []FieldError{{field, reason}}}
}

// routeError: no route has this path.
type routeError struct{ path string }

func (e *routeError) Error() string { return fmt.Sprintf("no route for %s", e.path) }

// methodError: a route has this path but not this method.
type methodError struct{ method, allow string }

func (e *methodError) Error() string {
	return fmt.Sprintf("method %s is not allowed here; allowed: %s", e.method, e.allow)
}

// classify turns an error into a problem without instance. Internal errors
// get a generic detail: their text may hold internals.
func classify(err error) Problem {
	var (
		code     string
		detail   = err.Error()
		fields   []FieldError
		tooLarge *http.MaxBytesError
		inv      *invalidError
		val      *domain.ValidationError
		route    *routeError
		method   *methodError
		refused  *refusal
	)
	switch {
	case errors.As(err, &tooLarge):
		code, detail = CodePayloadTooLarge, fmt.Sprintf("the request body exceeds %d bytes", tooLarge.Limit)
	case errors.Is(err, errUnauthenticated):
		code = CodeUnauthenticated
	case errors.As(err, &refused):
		code = refused.code
	case errors.As(err, &route):
		code = CodeNotFound
	case errors.As(err, &method):
		code = CodeMethodNotAllowed
	case errors.As(err, &inv):
		code, fields = CodeInvalidArgument, inv.fields
	default:
		code = string(application.ErrorCode(err))
		if errors.As(err, &val) {
			fields = []FieldError{{val.Field, val.Reason}}
		}
	}
	st, ok := statusOf[code]
	if !ok || code == CodeInternal {
		code, st, detail = CodeInternal, statusOf[CodeInternal], "an internal error occurred; it has been logged"
	}
	return Problem{
		Type: ProblemTypePrefix + code, Title: st.title, Status: st.status,
		Detail: detail, Code: code, Errors: fields,
	}
}

// problem writes err as a problem. Internal errors are logged with their
// full text; refusals are logged at debug level.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	p.Instance = r.URL.Path
	if p.Status >= 500 {
		s.log.ErrorContext(r.Context(), "httpapi: request failed", "method", r.Method, "path", r.URL.Path,
			"code", p.Code, "request_id", RequestID(r.Context()), "err", err)
	} else {
		s.log.DebugContext(r.Context(), "httpapi: request refused", "method", r.Method, "path", r.URL.Path,
			"code", p.Code, "request_id", RequestID(r.Context()), "err", err)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// unknownField extracts the member name from encoding/json's
// DisallowUnknownFields error, which has no type of its own.
func unknownField(err error) (string, bool) {
	const prefix = "json: unknown field "
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return "", false
	}
	return strings.Trim(strings.TrimPrefix(msg, prefix), `"`), true
}
