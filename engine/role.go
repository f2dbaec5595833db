package engine

// Role is what a workspace member, or an API token, may do there
// (DESIGN.md, "Roles"). Each role can do everything the roles below it can.
// The values are stored as they are.
type Role string

// The four roles, from the most rights to the fewest.
const (
	RoleOwner  Role = "owner"  // members, settings
	RoleEditor Role = "editor" // edit, run, version, share
	RoleRunner Role = "runner" // run with inputs, see runs
	RoleViewer Role = "viewer" // read
)

// Roles are the four roles, from the most rights to the fewest.
var Roles = []Role{RoleOwner, RoleEditor, RoleRunner, RoleViewer}

// rank orders the roles; 0 is no role.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 4
	case RoleEditor:
		return 3
	case RoleRunner:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r has every right of min. No role has any.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// Lower is the one of r and o with fewer rights.
func (r Role) Lower(o Role) Role {
	if o.rank() < r.rank() {
		return o
	}
	return r
}
