package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opsbook/opsbook/engine/archive"
	"github.com/opsbook/opsbook/engine/flow"
	"github.com/opsbook/opsbook/engine/run"
)

// remote talks to a studio's API with a token.
type remote struct {
	server string
	token  string
	client *http.Client
}

func remoteFlags(fs *flag.FlagSet) (server, token *string) {
	server = fs.String("server", "", "the studio's `URL`, e.g. http://127.0.0.1:8080 (or OPSBOOK_SERVER)")
	token = fs.String("token", "", "an API `TOKEN` (or OPSBOOK_TOKEN; opsbook token create --user NAME)")
	return server, token
}

func newRemote(server, token string) (*remote, error) {
	if server == "" {
		return nil, errors.New("name the studio with --server URL or OPSBOOK_SERVER")
	}
	if token == "" {
		return nil, errors.New("give an API token with --token or OPSBOOK_TOKEN (opsbook token create --user NAME)")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	return &remote{server: strings.TrimRight(server, "/"), token: token, client: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// apiErr is the API's error body.
type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// remoteError is the API's answer to a request it refused: its message,
// and its code ("unchanged", "invalid", …) for the commands to tell apart.
type remoteError struct{ code, msg string }

func (e *remoteError) Error() string { return e.msg }

// do sends a request and returns the body of a 2xx answer, or an error
// with the API's message.
func (r *remote) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.server+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var e apiErr
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return nil, resp.StatusCode, &remoteError{code: e.Error.Code, msg: fmt.Sprintf("%s %s: %s", method, path, e.Error.Message)}
		}
		return nil, resp.StatusCode, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return b, resp.StatusCode, nil
}

const exportUsage = `usage: opsbook export --server URL --token TOKEN FLOW [--version N] [--out DIR]

Downloads a version of flow FLOW (the latest by default) from a studio and
writes its plain files into DIR (default: ./FLOW), exactly what
opsbook run reads. Files of DIR that the flow does not use are left alone.

flags:
`

// Export is `opsbook export`.
func Export(ctx context.Context, args []string, std Stdio) int {
	fs := NewFlagSet("export", std.Err, exportUsage)
	server, token := remoteFlags(fs)
	version := fs.Int("version", 0, "the version `N` to export (default: the latest)")
	out := fs.String("out", "", "the folder `DIR` to write (default: ./FLOW)")
	pos, code, ok := ParseFlags(fs, args, std.Err)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(std.Err, "opsbook export: name one flow by its slug, e.g. opsbook export nightly-report")
		return ExitInvalid
	}
	slug := pos[0]
	r, err := newRemote(*server, *token)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook export:", err)
		return ExitInvalid
	}
	n := *version
	if n == 0 {
		b, _, err := r.do(ctx, http.MethodGet, "/api/v1/flows/"+url.PathEscape(slug)+"/versions", "", nil)
		if err != nil {
			fmt.Fprintln(std.Err, "opsbook export:", err)
			return ExitFailed
		}
		var list struct {
			Versions []struct {
				Number int `json:"number"`
			} `json:"versions"`
		}
		if err := json.Unmarshal(b, &list); err != nil || len(list.Versions) == 0 {
			fmt.Fprintln(std.Err, "opsbook export: the studio listed no versions of", slug)
			return ExitFailed
		}
		for _, v := range list.Versions {
			n = max(n, v.Number)
		}
	}
	data, _, err := r.do(ctx, http.MethodGet, "/api/v1/flows/"+url.PathEscape(slug)+"/versions/"+strconv.Itoa(n)+"/export?format=tar.gz", "", nil)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook export:", err)
		return ExitFailed
	}
	files, _, err := archive.Read(data, archive.TarGz.ContentType(), archive.DefaultLimits)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook export: the studio sent an archive that cannot be read:", err)
		return ExitFailed
	}
	f, err := flow.ParseFiles(files)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook export: the exported flow does not parse:", err)
		return ExitFailed
	}
	dir := *out
	if dir == "" {
		dir = slug
	}
	// WriteDir writes the canonical files, which are the stored ones.
	if err := flow.WriteDir(dir, f); err != nil {
		fmt.Fprintln(std.Err, "opsbook export:", err)
		return ExitFailed
	}
	fmt.Fprintf(std.Out, "wrote %s v%d to %s (%d files)\n", slug, n, filepath.Clean(dir), len(files))
	return ExitOK
}

const importUsage = `usage: opsbook import --server URL --token TOKEN DIR [--flow SLUG] [--message M]

Checks the flow folder DIR here, then uploads it to a studio as a new
version of flow SLUG (default: DIR's name), which becomes its draft. A flow
that does not exist yet is created (as version 1); a folder that the
latest version already holds makes no version.

flags:
`

// Import is `opsbook import`.
func Import(ctx context.Context, args []string, std Stdio) int {
	fs := NewFlagSet("import", std.Err, importUsage)
	server, token := remoteFlags(fs)
	slug := fs.String("flow", "", "the flow's `SLUG` in the studio (default: the folder's name)")
	message := fs.String("message", "", "the version's `MESSAGE`")
	pos, code, ok := ParseFlags(fs, args, std.Err)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(std.Err, "opsbook import: give one flow folder, e.g. opsbook import testdata/flows/service-health")
		return ExitInvalid
	}
	dir := pos[0]
	r, err := newRemote(*server, *token)
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook import:", err)
		return ExitInvalid
	}
	// Check everything here first, as the studio will.
	f, err := flow.Load(dir)
	if err == nil {
		_, err = run.Compile(f)
	}
	if err != nil {
		printProblems(std.Err, dir, err)
		return ExitInvalid
	}
	files, err := flow.Files(f)
	if err != nil {
		printProblems(std.Err, dir, err)
		return ExitInvalid
	}
	name := *slug
	if name == "" {
		abs, _ := filepath.Abs(dir)
		name = filepath.Base(abs)
	}
	var buf bytes.Buffer
	if err := archive.Write(&buf, archive.TarGz, name, files); err != nil {
		fmt.Fprintln(std.Err, "opsbook import:", err)
		return ExitFailed
	}
	path := "/api/v1/flows/" + url.PathEscape(name) + "/versions?message=" + url.QueryEscape(*message)
	b, code, err := r.do(ctx, http.MethodPost, path, archive.TarGz.ContentType(), buf.Bytes())
	if code == http.StatusNotFound {
		b, _, err = r.do(ctx, http.MethodPost, "/api/v1/flows?slug="+url.QueryEscape(name), archive.TarGz.ContentType(), buf.Bytes())
		if err == nil {
			fmt.Fprintf(std.Out, "created %s v1\n", name)
			return ExitOK
		}
	}
	// The studio's latest version already holds this folder: no version
	// was made, and there is nothing to do.
	var re *remoteError
	if errors.As(err, &re) && re.code == "unchanged" {
		fmt.Fprintf(std.Out, "%s is unchanged: %s\n", name, strings.TrimPrefix(re.msg, http.MethodPost+" "+path+": "))
		return ExitOK
	}
	if err != nil {
		fmt.Fprintln(std.Err, "opsbook import:", err)
		if code == http.StatusUnprocessableEntity || code == http.StatusBadRequest {
			return ExitInvalid
		}
		return ExitFailed
	}
	var v struct {
		Number int `json:"number"`
	}
	json.Unmarshal(b, &v)
	fmt.Fprintf(std.Out, "imported %s as v%d (now the draft)\n", name, v.Number)
	return ExitOK
}
