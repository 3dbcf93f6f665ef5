package slack

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
)

// BenchmarkBurst200 sends 200 signed button presses at the same moment, as
// 200 responders clicking at once, over real HTTP connections, and reports
// the p50, p99 and slowest time to Slack's acknowledgement. Slack gives up
// after 3 seconds; any slower answer fails the benchmark.
//
//	go test -run '^$' -bench Burst200 -benchtime 5x ./bot/slack
func BenchmarkBurst200(b *testing.B) {
	const burst = 200
	h := newHarness(b)
	h.start()
	a, ref := h.posted()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: burst, MaxConnsPerHost: burst}}
	var all []time.Duration
	for range b.N {
		bodies := make([]string, burst)
		for i := range bodies {
			bodies[i] = interactionBody(h.buttonPayload("U0RESP", bot.OpEscalate, a.ID, ref))
		}
		lat := make([]time.Duration, burst)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+PathInteractions, strings.NewReader(bodies[i]))
				req.Header = sign(testSecret, h.clock.now(), bodies[i])
				<-start
				t0 := time.Now()
				res, err := client.Do(req)
				lat[i] = time.Since(t0)
				if err != nil {
					b.Error(err)
					return
				}
				res.Body.Close()
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
	reportBurst(b, all)
}

func reportBurst(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	if slow := lat[len(lat)-1]; slow > 3*time.Second {
		b.Errorf("slowest acknowledgement took %s, over Slack's 3-second limit", slow)
	}
}
