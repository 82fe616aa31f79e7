package wixsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ControlProblemTypePrefix starts the type URI of every problem document
// the control API answers (RFC 9457, application/problem+json); the code
// ends it.
const ControlProblemTypePrefix = "urn:wixsim:problem:"

// The codes of the control API's problems.
const (
	ProblemInvalidArgument  = "invalid_argument"   // 400: a malformed body, field or query parameter
	ProblemNotFound         = "not_found"          // 404: no such control route
	ProblemMethodNotAllowed = "method_not_allowed" // 405
	ProblemConflict         = "conflict"           // 409: e.g. a clock that cannot be moved
	ProblemInternal         = "internal"           // 500
)

var problemTitles = map[string]string{
	ProblemInvalidArgument:  "Invalid argument",
	ProblemNotFound:         "Not found",
	ProblemMethodNotAllowed: "Method not allowed",
	ProblemConflict:         "Conflict",
	ProblemInternal:         "Internal error",
}

var problemStatus = map[string]int{
	ProblemInvalidArgument:  http.StatusBadRequest,
	ProblemNotFound:         http.StatusNotFound,
	ProblemMethodNotAllowed: http.StatusMethodNotAllowed,
	ProblemConflict:         http.StatusConflict,
	ProblemInternal:         http.StatusInternalServerError,
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Code     string       `json:"code"`
	Errors   []fieldError `json:"errors,omitempty"`
}

// fieldError names one offending request field (a JSON member, a path or
// query parameter) and what is wrong with it.
type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// controlError is a refused control request: its problem code, what went
// wrong, and the fields at fault.
type controlError struct {
	code   string
	detail string
	fields []fieldError
}

func (e *controlError) Error() string { return e.code + ": " + e.detail }

func invalidField(field, format string, args ...any) *controlError {
	reason := fmt.Sprintf(format, args...)
	return &controlError{code: ProblemInvalidArgument, detail: field + ": " + reason, fields: []fieldError{{Field: field, Reason: reason}}}
}

// writeProblem answers err as a problem document: a *controlError as its
// code, anything else as internal.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	var ce *controlError
	if !errors.As(err, &ce) {
		ce = &controlError{code: ProblemInternal, detail: err.Error()}
	}
	p := problem{
		Type: ControlProblemTypePrefix + ce.code, Title: problemTitles[ce.code], Status: problemStatus[ce.code],
		Detail: ce.detail, Instance: r.URL.Path, Code: ce.code, Errors: ce.fields,
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// decodeControl reads a JSON object body into v, refusing unknown
// members, trailing data and bodies over maxBody.
func decodeControl(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return &controlError{code: ProblemInvalidArgument, detail: "the request needs a JSON object body"}
		case errors.As(err, &tooBig):
			return &controlError{code: ProblemInvalidArgument, detail: fmt.Sprintf("the body is over %d bytes", maxBody)}
		}
		return &controlError{code: ProblemInvalidArgument, detail: "malformed JSON body: " + err.Error()}
	}
	if dec.More() {
		return &controlError{code: ProblemInvalidArgument, detail: "trailing data after the JSON object"}
	}
	return nil
}
