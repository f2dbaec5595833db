package views

import "github.com/opsbook/opsbook/engine"

// FlowRemoveProps is the page where an owner archives, unarchives or
// deletes a flow: what deleting removes, counted, and the slug to type.
type FlowRemoveProps struct {
	Page     Page
	Slug     string
	Name     string
	Archived bool
	Versions int
	Runs     int
	Shares   int
	Hooks    int
	Active   int  // runs not ended: deleting is refused until they are
	Git      bool // the workspace keeps its flows in git
	Typed    string
	Errors   map[string]string
}

// countOf says "1 run" or "3 runs".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// canOwn: the role may archive and delete flows.
func canOwn(r engine.Role) bool { return r.AtLeast(engine.RoleOwner) }
