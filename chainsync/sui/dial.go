package sui

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// DialConfig tunes the connection to a Sui full node.
type DialConfig struct {
	// CallTimeout bounds every call that arrives without a deadline of
	// its own.
	CallTimeout time.Duration
	// Attempts is how often a call failing with UNAVAILABLE is tried in
	// all (gRPC's own retry policy, with exponential backoff); at most 5.
	Attempts int
	// TLS overrides the TLS settings (tests with their own roots); nil
	// uses the system roots.
	TLS *tls.Config
}

// DefaultDialConfig gives calls 30 s and retries UNAVAILABLE 4 times.
func DefaultDialConfig() DialConfig { return DialConfig{CallTimeout: 30 * time.Second, Attempts: 5} }

// Dial connects to a full node's gRPC API at rawURL: "https://host[:port]"
// (port 443 by default) or, for a node on this machine only,
// "http://127.0.0.1:port". Plaintext to any other host is refused: the
// chain's answers decide what walrusfs pays for and what it deletes.
func Dial(rawURL string, cfg DialConfig) (*grpc.ClientConn, error) {
	target, secure, err := parseRPCURL(rawURL)
	if err != nil {
		return nil, err
	}
	if cfg.Attempts < 1 {
		cfg.Attempts = 1
	}
	creds := insecure.NewCredentials()
	if secure {
		tc := cfg.TLS
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(retryServiceConfig(cfg.Attempts)),
		grpc.WithUnaryInterceptor(deadlineInterceptor(cfg.CallTimeout)),
		grpc.WithUserAgent("walrusfs"),
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("sui rpc %s: %w", rawURL, err)
	}
	return conn, nil
}

// parseRPCURL turns a URL into a gRPC target and says whether it needs
// TLS.
func parseRPCURL(rawURL string) (target string, secure bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("sui rpc %q: want https://host[:port] (or http://127.0.0.1:port for a local node)", rawURL)
	}
	host, port := u.Hostname(), u.Port()
	switch u.Scheme {
	case "https":
		if port == "" {
			port = "443"
		}
		return net.JoinHostPort(host, port), true, nil
	case "http":
		if !isLoopback(host) {
			return "", false, fmt.Errorf("sui rpc %q: plaintext is allowed to this machine only; use https://", rawURL)
		}
		if port == "" {
			return "", false, fmt.Errorf("sui rpc %q: give the port", rawURL)
		}
		return net.JoinHostPort(host, port), false, nil
	}
	return "", false, fmt.Errorf("sui rpc %q: scheme must be https (or http for 127.0.0.1)", rawURL)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// retryServiceConfig retries calls that failed with UNAVAILABLE (the node
// restarting or overloaded) with exponential backoff. gRPC retries only
// requests the server has not started to answer, and sends the same
// bytes, so an ExecuteTransaction retry is the same transaction.
func retryServiceConfig(attempts int) string {
	if attempts < 2 {
		return `{}`
	}
	return fmt.Sprintf(`{"methodConfig":[{"name":[{"service":"sui.rpc.v2.LedgerService"},{"service":"sui.rpc.v2.StateService"},{"service":"sui.rpc.v2.TransactionExecutionService"}],
"retryPolicy":{"maxAttempts":%d,"initialBackoff":"0.2s","maxBackoff":"5s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`, min(attempts, 5))
}

// deadlineInterceptor gives a call without a deadline the default one.
func deadlineInterceptor(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && err != nil {
			return fmt.Errorf("%s: no answer within the deadline: %w", method, err)
		}
		return err
	}
}
