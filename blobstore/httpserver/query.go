package httpserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// queryError is a query string Walrus would fail to deserialize; it is
// answered with a plain-text 400, like axum's Query rejection.
type queryError struct{ msg string }

func (e *queryError) Error() string {
	return "Failed to deserialize query string: " + e.msg
}

// parseQuery splits a raw query into single values, rejecting parameters
// not in allowed and repeated ones, as serde's deny_unknown_fields does.
func parseQuery(raw string, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &queryError{msg: err.Error()}
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		if !known {
			return nil, &queryError{msg: fmt.Sprintf("unknown field `%s`, expected one of `%s`", k, strings.Join(allowed, "`, `"))}
		}
		if len(v) != 1 {
			return nil, &queryError{msg: fmt.Sprintf("duplicate field `%s`", k)}
		}
		out[k] = v[0]
	}
	return out, nil
}

func queryBool(q map[string]string, key string) (bool, error) {
	v, ok := q[key]
	if !ok {
		return false, nil
	}
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &queryError{msg: fmt.Sprintf("%s: provided string was not `true` or `false`", key)}
}

// queryUint parses an unsigned integer as Rust's FromStr does: decimal
// digits with an optional leading '+'.
func queryUint(q map[string]string, key string, bits int) (uint64, bool, error) {
	v, ok := q[key]
	if !ok {
		return 0, false, nil
	}
	digits := v
	if len(digits) > 1 && digits[0] == '+' {
		digits = digits[1:]
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	if err != nil {
		return 0, true, &queryError{msg: fmt.Sprintf("%s: invalid unsigned integer %q", key, v)}
	}
	return n, true, nil
}

// storeParams are the parsed publisher query parameters.
type storeParams struct {
	opts   blobstore.PutOptions
	epochs uint32
}

// parseStoreQuery validates PUT /v1/blobs and /v1/quilts query strings like
// Walrus's PublisherQuery. Deserialization failures are *queryError; rule
// violations write a JSON error and return ok=false.
func (s *server) parseStoreQuery(w http.ResponseWriter, r *http.Request) (storeParams, bool) {
	p, err := parseStoreParams(r.URL.RawQuery, s.cfg.MaxEpochsAhead)
	if err != nil {
		var re *ruleError
		if errors.As(err, &re) {
			jsonError(w, http.StatusBadRequest, re.reason, re.msg)
		} else {
			plainError(w, http.StatusBadRequest, err.Error())
		}
		return storeParams{}, false
	}
	return p, true
}

// ruleError is a well-formed query that breaks a publisher rule; it is
// answered with a JSON 400.
type ruleError struct{ reason, msg string }

func (e *ruleError) Error() string { return e.reason + ": " + e.msg }

func parseStoreParams(raw string, maxEpochs uint32) (storeParams, error) {
	q, err := parseQuery(raw,
		wire.ParamEpochs, wire.ParamDeletable, wire.ParamPermanent, wire.ParamEncodingType,
		wire.ParamSendObjectTo, wire.ParamShare, wire.ParamForce, wire.ParamReuseResources, wire.ParamQuiltVersion)
	if err != nil {
		return storeParams{}, err
	}
	var p storeParams
	epochs, set, err := queryUint(q, wire.ParamEpochs, 32)
	if err != nil {
		return p, err
	}
	if !set {
		epochs = 1
	}
	bools := map[string]*bool{}
	var permanent, deletable, share, reuse bool
	bools[wire.ParamPermanent] = &permanent
	bools[wire.ParamDeletable] = &deletable
	bools[wire.ParamShare] = &share
	bools[wire.ParamForce] = &p.opts.Force
	bools[wire.ParamReuseResources] = &reuse
	for k, dst := range bools {
		if *dst, err = queryBool(q, k); err != nil {
			return p, err
		}
	}
	if v, ok := q[wire.ParamEncodingType]; ok && v != "RS2" {
		return p, &queryError{msg: fmt.Sprintf("%s: unknown variant `%s`, expected `RS2`", wire.ParamEncodingType, v)}
	}
	if v, ok := q[wire.ParamQuiltVersion]; ok && v != "v1" && v != "V1" && v != "1" {
		return p, &queryError{msg: fmt.Sprintf("%s: unknown quilt version `%s`", wire.ParamQuiltVersion, v)}
	}
	if v, ok := q[wire.ParamSendObjectTo]; ok {
		if !isSuiAddress(v) {
			return p, &queryError{msg: fmt.Sprintf("%s: invalid Sui address `%s`", wire.ParamSendObjectTo, v)}
		}
		if _, ok := q[wire.ParamShare]; ok {
			return p, &queryError{msg: fmt.Sprintf("`%s` and `%s` cannot be combined", wire.ParamSendObjectTo, wire.ParamShare)}
		}
		p.opts.SendObjectTo = v
	}
	if permanent && deletable {
		return p, &ruleError{wire.ReasonInvalidBlobPersistence, "a blob cannot be both permanent and deletable"}
	}
	if share {
		return p, &ruleError{wire.ReasonMalformedRequest, "shared blobs are not supported by this publisher"}
	}
	if epochs < 1 || epochs > uint64(maxEpochs) {
		return p, &ruleError{wire.ReasonMalformedRequest, fmt.Sprintf("epochs must be between 1 and %d, got %d", maxEpochs, epochs)}
	}
	p.epochs = uint32(epochs)
	p.opts.Epochs = p.epochs
	p.opts.Permanent = permanent
	return p, nil
}

// isSuiAddress reports whether s is "0x" followed by 1 to 64 hex digits.
func isSuiAddress(s string) bool {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) == 0 || len(h) > 64 {
		return false
	}
	for _, c := range []byte(h) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
