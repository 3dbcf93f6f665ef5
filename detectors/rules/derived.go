package rules

import (
	"strings"
	"sync/atomic"

	"github.com/trailhound/trailhound/sources"
)

// Derived fields answer two questions nearly every precise rule asks of
// its look-alikes: did AWS make this call on someone's behalf, and was it
// made by the organisation's deployment tooling? They read the raw record,
// so a rule tests them after its event names and cheap fields.

// DefaultDeploymentPrincipals are the role and user name patterns taken as
// deployment tooling unless detectors.rules.deployment_principals says
// otherwise: infrastructure-as-code and CI identities by their usual names.
var DefaultDeploymentPrincipals = []string{
	"*terraform*", "*cloudformation*", "cdk-*", "*deploy*", "*pipeline*",
	"*github-actions*", "*githubactions*", "*gitlab*", "*atlantis*",
	"*spacelift*", "*codebuild*", "*jenkins*", "*pulumi*",
}

// deployGlobs holds the compiled deployment principal patterns; Load sets
// them from Options.
var deployGlobs atomic.Pointer[[][]gtok]

func init() { setDeploymentPrincipals(DefaultDeploymentPrincipals) }

func setDeploymentPrincipals(pats []string) {
	gs := make([][]gtok, 0, len(pats))
	for _, p := range pats {
		gs = append(gs, compileGlob(strings.ToLower(p)))
	}
	deployGlobs.Store(&gs)
}

// byService reports whether an AWS service made the call: the principal
// is a service, the call was invoked by one (userIdentity.invokedBy, or a
// service name or "AWS Internal" as the source address), or the role is a
// service-linked role.
func byService(e *sources.Event) (string, bool) {
	if len(e.Raw) == 0 {
		return "", false
	}
	return boolText(isByService(e)), true
}

func isByService(e *sources.Event) bool {
	if e.Principal.Type == "AWSService" {
		return true
	}
	ip := e.SourceIP
	if ip == "AWS Internal" || strings.HasSuffix(ip, ".amazonaws.com") {
		return true
	}
	arn := e.Principal.ARN
	if strings.Contains(arn, ":role/aws-service-role/") || strings.Contains(arn, ":assumed-role/AWSServiceRoleFor") {
		return true
	}
	return e.Principal.InvokedBy != ""
}

// deployer reports whether the principal is deployment tooling: a role or
// user whose name matches a deployment pattern, or CloudFormation acting
// for the caller.
func deployer(e *sources.Event) (string, bool) {
	if len(e.Raw) == 0 {
		return "", false
	}
	return boolText(isDeployer(e)), true
}

func isDeployer(e *sources.Event) bool {
	if e.SourceIP == "cloudformation.amazonaws.com" {
		return true
	}
	name := principalBaseName(e)
	if name == "" {
		return false
	}
	name = strings.ToLower(name)
	for _, g := range *deployGlobs.Load() {
		if globMatch(g, name, false) {
			return true
		}
	}
	return false
}

// principalBaseName is the IAM user's or role's name: for an assumed role
// the role, not the session.
func principalBaseName(e *sources.Event) string {
	arn := e.Principal.ARN
	if i := strings.Index(arn, ":assumed-role/"); i >= 0 {
		rest := arn[i+len(":assumed-role/"):]
		role, _, _ := strings.Cut(rest, "/")
		return role
	}
	if i := strings.Index(arn, ":user/"); i >= 0 {
		rest := arn[i+len(":user/"):]
		if j := strings.LastIndex(rest, "/"); j >= 0 {
			rest = rest[j+1:]
		}
		return rest
	}
	if e.Principal.Type == "IAMUser" || e.Principal.Type == "AssumedRole" {
		name, _, _ := strings.Cut(e.Principal.Name, "/")
		return name
	}
	return ""
}

// iacClients are the user-agent marks of infrastructure-as-code tools, in
// lower case.
var iacClients = []string{"terraform", "pulumi", "aws-cdk", "cloudformation"}

// iacClient reports whether the user agent names an infrastructure-as-code
// tool (Terraform, Pulumi, the CDK, CloudFormation). The user agent is the
// caller's to choose, so rules use this to lower a severity, not to trust.
func iacClient(e *sources.Event) (string, bool) {
	if len(e.Raw) == 0 {
		return "", false
	}
	ua := strings.ToLower(e.UserAgent)
	for _, c := range iacClients {
		if strings.Contains(ua, c) {
			return "true", true
		}
	}
	return "false", true
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// principalSession is the session name of an assumed role (the part after
// the role in its ARN) or a federated user's name: for a person who signs
// in through a role, usually their own user name or e-mail.
func principalSession(e *sources.Event) (string, bool) {
	arn := e.Principal.ARN
	for _, marker := range []string{":assumed-role/", ":federated-user/"} {
		if i := strings.Index(arn, marker); i >= 0 {
			rest := arn[i+len(marker):]
			if j := strings.LastIndex(rest, "/"); j >= 0 {
				rest = rest[j+1:]
			}
			return rest, rest != ""
		}
	}
	return "", false
}
