package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/trailhound/trailhound/sources"
)

// Error codes by class. AWS services spell the same failure differently.
var (
	throttledCodes = codes("Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException", "SlowDown", "RequestThrottled",
		"ProvisionedThroughputExceededException", "BandwidthLimitExceeded")
	unauthorizedCodes = codes("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException",
		"UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure",
		"InvalidAccessKeyId", "MissingAuthenticationToken", "NotAuthorized", "AllAccessDisabled", "AccountProblem",
		"OptInRequired", "KMS.AccessDeniedException", "KMSAccessDeniedException")
	notFoundCodes = codes("ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound",
		"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "TrailNotFoundException",
		"NoSuchEntity", "ResourceNotFound")
	invalidCodes = codes("InvalidParameterException", "InvalidParameterValue", "ValidationException",
		"InvalidLookupAttributesException", "InvalidTimeRangeException", "InvalidEventCategoryException",
		"InvalidMaxResultsException", "MalformedQueryException", "InvalidParameterCombination",
		"InvalidAddress", "UnsupportedOperationException", "OperationNotPermittedException")
	transientCodes = codes("InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
		"RequestTimeout", "RequestTimeoutException", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
		"InvalidNextTokenException", "InvalidNextToken", "KMS.ThrottlingException", "OperationAbortedException")
)

func codes(cs ...string) map[string]bool {
	m := map[string]bool{}
	for _, c := range cs {
		m[strings.ToLower(c)] = true
	}
	return m
}

// ClassOf returns the class of an error from an AWS SDK call: by the API
// error code when there is one, else by HTTP status, else transient for
// network errors and unknown otherwise.
func ClassOf(err error) sources.Class {
	if err == nil {
		return sources.ClassUnknown
	}
	var ce *sources.ClassifiedError
	if errors.As(err, &ce) {
		return ce.Class
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := strings.ToLower(api.ErrorCode())
		switch {
		case throttledCodes[code]:
			return sources.ClassThrottled
		case unauthorizedCodes[code]:
			return sources.ClassUnauthorized
		case notFoundCodes[code]:
			return sources.ClassNotFound
		case invalidCodes[code]:
			return sources.ClassInvalid
		case transientCodes[code]:
			return sources.ClassTransient
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch s := re.HTTPStatusCode(); {
		case s == 401 || s == 403:
			return sources.ClassUnauthorized
		case s == 404:
			return sources.ClassNotFound
		case s == 429:
			return sources.ClassThrottled
		case s >= 500:
			return sources.ClassTransient
		case s == 400:
			return sources.ClassInvalid
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return sources.ClassTransient
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return sources.ClassTransient
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return sources.ClassTransient
	}
	if strings.Contains(err.Error(), "failed to retrieve credentials") ||
		strings.Contains(err.Error(), "failed to refresh cached credentials") {
		// No credentials at all (no profile, no role, no instance
		// metadata): a person must configure them.
		return sources.ClassUnauthorized
	}
	return sources.ClassUnknown
}

// Classify attaches the class of an AWS SDK error to it (see ClassOf), so
// that pollers can tell permanent problems from passing ones. nil stays
// nil and an already classified error is returned as it is.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *sources.ClassifiedError
	if errors.As(err, &ce) {
		return err
	}
	return sources.Classified(ClassOf(err), err)
}

// Short returns the API error's code and message, or the network error,
// without the SDK's operation, status and request-id wrapping, for health
// records and chat.
func Short(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		msg := api.ErrorMessage()
		if msg == "" {
			return api.ErrorCode()
		}
		return api.ErrorCode() + ": " + msg
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// Wrap classifies an AWS SDK error (see ClassOf) and gives it a short
// message: the formatted prefix, then Short(err). The SDK error stays in
// the chain for errors.As. nil stays nil.
func Wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return sources.Classified(ClassOf(err), &shortError{msg: fmt.Sprintf(format, args...) + ": " + Short(err), err: err})
}

type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }
