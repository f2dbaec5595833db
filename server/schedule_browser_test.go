package server

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opsbook/opsbook/engine"
)

// TestBrowserSchedule: in the notebook's Schedule panel an editor adds a
// cron trigger; a bad zone and a bad cron are refused at their fields;
// the trigger shows its next three fire times in its zone and the
// viewer's; the draft holds it (flow.yaml's timezone: key once saved);
// pausing it is kept in the database and shown after the page reloads;
// editing and removing it are draft edits too.
func TestBrowserSchedule(t *testing.T) {
	s := newStudio(t)
	s.workspace()
	u, tok := s.member("ada", "Ada", engine.RoleEditor)
	fs := s.flow("nightly", "Nightly", u, engine.Cell{Name: "hi", Kind: engine.KindShell, Source: "echo hi\n"})
	b := newBrowser(t, s)
	b.signIn(tok)
	b.open("/w/acme/flows/nightly", `#notebook[data-flow="nightly"]`)
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.do("open the schedule", chromedp.Click(chromedp.CSS(`#schedule > summary`)))
	b.wait("no triggers yet", `document.querySelector('[data-no-triggers]')`)

	// fill types into the form through the page's DOM: the page reloads
	// after a pause, which leaves chromedp's node ids stale.
	fill := func(cron, zone string) {
		t.Helper()
		ok := eval[bool](b, `(() => { const f = document.querySelector('[data-trigger-form]'); if (!f) return false;
			f.elements.cron.value = `+jsString(cron)+`; f.elements.timezone.value = `+jsString(zone)+`;
			f.querySelector('[data-trigger-submit]').click(); return true; })()`)
		if !ok {
			t.Fatal("no trigger form")
		}
	}
	errorAt := func(field string) string {
		return `document.querySelector('[data-trigger-form] [data-error-for="` + field + `"]')?.textContent || ''`
	}
	fill("0 6 * * *", "Europe/Pariss")
	b.wait("the zone's error at its field", errorAt("triggers.0.timezone")+`.includes('not a known zone')`)
	fill("0 6 * *", "Europe/Paris")
	b.wait("the cron's error at its field", errorAt("triggers.0.cron")+`.includes('0 6 * * *')`)
	fill("0 6 * * *", "Europe/Paris")
	row := `[data-trigger="cron 0 6 * * * Europe/Paris"]`
	b.wait("the trigger with three fire times", `document.querySelectorAll('`+row+` li[data-next]').length === 3`)
	if e := eval[string](b, errorAt("triggers.0.cron")); e != "" {
		t.Errorf("the cron's error stays after the fix: %q", e)
	}
	text := eval[string](b, `document.querySelector('`+row+`').innerText`)
	for _, want := range []string{"every day at 06:00", "Europe/Paris", "your time", "Active"} {
		if !strings.Contains(text, want) {
			t.Errorf("the trigger's row lacks %q:\n%s", want, text)
		}
	}
	for _, iso := range eval[[]string](b, `[...document.querySelectorAll('`+row+` li[data-next]')].map((li) => li.dataset.next)`) {
		if !strings.Contains(iso, "T06:00:00+0") {
			t.Errorf("next fire time %s is not 06:00 in Paris", iso)
		}
	}
	ctx := context.Background()
	d, err := s.st.Draft(ctx, fs.ID)
	if err != nil || len(d.Flow.Triggers) != 1 || d.Flow.Triggers[0] != (engine.Trigger{Cron: "0 6 * * *", Timezone: "Europe/Paris"}) {
		t.Fatalf("the draft's triggers %+v, %v", d.Flow.Triggers, err)
	}
	b.saveFromDialog("A schedule")
	b.wait("saved", toastHas("Saved v2."))
	v, err := s.st.Version(ctx, fs.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range v.Files {
		if f.Name == "flow.yaml" && !strings.Contains(string(f.Data), "triggers:\n  - cron: \"0 6 * * *\"\n    timezone: Europe/Paris\n") {
			t.Errorf("v2's flow.yaml:\n%s", f.Data)
		}
	}

	// Pause: a form, kept in the database, shown after the reload.
	b.submit(row + ` button[data-trigger-pause="pause"]`)
	b.wait("paused after the reload", `document.querySelector('`+row+`')?.dataset.paused === 'true' && document.querySelector('#schedule').open`)
	if p, err := s.st.TriggerPauses(ctx, fs.ID); err != nil || len(p) != 1 {
		t.Fatalf("pauses %+v, %v", p, err)
	}
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)
	b.submit(row + ` button[data-trigger-pause="resume"]`)
	b.wait("active again", `document.querySelector('`+row+`')?.dataset.paused === 'false'`)
	b.wait("the notebook's socket", `document.querySelector('[data-conn]')?.dataset.conn === 'open'`)

	// Edit, then remove: draft edits.
	eval[bool](b, `(document.querySelector('`+row+` [data-trigger-edit]').click(), true)`)
	fill("30 7 * * 1-5", "")
	b.wait("the edited trigger", `(document.querySelector('[data-trigger="cron 30 7 * * 1-5 UTC"]')?.innerText || '').includes('every weekday at 07:30') && !document.querySelector('`+row+`')`)
	eval[bool](b, `(document.querySelector('[data-trigger-remove="0"]').click(), true)`)
	b.wait("no triggers", `document.querySelector('[data-no-triggers]')`)
	if d, err := s.st.Draft(ctx, fs.ID); err != nil || len(d.Flow.Triggers) != 0 {
		t.Fatalf("the draft's triggers after the removal %+v, %v", d.Flow.Triggers, err)
	}
}
