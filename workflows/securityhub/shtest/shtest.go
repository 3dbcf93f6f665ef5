// Package shtest is a fake of the AWS APIs that moto lacks and the
// write-back calls: Security Hub BatchUpdateFindings (PATCH
// /findings/batchupdate) and GuardDuty ArchiveFindings (POST
// /detector/{detectorId}/findings/archive), speaking their documented
// REST-JSON protocol, so tests drive the real aws-sdk-go-v2 clients. It
// answers with throttling (429), server errors (500), access denied (403)
// and partial UnprocessedFindings as AWS does.
package shtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Identifier is an AwsSecurityFindingIdentifier.
type Identifier struct {
	ID         string `json:"Id"`
	ProductArn string `json:"ProductArn"`
}

// Update is one BatchUpdateFindings request the server accepted.
type Update struct {
	// Region is the request's signing region.
	Region      string
	Identifiers []Identifier
	Status      string
	NoteText    string
	UpdatedBy   string
	// Unprocessed are the identifiers the answer left unprocessed.
	Unprocessed []Identifier
}

// Archive is one ArchiveFindings request the server accepted.
type Archive struct {
	Region     string
	DetectorID string
	FindingIDs []string
}

// Fault is a whole-call failure the server answers with.
type Fault int

// Faults, each answered as AWS does.
const (
	// Throttle answers 429 LimitExceededException (Security Hub) or
	// TooManyRequestsException (GuardDuty).
	Throttle Fault = iota + 1
	// ServerError answers 500 InternalException.
	ServerError
	// AccessDenied answers 403 AccessDeniedException.
	AccessDenied
)

// Server is the fake. Its fields are guarded by its lock: set them
// through the methods while requests may run.
type Server struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	updates  []Update
	archives []Archive
	// faults are answered to the next calls, one each, before any
	// succeeds.
	faults []Fault
	// unprocessed maps a finding id to the error codes its next updates
	// get, one per update; a code ending in "!" is returned every time.
	unprocessed map[string][]string
	// OnUpdate, when set, is called with each accepted update before the
	// answer is written (a test may block in it).
	onUpdate func(Update)
	// requests counts every request, failed ones included.
	requests int
}

// New starts a server, stopped when the test ends.
func New(t testing.TB) *Server {
	s := &Server{unprocessed: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Fail queues whole-call failures for the next requests, in order.
func (s *Server) Fail(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Unprocess makes the next updates that include finding id leave it
// unprocessed with the codes given, one per update (for example
// "ConcurrentUpdateError"). A code ending in "!" (such as
// "FindingNotFound!") is returned for every later update.
func (s *Server) Unprocess(id string, codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unprocessed[id] = append(s.unprocessed[id], codes...)
}

// OnUpdate sets a function called with each accepted update before the
// answer is written.
func (s *Server) OnUpdate(fn func(Update)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onUpdate = fn
}

// Updates returns the accepted BatchUpdateFindings requests.
func (s *Server) Updates() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Update(nil), s.updates...)
}

// Archives returns the accepted ArchiveFindings requests.
func (s *Server) Archives() []Archive {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Archive(nil), s.archives...)
}

// Requests returns how many requests arrived, failed ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Written returns, per finding id, the statuses that updates processed
// for it, in order.
func (s *Server) Written() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for _, u := range s.updates {
		skip := map[string]bool{}
		for _, id := range u.Unprocessed {
			skip[id.ID] = true
		}
		for _, id := range u.Identifiers {
			if !skip[id.ID] {
				out[id.ID] = append(out[id.ID], u.Status)
			}
		}
	}
	return out
}

var (
	regionRe  = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([^/]+)/`)
	archiveRe = regexp.MustCompile(`^/detector/([^/]+)/findings/archive$`)
	messages  = map[string]string{
		"ConcurrentUpdateError":       "Concurrent finding updates detected",
		"DuplicatedFindingIdentifier": "Finding Identifier is duplicated",
		"FindingNotFound":             "Finding Not Found",
		"FindingSizeExceeded":         "Finding size exceeded 240 KB",
		"InternalFailure":             "Internal service failure",
		"InvalidInput":                "Invalid Input",
	}
)

// apiError writes an error as REST-JSON services do: the type in the
// X-Amzn-ErrorType header and the body.
func apiError(w http.ResponseWriter, status int, code, msg string, lowerCase bool) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	body := map[string]string{"Code": code, "Message": msg}
	if lowerCase {
		body = map[string]string{"__type": code, "message": msg}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	region := ""
	if m := regionRe.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	body, _ := io.ReadAll(r.Body)
	gd := strings.HasPrefix(r.URL.Path, "/detector/")
	s.mu.Lock()
	s.requests++
	var fault Fault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	switch fault {
	case Throttle:
		if gd {
			apiError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate exceeded", true)
		} else {
			apiError(w, http.StatusTooManyRequests, "LimitExceededException", "Rate exceeded", false)
		}
		return
	case ServerError:
		if gd {
			apiError(w, http.StatusInternalServerError, "InternalServerErrorException", "Internal server error", true)
		} else {
			apiError(w, http.StatusInternalServerError, "InternalException", "Internal service failure", false)
		}
		return
	case AccessDenied:
		apiError(w, http.StatusForbidden, "AccessDeniedException", "User: arn:aws:sts::111122223333:assumed-role/trailhound/x is not authorized to perform this action", gd)
		return
	}
	switch {
	case r.Method == http.MethodPatch && r.URL.Path == "/findings/batchupdate":
		s.batchUpdate(w, region, body)
	case r.Method == http.MethodPost && archiveRe.MatchString(r.URL.Path):
		var in struct {
			FindingIDs []string `json:"findingIds"`
		}
		if err := json.Unmarshal(body, &in); err != nil || len(in.FindingIDs) == 0 || len(in.FindingIDs) > 50 {
			apiError(w, http.StatusBadRequest, "BadRequestException", "The request is rejected because the input findingIds has an invalid value.", true)
			return
		}
		s.mu.Lock()
		s.archives = append(s.archives, Archive{Region: region, DetectorID: archiveRe.FindStringSubmatch(r.URL.Path)[1], FindingIDs: in.FindingIDs})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	default:
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", "no such operation "+r.Method+" "+r.URL.Path, false)
	}
}

func (s *Server) batchUpdate(w http.ResponseWriter, region string, body []byte) {
	var in struct {
		FindingIdentifiers []Identifier
		Workflow           *struct{ Status string }
		Note               *struct{ Text, UpdatedBy string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		apiError(w, http.StatusBadRequest, "InvalidInputException", "The request body is not valid JSON", false)
		return
	}
	if n := len(in.FindingIdentifiers); n == 0 || n > 100 {
		apiError(w, http.StatusBadRequest, "InvalidInputException", "FindingIdentifiers must hold 1 to 100 items", false)
		return
	}
	if in.Note != nil && (len([]rune(in.Note.Text)) > 512 || len([]rune(in.Note.UpdatedBy)) > 512 || in.Note.Text == "" || in.Note.UpdatedBy == "") {
		apiError(w, http.StatusBadRequest, "InvalidInputException", "Note.Text and Note.UpdatedBy must be 1 to 512 characters", false)
		return
	}
	u := Update{Region: region, Identifiers: in.FindingIdentifiers}
	if in.Workflow != nil {
		u.Status = in.Workflow.Status
	}
	if in.Note != nil {
		u.NoteText, u.UpdatedBy = in.Note.Text, in.Note.UpdatedBy
	}
	type unprocessed struct {
		FindingIdentifier Identifier
		ErrorCode         string
		ErrorMessage      string
	}
	out := struct {
		ProcessedFindings   []Identifier
		UnprocessedFindings []unprocessed
	}{ProcessedFindings: []Identifier{}, UnprocessedFindings: []unprocessed{}}
	s.mu.Lock()
	seen := map[Identifier]bool{}
	for _, id := range in.FindingIdentifiers {
		code := ""
		if seen[id] {
			code = "DuplicatedFindingIdentifier"
		} else if codes := s.unprocessed[id.ID]; len(codes) > 0 {
			code = codes[0]
			if strings.HasSuffix(code, "!") {
				code = strings.TrimSuffix(code, "!")
			} else {
				s.unprocessed[id.ID] = codes[1:]
			}
		}
		seen[id] = true
		if code != "" {
			out.UnprocessedFindings = append(out.UnprocessedFindings, unprocessed{FindingIdentifier: id, ErrorCode: code, ErrorMessage: messages[code]})
			u.Unprocessed = append(u.Unprocessed, id)
			continue
		}
		out.ProcessedFindings = append(out.ProcessedFindings, id)
	}
	s.updates = append(s.updates, u)
	hook := s.onUpdate
	s.mu.Unlock()
	if hook != nil {
		hook(u)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
