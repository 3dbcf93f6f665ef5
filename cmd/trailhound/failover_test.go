package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/ha"
	"github.com/trailhound/trailhound/internal/moto"
	"github.com/trailhound/trailhound/workflows"
)

// failoverRounds is how many times TestFailover kills the active instance:
// 3 by default, 10 with -failover-rounds=10 (about 4 s each).
var failoverRounds = flag.Int("failover-rounds", 3, "kills of the active instance in TestFailover")

// failoverSeed replays the kill moments of a TestFailover run (its log
// says its seed); timing still varies.
var failoverSeed = flag.Uint64("failover-seed", 0, "seed of TestFailover's random kill moments (0: new)")

// haEnv is a moto_server with a snapshot bucket and a lease table, shared
// by the instances of one test.
type haEnv struct {
	url, bucket, table string
	lease              ha.Lease
	s3                 *s3.Client
}

func newHAEnv(t *testing.T) *haEnv {
	t.Helper()
	url, stop, err := moto.Start()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("moto_server is required under CI: %v", err)
		}
		t.Skipf("skipping: moto_server unavailable: %v", err)
	}
	t.Cleanup(stop)
	moto.Credentials(t) // the children inherit the environment
	ctx := context.Background()
	h := &haEnv{url: url, bucket: "trailhound-state", table: "trailhound-leases"}
	if h.s3, err = ha.NewS3Client(ctx, moto.Region, url); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &h.bucket,
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(moto.Region)}}); err != nil {
		t.Fatal(err)
	}
	if h.lease, err = ha.NewLease(ctx, ha.LeaseConfig{Kind: "dynamodb", Where: h.table, Name: "prod", Region: moto.Region, EndpointURL: url}); err != nil {
		t.Fatal(err)
	}
	_, err = h.lease.(*ha.DynamoDBLease).Client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &h.table,
		AttributeDefinitions: []dtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dtypes.ScalarAttributeTypeS}},
		KeySchema:            []dtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dtypes.KeyTypeHash}},
		BillingMode:          dtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// config writes the config of one instance: the crash test's file source
// and Discord, polled every second, with snapshots every second and a
// lease of 2 s renewed every 300 ms. holder "" leaves ha out.
func (h *haEnv) config(t *testing.T, dataDir, input, apiURL, holder, admin string) string {
	t.Helper()
	cfg := crashConfig(t, dataDir, input, apiURL)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "    type: file\n", "    type: file\n    schedule: \"@every 1s\"\n", 1)
	if admin == "" {
		admin = "off"
	}
	text = strings.Replace(text, `http: {listen: "127.0.0.1:0"}`, fmt.Sprintf(`http: {listen: "127.0.0.1:0", admin_listen: %q}`, admin), 1)
	text += fmt.Sprintf(`dispatch_schedule: "@every 1s"
state:
  snapshot: {url: "s3://%s/prod", every: 1s, keep: 5, region: %s, endpoint_url: %q}
`, h.bucket, moto.Region, h.url)
	if holder != "" {
		text += fmt.Sprintf("ha: {lease: \"dynamodb://%s/prod\", renew: 300ms, ttl: 2s, holder: %s, region: %s, endpoint_url: %q}\n", h.table, holder, moto.Region, h.url)
	}
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// current returns the lease as it is.
func (h *haEnv) current(t *testing.T) ha.Grant {
	t.Helper()
	g, _, err := h.lease.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// waitHolder waits until holder holds the lease at an epoch above after,
// and returns the grant.
func (h *haEnv) waitHolder(t *testing.T, holder string, after uint64, within time.Duration, procs ...*instance) ha.Grant {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if g := h.current(t); g.Holder == holder && g.Epoch > after && g.Expires.After(time.Now()) {
			return g
		}
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("instance %s exited: %v\n%s", p.name, p.err, p.logs())
			}
		}
		time.Sleep(20 * time.Millisecond) // poll the lease table
	}
	var logs string
	for _, p := range procs {
		logs += p.name + ":\n" + p.logs() + "\n"
	}
	t.Fatalf("%s did not take the lease within %s (lease: %+v)\n%s", holder, within, h.current(t), logs)
	return ha.Grant{}
}

// instance is one `trailhound run` process.
type instance struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	mu      sync.Mutex
	stderr  bytes.Buffer
	dataDir string
	admin   string
}

func (p *instance) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *instance) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *instance) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func startInstance(t *testing.T, name, dataDir, cfg, admin string) *instance {
	t.Helper()
	p := &instance{name: name, done: make(chan struct{}), dataDir: dataDir, admin: admin}
	p.cmd = child(context.Background(), "run", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *instance) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop stops the instance gracefully and waits for it.
func (p *instance) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not stop\n%s", p.name, p.logs())
	}
	if p.err != nil {
		t.Fatalf("%s: %v\n%s", p.name, p.err, p.logs())
	}
}

// finish restores the newest snapshot into a new data directory and runs
// once over all the input with the same Discord, without a lease: what
// the instances left undone is done, and what they did must not be done
// again. It returns the data directory.
func (h *haEnv) finish(t *testing.T, input, apiURL string) string {
	t.Helper()
	data := t.TempDir()
	cfg := h.config(t, data, input, apiURL, "", "")
	if out, err := child(context.Background(), "restore", "--config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// Run until the outbox is empty: a post cut short by the stop waits
	// out its retry backoff (seconds).
	deadline := time.Now().Add(60 * time.Second)
	for {
		if out, err := child(context.Background(), "run", "--once", "--config", cfg).CombinedOutput(); err != nil {
			t.Fatalf("final run: %v\n%s", err, out)
		}
		if pendingOutbox(t, data) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not empty after a minute of runs")
		}
		time.Sleep(500 * time.Millisecond) // the retry backoff
	}
	// Once more: nothing left to do, nothing posted again.
	if out, err := child(context.Background(), "run", "--once", "--config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	return data
}

// pendingOutbox returns how many outbox items a data directory holds.
func pendingOutbox(t *testing.T, data string) int {
	t.Helper()
	db, err := bolt.Open(filepath.Join(data, "trailhound.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := workflows.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// haBatches is the input of the HA tests in n batches: the bundled samples
// and, with more than 3 failover rounds, the Stratus Red Team detonation
// logs of shared/data (when present), each file whole, in an order that
// sorts by batch. Posting is paced at about one card a second per
// channel, so more alerts make each run slower.
func haBatches(t *testing.T, n int) [][]crashFile {
	t.Helper()
	var paths []string
	patterns := []string{repoFile(t, "configs/samples/*.json*")}
	if *failoverRounds > 3 {
		patterns = append(patterns, filepath.Join(repoRoot, "..", "shared", "data", "stratus_red_team_detonation_logs", "*.json"))
	}
	for _, pattern := range patterns {
		m, _ := filepath.Glob(pattern)
		paths = append(paths, m...)
	}
	batches := make([][]crashFile, n)
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		k := i * n / len(paths)
		batches[k] = append(batches[k], crashFile{fmt.Sprintf("b%02d-%s", k, filepath.Base(p)), b})
	}
	return batches
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// readyz returns the status of the instance's /readyz, 0 when it does
// not answer.
func (p *instance) readyz() (int, string) {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + p.admin + "/readyz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitUp waits until the instance's admin listener answers: it has
// started and handles signals.
func (p *instance) waitUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := p.readyz(); code != 0 {
			return
		}
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.logs())
		}
		time.Sleep(20 * time.Millisecond) // poll the listener
	}
	t.Fatalf("%s's admin listener did not answer\n%s", p.name, p.logs())
}

// waitReady waits until the instance's /readyz says ready.
func (p *instance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := p.readyz(); code == http.StatusOK {
			return
		}
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.logs())
		}
		time.Sleep(20 * time.Millisecond) // poll readiness
	}
	t.Fatalf("%s not ready within a minute\n%s", p.name, p.logs())
}

// metric returns the instance's /metrics line that starts with name.
func (p *instance) metric(name string) string {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}

// reference runs once, uninterrupted, over every batch and returns the
// alerts stored and how many were posted, and how long the run took.
func failoverReference(t *testing.T, batches [][]crashFile) (map[string]int, int, time.Duration) {
	t.Helper()
	input := t.TempDir()
	for _, b := range batches {
		writeBatch(t, input, b)
	}
	server := newCrashDiscord(t)
	data := t.TempDir()
	start := time.Now()
	if out, err := child(context.Background(), "run", "--once", "--config", crashConfig(t, data, input, server.srv.URL)).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	took := time.Since(start)
	groups, posted := storedAlerts(t, data)
	if posted == 0 || len(server.cards) != posted {
		t.Fatalf("reference run posted %d cards for %d alerts", len(server.cards), posted)
	}
	return groups, posted, took
}

// checkAgainst compares a data directory and the Discord it posted to
// with the reference: every finding stored once, every alert posted once.
func checkAgainst(t *testing.T, data string, server *crashDiscord, wantGroups map[string]int, wantPosted int) {
	t.Helper()
	gotGroups, gotPosted := storedAlerts(t, data)
	if len(gotGroups) != len(wantGroups) || gotPosted != wantPosted {
		t.Errorf("alerts=%d posted=%d, want %d and %d", len(gotGroups), gotPosted, len(wantGroups), wantPosted)
	}
	for k, want := range wantGroups {
		if got := gotGroups[k]; got != want {
			t.Errorf("alert %s groups %d findings, want %d (a finding stored twice or lost)", k, got, want)
		}
	}
	server.mu.Lock()
	defer server.mu.Unlock()
	if len(server.cards) != wantPosted {
		t.Errorf("cards for %d alerts, want %d", len(server.cards), wantPosted)
		explainCards(t, data, server)
	}
	for alert, n := range server.cards {
		if n != 1 {
			t.Errorf("alert %s posted %d times", alert, n)
		}
	}
}

// TestFailover runs two instances that share the lease, the snapshots
// and Discord, feeds them the crash test's logs batch by batch, and kills
// the active one with SIGKILL at random moments: while it reads, and
// after Discord stored a card it never heard back about. Each time the
// standby takes over within the TTL plus the restore, and the killed one
// comes back as the standby on its old data directory. At the end, the
// findings stored and the cards posted are exactly those of one
// uninterrupted run.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test runs many processes")
	}
	rounds := *failoverRounds
	batches := haBatches(t, rounds+1)
	wantGroups, wantPosted, refTook := failoverReference(t, batches)
	t.Logf("reference: %d alerts, %d posted, in %s", len(wantGroups), wantPosted, refTook.Round(time.Millisecond))

	h := newHAEnv(t)
	server := newCrashDiscord(t)
	input := t.TempDir()
	dirs := map[string]string{"a": t.TempDir(), "b": t.TempDir()}
	admins := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	cfgs := map[string]string{}
	for n, d := range dirs {
		cfgs[n] = h.config(t, d, input, server.srv.URL, n, admins[n])
	}
	procs := map[string]*instance{"a": startInstance(t, "a", dirs["a"], cfgs["a"], admins["a"])}
	g := h.waitHolder(t, "a", 0, 30*time.Second, procs["a"])
	procs["b"] = startInstance(t, "b", dirs["b"], cfgs["b"], admins["b"])
	procs["b"].waitUp(t)
	active, standby := "a", "b"

	seed := *failoverSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	var takeovers, readies []time.Duration
	postKills := 0
	for i := 0; i < rounds; i++ {
		writeBatch(t, input, batches[i])
		var held, resume chan struct{}
		if i%2 == 1 {
			held, resume = server.arm(1 + rng.IntN(2))
		}
		var kill <-chan time.Time
		if held == nil {
			kill = time.After(time.Duration(rng.Int64N(int64(refTook) + 1)))
		}
		select {
		case <-kill:
		case <-held:
			postKills++
		case <-time.After(30 * time.Second):
			// The held post never came (nothing new to post): kill now.
		}
		p := procs[active]
		if p.exited() {
			t.Fatalf("%s exited before the kill: %v\n%s", active, p.err, p.logs())
		}
		p.kill()
		killed := time.Now()
		if resume != nil {
			close(resume)
		}
		server.disarm()
		g = h.waitHolder(t, standby, g.Epoch, 60*time.Second, procs[standby])
		took := time.Since(killed)
		takeovers = append(takeovers, took)
		procs[standby].waitReady(t)
		ready := time.Since(killed)
		readies = append(readies, ready)
		// The killed one comes back, as the standby, on its old disk.
		procs[active] = startInstance(t, active, dirs[active], cfgs[active], admins[active])
		procs[active].waitUp(t)
		active, standby = standby, active
		t.Logf("round %d: %s took the lease at epoch %d %s after the kill, and was ready (snapshot restored, chat up) after %s", i+1, active, g.Epoch, took.Round(time.Millisecond), ready.Round(time.Millisecond))
	}
	writeBatch(t, input, batches[rounds])
	// Stop both gracefully: the active takes its last snapshot. What it
	// had not read yet, the final run reads.
	procs[standby].stop(t)
	procs[active].stop(t)
	t.Logf("kill to lease taken (TTL 2s): %v; kill to ready: %v; %d kills after a post", takeovers, readies, postKills)

	data := h.finish(t, input, server.srv.URL)
	checkAgainst(t, data, server, wantGroups, wantPosted)
}

// countingProxy forwards to a chat API and counts the requests that
// change something (every method but GET), so a test can tell which
// instance posted.
type countingProxy struct {
	srv    *httptest.Server
	mu     sync.Mutex
	writes int
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			p.mu.Lock()
			p.writes++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *countingProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writes
}

// fileSum returns the SHA-256 of a file's bytes.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// snapshotsOf lists the snapshot keys taken under a lease epoch.
func (h *haEnv) snapshotsOf(t *testing.T, epoch uint64) map[string]bool {
	t.Helper()
	ctx := context.Background()
	all, err := ha.List(ctx, h.s3, h.bucket, "prod")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, i := range all {
		head, err := h.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &h.bucket, Key: &i.Key})
		if err != nil {
			continue // pruned meanwhile
		}
		if head.Metadata["lease-epoch"] == fmt.Sprint(epoch) {
			out[i.Key] = true
		}
	}
	return out
}

// TestSplitBrain stops the active instance with SIGSTOP while it posts,
// past the TTL, lets the standby take over, and wakes the old one with
// SIGCONT: it steps down (exits) without a single post or snapshot
// upload, and commits no database write it begins after waking. The
// standby answers /readyz 503 and refuses chat requests until it takes
// over; its graceful stop releases the lease even with a renewal in
// flight.
func TestSplitBrain(t *testing.T) {
	if testing.Short() {
		t.Skip("split-brain test runs processes")
	}
	h := newHAEnv(t)
	server := newCrashDiscord(t)
	proxyA := newCountingProxy(t, server.srv.URL)
	input := t.TempDir()
	dirA, dirB := t.TempDir(), t.TempDir()
	adminA, adminB, chatB := freeAddr(t), freeAddr(t), freeAddr(t)
	cfgA := h.config(t, dirA, input, proxyA.srv.URL, "a", adminA)
	cfgB := h.config(t, dirB, input, server.srv.URL, "b", adminB)
	setListen(t, cfgB, chatB)

	a := startInstance(t, "a", dirA, cfgA, adminA)
	g := h.waitHolder(t, "a", 0, 30*time.Second, a)
	b := startInstance(t, "b", dirB, cfgB, adminB)
	b.waitUp(t)
	// The standby: not ready, and chat requests are told why.
	if code, body := b.readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "another Trailhound instance is active") {
		t.Fatalf("standby /readyz: %d %q, want 503 saying another instance is active", code, body)
	}
	if got := b.metric(`trailhound_ha_role{role="standby"}`); !strings.HasSuffix(got, " 1") {
		t.Fatalf("standby metrics: %q, want role standby 1", got)
	}
	resp, err := http.Post("http://"+chatB+"/discord/interactions", "application/json", strings.NewReader(`{"type":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Another Trailhound instance is active") {
		t.Fatalf("chat request to the standby: %d %q, want 503 saying another instance is active", resp.StatusCode, body)
	}

	// a posts the cards of the first batch, a second apart. Stop it
	// between a post and its commit: Discord has stored its second card,
	// and a is waiting for the answer. It has more to post.
	batches := haBatches(t, 2)
	held, resume := server.arm(2)
	writeBatch(t, input, batches[0])
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatalf("a did not post twice in a minute\n%s", a.logs())
	}
	_ = a.cmd.Process.Signal(syscall.SIGSTOP)
	// A stop is not instant: the thread the kernel picks to handle it
	// must run first, and on a loaded machine a's other threads go on
	// meanwhile, posting and committing with a valid lease. What a does
	// after waking is measured from the moment it has stopped.
	waitStopped(t, a.cmd.Process.Pid)
	stopped := time.Now()
	close(resume) // the answer waits in a's socket until it wakes
	server.disarm()
	posts := proxyA.count()
	atStop := filepath.Join(t.TempDir(), "at-stop.db")
	copyFile(t, filepath.Join(dirA, "trailhound.db"), atStop)
	sum := fileSum(t, atStop)
	snaps := h.snapshotsOf(t, g.Epoch)

	g2 := h.waitHolder(t, "b", g.Epoch, 30*time.Second, b)
	t.Logf("b took over at epoch %d, %s after a was stopped", g2.Epoch, time.Since(stopped).Round(time.Millisecond))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := b.readyz(); code == http.StatusOK {
			break
		}
		time.Sleep(20 * time.Millisecond) // poll readiness
	}
	if code, body := b.readyz(); code != http.StatusOK {
		t.Fatalf("b after takeover: /readyz %d %q", code, body)
	}
	if got := b.metric(`trailhound_ha_role{role="active"}`); !strings.HasSuffix(got, " 1") {
		t.Fatalf("active metrics: %q, want role active 1", got)
	}
	deadline = time.Now().Add(30 * time.Second)
	for b.metric("trailhound_ha_snapshot_size_bytes") == "" || strings.HasSuffix(b.metric("trailhound_ha_snapshot_size_bytes"), " 0") {
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot metrics from the active instance: %q", b.metric("trailhound_ha_snapshot_size_bytes"))
		}
		time.Sleep(50 * time.Millisecond) // poll the metrics
	}
	t.Logf("active metrics: %s; %s; %s", b.metric("trailhound_ha_snapshot_size_bytes"), b.metric("trailhound_ha_snapshot_duration_seconds"), b.metric("trailhound_ha_lease_renewals_total"))
	// More work for a when it wakes: its cron wants to poll.
	writeBatch(t, input, batches[1])

	_ = a.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("a did not step down after waking\n%s", a.logs())
	}
	if !strings.Contains(a.logs(), "another instance is active") {
		t.Errorf("a's last words do not say why it stopped:\n%s", a.logs())
	}
	if got := proxyA.count(); got != posts {
		t.Errorf("a made %d chat writes after waking without the lease", got-posts)
	}
	// bbolt has one writer at a time. A write a began before it was
	// stopped, past its fence check (a poll's commit), may finish when it
	// wakes, or be cut short by its exit: a local fence cannot stop what
	// is already past it, and the database of a replica that lost the
	// lease is replaced from the newest snapshot when it takes over
	// again. Nothing a begins after waking may commit.
	if dbA := filepath.Join(dirA, "trailhound.db"); fileSum(t, dbA) != sum {
		before, after := txID(t, atStop), txID(t, dbA)
		if after > before+1 {
			t.Errorf("a committed %d write transactions after it woke without the lease, more than the one it may have had open when stopped: %s\n%s\nposts:\n%s", after-before, dbDiff(t, atStop, dbA), a.logs(), server.createLog())
		} else {
			t.Logf("a's database changed after it woke: the write it had open when stopped (%s)\nposts:\n%s", dbDiff(t, atStop, dbA), server.createLog())
		}
	}
	for k := range h.snapshotsOf(t, g.Epoch) {
		if !snaps[k] {
			t.Errorf("a uploaded snapshot %s after it woke without the lease", k)
		}
	}
	if b.exited() {
		t.Fatalf("b stopped: %v\n%s", b.err, b.logs())
	}

	// a comes back as the standby. A graceful stop of b takes its last
	// snapshot and releases the lease: a takes over without waiting for
	// the TTL to run out (it tries every renew interval, 300ms).
	a = startInstance(t, "a", dirA, cfgA, adminA)
	a.waitUp(t)
	g3 := h.current(t)
	b.stop(t)
	stopped = time.Now()
	if g := h.current(t); g.Holder == "b" && g.Expires.After(time.UnixMilli(0)) {
		t.Fatalf("b stopped without releasing the lease: %+v", g)
	}
	g4 := h.waitHolder(t, "a", g3.Epoch, 30*time.Second, a)
	took := time.Since(stopped)
	a.waitReady(t)
	t.Logf("b released the lease at its graceful stop; a took it at epoch %d %s later (TTL 2s) and was ready after %s", g4.Epoch, took.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	a.stop(t)
}

// setListen sets http.listen in a config written by haEnv.config.
func setListen(t *testing.T, cfg, addr string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), `listen: "127.0.0.1:0"`, fmt.Sprintf("listen: %q", addr), 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitStopped waits until every thread of a process is stopped (state T
// in /proc), as SIGSTOP leaves it. Without /proc it cannot tell, and
// returns at once.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat("/proc/self/task"); err != nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		running := len(tasks) == 0
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			if err != nil {
				continue // the thread has exited
			}
			// "tid (comm) S ...": the state follows the last ')'.
			i := bytes.LastIndexByte(b, ')')
			if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				running = true
				break
			}
		}
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop within 30s of SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond) // poll /proc
	}
}

// dbDiff names the keys that differ between two databases, for a failure
// message.
func dbDiff(t *testing.T, before, after string) string {
	t.Helper()
	a, b := dumpDB(t, before), dumpDB(t, after)
	var out []string
	for k, v := range b {
		if w, ok := a[k]; !ok {
			out = append(out, "added "+k)
		} else if w != v {
			i := 0
			for i < len(w) && i < len(v) && w[i] == v[i] {
				i++
			}
			from := max(i-200, 0)
			out = append(out, fmt.Sprintf("changed %s at byte %d: ...%.500s -> ...%.500s", k, i, w[from:], v[from:]))
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, "deleted "+k)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		out = append(out, "no key differs")
	}
	return fmt.Sprintf("transaction %d -> %d: %s", txID(t, before), txID(t, after), strings.Join(out, "; "))
}

// txID returns the id of a database's last committed write transaction.
func txID(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := 0
	_ = db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// dumpDB reads every key of every bucket (nested ones too) of a database.
func dumpDB(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(prefix+string(k)+"/", b.Bucket(k))
			}
			out[prefix+string(k)] = string(v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name)+"/", b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRestore takes a snapshot at the end of a run, runs on (posting more
// cards), destroys the data directory and restores the older snapshot:
// the database is the one snapshotted, key for key (baselines, audit
// trail, checkpoints), and the next run re-reads from the snapshot's
// checkpoints, finds the cards already posted instead of posting them
// again, and ends with exactly the alerts of one uninterrupted run, the
// audit trail numbered without a gap.
func TestRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("restore test runs processes")
	}
	batches := haBatches(t, 2)
	wantGroups, wantPosted, _ := failoverReference(t, batches)
	h := newHAEnv(t)
	server := newCrashDiscord(t)
	input, data := t.TempDir(), t.TempDir()
	cfg := h.config(t, data, input, server.srv.URL, "", "")
	db := filepath.Join(data, "trailhound.db")
	run := func(args ...string) (int, string) {
		t.Helper()
		out, err := child(context.Background(), args...).CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}

	writeBatch(t, input, batches[0])
	if code, out := run("run", "--once", "--config", cfg); code != 0 {
		t.Fatalf("first run: %d\n%s", code, out)
	}
	first := dumpDB(t, db)
	snaps, err := ha.List(context.Background(), h.s3, h.bucket, "prod")
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots after the first run: %v, %v; want the one taken at its end", snaps, err)
	}
	writeBatch(t, input, batches[1])
	if code, out := run("run", "--once", "--config", cfg); code != 0 {
		t.Fatalf("second run: %d\n%s", code, out)
	}
	server.mu.Lock()
	postedBefore := len(server.cards)
	server.mu.Unlock()

	// The database exists: restore refuses without --force.
	if code, out := run("restore", "--config", cfg); code != exitError || !strings.Contains(out, "--force") {
		t.Fatalf("restore over an existing database: %d %q, want a refusal naming --force", code, out)
	}
	// Before every snapshot: nothing to restore.
	if code, out := run("restore", "--config", cfg, "--force", "--at", snaps[0].Time.Add(-time.Second).Format(time.RFC3339Nano)); code != exitError || !strings.Contains(out, "no snapshot found") {
		t.Fatalf("restore before the first snapshot: %d %q", code, out)
	}
	// The host is lost.
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if code, out := run("restore", "--config", cfg, "--at", snaps[0].Time.Format(time.RFC3339Nano)); code != 0 || !strings.Contains(out, "checksum verified") {
		t.Fatalf("restore: %d\n%s", code, out)
	}
	restored := dumpDB(t, db)
	if len(restored) != len(first) {
		t.Errorf("restored %d keys, the snapshotted database had %d", len(restored), len(first))
	}
	for k, v := range first {
		if restored[k] != v {
			t.Errorf("key %q differs after restore", k)
		}
	}

	for i := 0; i < 2; i++ {
		if code, out := run("run", "--once", "--config", cfg); code != 0 {
			t.Fatalf("run after restore: %d\n%s", code, out)
		}
	}
	t.Logf("%d cards posted before the restore (%d after the snapshot); %d alerts in all", postedBefore, postedBefore-countCards(first), wantPosted)
	checkAgainst(t, data, server, wantGroups, wantPosted)
	// The audit trail goes on where the snapshot left it: the entries
	// before it unchanged, the new ones after them, numbered without a
	// gap.
	after := dumpDB(t, db)
	n := 0
	for k := range after {
		if strings.HasPrefix(k, "workflows.audit/") {
			n++
		}
	}
	for i := 1; i <= n; i++ {
		k := "workflows.audit/" + string(u64be(uint64(i)))
		v, ok := after[k]
		if !ok {
			t.Fatalf("audit entry %d of %d missing", i, n)
		}
		if old, was := first[k]; was && old != v {
			t.Errorf("audit entry %d changed after the restore", i)
		}
	}

	// state.restore: auto on a new host: run restores the newest snapshot
	// (the last run's) by itself, and has nothing to do.
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "state:\n", "state:\n  restore: auto\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	server.mu.Lock()
	creates := server.creates
	server.mu.Unlock()
	if code, out := run("run", "--once", "--config", cfg); code != 0 {
		t.Fatalf("run with restore: auto: %d\n%s", code, out)
	}
	checkAgainst(t, data, server, wantGroups, wantPosted)
	// Restored, not rebuilt: the audit entries are those of the snapshot,
	// timestamps and all.
	auto := dumpDB(t, db)
	for k, v := range after {
		if strings.HasPrefix(k, "workflows.audit/") && auto[k] != v {
			t.Fatalf("audit entry %q differs: the database was not restored from the snapshot", k)
		}
	}
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.creates != creates {
		t.Errorf("run after restore: auto posted %d messages, want none", server.creates-creates)
	}
}

// countCards counts the alerts of a database dump that have a message.
func countCards(dump map[string]string) int {
	n := 0
	for k, v := range dump {
		if strings.HasPrefix(k, "workflows.alerts/") && strings.Contains(v, `"message_id"`) {
			n++
		}
	}
	return n
}

func u64be(n uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return b
}

// explainCards logs each alert with its messages, and each card posted
// with its nonce, to tell a lost card from a duplicate.
func explainCards(t *testing.T, data string, server *crashDiscord) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(data, "trailhound.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := workflows.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	alerts, _ := st.List(workflows.Filter{})
	for _, a := range alerts {
		t.Logf("alert %s %s group %s messages %v", a.ID, a.State, a.Finding.GroupKey, a.Messages)
	}
	for ch, msgs := range server.messages {
		for _, m := range msgs {
			t.Logf("card in %s: id %v nonce %v embeds %s", ch, m["id"], m["nonce"], m["embeds"])
		}
	}
}

// TestRestoreFlags: restore says what is missing or wrong before it
// touches S3 or the data directory.
func TestRestoreFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: ./data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "--config", cfg}, "no snapshots to restore from: give --from s3://bucket/prefix, or set state.snapshot.url in " + cfg},
		{[]string{"restore", "--config", cfg, "--from", "https://example.com/x"}, `--from: "https://example.com/x": want s3://bucket/prefix`},
		{[]string{"restore", "--config", cfg, "--from", "s3://b/p", "--at", "yesterday"}, `--at: "yesterday" is neither a time (2026-12-06T09:00:00Z) nor a duration ago (2h)`},
		{[]string{"restore", "--config", cfg, "extra"}, `restore takes no arguments (got "extra")`},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != exitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit=%d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created: %v", err)
	}
}

// TestParseAt reads --at as a time or a duration ago.
func TestParseAt(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"2026-12-06T09:00:00Z": time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC),
		"2026-12-06T09:30":     time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC),
		"2h":                   now.Add(-2 * time.Hour),
	} {
		got, err := parseAt(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAt(%q)=%v, %v; want %v", in, got, err, want)
		}
	}
}

// TestFencedTickWritesNothing: the workflow tick of an instance that lost
// its lease does nothing, while the same tick with the lease does its
// work (here: the demo's escalations, reminders and digests come due a
// week later).
func TestFencedTickWritesNothing(t *testing.T) {
	inTempDir(t)
	if code, _, errOut := runCLI(t, "scan", "--no-notify"); code != exitOK {
		t.Fatalf("scan exit=%d\n%s", code, errOut)
	}
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a, err := openApp(&env{stdout: &bytes.Buffer{}, stderr: &logs, getenv: os.Getenv}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	alerts, _ := a.alerts.List(workflows.Filter{})
	if _, err := a.alerts.CreateTask(workflows.TaskInput{AlertID: alerts[0].ID, Assignee: "slack:UDEV", Due: time.Now().Add(time.Hour)}, "slack:U1"); err != nil {
		t.Fatal(err)
	}
	week := time.Now().Add(7 * 24 * time.Hour)
	a.now = func() time.Time { return week }
	a.alerts.Now = a.now
	lastTx := func() int {
		n := 0
		_ = a.db.View(func(tx *bolt.Tx) error { n = tx.ID(); return nil })
		return n
	}
	a.fence = func() error { return ha.ErrFenced }
	before := lastTx()
	a.workflowTicker(context.Background(), nil)()
	if got := lastTx(); got != before {
		t.Fatalf("a fenced tick committed (tx %d -> %d)\n%s", before, got, logs.String())
	}
	a.fence = nil
	a.workflowTicker(context.Background(), nil)()
	if !strings.Contains(logs.String(), "task reminders queued") {
		t.Fatalf("the tick with the lease queued no reminder: the test shows nothing\n%s", logs.String())
	}
}
