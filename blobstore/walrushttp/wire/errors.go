package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/walrusfs/walrusfs/blobstore"
)

// Error domains.
const (
	DomainDaemon = "daemon.walrus.space"
	DomainAuth   = "auth.publisher.walrus.space"
)

// Error reasons used by Walrus publishers and aggregators.
const (
	ReasonBlobNotFound              = "BLOB_NOT_FOUND"
	ReasonBlobUnavailable           = "BLOB_UNAVAILABLE"
	ReasonQuiltPatchNotFound        = "QUILT_PATCH_NOT_FOUND"
	ReasonForbiddenBlob             = "FORBIDDEN_BLOB"
	ReasonBlobTooLarge              = "BLOB_TOO_LARGE"
	ReasonInvalidByteRange          = "INVALID_BYTE_RANGE"
	ReasonInvalidConsistencyCheck   = "INVALID_CONSISTENCY_CHECK"
	ReasonMalformedRequest          = "MALFORMED_REQUEST"
	ReasonInvalidBlobPersistence    = "INVALID_BLOB_PERSISTENCE"
	ReasonInsufficientConfirmations = "INSUFFICIENT_CONFIRMATIONS"
	ReasonInternal                  = "INTERNAL_ERROR"
	ReasonTokenAlreadyUsed          = "TOKEN_ALREADY_USED"
	ReasonExpiredSignature          = "EXPIRED_SIGNATURE"
)

// Plain-text bodies Walrus sends without a JSON status.
const (
	TextTooManyRequests = "the publisher is receiving too many requests; please try again later"
	TextPayloadTooLarge = "Failed to buffer the request body: length limit exceeded"
	// TextNotMultipart answers a quilt upload whose body is not
	// multipart/form-data with a boundary (the web framework's own
	// rejection, before the publisher looks at the request).
	TextNotMultipart = "Invalid `boundary` for `multipart/form-data` request"
)

// statusNames maps HTTP status codes to the gRPC-style status names of the
// error body, and back.
var statusNames = map[int]string{
	http.StatusBadRequest:                   "INVALID_ARGUMENT",
	http.StatusNotFound:                     "NOT_FOUND",
	http.StatusForbidden:                    "PERMISSION_DENIED",
	http.StatusUnauthorized:                 "UNAUTHENTICATED",
	http.StatusRequestedRangeNotSatisfiable: "RANGE_NOT_SATISFIABLE",
	http.StatusTooManyRequests:              "RESOURCE_EXHAUSTED",
	http.StatusUnavailableForLegalReasons:   "UNAVAILABLE_FOR_LEGAL_REASONS",
	http.StatusInternalServerError:          "INTERNAL",
	http.StatusServiceUnavailable:           "UNAVAILABLE",
	http.StatusGatewayTimeout:               "DEADLINE_EXCEEDED",
}

// StatusName returns the status name Walrus writes for an HTTP code and
// reason, or "UNKNOWN". The code alone decides, except that a 403
// BLOB_TOO_LARGE is SIZE_EXCEEDED rather than PERMISSION_DENIED.
func StatusName(code int, reason string) string {
	if code == http.StatusForbidden && reason == ReasonBlobTooLarge {
		return "SIZE_EXCEEDED"
	}
	if s, ok := statusNames[code]; ok {
		return s
	}
	return "UNKNOWN"
}

// ErrorBody is the JSON status body of a structured Walrus error:
//
//	{"error":{"status":"NOT_FOUND","code":404,"message":"…",
//	          "details":[{"@type":"ErrorInfo","reason":"BLOB_NOT_FOUND","domain":"daemon.walrus.space","metadata":{}}]}}
type ErrorBody struct {
	Error ErrorStatus `json:"error"`
}

// ErrorStatus is the inner object of an [ErrorBody].
type ErrorStatus struct {
	Status  string        `json:"status"`
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Details []ErrorDetail `json:"details"`
}

// ErrorDetail is one detail of an error; Walrus always includes one of type
// "ErrorInfo", whose metadata object is always present (often empty) and
// may hold any JSON values.
type ErrorDetail struct {
	Type     string         `json:"@type"`
	Reason   string         `json:"reason,omitempty"`
	Domain   string         `json:"domain,omitempty"`
	Metadata map[string]any `json:"metadata"`
}

// NewErrorBody builds the body Walrus sends for an error with the given
// HTTP status, reason and message, in the daemon domain.
func NewErrorBody(code int, reason, message string) ErrorBody {
	return ErrorBody{Error: ErrorStatus{
		Status:  StatusName(code, reason),
		Code:    code,
		Message: message,
		Details: []ErrorDetail{{Type: "ErrorInfo", Reason: reason, Domain: DomainDaemon, Metadata: map[string]any{}}},
	}}
}

// Error is a failed HTTP reply from a publisher or aggregator. It unwraps to
// the blobstore sentinel that [Sentinel] assigns, so callers test it with
// errors.Is.
type Error struct {
	// HTTPStatus is the reply's status code.
	HTTPStatus int
	// Status, Reason and Domain come from a JSON error body; they are empty
	// for plain-text replies.
	Status string
	Reason string
	Domain string
	// Message is the body's message, or the plain-text body (truncated).
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	if e.Reason != "" {
		fmt.Fprintf(&b, " %s", e.Reason)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Unwrap returns the sentinel for the reply, or nil for statuses that map to
// none.
func (e *Error) Unwrap() error { return Sentinel(e.HTTPStatus, e.Reason) }

// Sentinel maps an HTTP error status and Walrus reason to the blobstore
// sentinel it means. It is the only place that makes this decision:
//
//	400, 416 (and other 4xx)                → ErrInvalidArgument
//	401, 451, 403 (except size), 405, 501   → ErrForbidden (refused for good)
//	429 TOKEN_ALREADY_USED, 504 EXPIRED_SIGNATURE → ErrForbidden
//	403 BLOB_TOO_LARGE / SIZE_EXCEEDED, 413 → ErrTooLarge
//	404                                     → ErrNotFound
//	429, 5xx                                → ErrUnavailable (retryable)
//
// Other statuses (1xx, 3xx) map to nil.
func Sentinel(code int, reason string) error {
	switch {
	case reason == ReasonTokenAlreadyUsed || reason == ReasonExpiredSignature:
		return blobstore.ErrForbidden
	case code == http.StatusNotFound:
		return blobstore.ErrNotFound
	case code == http.StatusRequestEntityTooLarge:
		return blobstore.ErrTooLarge
	case code == http.StatusForbidden && (reason == ReasonBlobTooLarge || reason == "SIZE_EXCEEDED"):
		return blobstore.ErrTooLarge
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusUnavailableForLegalReasons ||
		code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented:
		return blobstore.ErrForbidden
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || (code >= 500 && code <= 599):
		return blobstore.ErrUnavailable
	case code >= 400 && code <= 499:
		return blobstore.ErrInvalidArgument
	}
	return nil
}

// ParseError builds an [*Error] from a non-2xx reply's status and (already
// size-limited) body. A body that is a Walrus JSON status contributes its
// status, reason, domain and message; anything else is kept as plain text.
// It never fails: a malformed body is simply plain text.
func ParseError(code int, body []byte) *Error {
	e := &Error{HTTPStatus: code}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Status != "" {
		e.Status = eb.Error.Status
		e.Message = printable(eb.Error.Message)
		for _, d := range eb.Error.Details {
			if d.Type == "ErrorInfo" || d.Reason != "" {
				e.Reason, e.Domain = printable(d.Reason), printable(d.Domain)
				break
			}
		}
		return e
	}
	e.Message = printable(strings.TrimSpace(string(body)))
	return e
}

// printable makes untrusted text safe to put in an error message: valid
// UTF-8, no control characters, bounded length.
func printable(s string) string {
	s = truncate(s)
	if utf8.ValidString(s) && !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || isControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// AsError returns the [*Error] in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
