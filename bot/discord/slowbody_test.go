package discord

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAnswersBeforeReadingBody sends interactions that announce a body,
// send one byte of it and stall: those whose headers already fail (no
// signature, a stale timestamp, a body over 1 MiB) are answered at once.
// Before the fix the body was read in full first.
func TestAnswersBeforeReadingBody(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.mux)
	defer srv.Close()
	sig := "X-Signature-Ed25519: " + strings.Repeat("ab", 64) + "\r\n"
	for _, tc := range []struct {
		name    string
		headers string
		length  int
		want    int
	}{
		{"no signature", fmt.Sprintf("X-Signature-Timestamp: %d\r\n", now.Unix()), 60000, http.StatusUnauthorized},
		{"stale timestamp", sig + fmt.Sprintf("X-Signature-Timestamp: %d\r\n", now.Add(-time.Hour).Unix()), 60000, http.StatusUnauthorized},
		{"too large", sig + fmt.Sprintf("X-Signature-Timestamp: %d\r\n", now.Unix()), maxInteractionBody + 1, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n{", InteractionsPath, tc.length, tc.headers)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer while the body stalls: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status=%d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}
