package main

// The admin socket lets the command line work while `trailhound run`
// holds the database. The bot listens on a Unix socket in the data
// directory (mode 0600, in a directory of mode 0700: only the bot's user
// can reach it, and nothing listens on the network). A command that only
// reads or changes alerts and tasks (findings, sources, tasks, task,
// digest, ack, resolve, silence) first asks the socket: when a bot
// answers, the bot runs the command on its open database and sends back
// what it printed; changes then go through the bot like a button press,
// with the same audit entries, and the cards are redrawn at once. When no
// bot answers, the command opens the database itself.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

// adminSocketName is the admin socket's file name in the data directory.
const adminSocketName = "trailhound.sock"

// chartPlaceholder stands for a --chart file in a forwarded command: the
// bot writes the chart to a file of its own and sends it back.
const chartPlaceholder = "@chart"

// forwarded are the commands a running bot carries out for the command
// line, and whether they change anything.
var forwarded = map[string]struct{ writes bool }{
	"findings": {false},
	"sources":  {false},
	"digest":   {false},
	"tasks":    {false},
	"task":     {true},
	"ack":      {true},
	"resolve":  {true},
	"silence":  {true},
}

// adminRequest is one command sent to the bot.
type adminRequest struct {
	// Args are the command and its arguments, as typed.
	Args []string `json:"args"`
	// User is the caller's $USER, the default actor of changes.
	User string `json:"user"`
}

// adminResponse is what the command printed and its exit code.
type adminResponse struct {
	Code   int    `json:"code"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	// Chart is the PNG the command wrote for --chart.
	Chart []byte `json:"chart,omitempty"`
}

// adminServer serves the admin socket of a running bot.
type adminServer struct {
	srv     *http.Server
	path    string
	release func()
	done    chan struct{}
}

// adminSocketPath returns where the admin socket of a data directory is.
func adminSocketPath(dataDir string) string { return filepath.Join(dataDir, adminSocketName) }

// serveAdmin starts the admin socket of `trailhound run`; a.Close stops
// it. Commands it carries out run one at a time, and after a change the
// outbox is delivered to notifiers, so cards show it at once.
func (a *app) serveAdmin(ctx context.Context, notifiers []workflows.Notifier) error {
	path := adminSocketPath(a.cfg.DataDir)
	// A socket left by a bot that was killed: this process holds the
	// database, so no other bot can be listening on it.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin socket: %w", err)
	}
	name, release, err := socketName(path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	ln, err := listenUnix(name, path)
	if err != nil {
		release()
		return fmt.Errorf("admin socket: %w", err)
	}
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/run", func(w http.ResponseWriter, r *http.Request) {
		var req adminRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || len(req.Args) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		res := a.runForCLI(ctx, req, notifiers)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	a.admin = &adminServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, path: path, release: release, done: make(chan struct{})}
	go func() {
		defer close(a.admin.done)
		if err := a.admin.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin socket", "err", err)
		}
	}()
	a.log.Info("admin socket listening", "path", path)
	return nil
}

// listenUnix listens on the Unix socket name (the file path) that only
// its owner may use.
func listenUnix(name, path string) (net.Listener, error) {
	ln, err := net.Listen("unix", name)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// maxSocketPath is the longest socket path bind and connect take (108
// bytes with the final NUL on Linux).
const maxSocketPath = 100

// socketName returns a name under which the socket at path can be bound
// or dialled: path itself, or for a path too long for a socket address,
// the same file through an open descriptor of its directory
// (/proc/self/fd/N/trailhound.sock), kept open until release.
func socketName(path string) (name string, release func(), err error) {
	if len(path) <= maxSocketPath {
		return path, func() {}, nil
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return "", nil, err
	}
	name = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	if len(name) > maxSocketPath {
		dir.Close()
		return "", nil, fmt.Errorf("path %s is too long for a socket", path)
	}
	return name, func() { dir.Close() }, nil
}

// stop closes the admin socket and removes its file; nil does nothing.
func (s *adminServer) stop() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
	_ = os.Remove(s.path)
	s.release()
}

// runForCLI carries out one command for the command line on the bot's
// database and returns what it printed.
func (a *app) runForCLI(ctx context.Context, req adminRequest, notifiers []workflows.Notifier) adminResponse {
	name := req.Args[0]
	f, ok := forwarded[name]
	if !ok {
		return adminResponse{Code: exitError, Stderr: fmt.Sprintf("trailhound: %s cannot run while the bot runs\n", name)}
	}
	args := append([]string(nil), req.Args...)
	var chart string
	for i, v := range args {
		if v == chartPlaceholder {
			dir, err := os.MkdirTemp("", "trailhound-chart-")
			if err != nil {
				return adminResponse{Code: exitError, Stderr: fmt.Sprintf("trailhound: --chart: %v\n", err)}
			}
			defer os.RemoveAll(dir)
			chart = filepath.Join(dir, "chart.png")
			args[i] = chart
		}
	}
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, bot: a, getenv: func(k string) string {
		if k == "USER" {
			return req.User
		}
		return a.env.getenv(k)
	}}
	res := adminResponse{Code: realMain(e, args)}
	if f.writes && res.Code == exitOK {
		// Redraw the cards of what changed now, as after a button press.
		a.dispatch(ctx, notifiers)
	}
	if chart != "" {
		res.Chart, _ = os.ReadFile(chart)
	}
	res.Stdout, res.Stderr = out.String(), errOut.String()
	return res
}

// dialAdmin connects to the admin socket at path.
func dialAdmin(ctx context.Context, path string) (net.Conn, error) {
	name, release, err := socketName(path)
	if err != nil {
		return nil, err
	}
	defer release()
	var d net.Dialer
	return d.DialContext(ctx, "unix", name)
}

// adminClient returns an HTTP client that talks to the admin socket.
func adminClient(path string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Minute, // a long digest or task list still ends
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialAdmin(ctx, path)
		}},
	}
}

// botAnswers reports whether a bot listens on the admin socket of cfg's
// data directory.
func botAnswers(cfg *configs.Config) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := dialAdmin(ctx, adminSocketPath(cfg.DataDir))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// forwardToBot runs a command through the running bot when one holds the
// database of the command's config. ok is false when no bot answers: the
// command then runs here.
func forwardToBot(e *env, args []string) (code int, ok bool) {
	if e.bot != nil || len(args) == 0 {
		return 0, false
	}
	if _, fwd := forwarded[args[0]]; !fwd {
		return 0, false
	}
	cfgPath, chartPath := "", ""
	send := append([]string(nil), args...)
	for i := 1; i < len(send); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(send[i], "-"), "=")
		if !strings.HasPrefix(send[i], "-") {
			continue
		}
		switch name {
		case "h", "help":
			return 0, false // help is the same here
		case "config", "chart":
			if !hasValue && i+1 < len(send) {
				i++
				value = send[i]
			}
			if name == "config" {
				cfgPath = value
				continue
			}
			chartPath = value
			if hasValue {
				send[i] = "--chart=" + chartPlaceholder
			} else {
				send[i] = chartPlaceholder
			}
		}
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return 0, false // the command says what is wrong with it
	}
	path := adminSocketPath(cfg.DataDir)
	if _, err := os.Stat(path); err != nil {
		return 0, false
	}
	body, err := json.Marshal(adminRequest{Args: send, User: e.getenv("USER")})
	if err != nil {
		return 0, false
	}
	resp, err := adminClient(path).Post("http://trailhound/v1/run", "application/json", bytes.NewReader(body))
	if err != nil {
		// No bot behind the socket (it was killed): open the database here.
		return 0, false
	}
	defer resp.Body.Close()
	var res adminResponse
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&res) != nil {
		return fail(e, "the running bot did not answer the command (HTTP %d on %s)", resp.StatusCode, path), true
	}
	fmt.Fprint(e.stdout, res.Stdout)
	fmt.Fprint(e.stderr, res.Stderr)
	if chartPath != "" && res.Chart != nil {
		if err := os.WriteFile(chartPath, res.Chart, 0o644); err != nil {
			return fail(e, "--chart: %v", err), true
		}
	}
	return res.Code, true
}
