package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bookable/lifecycle/application"
)

// checkQuery refuses a query parameter that is not in allowed, and one
// given more than once: each is a 400 naming the parameter.
func checkQuery(r *http.Request, allowed []string) error {
	var c checker
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !slices.Contains(allowed, name):
			if len(allowed) == 0 {
				c.add(name, "is not a known query parameter; this route takes none")
			} else {
				c.add(name, "is not a known query parameter; use "+strings.Join(allowed, ", "))
			}
		case len(q[name]) > 1:
			c.add(name, "is given more than once")
		}
	}
	return c.err()
}

// header returns a request header that may be given once: a second one is
// a field error.
func (c *checker) header(r *http.Request, name string) string {
	values := r.Header.Values(name)
	if len(values) > 1 {
		c.add(name, "is given more than once")
		return ""
	}
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// idempotencyKey checks the Idempotency-Key header: absent, or 1 to 255
// visible ASCII characters.
func (c *checker) idempotencyKey(r *http.Request) string {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return ""
	}
	key := c.header(r, "Idempotency-Key")
	ok := key != "" && len(key) <= application.MaxIdempotencyKeyLen
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] >= 0x21 && key[i] <= 0x7e
	}
	if !ok && len(values) == 1 {
		c.add("Idempotency-Key", "must be 1 to "+strconv.Itoa(application.MaxIdempotencyKeyLen)+" visible ASCII characters")
		return ""
	}
	return key
}

// ifMatch reads the If-Match header as the version a command expects:
// nil when absent or "*" (the resource exists, which the command checks
// anyway). An entity tag lifecycle did not issue (another form, or a weak
// tag, which If-Match's strong comparison never matches) expects version
// -1, which no aggregate has, so the command fails its precondition. A list
// of several tags is refused.
func (c *checker) ifMatch(r *http.Request) *int64 {
	v := strings.TrimSpace(c.header(r, "If-Match"))
	switch {
	case v == "" || v == "*":
		return nil
	case strings.Contains(v, ","):
		c.add("If-Match", "must be one entity tag, such as \"3\"")
		return nil
	case !strings.HasSuffix(v, `"`) || !(strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `W/"`)) || len(v) < 2:
		c.add("If-Match", "must be an entity tag, such as \"3\" (the ETag of the resource)")
		return nil
	}
	never := int64(-1)
	if strings.HasPrefix(v, "W/") {
		return &never
	}
	n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil || n < 0 {
		return &never
	}
	return &n
}

// etag is the entity tag of a version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// setETag sets the ETag header of a response for an aggregate's version.
func setETag(w http.ResponseWriter, version int64) { w.Header().Set("ETag", etag(version)) }
