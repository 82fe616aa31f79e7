package httpapi

import (
	"net/http"
	"time"

	"github.com/bookable/lifecycle/application"
	"github.com/bookable/lifecycle/domain"
)

// reconcileRequest is the optional body of POST .../reconcile.
type reconcileRequest struct {
	DryRun *bool   `json:"dryRun"`
	MaxAge *string `json:"maxAge"` // a Go duration, e.g. "24h"; default 24h
}

// Repair is one call reconcile queued, or would queue in a dry run.
type Repair struct {
	Subject     string `json:"subject"` // appointment, enrollment, course enrollment or enrollment session
	EntityID    string `json:"externalEntityId"`
	Kind        string `json:"kind"` // report or cancel
	TriggerKey  string `json:"triggerKey"`
	ScheduledAt string `json:"scheduledAt,omitempty"`
	Reason      string `json:"reason"`
}

// ReconcileResult is the JSON of POST .../reconcile: what it did, and the
// repairs in the order they were queued.
type ReconcileResult struct {
	SiteID   string   `json:"siteId"`
	DryRun   bool     `json:"dryRun"`
	Entities int      `json:"entities"`
	Repairs  []Repair `json:"repairs"`
}

// maxReconcileRepairs bounds the repairs one answer lists; a site that
// needs more is reconciled in several calls (or with lifecycle reconcile).
const maxReconcileRepairs = 10_000

// reconcile: POST /v1/sites/{site}/reconcile.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c checker
	site := c.site(r)
	var req reconcileRequest
	if err := decodeBody(r, &req, true); err != nil {
		return 0, nil, err
	}
	cmd := application.Reconcile{SiteID: site, DryRun: req.DryRun != nil && *req.DryRun}
	if req.MaxAge != nil {
		d, err := time.ParseDuration(*req.MaxAge)
		if err != nil || d <= 0 {
			c.add("maxAge", "must be a positive duration such as 24h or 90m")
		}
		cmd.MaxAge = d
	}
	if err := c.err(); err != nil {
		return 0, nil, err
	}
	out := ReconcileResult{SiteID: site.String(), DryRun: cmd.DryRun, Repairs: []Repair{}}
	sum, err := s.app.Reconcile.Handle(r.Context(), cmd, func(rep application.Repair) error {
		if len(out.Repairs) >= maxReconcileRepairs {
			return errTooManyRepairs
		}
		out.Repairs = append(out.Repairs, Repair{Subject: rep.Subject, EntityID: rep.EntityID, Kind: string(rep.Kind),
			TriggerKey: rep.TriggerKey, ScheduledAt: domain.FormatInstant(rep.ScheduledAt), Reason: rep.Reason})
		return nil
	})
	out.Entities = sum.Entities
	return http.StatusOK, out, err
}

// errTooManyRepairs stops a reconcile whose answer would be too long to
// send; the repairs queued so far stay queued.
var errTooManyRepairs = domain.Invalid("site", "needs more repairs than one answer lists; run lifecycle reconcile, or call again")
