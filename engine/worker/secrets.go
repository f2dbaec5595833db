package worker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/opsbook/opsbook/engine"
	"github.com/opsbook/opsbook/engine/executor"
	"github.com/opsbook/opsbook/engine/run"
	"github.com/opsbook/opsbook/engine/secret"
	"github.com/opsbook/opsbook/engine/store"
)

// ConnectionPrefix names the secret that holds an SQL connection's DSN:
// connection "warehouse" is the secret CONNECTION_WAREHOUSE.
const ConnectionPrefix = "CONNECTION_"

// ErrNoKey: the workspace has secrets but this process has no key to open
// them.
var ErrNoKey = errors.New("this process has no secret key (set OPSBOOK_SECRET_KEY, the same key as the studio's)")

// notMasked names workspace settings kept with the secrets that are not
// secret themselves: a git user name such as "bot" must not turn the word
// into *** in every run.
var notMasked = map[string]bool{"GIT_USERNAME": true}

// Secrets are what a run is given of its workspace's secrets.
type Secrets struct {
	Values      map[string]string // the secrets the flow references
	Connections map[string]string // the DSNs of the connections its SQL cells name
	MaskAlso    []string          // every secret value of the workspace, masked in all output
	Used        []string          // the names given, sorted, for the audit log
}

// OpenSecrets decrypts a workspace's secrets: the named ones, or all when
// names is nil.
func OpenSecrets(ctx context.Context, st *store.Store, box *secret.Box, wsID string, names []string) (map[string]string, error) {
	sealed, err := st.SealedSecrets(ctx, wsID, names)
	if err != nil {
		return nil, err
	}
	if len(sealed) == 0 {
		return map[string]string{}, nil
	}
	if box == nil {
		return nil, ErrNoKey
	}
	out := make(map[string]string, len(sealed))
	for name, v := range sealed {
		clear, err := box.Open(v, secret.Context(wsID, name))
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		out[name] = clear
	}
	return out, nil
}

// ResolveSecrets gives a run of the plan in workspace wsID the secrets its
// cells reference and the connections its SQL cells name (of the cells
// the plan runs). A missing one is engine.ErrInvalid with a message that
// says how to add it.
func ResolveSecrets(ctx context.Context, st *store.Store, box *secret.Box, wsID string, plan *run.Plan) (Secrets, error) {
	f := plan.Flow
	all, err := OpenSecrets(ctx, st, box, wsID, nil)
	if err != nil {
		return Secrets{}, err
	}
	out := Secrets{Values: map[string]string{}, Connections: map[string]string{}, Used: []string{}}
	for _, name := range plan.Secrets() {
		v, ok := all[name]
		if !ok {
			return Secrets{}, fmt.Errorf("%w: the flow uses secret %s, which this workspace does not have; an owner can add it in Settings → Secrets", engine.ErrInvalid, name)
		}
		out.Values[name] = v
		out.Used = append(out.Used, name)
	}
	for _, c := range f.Cells {
		if c.Kind != engine.KindSQL || c.Connection == "" || c.Connection == executor.ScratchConnection || !plan.Runs(c.Name) {
			continue
		}
		name := ConnectionPrefix + strings.ToUpper(c.Connection)
		dsn, ok := all[name]
		if !ok {
			return Secrets{}, fmt.Errorf("%w: cell %s uses connection %s; an owner can add it in Settings → Secrets as %s", engine.ErrInvalid, c.Name, c.Connection, name)
		}
		if _, seen := out.Connections[c.Connection]; !seen {
			out.Connections[c.Connection] = dsn
			out.Used = append(out.Used, name)
		}
	}
	out.MaskAlso = SecretValues(all)
	slices.Sort(out.Used)
	out.Used = slices.Compact(out.Used)
	return out, nil
}

// SecretValues lists the values to mask of a workspace's secrets.
func SecretValues(m map[string]string) []string {
	out := make([]string, 0, len(m)+len(m)/2)
	for name, v := range m {
		if notMasked[name] {
			continue
		}
		out = append(out, v)
		// A connection's password also shows alone, in driver errors.
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= 4 {
				out = append(out, pw)
			}
		}
	}
	return out
}

// NotMasked reports whether a workspace secret's value is shown as it is
// (a setting kept with the secrets, such as GIT_USERNAME).
func NotMasked(name string) bool { return notMasked[name] }
