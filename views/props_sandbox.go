package views

// SandboxSection is the Settings section on the cells' sandbox. Form
// fields: procs, files, file_size (MiB), memory (MiB), host_loopback.
type SandboxSection struct {
	CanManage bool
	// Enabled is false when the studio runs cells without a sandbox
	// (--sandbox none): the limits then apply to nothing.
	Enabled      bool
	Procs        string
	Files        string
	FileSizeMiB  string
	MemoryMiB    string
	HostLoopback bool
	Errors       map[string]string
	Saved        bool
}
