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

// BenchmarkInteractionAck measures how long Slack waits for the answer to
// a signed button press (verification, parsing, dedupe, queueing the
// work), with requests arriving concurrently. It reports p50 and p99; the
// 3-second limit leaves a wide margin. The background work (role, store,
// redraw) runs too and is waited for after the timer stops.
func BenchmarkInteractionAck(b *testing.B) {
	h := newHarness(b)
	h.start()
	a, ref := h.posted()
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = interactionBody(h.buttonPayload("U0RESP", bot.OpEscalate, a.ID, ref))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := <-next
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+PathInteractions, strings.NewReader(bodies[i]))
			req.Header = sign(testSecret, h.clock.now(), bodies[i])
			start := time.Now()
			res, err := client.Do(req)
			d := time.Since(start)
			if err != nil {
				b.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	})
	b.StopTimer()
	h.n.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
