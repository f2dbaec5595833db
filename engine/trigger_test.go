package engine

import "testing"

// TestTriggerKey: a trigger's key is its schedule, not its place: the
// same cron in the same zone has one key however it is spaced, an absent
// zone is UTC, and another zone or cron is another trigger.
func TestTriggerKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    Trigger
		want string
	}{
		{Trigger{Cron: "0 6 * * *"}, "cron 0 6 * * * UTC"},
		{Trigger{Cron: " 0  6 * * *\t", Timezone: "UTC"}, "cron 0 6 * * * UTC"},
		{Trigger{Cron: "0 6 * * *", Timezone: "Europe/Paris"}, "cron 0 6 * * * Europe/Paris"},
		{Trigger{Webhook: true, Rate: 5}, "webhook"},
		{Trigger{}, ""},
	} {
		if got := tc.t.Key(); got != tc.want {
			t.Errorf("%+v.Key() = %q; want %q", tc.t, got, tc.want)
		}
	}
	for name, want := range map[string]bool{"Europe/Paris": true, "UTC": true, "America/Argentina/Buenos_Aires": true, "": false, "Local": false, "Europe/Pariss": false, "../etc/passwd": false, "Europe/Paris ": false} {
		if got := KnownZone(name); got != want {
			t.Errorf("KnownZone(%q) = %v; want %v", name, got, want)
		}
	}
}
