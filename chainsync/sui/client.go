package sui

import (
	"context"
	"encoding/hex"
	"fmt"

	rpc "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
	"google.golang.org/grpc"
)

// Client reads objects from and sends transactions to a Sui full node
// over gRPC (sui.rpc.v2). It is safe for concurrent use.
type Client struct {
	ledger rpc.LedgerServiceClient
	state  rpc.StateServiceClient
	exec   rpc.TransactionExecutionServiceClient
}

// NewClient wraps a connection from [Dial].
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{
		ledger: rpc.NewLedgerServiceClient(conn),
		state:  rpc.NewStateServiceClient(conn),
		exec:   rpc.NewTransactionExecutionServiceClient(conn),
	}
}

// ServiceInfo is what a full node says about its chain.
type ServiceInfo struct {
	// ChainID is the genesis checkpoint digest; its first four bytes in
	// hex are the short chain identifier ("35834a8a" on Mainnet).
	ChainID Digest
	Chain   string // the node's name for the chain, such as "mainnet"
	Epoch   uint64 // the current Sui epoch
}

// ShortChainID is the first four bytes of the genesis digest in hex, the
// form Sui tools print.
func (s ServiceInfo) ShortChainID() string { return hex.EncodeToString(s.ChainID[:4]) }

// ServiceInfo asks the node which chain it serves.
func (c *Client) ServiceInfo(ctx context.Context) (ServiceInfo, error) {
	resp, err := c.ledger.GetServiceInfo(ctx, &rpc.GetServiceInfoRequest{})
	if err != nil {
		return ServiceInfo{}, fmt.Errorf("sui rpc: service info: %w", err)
	}
	id, err := ParseDigest(resp.GetChainId())
	if err != nil {
		return ServiceInfo{}, fmt.Errorf("sui rpc: service info: chain id: %w", err)
	}
	return ServiceInfo{ChainID: id, Chain: resp.GetChain(), Epoch: resp.GetEpoch()}, nil
}
