package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trailhound/trailhound/configs"
)

// `trailhound run` has two HTTP listeners:
//   - the chat listener (http.listen), which Slack and Discord reach from
//     the internet, serves only their signed endpoints, behind timeouts
//     and a cap on requests not yet verified;
//   - the admin listener (http.admin_listen, loopback by default) serves
//     /metrics, /healthz and /readyz.

var metricBusy = promauto.NewCounter(prometheus.CounterOpts{
	Name: "trailhound_chat_requests_busy_total",
	Help: "Chat requests answered 503 at once because http.max_unverified requests were already being received.",
})

// listener is a started HTTP server.
type listener struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// close stops the server, letting requests in progress finish for up to
// ten seconds.
func (l *listener) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l.srv.Shutdown(ctx) != nil {
		_ = l.srv.Close()
	}
	<-l.done
}

// serve starts srv on addr. The address is bound before serve returns, so
// a port in use is an error at start; a later failure calls onFail.
func serve(srv *http.Server, addr string, log *slog.Logger, onFail func()) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &listener{srv: srv, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "addr", l.addr, "err", err)
			if onFail != nil {
				onFail()
			}
		}
	}()
	return l, nil
}

// chatServer is the chat listener's server: the chat endpoints, with
// every timeout set so a slow or idle client is dropped, and at most
// MaxUnverified requests received at once.
func chatServer(h configs.HTTPConfig, chat http.Handler) *http.Server {
	return &http.Server{
		Handler:           limitUnverified(h.MaxUnverified, chat),
		ReadHeaderTimeout: h.ReadHeaderTimeout.D(),
		ReadTimeout:       h.ReadTimeout.D(),
		WriteTimeout:      h.WriteTimeout.D(),
		IdleTimeout:       h.IdleTimeout.D(),
		MaxHeaderBytes:    32 << 10,
	}
}

// adminHTTPServer is the admin listener's server: liveness, readiness and
// metrics. ready returns why the bot cannot serve yet, nil when it can.
func adminHTTPServer(ready func() error) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.Handler())
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 32 << 10}
}

// serveHTTP starts the admin listener (unless it is off) and, when
// http.listen is set, the chat listener with chat's endpoints. An address
// the config names that cannot be bound is an error; the default admin
// address only logs one, so a second bot on the host still runs.
func (a *app) serveHTTP(chat http.Handler, ready func() error, admin bool, onFail func()) (stop func(), err error) {
	var started []*listener
	stop = func() {
		for _, l := range started {
			l.close()
		}
	}
	if addr, named := a.cfg.HTTP.Admin(); admin && addr != "" {
		l, err := serve(adminHTTPServer(ready), addr, a.log, nil)
		switch {
		case err != nil && named:
			return stop, fmt.Errorf("http.admin_listen: %w", err)
		case err != nil:
			a.log.Error("admin listener (metrics, health) not started: set http.admin_listen to a free address, or off", "addr", addr, "err", err)
		default:
			started = append(started, l)
			a.log.Info("admin http listening", "addr", l.addr, "serves", "/metrics /healthz /readyz")
		}
	}
	if a.cfg.HTTP.Listen != "" {
		l, err := serve(chatServer(a.cfg.HTTP, chat), a.cfg.HTTP.Listen, a.log, onFail)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("http.listen: %w", err)
		}
		started = append(started, l)
		a.log.Info("chat http listening", "addr", l.addr)
	}
	return stop, nil
}

// limitUnverified lets at most n requests be received and verified at
// once. The chat endpoints acknowledge a verified request at once and do
// the work afterwards, so a request holds a slot only while it arrives
// and is checked; clients beyond the cap are answered 503 and dropped
// before their body is read, so stalled clients cannot pile up.
func limitUnverified(n int, next http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			metricBusy.Inc()
			refuseBusy(w)
		}
	})
}

// busyAnswer is the 503 sent on a connection taken over from the server.
const busyAnswer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 5\r\n\r\nbusy\n"

// refuseBusy answers 503 and closes the connection without reading the
// request's body.
func refuseBusy(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write([]byte(busyAnswer))
	_ = conn.Close()
}
