package awstest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Call is one request that passed through a Recorder.
type Call struct {
	// Op is the operation: the X-Amz-Target's suffix (DeleteMessageBatch,
	// FilterLogEvents), the query protocol's Action (AssumeRole), or the
	// HTTP method and path for S3 (GET /bucket/key).
	Op string
	// Form holds the query-protocol parameters (STS), Body the raw body.
	Form url.Values
	Body []byte
	// Auth is the Authorization header, which names the access key.
	Auth string
	// Status is the response status.
	Status int
}

// Recorder is a reverse proxy in front of moto that records every call,
// so tests can count requests and inspect parameters (an AssumeRole's
// ExternalId), and can run a hook before a call is forwarded.
type Recorder struct {
	URL string

	mu    sync.Mutex
	calls []Call
	// before runs before a call is forwarded; a non-zero status answers
	// the call with that status instead.
	before func(c Call) (status int, body string)
}

// NewRecorder starts a recording proxy to upstream, closed on cleanup.
func NewRecorder(t testing.TB, upstream string) *Recorder {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("upstream %q: %v", upstream, err)
	}
	r := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		c := Call{Body: body, Auth: req.Header.Get("Authorization")}
		switch {
		case req.Header.Get("X-Amz-Target") != "":
			t := req.Header.Get("X-Amz-Target")
			c.Op = t[strings.LastIndex(t, ".")+1:]
		case strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
			c.Form, _ = url.ParseQuery(string(body))
			c.Op = c.Form.Get("Action")
		default:
			c.Op = req.Method + " " + req.URL.Path
		}
		r.mu.Lock()
		hook := r.before
		r.mu.Unlock()
		if hook != nil {
			if status, msg := hook(c); status != 0 {
				c.Status = status
				r.add(c)
				w.WriteHeader(status)
				io.WriteString(w, msg)
				return
			}
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, req)
		c.Status = rec.status
		r.add(c)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

func (r *Recorder) add(c Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// Before sets a hook run before each call is forwarded (nil removes it).
// Returning a non-zero status answers the call with it and the body.
func (r *Recorder) Before(hook func(c Call) (status int, body string)) {
	r.mu.Lock()
	r.before = hook
	r.mu.Unlock()
}

// Calls returns the recorded calls of an operation, or all when op is "".
func (r *Recorder) Calls(op string) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Call
	for _, c := range r.calls {
		if op == "" || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}
