package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/opsbook/opsbook/engine/logattr"
)

// LogFlags are --log-level and --log-format, which every command that logs
// (serve, worker, run) takes.
type LogFlags struct {
	Level  string // debug, info, warn or error; anything else is info
	Format string // text (also "") or json
}

// Register adds the flags to fs, with level as --log-level's default.
func (l *LogFlags) Register(fs *flag.FlagSet, level string) {
	fs.StringVar(&l.Level, "log-level", level, "debug, info, warn or error")
	fs.StringVar(&l.Format, "log-format", "text", "text (key=value lines) or json (one JSON object a line)")
}

// Logger is the logger the flags ask for, writing to w. Its lines carry
// the request id of the context they are logged with (logattr.Handler).
func (l LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch l.Format {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format is text or json, not %q", l.Format)
	}
	return slog.New(logattr.NewHandler(h)), nil
}
