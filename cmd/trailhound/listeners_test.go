package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/bot/slack"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/workflows"
)

// chatMux returns the chat endpoints of a real Slack adapter in http mode
// (its API unreachable: it only answers requests here).
func chatMux(t *testing.T) *http.ServeMux {
	t.Helper()
	db := testdb.Open(t)
	st, err := workflows.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	cfg := slack.Config{
		BotToken: configs.NewSecret("xoxb-test"), SigningSecret: configs.NewSecret("secret"), Mode: slack.ModeHTTP,
		Channel: "C0SECURITY", APIURL: "http://127.0.0.1:1/", Command: slack.DefaultCommand,
		GroupCacheTTL: time.Minute, MaxRateLimitWait: time.Second,
	}
	n, err := slack.New(cfg, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); n.Wait() })
	if err := n.Start(ctx, &bot.Service{Store: st, Log: slog.New(slog.DiscardHandler)}, mux); err != nil {
		t.Fatal(err)
	}
	return mux
}

// testHTTPConfig is the http section with short timeouts, for tests.
func testHTTPConfig(readTimeout time.Duration, maxUnverified int) configs.HTTPConfig {
	return configs.HTTPConfig{
		ReadHeaderTimeout: configs.Duration(readTimeout), ReadTimeout: configs.Duration(readTimeout),
		WriteTimeout: configs.Duration(5 * time.Second), IdleTimeout: configs.Duration(readTimeout), MaxUnverified: maxUnverified,
	}
}

func startChat(t *testing.T, h configs.HTTPConfig, handler http.Handler) string {
	t.Helper()
	l, err := serve(chatServer(h, handler), "127.0.0.1:0", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	return l.addr
}

// stalledHead is an unsigned request with a fresh timestamp, announcing a
// body of length bytes.
func stalledHead(length int) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"X-Slack-Request-Timestamp: %d\r\nX-Slack-Signature: v0=%s\r\nContent-Length: %d\r\n\r\n",
		slack.PathInteractions, time.Now().Unix(), strings.Repeat("0", 64), length)
}

// closedWithin reads from c until the server closes it, and returns how
// long that took, or fails after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}

// TestSlowClientsDropped sends, to the chat listener with a 500ms read
// timeout, a body of 60000 bytes one byte every 100ms with a fresh
// timestamp (which anyone can write), and keeps a connection idle after an
// answer: the server closes both within the timeout. Before the fix the
// listener had no read, write or idle timeout, and both stayed open.
func TestSlowClientsDropped(t *testing.T) {
	const timeout = 500 * time.Millisecond
	addr := startChat(t, testHTTPConfig(timeout, 16), chatMux(t))

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, stalledHead(60000)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 100 {
			if _, err := c.Write([]byte("a")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // the attack: a byte now and then
		}
	}()
	if d := closedWithin(t, c, 5*time.Second); d > timeout+time.Second {
		t.Fatalf("slow body: closed after %v, want about %v", d, timeout)
	}

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// A request the listener answers and keeps alive: a GET.
	fmt.Fprintf(idle, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", slack.PathCommands)
	br := bufio.NewReader(idle)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the server sent more on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle keep-alive connection still open after 5s")
	}
	if d := time.Since(start); d > timeout+time.Second {
		t.Fatalf("idle connection closed after %v, want about %v", d, timeout)
	}
}

// stalledClients and heapBound are TestStalledClientsMemory's figures.
const (
	stalledClients = 1000
	heapBound      = 16 << 20
)

// TestStalledClientsMemory opens 1,000 connections on loopback that each
// send the headers and 63,000 of the 64,000 bytes they announce, then
// stall. At most max_unverified (64 here) are received at once; the rest
// are answered 503 and closed before their body is read. The Go heap grows
// by less than 16 MiB, and every connection is closed within the read
// timeout. Before the fix all 1,000 bodies were buffered (about 100 MB)
// and held open.
func TestStalledClientsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const maxUnverified = 64
	const timeout = 3 * time.Second
	var entered atomic.Int64
	mux := chatMux(t)
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		mux.ServeHTTP(w, r)
	})
	addr := startChat(t, testHTTPConfig(timeout, maxUnverified), counted)
	busyBefore := counterValue(metricBusy)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	body := strings.Repeat("a", 63000)
	conns := make([]net.Conn, 0, stalledClients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range stalledClients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(conns), err)
		}
		conns = append(conns, c)
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = io.WriteString(c, stalledHead(64000)+body) // a refused client may be closed mid-write
	}
	deadline := time.Now().Add(10 * time.Second)
	for entered.Load()+int64(counterValue(metricBusy)-busyBefore) < stalledClients {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d received, %v refused, want %d in all", entered.Load(), counterValue(metricBusy)-busyBefore, stalledClients)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d stalled clients: %d received at once, %v refused with 503; Go heap grew by %.1f MiB (bound %d MiB)",
		stalledClients, entered.Load(), counterValue(metricBusy)-busyBefore, float64(grew)/(1<<20), heapBound>>20)
	if entered.Load() > maxUnverified {
		t.Errorf("%d requests received at once, want at most %d", entered.Load(), maxUnverified)
	}
	if grew > heapBound {
		t.Errorf("Go heap grew by %d bytes with %d stalled clients, want under %d", grew, stalledClients, heapBound)
	}
	// Every connection ends within the read timeout: the refused ones at
	// once, the received ones when their body does not come.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(timeout + 2*time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection %d still open after the read timeout", i)
			}
		}
	}
}

// counterValue reads a Prometheus counter.
func counterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
