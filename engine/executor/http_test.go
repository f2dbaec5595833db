package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsbook/opsbook/engine"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		want    *HTTPRequest
		wantErr string // with line:col
	}{
		{
			name: "url only",
			src:  "https://example.com/a?b=1",
			want: &HTTPRequest{Method: "GET", URL: "https://example.com/a?b=1", Header: http.Header{}},
		},
		{
			name: "full",
			src: `# fetch the items
// another comment
### Items

POST https://example.com/items HTTP/1.1
Content-Type: application/json
X-Many: a
x-many: b
# a comment among headers

{"name": "a"}
second line

`,
			want: &HTTPRequest{Method: "POST", URL: "https://example.com/items",
				Header: http.Header{"Content-Type": {"application/json"}, "X-Many": {"a", "b"}},
				Body:   "{\"name\": \"a\"}\nsecond line"},
		},
		{
			name: "crlf and lower-case method",
			src:  "put http://h/x\r\nA: 1\r\n\r\nbody\r\n",
			want: &HTTPRequest{Method: "PUT", URL: "http://h/x", Header: http.Header{"A": {"1"}}, Body: "body"},
		},
		{
			name: "query continuation",
			src:  "GET https://h/search\n  ?q=1\n  &page=2\nAccept: */*\n",
			want: &HTTPRequest{Method: "GET", URL: "https://h/search?q=1&page=2", Header: http.Header{"Accept": {"*/*"}}},
		},
		{
			name: "trailing separator",
			src:  "GET https://h/\n\n###\n# nothing more\n",
			want: &HTTPRequest{Method: "GET", URL: "https://h/", Header: http.Header{}},
		},
		{
			name: "body ends at separator",
			src:  "POST https://h/\n\nhello\n###\n",
			want: &HTTPRequest{Method: "POST", URL: "https://h/", Header: http.Header{}, Body: "hello"},
		},
		{name: "empty", src: "\n# only comments\n", wantErr: "1:1: no request"},
		{name: "two requests", src: "GET https://a/\n\n###\nGET https://b/\n", wantErr: "3:1: a cell holds one request"},
		{name: "two requests in headers", src: "GET https://a/\nX: 1\n### two\nGET https://b/\n", wantErr: "3:1: a cell holds one request"},
		{name: "bad scheme", src: "\nGET ftp://h/x", wantErr: "2:5: URL \"ftp://h/x\" must start with http:// or https://"},
		{name: "no host", src: "GET http:///x", wantErr: "1:5: URL \"http:///x\" has no host"},
		{name: "method only", src: "DELETE", wantErr: "1:1: the request line \"DELETE\" has no URL"},
		{name: "bad version", src: "GET http://h/a b", wantErr: "1:16: expected HTTP/1.1"},
		{name: "too many fields", src: "GET http://h/ HTTP/1.1 x", wantErr: "1:1: expected a request line"},
		{name: "bad method", src: "G(T http://h/", wantErr: "1:1: \"G(T\" is not an HTTP method"},
		{name: "bad header", src: "GET http://h/\nnot a header", wantErr: "2:1: expected a header"},
		{name: "bad header name", src: "GET http://h/\nBad Name: x", wantErr: "2:1: \"Bad Name\" is not a valid header name"},
		{name: "space in query", src: "GET http://h/\n  &a=b c", wantErr: "2:7: a space in the query"},
		{name: "bad url", src: "GET http://h/%zz", wantErr: "1:5: bad URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRequest(tt.src)
			if tt.wantErr != "" {
				var pe *engine.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v (%T), want *engine.Error", err, err)
				}
				pe.Pos.File = "x.http"
				if !strings.HasPrefix(err.Error(), "x.http:"+tt.wantErr) {
					t.Fatalf("err = %q, want x.http:%s…", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		fmt.Fprint(w, `{"n": 3, "f": 2.5, "items": [{"id": 1}], "ua": "`+r.UserAgent()+`"}`)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method": %q, "type": %q, "body": %s, "q": %q}`, r.Method, r.Header.Get("Content-Type"), b, r.URL.RawQuery)
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/text", http.StatusFound)
	})
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "plain\ntext\n")
	})
	mux.HandleFunc("GET /sniff", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, `[1, 2]`)
	})
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "{\"error\":\n\"maintenance\"}")
	})
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error": "no such item"}`)
	})
	mux.HandleFunc("GET /badjson", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{not json`)
	})
	mux.HandleFunc("GET /huge", func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 1<<20)
		for range 11 {
			fmt.Fprint(w, chunk)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name     string
		src      string
		status   int
		body     any
		headers  map[string]string
		expect   []string // the cell's expect_status
		wantLog  []string
		wantErr  string // an error and no result
		failed   string // an error with the result: an answer the cell does not accept
		checkLog func(t *testing.T, lines []string)
	}{
		{
			name:    "get json",
			src:     "GET " + srv.URL + "/json",
			status:  200,
			body:    map[string]any{"n": int64(3), "f": 2.5, "items": []any{map[string]any{"id": int64(1)}}, "ua": "Opsbook"},
			headers: map[string]string{"Content-Type": "application/json; charset=utf-8", "X-Multi": "a, b"},
		},
		{
			name:   "post json",
			src:    "POST " + srv.URL + "/echo?a=1\n  &b=%20\nContent-Type: application/json\n\n{\"k\": [true, null]}\n",
			status: 200,
			body:   map[string]any{"method": "POST", "type": "application/json", "body": map[string]any{"k": []any{true, nil}}, "q": "a=1&b=%20"},
		},
		{
			name:    "redirect",
			src:     srv.URL + "/redirect",
			status:  200,
			body:    "plain\ntext\n",
			wantLog: []string{"GET " + srv.URL + "/redirect → 200 OK"},
		},
		{name: "json sniffed", src: srv.URL + "/sniff", status: 200, body: []any{int64(1), int64(2)}},
		{name: "bad json is text", src: srv.URL + "/badjson", status: 200, body: "{not json"},
		{
			// The log holds the request and its answer; the body is in the
			// result only, so the studio shows it once.
			name:    "non-2xx is a result and a failure",
			src:     srv.URL + "/down",
			status:  503,
			body:    map[string]any{"error": "maintenance"},
			wantLog: []string{"GET " + srv.URL + "/down → 503 Service Unavailable"},
			failed:  "GET " + srv.URL + "/down answered 503 Service Unavailable; the cell expects 2xx (add 503 to its expect_status to accept this answer)",
		},
		{
			name:    "404 fails by default",
			src:     srv.URL + "/missing",
			status:  404,
			body:    map[string]any{"error": "no such item"},
			wantLog: []string{"GET " + srv.URL + "/missing → 404 Not Found"},
			failed:  "answered 404 Not Found; the cell expects 2xx",
		},
		{name: "404 expected", src: srv.URL + "/missing", expect: []string{"404"}, status: 404, body: map[string]any{"error": "no such item"}},
		{name: "404 in a class", src: srv.URL + "/missing", expect: []string{"200", "4xx"}, status: 404, body: map[string]any{"error": "no such item"}},
		{name: "200 among codes", src: srv.URL + "/text", expect: []string{"2xx", "404"}, status: 200, body: "plain\ntext\n"},
		{name: "200 not in a class", src: srv.URL + "/text", expect: []string{"4xx"}, status: 200, body: "plain\ntext\n", failed: "answered 200 OK; the cell expects 4xx (add 200 to its expect_status"},
		{name: "503 not among codes", src: srv.URL + "/down", expect: []string{"200", "404"}, status: 503, body: map[string]any{"error": "maintenance"}, failed: "the cell expects 200, 404"},
		{name: "too big", src: srv.URL + "/huge", wantErr: "is larger than 10 MiB"},
		{name: "parse error names the file", src: "GET\n", wantErr: "call.http:1:1: the request line \"GET\" has no URL"},
		{name: "connection refused", src: "GET http://127.0.0.1:1/", wantErr: "GET http://127.0.0.1:1/: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, out := setup(t, engine.KindHTTP, tt.src)
			req.Cell.File = "call.http"
			req.Cell.ExpectStatus = tt.expect
			v, err := HTTP{}.Execute(context.Background(), req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			switch {
			case tt.failed != "" && (err == nil || !strings.Contains(err.Error(), tt.failed)):
				t.Fatalf("err = %v, want %q", err, tt.failed)
			case tt.failed == "" && err != nil:
				t.Fatal(err)
			}
			r, ok := v.(*engine.HTTPResult)
			if !ok {
				t.Fatalf("result is %T, want *engine.HTTPResult (also when the answer fails the cell)", v)
			}
			if r.Status != tt.status {
				t.Errorf("status = %d, want %d", r.Status, tt.status)
			}
			if !reflect.DeepEqual(r.Body, tt.body) {
				t.Errorf("body = %#v, want %#v", r.Body, tt.body)
			}
			for k, v := range tt.headers {
				if r.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, r.Headers[k], v)
				}
			}
			log := out.get("stdout")
			if len(log) == 0 || !strings.HasSuffix(log[0], "ms)") {
				t.Errorf("log = %q", log)
			}
			if tt.wantLog != nil {
				if len(log) != len(tt.wantLog) {
					t.Fatalf("log = %q, want %q", log, tt.wantLog)
				}
				if !strings.HasPrefix(log[0], tt.wantLog[0]+" (") {
					t.Errorf("log[0] = %q, want %q (…ms)", log[0], tt.wantLog[0])
				}
				if !reflect.DeepEqual(log[1:], tt.wantLog[1:]) {
					t.Errorf("log = %q, want %q", log[1:], tt.wantLog[1:])
				}
			}
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	req, _ := setup(t, engine.KindHTTP, srv.URL)
	req.Cell.Timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), req.Cell.Timeout)
	defer cancel()
	start := time.Now()
	_, err := HTTP{}.Execute(ctx, req)
	if err == nil || err.Error() != "timed out after 200ms" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestBodyLog(t *testing.T) {
	t.Parallel()
	many := strings.Repeat("line\n", 30)
	got := bodyLog([]byte(many))
	if len(got) != logBodyLines+1 || got[logBodyLines] != "… (150 bytes in all)" {
		t.Errorf("bodyLog = %q", got)
	}
	if got := bodyLog([]byte("\x00\xff\xfe")); !reflect.DeepEqual(got, []string{"(3 bytes of binary data)"}) {
		t.Errorf("binary: %q", got)
	}
	if got := bodyLog([]byte(strings.Repeat("y", 10000))); len(got) != 2 || len(got[0]) != logBodyBytes {
		t.Errorf("long: %d lines", len(got))
	}
	if got := BodyPreview(map[string]any{"ok": true, "n": int64(2)}); !reflect.DeepEqual(got, []string{"{", `  "n": 2,`, `  "ok": true`, "}"}) {
		t.Errorf("BodyPreview of JSON = %q", got)
	}
	if got := BodyPreview("a\r\nb\n"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("BodyPreview of text = %q", got)
	}
	if got := BodyPreview(nil); got != nil {
		t.Errorf("BodyPreview(nil) = %q", got)
	}
}

// formatRequest writes r back in the .http format.
func formatRequest(r *HTTPRequest) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL + "\n")
	for k, vs := range r.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	if r.Body != "" {
		b.WriteString("\n" + r.Body + "\n")
	}
	return b.String()
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET https://example.com/",
		"POST http://h/x HTTP/1.1\nContent-Type: application/json\n\n{\"a\": 1}\n",
		"# c\n// d\n### t\n\nhttps://h/?a=1\n  &b=2\nX: y\n\nbody\n###\n",
		"GET http://h/\n\n###\nGET http://h/2",
		"PATCH http://[::1]:8080/a%20b\r\nA:\r\n\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := ParseRequest(src)
		if err != nil {
			var pe *engine.Error
			if !errors.As(err, &pe) || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("error without a place: %v", err)
			}
			return
		}
		if !isToken(r.Method) || r.Method != strings.ToUpper(r.Method) {
			t.Fatalf("bad method %q", r.Method)
		}
		if !strings.HasPrefix(strings.ToLower(r.URL), "http://") && !strings.HasPrefix(strings.ToLower(r.URL), "https://") {
			t.Fatalf("bad URL %q", r.URL)
		}
		if _, err := http.NewRequest(r.Method, r.URL, nil); err != nil {
			t.Fatalf("net/http rejects %s %q: %v", r.Method, r.URL, err)
		}
		// What was parsed, written out again, parses to the same request
		// (unless the body holds a separator of its own).
		if strings.Contains(r.Body, "\n###") || strings.HasPrefix(r.Body, "###") {
			return
		}
		again, err := ParseRequest(formatRequest(r))
		if err != nil {
			t.Fatalf("reparse of %q: %v", formatRequest(r), err)
		}
		if strings.TrimLeft(r.Body, " \t\r\n") != r.Body {
			// A body starting with blank lines loses them: skip the compare.
			return
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("reparse differs:\n%#v\n%#v", r, again)
		}
	})
}
