package anomaly

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/detectors/anomaly/geo"
	"github.com/trailhound/trailhound/sources"
)

// obs is what the detectors read from one event, worked out once and
// shared: who (a stable key), from where (address class, network, place),
// with what (user agent family) and what (API call, write or not).
type obs struct {
	id       string
	t        time.Time
	source   string
	account  string
	region   string
	logGroup string

	// pkey identifies the principal within its account; empty when the
	// event has no principal worth a baseline (AWS services, anonymous).
	pkey string
	// pname is how the principal is named in reasons.
	pname string
	// person is true for identities that stand for one person (IAM users,
	// root, federated users, SSO sessions), whose sign-ins can be placed.
	person bool

	ip      netip.Addr // valid when the source address is an IP
	public  bool       // ip is globally routable
	network string     // ip's /24 (IPv4) or /48 (IPv6)
	// viaService is true when AWS made the call on the principal's behalf
	// (source "AWS Internal" or a service host name): not the principal's
	// own client, address or habit.
	viaService bool

	uaFamily string
	// api is "iam:CreateUser": the service prefix and action.
	api string
	// write is true for calls that change something; sensitive adds the
	// reads that disclose secrets or credentials.
	write     bool
	sensitive bool
	failed    bool
	// signin is a successful console sign-in.
	signin bool

	// loc is the address's place when a GeoIP database knows it.
	loc *geo.Location
}

// observer builds obs values, caching the last one (the detectors of one
// suite are called in turn with the same event) and user agent families.
type observer struct {
	geo interface {
		Lookup(netip.Addr) (geo.Location, bool, error)
	}

	mu      sync.Mutex
	last    *obs
	lastEv  *sources.Event
	uaCache map[string]string
	geoErrs int
}

// uaCacheSize and maxCachedUA bound the user agent cache: 4096 agents of
// at most 512 bytes.
const (
	uaCacheSize = 4096
	maxCachedUA = 512
)

// maxTerm and maxKey bound what one hostile record can make the detectors
// keep: longer values are cut.
const (
	maxTerm = 256
	maxKey  = 512
)

// clip cuts s to n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func newObserver(g *geo.DB) *observer {
	o := &observer{uaCache: make(map[string]string)}
	if g != nil {
		o.geo = g
	}
	return o
}

// of returns the observation of ev.
func (o *observer) of(ev *sources.Event) *obs {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last != nil && o.lastEv == ev && o.last.id == ev.ID && o.last.t.Equal(ev.Time) {
		return o.last
	}
	x := &obs{
		id:       ev.ID,
		t:        ev.Time,
		source:   clip(ev.Source, maxTerm),
		account:  clip(ev.Account, maxTerm),
		region:   clip(ev.Region, maxTerm),
		logGroup: clip(ev.LogGroup, maxTerm),
		failed:   ev.Failed(),
	}
	x.pkey, x.pname, x.person = principalKey(ev)
	x.pkey, x.pname = clip(x.pkey, maxKey), clip(x.pname, maxTerm)
	ipText := strings.TrimSpace(ev.SourceIP)
	if ip, err := netip.ParseAddr(ipText); err == nil {
		x.ip = ip.Unmap()
		x.public = isPublic(x.ip)
		x.network = networkOf(x.ip)
	} else if ipText == "AWS Internal" || strings.HasSuffix(ipText, ".amazonaws.com") || strings.HasSuffix(ipText, ".amazon.com") {
		x.viaService = true
	}
	fam, ok := o.uaCache[ev.UserAgent]
	if !ok {
		fam = uaFamily(ev.UserAgent)
		if len(ev.UserAgent) <= maxCachedUA {
			if len(o.uaCache) >= uaCacheSize {
				clear(o.uaCache)
			}
			o.uaCache[ev.UserAgent] = fam
		}
	}
	x.uaFamily = fam
	if fam == "aws-service" {
		x.viaService = true
	}
	if ev.Service != "" || ev.Action != "" {
		x.api = clip(servicePrefix(ev.Service)+":"+ev.Action, maxTerm)
	}
	x.signin = ev.Action == "ConsoleLogin" && !x.failed
	x.write = ev.Action != "" && !ev.ReadOnly && !readName(ev.Action)
	if ev.Service == "signin.amazonaws.com" && ev.Action != "ConsoleLogin" {
		// CheckMfa, SwitchRole, ExitRole: steps of a sign-in, not changes.
		x.write = false
	}
	x.sensitive = x.write || sensitiveReads[x.api]
	if o.geo != nil && x.public {
		loc, found, err := o.geo.Lookup(x.ip)
		if err != nil {
			o.geoErrs++
		} else if found {
			x.loc = &loc
		}
	}
	o.last, o.lastEv = x, ev
	return x
}

// principalKey returns a stable key for the principal within its account,
// a readable name, and whether it stands for one person. Assumed-role
// sessions are keyed by role (sessions come and go: instance ids, SDK
// timestamps), except IAM Identity Center roles, whose session name is
// the person.
func principalKey(ev *sources.Event) (key, name string, person bool) {
	p := ev.Principal
	name = p.Name
	if p.Type == "AWSService" {
		return "", "", false
	}
	arn := p.ARN
	acct := p.AccountID
	if acct == "" {
		acct = ev.Account
	}
	switch p.Type {
	case "IAMUser":
		person = true
		if arn == "" && p.Name != "" && acct != "" {
			arn = "arn:aws:iam::" + acct + ":user/" + p.Name
		}
	case "Root":
		person = true
		if arn == "" && acct != "" {
			arn = "arn:aws:iam::" + acct + ":root"
		}
		name = "root"
	case "FederatedUser", "IdentityCenterUser":
		person = true
	case "AssumedRole":
		// arn:aws:sts::123:assumed-role/ROLE/SESSION
		if i := strings.Index(arn, ":assumed-role/"); i >= 0 {
			rest := arn[i+len(":assumed-role/"):]
			role, session, _ := strings.Cut(rest, "/")
			if strings.HasPrefix(role, "AWSReservedSSO_") && session != "" {
				person = true
				name = session
			} else {
				arn = arn[:i] + ":assumed-role/" + role
				name = role
			}
		}
	}
	if arn == "" {
		if p.Name == "" {
			return "", "", false
		}
		arn = p.Type + "/" + p.Name
	}
	if name == "" {
		name = arn
	}
	return arn, name, person
}

// isPublic reports whether ip is a globally routable address: not private,
// loopback, link-local, carrier-grade NAT, multicast or unspecified.
func isPublic(ip netip.Addr) bool {
	if !ip.IsValid() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	if ip.Is4() && cgnat.Contains(ip) {
		return false
	}
	return true
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func networkOf(ip netip.Addr) string {
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// servicePrefix turns iam.amazonaws.com into iam.
func servicePrefix(s string) string {
	if i := strings.Index(s, ".amazonaws.com"); i > 0 {
		return s[:i]
	}
	return s
}

// readPrefixes name actions that only read, for records that lack the
// readOnly field or mark it wrongly false.
var readPrefixes = []string{"Get", "List", "Describe", "Head", "Lookup", "Search", "Scan", "Query", "BatchGet", "Select", "Check", "Estimate", "Preview", "Validate", "Simulate", "View", "Filter"}

func readName(action string) bool {
	for _, p := range readPrefixes {
		if strings.HasPrefix(action, p) && (len(action) == len(p) || action[len(p)] >= 'A' && action[len(p)] <= 'Z') {
			return true
		}
	}
	return false
}

// sensitiveReads are reads that disclose secrets or mint credentials:
// judged like writes.
var sensitiveReads = map[string]bool{
	"secretsmanager:GetSecretValue":      true,
	"secretsmanager:BatchGetSecretValue": true,
	"ssm:GetParameter":                   true,
	"ssm:GetParameters":                  true,
	"ssm:GetParametersByPath":            true,
	"ec2:GetPasswordData":                true,
	"sts:GetFederationToken":             true,
	"sts:GetSessionToken":                true,
	"iam:GetCredentialReport":            true,
	"ec2:GetConsoleScreenshot":           true,
	"kms:GetParametersForImport":         true,
}

// uaFamily reduces a user agent to the client family: aws-cli, boto3,
// terraform, console, an SDK name, or for anything else the leading
// product name, lower-cased, without version or ids.
func uaFamily(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return ""
	}
	lower := strings.ToLower(ua)
	switch {
	case ua == "AWS Internal", strings.Contains(lower, "aws-internal/"), strings.Contains(lower, "console.amazonaws.com"),
		strings.Contains(lower, "signin.amazonaws.com"), strings.Contains(lower, "console/"), strings.HasPrefix(lower, "mozilla/"):
		return "console"
	case strings.HasSuffix(lower, ".amazonaws.com") && !strings.ContainsAny(lower, " /"):
		return "aws-service"
	case strings.Contains(lower, "cloudshell"):
		return "cloudshell"
	case strings.Contains(lower, "terraform/") || strings.Contains(lower, "hashicorp/"):
		return "terraform"
	case strings.Contains(lower, "pulumi"):
		return "pulumi"
	case strings.Contains(lower, "amazon-ssm-agent"):
		return "ssm-agent"
	case strings.HasPrefix(lower, "aws-cli/"), strings.Contains(lower, " aws-cli/"), strings.HasPrefix(lower, "[aws-cli/"):
		return "aws-cli"
	case strings.Contains(lower, "boto3/"):
		return "boto3"
	case strings.Contains(lower, "botocore/"):
		return "botocore"
	}
	for _, sdk := range []string{"aws-sdk-go-v2", "aws-sdk-go", "aws-sdk-java", "aws-sdk-js", "aws-sdk-nodejs", "aws-sdk-dotnet", "aws-sdk-ruby", "aws-sdk-php", "aws-sdk-rust", "aws-sdk-cpp", "aws-sdk-kotlin", "aws-sdk-swift", "aws-powershell"} {
		if strings.HasPrefix(lower, sdk+"/") || strings.HasPrefix(lower, "["+sdk+"/") {
			return sdk
		}
	}
	// The leading product token: letters, digits inside a name, '-' and
	// '.', up to a version, id or space.
	s := strings.TrimLeft(lower, "[( \"")
	end := 0
	for end < len(s) {
		c := s[end]
		if c >= 'a' && c <= 'z' || c == '-' || c == '.' || (c >= '0' && c <= '9' && end > 0 && s[end-1] >= 'a' && s[end-1] <= 'z') {
			end++
			continue
		}
		break
	}
	fam := strings.Trim(s[:end], "-._")
	if len(fam) > 40 {
		fam = fam[:40]
	}
	if fam == "" {
		return "other"
	}
	return fam
}
