package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bookable/lifecycle/domain"
)

// decodeBody reads the request body as exactly one JSON object into v,
// strictly: member names must match v's JSON names exactly (encoding/json
// alone matches them case-insensitively), a member may not appear twice,
// unknown members are refused, and nothing may follow the object. With
// optional, an empty body leaves v as it is (for commands whose members are
// all optional). Every error it returns is an *invalidError or an
// *http.MaxBytesError.
func decodeBody(r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return &invalidError{detail: "the request body must be a JSON object; it is empty"}
	}
	if err := checkMembers(body, jsonNames(reflect.TypeOf(v))); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// checkMembers reads body as one JSON object and refuses a member name that
// is not in names (exactly, case included), a member given twice, and data
// after the object.
func checkMembers(body []byte, names []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return decodeError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &invalidError{detail: "the request body must be a JSON object"}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err)
		}
		name, _ := tok.(string)
		switch {
		case seen[name]:
			return invalid(name, "is given more than once")
		case !slices.Contains(names, name):
			for _, known := range names {
				if strings.EqualFold(known, name) {
					return invalid(name, "is not a known field; member names are case-sensitive: "+known)
				}
			}
			return invalid(name, "is not a known field")
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return decodeError(err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &invalidError{detail: "the request body holds data after its JSON object"}
	}
	return nil
}

// jsonNames lists the JSON member names of a struct type (or pointer to
// one), from its json tags.
func jsonNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
	}
	return names
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

// id parses a UUID: this is where an identifier of a request becomes a
// domain.ID, once, and the application takes it as it is. An empty one is
// an error only when required; an invalid one is the zero ID, with its
// error collected.
func (c *checker) id(field, s string, required bool) domain.ID {
	if s == "" && !required {
		return domain.ID{}
	}
	id, err := domain.ParseID(field, s)
	var val *domain.ValidationError
	if errors.As(err, &val) {
		c.add(val.Field, val.Reason)
		return domain.ID{}
	}
	return id
}

// optID checks an optional UUID member.
func (c *checker) optID(field string, s *string) domain.ID {
	if s == nil {
		return domain.ID{}
	}
	if *s == "" {
		c.add(field, "must not be empty; leave it out to have one minted")
		return domain.ID{}
	}
	return c.id(field, *s, true)
}

// reqID checks a required UUID member.
func (c *checker) reqID(field string, s *string) domain.ID {
	if s == nil {
		c.add(field, "is required")
		return domain.ID{}
	}
	return c.id(field, *s, true)
}

// reqTime checks a required RFC 3339 date-time member.
func (c *checker) reqTime(field string, s *string) time.Time {
	if s == nil || *s == "" {
		c.add(field, "is required")
		return time.Time{}
	}
	t, err := parseRFC3339(*s)
	if err != nil {
		c.add(field, "must be an RFC 3339 date-time, e.g. 2026-12-01T09:00:00Z or 2026-12-01T11:00:00+02:00")
		return time.Time{}
	}
	return t
}

// rfc3339 is the grammar of RFC 3339 section 5.6: date, "T", time with
// optional fractional seconds, and "Z" or a numeric offset.
var rfc3339Grammar = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$`)

// parseRFC3339 parses an RFC 3339 date-time strictly: time.Parse alone
// accepts offsets RFC 3339 does not (+24:00, minutes past 59).
func parseRFC3339(s string) (time.Time, error) {
	m := rfc3339Grammar.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date-time", s)
	}
	if m[3] != "" && (m[3] > "23" || m[4] > "59") {
		return time.Time{}, fmt.Errorf("%q has an offset out of range", s)
	}
	return time.Parse(time.RFC3339Nano, strings.ToUpper(s))
}

// path checks a UUID path parameter; field is its name in the route
// pattern ("id", "callId").
func (c *checker) path(r *http.Request, field string) domain.ID {
	return c.id(field, r.PathValue(field), true)
}

// site parses the site path parameter, once, into the domain.SiteID that
// the application takes as it is. Its errors name the parameter ("site"),
// as every other path error does.
func (c *checker) site(r *http.Request) domain.SiteID {
	site, err := domain.ParseSiteID(r.PathValue("site"))
	var val *domain.ValidationError
	if errors.As(err, &val) {
		c.add("site", val.Reason)
		return domain.SiteID{}
	}
	return site
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
