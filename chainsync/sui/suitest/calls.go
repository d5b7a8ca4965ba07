package suitest

import (
	"context"
	"maps"
	"sync"

	"google.golang.org/grpc"
)

// CallCounter counts the RPCs a chain's server receives, by full gRPC
// method name ("/sui.rpc.v2.LedgerService/BatchGetObjects"): every call
// that reaches the server, injected failures (FailNext) included. It
// shows what a client costs a full node, which on a real network is what
// an RPC provider bills and rate-limits. Safe for concurrent use; the
// zero value is ready.
type CallCounter struct {
	mu sync.Mutex
	n  map[string]int
}

// Calls returns the counts so far, method → calls.
func (cc *CallCounter) Calls() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return maps.Clone(cc.n)
}

// Total returns the number of calls so far.
func (cc *CallCounter) Total() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	total := 0
	for _, v := range cc.n {
		total += v
	}
	return total
}

func (cc *CallCounter) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	cc.mu.Lock()
	if cc.n == nil {
		cc.n = map[string]int{}
	}
	cc.n[info.FullMethod]++
	cc.mu.Unlock()
	return h(ctx, req)
}

// ServeCounting is Serve with every RPC counted in cc.
func (c *Chain) ServeCounting(ctx context.Context, cc *CallCounter) error {
	return c.serve(ctx, cc.intercept)
}
