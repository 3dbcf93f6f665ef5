package discord

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
)

// BenchmarkBurst200 sends 200 signed button presses at the same moment
// over real HTTP connections to the interactions endpoint, and reports the
// p50, p99 and slowest time to the deferred acknowledgement. Discord gives
// up after 3 seconds; any slower answer fails the benchmark.
//
//	go test -run '^$' -bench Burst200 -benchtime 5x ./bot/discord
func BenchmarkBurst200(b *testing.B) {
	const burst = 200
	h := newHarness(b)
	srv := httptest.NewServer(h.mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: burst, MaxConnsPerHost: burst}}
	var all []time.Duration
	for range b.N {
		reqs := make([]*http.Request, burst)
		for i := range reqs {
			body, _ := json.Marshal(h.press(bot.OpEscalate, responderUser, []string{responderRole}))
			signed := sign(h.priv, now, body)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+InteractionsPath, bytes.NewReader(body))
			req.Header = signed.Header
			reqs[i] = req
		}
		lat := make([]time.Duration, burst)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				t0 := time.Now()
				res, err := client.Do(reqs[i])
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[i] = time.Since(t0)
				if res.StatusCode != http.StatusOK {
					b.Errorf("status %d", res.StatusCode)
				}
			}()
		}
		close(start)
		wg.Wait()
		b.StopTimer()
		h.n.Wait() // the background work of the burst
		b.StartTimer()
		all = append(all, lat...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(all[len(all)-1].Microseconds())/1000, "max-ms")
	if slow := all[len(all)-1]; slow > 3*time.Second {
		b.Errorf("slowest acknowledgement took %s, over Discord's 3-second limit", slow)
	}
}
