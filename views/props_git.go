package views

import "github.com/opsbook/opsbook/engine/flow"

// GitChip is a flow's git status (docs/GIT.md): Status is in_sync,
// changed_here, changed_in_git, conflict or missing, "" while it cannot be
// told yet; Label says it in words; Error is what went wrong at the last
// sync. Link, when set, opens the page that compares both sides.
type GitChip struct {
	Status string
	Label  string
	Error  string
	Link   string
}

// GitPanel is the git part of the flows page: where the flows live, the
// Pull button (editors; it posts to /w/{ws}/git/pull) and, after a pull,
// what it did with each folder.
type GitPanel struct {
	Remote  string
	Branch  string
	Folder  string
	CanPull bool
	Pulled  bool
	Items   []PullItem
	Error   string
}

// PullItem is what a pull did with one flow folder. Result is new,
// version, unchanged, invalid, deleted, conflict or forgotten.
type PullItem struct {
	Slug    string
	Result  string
	Version int
	Commit  string // short
	Message string
}

// GitSection is the git part of the settings: the form posts remote,
// branch and folder to /w/{ws}/git (owners). Errors keys: "remote",
// "branch", "folder".
type GitSection struct {
	CanManage  bool
	Configured bool
	Remote     string
	Branch     string
	Folder     string
	Errors     map[string]string
	Saved      bool
	Secrets    []GitSecret // the credential secrets, and which are set
}

// GitSecret is one secret git sync reads, never its value.
type GitSecret struct {
	Name string
	Set  bool
}

// GitResolveProps is the page that compares a flow's latest version with
// its folder in git. The two forms post side=git or side=here with commit
// (git's commit shown) to /w/{ws}/flows/{slug}/git/resolve.
type GitResolveProps struct {
	Page        Page
	Slug        string
	FlowName    string
	Status      GitChip
	Latest      int    // the latest version's number
	Commit      string // git's side: the commit that last changed the folder
	CommitShort string
	Author      string
	Message     string
	Deleted     bool   // the folder was removed in git
	GitError    string // git's folder is not a valid flow
	Diff        flow.Diff
	CanResolve  bool
	Notice      string
	Error       string
}
