package engine

import "testing"

func TestRoleAtLeast(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r, min Role
		want   bool
	}{
		{RoleOwner, RoleOwner, true},
		{RoleOwner, RoleViewer, true},
		{RoleEditor, RoleOwner, false},
		{RoleEditor, RoleRunner, true},
		{RoleRunner, RoleEditor, false},
		{RoleRunner, RoleRunner, true},
		{RoleViewer, RoleRunner, false},
		{RoleViewer, RoleViewer, true},
		{"", RoleViewer, false},
		{"admin", RoleViewer, false},
		{"Owner", RoleViewer, false},
		{RoleViewer, "", true},
	} {
		if got := tc.r.AtLeast(tc.min); got != tc.want {
			t.Errorf("%q.AtLeast(%q) = %v; want %v", tc.r, tc.min, got, tc.want)
		}
	}
	for i, r := range Roles {
		if !r.Valid() {
			t.Errorf("%q is not valid", r)
		}
		for _, lower := range Roles[i+1:] {
			if !r.AtLeast(lower) || lower.AtLeast(r) || r.Lower(lower) != lower || lower.Lower(r) != lower {
				t.Errorf("%q and %q are out of order", r, lower)
			}
		}
	}
}
