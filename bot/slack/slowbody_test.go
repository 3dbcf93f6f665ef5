package slack

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestAnswersBeforeReadingBody sends requests that announce a body and
// then send one byte of it and stall: those whose headers already fail
// (no signature, a stale timestamp, a body over 64 KiB) are answered at
// once. Before the fix the body was read in full first, so a slow client
// held the handler for as long as it liked.
func TestAnswersBeforeReadingBody(t *testing.T) {
	h := newHarness(t)
	h.start()
	fresh := strconv.FormatInt(h.clock.now().Unix(), 10)
	stale := strconv.FormatInt(h.clock.now().Add(-10*time.Minute).Unix(), 10)
	for _, tc := range []struct {
		name    string
		headers string
		length  int
		want    int
	}{
		{"no signature", "", 60000, http.StatusUnauthorized},
		{"stale timestamp", "X-Slack-Request-Timestamp: " + stale + "\r\nX-Slack-Signature: v0=00\r\n", 60000, http.StatusUnauthorized},
		{"too large", "X-Slack-Request-Timestamp: " + fresh + "\r\nX-Slack-Signature: v0=00\r\n", maxBody + 1, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stalledRequest(t, h.srv.Listener.Addr().String(), PathInteractions, tc.headers, tc.length); got != tc.want {
				t.Fatalf("status=%d, want %d", got, tc.want)
			}
		})
	}
}

// stalledRequest sends a POST whose body stops after one byte and returns
// the status the server answers within two seconds.
func stalledRequest(t *testing.T, addr, path, headers string, length int) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n%s\r\na", path, length, headers)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer while the body stalls: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}
