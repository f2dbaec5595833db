package views

// RetentionSection is the Settings section on how long the workspace
// keeps its runs and their logs, and the disk it uses. Form fields:
// keep_runs_days, keep_logs_days (0: forever). Only owners see it.
type RetentionSection struct {
	CanManage    bool
	KeepRunsDays string
	KeepLogsDays string
	Errors       map[string]string
	Saved        bool
	Disk         DiskUse
}

// DiskUse is what a workspace takes: its runs in the database and its
// files in the data directory, formatted.
type DiskUse struct {
	Runs     int64
	LogBytes string // the runs' log lines kept
	Scratch  string // the scratch database of sql cells
	Git      string // the git checkout of its flows
	// Partial says a folder was too large to measure whole: the sizes
	// are at least what is shown.
	Partial bool
}
