package application_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bookable/lifecycle/application"
)

func TestDefaultCatalog(t *testing.T) {
	c := application.DefaultCatalog()
	var enabled []string
	for _, tr := range c.Enabled() {
		enabled = append(enabled, tr.Key)
	}
	assert.Equal(t, []string{
		"appointment_scheduled", "appointment_starting", "appointment_canceled",
		"participant_enrolled_in_class", "class_starting", "participant_left_class", "class_canceled",
		"participant_enrolled_in_course", "course_session_starting", "course_session_canceled",
		"participant_left_course", "course_canceled",
	}, enabled, "the seed's seven triggers are on, and the courses' five that follow its rules")
	assert.Len(t, c.Triggers(), 20)
	for _, tr := range c.Triggers() {
		switch tr.Role {
		case application.RoleAppointmentStarting, application.RoleClassStarting, application.RoleCourseSessionStarting:
			assert.Equal(t, application.Scheduled, tr.Timing, tr.Role)
			assert.NotEmpty(t, tr.DateTimeField(), tr.Role)
		default:
			assert.Equal(t, application.RealTime, tr.Timing, tr.Role)
			assert.Empty(t, tr.DateTimeField(), "a real-time trigger has no futureDate property")
		}
	}
}

func TestSchemas(t *testing.T) {
	for _, tr := range application.DefaultCatalog().Triggers() {
		t.Run(string(tr.Role), func(t *testing.T) {
			s := tr.Schema()
			raw, err := json.Marshal(s)
			require.NoError(t, err)
			var doc struct {
				Type       string                    `json:"type"`
				Properties map[string]map[string]any `json:"properties"`
			}
			require.NoError(t, json.Unmarshal(raw, &doc))
			assert.Equal(t, "object", doc.Type)
			contacts, futures := 0, 0
			for name, p := range doc.Properties {
				assert.Regexp(t, `^[A-Za-z0-9][A-Za-z0-9_]*$`, name, "Wix payload keys")
				assert.NotEmpty(t, p["title"])
				assert.NotEmpty(t, p["examples"])
				if p["identityType"] == "contact" {
					contacts++
					assert.Equal(t, "uuid", p["format"])
				}
				if p["futureDate"] == true {
					futures++
					assert.Equal(t, "date-time", p["format"])
				}
			}
			assert.Equal(t, 1, contacts, "exactly one uuid property linked to the contact")
			if tr.Timing == application.Scheduled {
				assert.Equal(t, 1, futures, "a scheduled trigger has one futureDate date-time")
			} else {
				assert.Zero(t, futures)
			}
		})
	}
}

func TestCatalogSettings(t *testing.T) {
	on, off := true, false
	c, err := application.NewCatalog(map[application.Role]application.Setting{
		application.RoleAppointmentStarting: {Key: "myapp-appointment-reminder"},
		application.RoleAppointmentNoShow:   {Enabled: &on},
		application.RoleClassCanceled:       {Enabled: &off},
	})
	require.NoError(t, err)
	tr, ok := c.Trigger(application.RoleAppointmentStarting)
	assert.True(t, ok)
	assert.Equal(t, "myapp-appointment-reminder", tr.Key)
	_, ok = c.Trigger(application.RoleAppointmentNoShow)
	assert.True(t, ok)
	_, ok = c.Trigger(application.RoleClassCanceled)
	assert.False(t, ok)
}

func TestCatalogRefusals(t *testing.T) {
	tests := map[string]string{
		"unknown role":          `{"appointment_exploded": {"key": "x"}}`,
		"uppercase key":         `{"appointment_starting": {"key": "Reminder"}}`,
		"key with a space":      `{"appointment_starting": {"key": "my reminder"}}`,
		"key starting with '_'": `{"appointment_starting": {"key": "_reminder"}}`,
		"key too long":          `{"appointment_starting": {"key": "` + strings.Repeat("a", 101) + `"}}`,
		"two roles, one key":    `{"appointment_starting": {"key": "appointment_scheduled"}}`,
		"unknown field":         `{"appointment_starting": {"name": "x"}}`,
		"not an object":         `[1, 2]`,
		"trailing data":         `{} {}`,
		"empty":                 ``,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := application.ParseCatalog([]byte(in))
			assert.ErrorIs(t, err, application.ErrCatalog)
		})
	}
	c, err := application.ParseCatalog([]byte(`{"appointment_starting": {"key": "` + strings.Repeat("a", 100) + `"}}`))
	require.NoError(t, err, "100 characters is allowed")
	assert.NotNil(t, c)
	_, err = application.ParseCatalog([]byte(`{"appointment_scheduled": {"enabled": false}, "appointment_starting": {"key": "appointment_scheduled"}}`))
	assert.NoError(t, err, "a disabled role's key may be reused")
}

func FuzzParseCatalog(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"appointment_starting": {"key": "myapp-reminder"}}`, `{"appointment_no_show": {"enabled": true}}`,
		`{"x": 1}`, `null`, `{"class_starting": {"key": ""}}`, `{"class_starting": {"key": "a-b_c"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := application.ParseCatalog(data)
		if err != nil {
			require.ErrorIs(t, err, application.ErrCatalog, "every refusal is typed")
			return
		}
		seen := map[string]bool{}
		for _, tr := range c.Enabled() {
			require.True(t, application.ValidKey(tr.Key), "accepted key %q", tr.Key)
			require.False(t, seen[tr.Key], "duplicate enabled key %q", tr.Key)
			seen[tr.Key] = true
		}
	})
}
