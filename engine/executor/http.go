package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/opsbook/opsbook/engine"
)

// MaxResponseBody is the largest HTTP response body an http cell reads.
const MaxResponseBody = 10 << 20

// Limits of the response body shown in the log.
const (
	logBodyLines = 20
	logBodyBytes = 4 << 10
)

// HTTP runs http cells: one request in the .http format.
type HTTP struct {
	// Client sends the request; nil means a shared client built on
	// http.DefaultTransport's settings. The cell's context bounds it.
	Client *http.Client
}

var _ Executor = HTTP{}

var defaultClient = sync.OnceValue(func() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
})

// HTTPRequest is one request parsed from a .http cell.
type HTTPRequest struct {
	Method string
	URL    string
	Header http.Header
	Body   string
}

// Execute sends the cell's request and returns a *engine.HTTPResult. A
// response of any status is a result that later cells see; an answer the
// cell does not accept (not 2xx, or not in its expect_status) also
// returns an error, which fails the attempt. The log holds the request
// and its status; the body is in the result, shown once.
func (h HTTP) Execute(ctx context.Context, req *Request) (any, error) {
	hr, err := ParseRequest(req.Source)
	if err != nil {
		var pe *engine.Error
		if errors.As(err, &pe) && req.Cell != nil {
			pe.Pos.File = req.Cell.File
		}
		return nil, err
	}
	client := h.Client
	if client == nil {
		client = defaultClient()
	}
	var body io.Reader
	if hr.Body != "" {
		body = strings.NewReader(hr.Body)
	}
	r, err := http.NewRequestWithContext(ctx, hr.Method, hr.URL, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range hr.Header {
		if k == "Host" {
			r.Host = vs[0]
			continue
		}
		r.Header[k] = vs
	}
	if r.Header.Get("User-Agent") == "" {
		r.Header.Set("User-Agent", "Opsbook")
	}
	shown := r.URL.Redacted()

	start := time.Now()
	resp, err := client.Do(r)
	if err != nil {
		if ctx.Err() != nil {
			logLines(req, engine.StreamStderr, fmt.Sprintf("%s %s → no response (%dms)", hr.Method, shown, time.Since(start).Milliseconds()))
			return nil, stopError(ctx, req)
		}
		return nil, fmt.Errorf("%s %s: %w", hr.Method, shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	took := time.Since(start).Milliseconds()
	logLines(req, engine.StreamStdout, fmt.Sprintf("%s %s → %s (%dms)", hr.Method, shown, resp.Status, took))
	if err != nil {
		if ctx.Err() != nil {
			return nil, stopError(ctx, req)
		}
		return nil, fmt.Errorf("read response of %s %s: %w", hr.Method, shown, unwrapURLError(err))
	}
	if len(data) > MaxResponseBody {
		return nil, fmt.Errorf("response of %s %s is larger than %d MiB: ask for less (a filter, a page) or download it with a shell cell", hr.Method, shown, MaxResponseBody>>20)
	}
	res := &engine.HTTPResult{
		Status:  resp.StatusCode,
		Headers: make(map[string]string, len(resp.Header)),
	}
	for k, vs := range resp.Header {
		res.Headers[http.CanonicalHeaderKey(k)] = strings.Join(vs, ", ")
	}
	res.Body = responseBody(resp.Header.Get("Content-Type"), data)
	if !req.Cell.AcceptsStatus(resp.StatusCode) {
		return res, fmt.Errorf("%s %s answered %s; the cell expects %s (add %d to its expect_status to accept this answer)", hr.Method, shown, resp.Status, expected(req.Cell), resp.StatusCode)
	}
	return res, nil
}

// expected says in words which answers a cell accepts.
func expected(c *engine.Cell) string {
	if c == nil || len(c.ExpectStatus) == 0 {
		return "2xx"
	}
	return strings.Join(c.ExpectStatus, ", ")
}

// responseBody is the parsed JSON when the response is JSON, else the text.
func responseBody(contentType string, data []byte) any {
	trimmed := strings.TrimSpace(string(data))
	isJSON := strings.Contains(strings.ToLower(contentType), "json")
	if isJSON || (trimmed != "" && (trimmed[0] == '{' || trimmed[0] == '[')) {
		if v, err := decodeJSON(data); err == nil {
			return v
		}
	}
	return string(data)
}

// BodyPreview is the start of an http cell's result body, as lines for
// people reading a terminal: the text, or the JSON indented.
func BodyPreview(body any) []string {
	switch b := body.(type) {
	case nil:
		return nil
	case string:
		return bodyLog([]byte(b))
	default:
		data, err := json.MarshalIndent(b, "", "  ")
		if err != nil {
			return nil
		}
		return bodyLog(data)
	}
}

// bodyLog is the start of a response body, for people reading it.
func bodyLog(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	if !utf8.Valid(data[:min(len(data), 512)]) {
		return []string{fmt.Sprintf("(%d bytes of binary data)", len(data))}
	}
	shown := data
	if len(shown) > logBodyBytes {
		shown = shown[:logBodyBytes]
	}
	lines := strings.Split(strings.TrimRight(string(shown), "\r\n"), "\n")
	if len(lines) > logBodyLines {
		lines = lines[:logBodyLines]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	if len(shown) < len(data) || len(lines) == logBodyLines {
		if n := strings.Count(string(data), "\n"); len(shown) < len(data) || n > logBodyLines {
			lines = append(lines, fmt.Sprintf("… (%d bytes in all)", len(data)))
		}
	}
	return lines
}

func logLines(req *Request, stream string, lines ...string) {
	if req.Output != nil && len(lines) > 0 {
		req.Output.Lines(stream, lines)
	}
}

// unwrapURLError drops the *url.Error layer, whose message repeats the
// method and URL the caller already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ParseRequest parses one request in the .http format of the REST-client
// and JetBrains HTTP-client tools:
//
//	# comments (# or //) and blank lines
//	POST https://example.com/items?x=1 HTTP/1.1
//	Content-Type: application/json
//
//	{"name": "a"}
//
// The method defaults to GET; lines starting with ? or & right after the
// request line continue its query. Headers run to the first blank line,
// the body is the rest, without its trailing newlines. A line starting with
// ### separates requests; a cell holds one. Errors are *engine.Error with
// the line and column (Pos.File left empty for the caller to fill).
func ParseRequest(src string) (*HTTPRequest, error) {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	errAt := func(line, col int, format string, args ...any) error {
		return engine.Errorf(engine.Pos{Line: line + 1, Col: col}, format, args...)
	}

	i := 0
	for ; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t != "" && !isComment(t) {
			break
		}
	}
	if i == len(lines) {
		return nil, errAt(0, 1, "no request: write a request line such as GET https://example.com")
	}

	// The request line.
	line := lines[i]
	fields := strings.Fields(line)
	hr := &HTTPRequest{Method: http.MethodGet, Header: http.Header{}}
	var rawURL string
	switch {
	case len(fields) == 1:
		rawURL = fields[0]
	case len(fields) == 2 || len(fields) == 3:
		hr.Method, rawURL = fields[0], fields[1]
		if len(fields) == 3 && !isHTTPVersion(fields[2]) {
			return nil, errAt(i, strings.Index(line, fields[2])+1, "expected HTTP/1.1 or nothing after the URL, got %q (encode spaces in the URL as %%20)", fields[2])
		}
	default:
		return nil, errAt(i, 1, "expected a request line METHOD URL [HTTP/1.1], got %q", shorten(line, 60))
	}
	if !isToken(hr.Method) {
		return nil, errAt(i, strings.Index(line, hr.Method)+1, "%q is not an HTTP method", hr.Method)
	}
	hr.Method = strings.ToUpper(hr.Method)
	urlCol := strings.Index(line, rawURL) + 1
	urlLine := i
	for i++; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" || (t[0] != '?' && t[0] != '&') {
			break
		}
		if strings.ContainsAny(t, " \t") {
			return nil, errAt(i, strings.Index(lines[i], t)+strings.IndexAny(t, " \t")+1, "a space in the query: encode it as %%20")
		}
		rawURL += t
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errAt(urlLine, urlCol, "bad URL %q: %v", shorten(rawURL, 80), unwrapURLError(err))
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		if len(fields) == 1 && u.Scheme == "" && isToken(rawURL) {
			return nil, errAt(urlLine, urlCol, "the request line %q has no URL", rawURL)
		}
		return nil, errAt(urlLine, urlCol, "URL %q must start with http:// or https://", shorten(rawURL, 80))
	}
	if u.Host == "" {
		return nil, errAt(urlLine, urlCol, "URL %q has no host", shorten(rawURL, 80))
	}
	hr.URL = rawURL

	// Headers, up to the first blank line.
	for ; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(l)
		if t == "" {
			i++
			break
		}
		if strings.HasPrefix(t, "###") {
			return hr, checkRest(lines, i, errAt)
		}
		if isComment(t) {
			continue
		}
		colon := strings.IndexByte(l, ':')
		if colon < 0 {
			return nil, errAt(i, 1, "expected a header Name: value, or a blank line before the body, got %q", shorten(l, 60))
		}
		name := strings.TrimSpace(l[:colon])
		if !isToken(name) {
			return nil, errAt(i, 1, "%q is not a valid header name", name)
		}
		value := strings.TrimSpace(l[colon+1:])
		if strings.ContainsAny(value, "\x00\r\n") {
			return nil, errAt(i, colon+2, "header %s has a control character in its value", name)
		}
		hr.Header.Add(name, value)
	}

	// The body, up to a separator.
	end := len(lines)
	for j := i; j < len(lines); j++ {
		if strings.HasPrefix(lines[j], "###") {
			end = j
			if err := checkRest(lines, j, errAt); err != nil {
				return nil, err
			}
			break
		}
	}
	if i < end {
		hr.Body = strings.TrimRight(strings.Join(lines[i:end], "\n"), "\n")
	}
	return hr, nil
}

// checkRest fails when another request follows the separator at line sep.
func checkRest(lines []string, sep int, errAt func(int, int, string, ...any) error) error {
	for j := sep + 1; j < len(lines); j++ {
		t := strings.TrimSpace(lines[j])
		if t != "" && !isComment(t) {
			return errAt(sep, 1, "a cell holds one request: move the request after ### to a cell of its own")
		}
	}
	return nil
}

func isComment(t string) bool {
	return t[0] == '#' || strings.HasPrefix(t, "//")
}

func isHTTPVersion(s string) bool {
	switch s {
	case "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/3":
		return true
	}
	return false
}

// isToken reports whether s is an HTTP token (RFC 9110), as methods and
// header names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
