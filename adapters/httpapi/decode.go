package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// decodeBody reads the request body as exactly one JSON object into v,
// refusing unknown members and trailing data. With optional, an empty body
// leaves v as it is (for commands whose members are all optional). Every
// error it returns is an *invalidError or an *http.MaxBytesError.
func decodeBody(r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case errors.Is(err, io.EOF):
		if optional {
			return nil
		}
		return &invalidError{detail: "the request body must be a JSON object; it is empty"}
	case err != nil:
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return tooLarge
		}
		return &invalidError{detail: "the request body holds data after its JSON object"}
	}
	return nil
}

// decodeError turns an encoding/json error into a typed refusal that names
// the offending member where json knows it.
func decodeError(err error) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return tooLarge
	case errors.As(err, &syntax):
		return &invalidError{detail: fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &invalidError{detail: "malformed JSON: the body ends inside a value"}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &invalidError{detail: "the request body must be a JSON object"}
		}
		return invalid(typ.Field, "must be "+jsonKind(typ.Type))
	}
	if name, ok := unknownField(err); ok {
		return invalid(name, "is not a known field")
	}
	return &invalidError{detail: "malformed JSON body"}
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// checker collects every field error of one request, so that a client
// learns of all its mistakes at once.
type checker struct{ fields []FieldError }

func (c *checker) add(field, reason string) { c.fields = append(c.fields, FieldError{field, reason}) }

// err returns the collected errors as an *invalidError, or nil.
func (c *checker) err() error {
	if len(c.fields) == 0 {
		return nil
	}
	parts := make([]string, len(c.fields))
	for i, f := range c.fields {
		parts[i] = f.Field + " " + f.Reason
	}
	return &invalidError{detail: "invalid request: " + strings.Join(parts, "; "), fields: c.fields}
}

// id checks a UUID; an empty one is an error only when required. It
// returns the canonical form.
func (c *checker) id(field, s string, required bool) string {
	if s == "" && !required {
		return ""
	}
	id, err := domain.ParseID(field, s)
	var val *domain.ValidationError
	if errors.As(err, &val) {
		c.add(val.Field, val.Reason)
		return ""
	}
	return id
}

// optID checks an optional UUID member.
func (c *checker) optID(field string, s *string) string {
	if s == nil {
		return ""
	}
	if *s == "" {
		c.add(field, "must not be empty; leave it out to have one minted")
		return ""
	}
	return c.id(field, *s, true)
}

// reqID checks a required UUID member.
func (c *checker) reqID(field string, s *string) string {
	if s == nil {
		c.add(field, "is required")
		return ""
	}
	return c.id(field, *s, true)
}

// reqTime checks a required RFC 3339 date-time member.
func (c *checker) reqTime(field string, s *string) time.Time {
	if s == nil || *s == "" {
		c.add(field, "is required")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		c.add(field, "must be an RFC 3339 date-time, e.g. 2026-12-01T09:00:00Z")
		return time.Time{}
	}
	return t
}

// path checks a UUID path parameter; field is its name in the route
// pattern ("site", "id").
func (c *checker) path(r *http.Request, field string) string {
	return c.id(field, r.PathValue(field), true)
}

// str returns *s, or "" when it is absent.
func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Request bodies. Pointers tell a missing member from a zero value.
type (
	createAppointmentRequest struct {
		ID        *string `json:"id"`
		ContactID *string `json:"contactId"`
		StartsAt  *string `json:"startsAt"`
		EndsAt    *string `json:"endsAt"`
		Title     *string `json:"title"`
	}
	rescheduleRequest struct {
		StartsAt *string `json:"startsAt"`
		EndsAt   *string `json:"endsAt"`
	}
	cancelRequest struct {
		Reason *string `json:"reason"`
	}
	emptyRequest       struct{}
	createClassRequest struct {
		ID       *string `json:"id"`
		Title    *string `json:"title"`
		StartsAt *string `json:"startsAt"`
		EndsAt   *string `json:"endsAt"`
		Capacity *int    `json:"capacity"`
		Waitlist *bool   `json:"waitlist"`
	}
	enrollRequest struct {
		ID            *string `json:"id"`
		ParticipantID *string `json:"participantId"`
	}
)
