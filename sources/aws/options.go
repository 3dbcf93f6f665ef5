// Package aws holds what every AWS log source shares: credentials (the
// default chain, named profiles, AssumeRole with an external id), the
// fan-out of one configured source over accounts and regions, a rate
// limiter per account, region and API, retry with backoff, the
// classification of AWS errors, and time-window polling with overlap.
package aws

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
)

// Options are the AWS settings every AWS source has, inlined into each
// source type's options.
type Options struct {
	// Profile is a named profile from the shared config files
	// (~/.aws/config, ~/.aws/credentials). Empty: the default chain
	// (environment, shared files' default profile, web identity, ECS or
	// EC2 instance role).
	Profile string `yaml:"profile"`
	// Regions to read; one source is polled per account and region.
	Regions []string `yaml:"regions"`
	// Accounts to read through AssumeRole. Empty: the account of the base
	// credentials only.
	Accounts []Account `yaml:"accounts"`
	// EndpointURL sends every AWS request to this URL instead of AWS
	// (LocalStack, moto, a VPC endpoint).
	EndpointURL string `yaml:"endpoint_url"`
	// MaxAttempts is how many times one request is tried on throttling,
	// 5xx and connection errors. Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxBackoff caps the wait between attempts. Default 20s.
	MaxBackoff configs.Duration `yaml:"max_backoff"`
	// RequestsPerSecond caps the requests per account, region and API,
	// shared by every source of the process. Default: the service's
	// documented quota (CloudTrail LookupEvents 2/s).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Timeout bounds one HTTP request. Default 60s.
	Timeout configs.Duration `yaml:"timeout"`
}

// Account is one AWS account read through AssumeRole.
type Account struct {
	// ID is the 12-digit account id; it names the source and the events.
	ID string `yaml:"id"`
	// RoleARN is the role to assume in the account. Empty: use the base
	// credentials (or Profile) as they are.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is the external id the role's trust policy requires; or
	// read it from ExternalIDFile.
	ExternalID     configs.Secret `yaml:"external_id"`
	ExternalIDFile string         `yaml:"external_id_file"`
	// Profile overrides Options.Profile for this account: the named
	// profile's credentials assume the role, or are used as they are.
	Profile string `yaml:"profile"`
	// SessionName names the assumed-role session in the account's
	// CloudTrail. Default "trailhound".
	SessionName string `yaml:"session_name"`
}

var (
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	roleRe    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	extIDRe   = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// Validate checks the options, resolving external id files. sec is the
// options section, for errors that name file, line and key.
func (o *Options) Validate(sec configs.Section) error {
	if len(o.Regions) == 0 {
		return sec.Errorf("regions", "at least one region is required")
	}
	seenRegion := map[string]bool{}
	for i, r := range o.Regions {
		if !regionRe.MatchString(r) {
			return sec.Errorf(fmt.Sprintf("regions[%d]", i), "%q is not an AWS region name like eu-west-1", r)
		}
		if seenRegion[r] {
			return sec.Errorf(fmt.Sprintf("regions[%d]", i), "region %s is listed twice", r)
		}
		seenRegion[r] = true
	}
	seenAccount := map[string]bool{}
	for i := range o.Accounts {
		a := &o.Accounts[i]
		key := fmt.Sprintf("accounts[%d]", i)
		if !accountRe.MatchString(a.ID) {
			return sec.Errorf(key+".id", "%q is not a 12-digit AWS account id (quote it in YAML)", a.ID)
		}
		if seenAccount[a.ID] {
			return sec.Errorf(key+".id", "account %s is listed twice", a.ID)
		}
		seenAccount[a.ID] = true
		if a.RoleARN != "" && !roleRe.MatchString(a.RoleARN) {
			return sec.Errorf(key+".role_arn", "%q is not an IAM role ARN like arn:aws:iam::123456789012:role/trailhound-reader", a.RoleARN)
		}
		id, err := configs.ResolveSecret(sec, key+".external_id", a.ExternalID, a.ExternalIDFile, true)
		if err != nil {
			return err
		}
		a.ExternalID, a.ExternalIDFile = id, ""
		if !a.ExternalID.IsZero() {
			if a.RoleARN == "" {
				return sec.Errorf(key+".external_id", "an external id needs role_arn")
			}
			if v := a.ExternalID.Reveal(); len(v) < 2 || len(v) > 1224 || !extIDRe.MatchString(v) {
				return sec.Errorf(key+".external_id", "must be 2 to 1224 letters, digits or +=,.@:/-_ (value not shown)")
			}
		}
	}
	if o.EndpointURL != "" {
		u, err := url.Parse(o.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return sec.Errorf("endpoint_url", "%q is not an http(s) URL", o.EndpointURL)
		}
	}
	if o.MaxAttempts < 0 || o.MaxAttempts > 20 {
		return sec.Errorf("max_attempts", "must be between 1 and 20, not %d", o.MaxAttempts)
	}
	if o.RequestsPerSecond < 0 {
		return sec.Errorf("requests_per_second", "must not be negative")
	}
	return nil
}

// Target is one account and region a source reads, with the AWS config
// (credentials, region, retryer, endpoint) to build its clients from.
type Target struct {
	// Account is the configured account id, empty for the base
	// credentials' own account.
	Account string
	Region  string
	// Config builds the service clients.
	Config sdkaws.Config
	// EndpointURL is the endpoint override, empty for AWS.
	EndpointURL string
	// limitKey identifies the credentials' account for rate limits.
	limitKey string
	rps      float64
}

// Name returns the name of the source reading this target: base, then
// the account when one is configured, then the region, joined by "/",
// for example prod-ct/123456789012/eu-west-1.
func (t Target) Name(base string) string {
	parts := []string{base}
	if t.Account != "" {
		parts = append(parts, t.Account)
	}
	parts = append(parts, t.Region)
	return strings.Join(parts, "/")
}

// loader caches base configs per profile so every account and region of a
// source, and every source of the process, shares credential caches.
var loader = struct {
	sync.Mutex
	assumed map[string]sdkaws.CredentialsProvider
}{assumed: map[string]sdkaws.CredentialsProvider{}}

// Targets returns one target per account and region, in config order
// (accounts outer, regions inner). It reads the shared config files but
// makes no network request: credentials are fetched, and roles assumed, on
// first use and then cached and refreshed.
func (o *Options) Targets(ctx context.Context) ([]Target, error) {
	accounts := o.Accounts
	if len(accounts) == 0 {
		accounts = []Account{{}}
	}
	var out []Target
	for _, a := range accounts {
		profile := o.Profile
		if a.Profile != "" {
			profile = a.Profile
		}
		for _, region := range o.Regions {
			cfg, err := o.load(ctx, profile, region)
			if err != nil {
				return nil, err
			}
			limitKey := a.ID
			if limitKey == "" {
				limitKey = "profile:" + profile
			}
			if a.RoleARN != "" {
				cfg.Credentials = assumeRole(cfg, a, o.EndpointURL)
			}
			out = append(out, Target{Account: a.ID, Region: region, Config: cfg, EndpointURL: o.EndpointURL, limitKey: limitKey, rps: o.RequestsPerSecond})
		}
	}
	return out, nil
}

func (o *Options) load(ctx context.Context, profile, region string) (sdkaws.Config, error) {
	attempts := o.MaxAttempts
	if attempts == 0 {
		attempts = 5
	}
	backoff := o.MaxBackoff.D()
	if backoff == 0 {
		backoff = 20 * time.Second
	}
	timeout := o.Timeout.D()
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		awsconfig.WithRetryer(func() sdkaws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.MaxBackoff = backoff
				// Our own limiter paces requests; the SDK's retry quota
				// would only turn a throttled poll into a failed one.
				so.RateLimiter = ratelimit.None
			})
		}),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(timeout)),
	}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	if o.EndpointURL != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(o.EndpointURL))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		if profile != "" {
			return cfg, fmt.Errorf("aws: load credentials of profile %q: %w", profile, err)
		}
		return cfg, fmt.Errorf("aws: load default credentials: %w", err)
	}
	return cfg, nil
}

// assumeRole returns a cached credentials provider that assumes the
// account's role with the base config's credentials. Providers are shared
// per role, external id, profile and endpoint, so every region of an
// account reuses one session.
func assumeRole(base sdkaws.Config, a Account, endpoint string) sdkaws.CredentialsProvider {
	key := strings.Join([]string{a.RoleARN, a.ExternalID.Reveal(), a.Profile, a.SessionName, endpoint}, "\x00")
	loader.Lock()
	defer loader.Unlock()
	if p, ok := loader.assumed[key]; ok {
		return p
	}
	client := sts.NewFromConfig(base)
	session := a.SessionName
	if session == "" {
		session = "trailhound"
	}
	p := sdkaws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = session
		if !a.ExternalID.IsZero() {
			o.ExternalID = sdkaws.String(a.ExternalID.Reveal())
		}
	}))
	loader.assumed[key] = p
	return p
}

// EachTarget returns one source per account and region the options name,
// made by mk and named base/account/region. Credential and role errors are
// located at the source's config section.
func (o *Options) EachTarget(ctx context.Context, base string, sec configs.Section, mk func(name string, t Target) sources.Source) ([]sources.Source, error) {
	targets, err := o.Targets(ctx)
	if err != nil {
		return nil, sec.Errorf("", "%v", err)
	}
	out := make([]sources.Source, 0, len(targets))
	for _, t := range targets {
		out = append(out, mk(t.Name(base), t))
	}
	return out, nil
}
