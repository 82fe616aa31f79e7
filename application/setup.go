package application

import "fmt"

// Wix permission scopes the app needs, and the Trigger Provider base URI's
// path (see RefreshPayloadPath in adapters/httpapi).
const (
	// ScopeReportEvent lets the app call Report Event and Bulk Report Event.
	ScopeReportEvent = "SCOPE.CRM.SETUP-AUTOMATIONS"
	// ScopeCancelEvent lets the app call Cancel Event and Bulk Cancel Event.
	// Without it every cancel is a permanent 403 and no reminder is ever
	// stopped.
	ScopeCancelEvent = "SCOPE.DC.MANAGE-YOUR-APP"
	// TriggerProviderPath is the path of the Trigger Provider service
	// plugin's base URI that lifecycle serve answers under.
	TriggerProviderPath = "/wix/trigger-provider"
)

// Checklist is what to set up in the Wix app dashboard for a catalog, step
// by step, so that the calls lifecycle sends are accepted and their
// automations run as meant. lifecycle triggers prints it, and the trigger
// reference (docs/triggers.md) shows it for the default catalog.
func (c *Catalog) Checklist() []string {
	steps := []string{
		fmt.Sprintf("Permissions: request %s (Report Event) and %s (Cancel Event, Bulk Cancel Event); without the latter every cancel is refused with a 403 and no reminder is ever stopped.",
			ScopeReportEvent, ScopeCancelEvent),
	}
	for _, t := range c.Enabled() {
		s := fmt.Sprintf("Trigger %s (%s): create it with the payload schema of `lifecycle triggers --schema`", t.Key, t.Timing)
		if f := t.DateTimeField(); f != "" {
			s += fmt.Sprintf("; allow scheduled events with a predefined date and time, taken from the property %s", f)
		}
		for _, f := range t.Fields {
			if f.Contact {
				s += fmt.Sprintf("; connect the contact property %s", f.Name)
			}
		}
		steps = append(steps, s+".")
	}
	steps = append(steps,
		fmt.Sprintf("Trigger Provider service plugin: base URI https://<your host>%s, and give lifecycle serve the app's public key (--wix-public-key-file) and app ID (--wix-app-id), so that a reminder whose booking no longer calls for it is canceled by Refresh Payload even if its cancel call was lost.",
			TriggerProviderPath))
	return steps
}
