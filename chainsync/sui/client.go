package sui

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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

// Object is one object as the node returned it.
type Object struct {
	Ref      ObjectRef
	Owner    Owner
	Type     string // full Move type, 0x + 64 hex digits per address
	Contents []byte // the Move struct's BCS bytes
}

// objectMask asks for everything the parsers need.
var objectMask = &fieldmaskpb.FieldMask{Paths: []string{"object_id", "version", "digest", "owner", "object_type", "contents"}}

// batchLimit is how many objects one BatchGetObjects asks for.
const batchLimit = 50

// ErrObjectNotFound means the node holds no such object (never created,
// deleted, or wrapped in another object).
var ErrObjectNotFound = errors.New("sui: object not found")

// Object reads one object's latest version.
func (c *Client) Object(ctx context.Context, id Address) (Object, error) {
	objs, err := c.Objects(ctx, []Address{id})
	if err != nil {
		return Object{}, err
	}
	if objs[0] == nil {
		return Object{}, fmt.Errorf("%w: %s", ErrObjectNotFound, id)
	}
	return *objs[0], nil
}

// Objects reads the latest versions of ids, in batches; the result holds
// nil where the node has no such object.
func (c *Client) Objects(ctx context.Context, ids []Address) ([]*Object, error) {
	out := make([]*Object, 0, len(ids))
	for start := 0; start < len(ids); start += batchLimit {
		batch := ids[start:min(start+batchLimit, len(ids))]
		req := &rpc.BatchGetObjectsRequest{ReadMask: objectMask}
		for _, id := range batch {
			req.Requests = append(req.Requests, &rpc.GetObjectRequest{ObjectId: proto.String(id.String())})
		}
		resp, err := c.ledger.BatchGetObjects(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("sui rpc: get objects: %w", err)
		}
		if len(resp.GetObjects()) != len(batch) {
			return nil, fmt.Errorf("sui rpc: get objects: asked for %d, got %d answers", len(batch), len(resp.GetObjects()))
		}
		for i, res := range resp.GetObjects() {
			if e := res.GetError(); e != nil {
				if codes.Code(e.GetCode()) == codes.NotFound {
					out = append(out, nil)
					continue
				}
				return nil, fmt.Errorf("sui rpc: get object %s: %s", batch[i], e.GetMessage())
			}
			o, err := convertObject(res.GetObject())
			if err != nil {
				return nil, err
			}
			if o.Ref.ID != batch[i] {
				return nil, fmt.Errorf("sui rpc: asked for object %s, got %s", batch[i], o.Ref.ID)
			}
			out = append(out, &o)
		}
	}
	return out, nil
}

func convertObject(p *rpc.Object) (Object, error) {
	if p == nil {
		return Object{}, errors.New("sui rpc: empty object in answer")
	}
	id, err := ParseAddress(p.GetObjectId())
	if err != nil {
		return Object{}, fmt.Errorf("sui rpc: object id: %w", err)
	}
	d, err := ParseDigest(p.GetDigest())
	if err != nil {
		return Object{}, fmt.Errorf("sui rpc: object %s digest: %w", id, err)
	}
	o := Object{Ref: ObjectRef{ID: id, Version: p.GetVersion(), Digest: d}, Type: p.GetObjectType(), Contents: p.GetContents().GetValue()}
	if ow := p.GetOwner(); ow != nil {
		o.Owner, err = convertOwner(ow)
		if err != nil {
			return Object{}, fmt.Errorf("sui rpc: object %s: %w", id, err)
		}
	}
	return o, nil
}

func convertOwner(ow *rpc.Owner) (Owner, error) {
	var o Owner
	switch ow.GetKind() {
	case rpc.Owner_ADDRESS, rpc.Owner_CONSENSUS_ADDRESS:
		o.Kind = OwnerAddress
	case rpc.Owner_OBJECT:
		o.Kind = OwnerObject
	case rpc.Owner_SHARED:
		o.Kind = OwnerShared
		o.InitialSharedVersion = ow.GetVersion()
	case rpc.Owner_IMMUTABLE:
		o.Kind = OwnerImmutable
	}
	if o.Kind == OwnerAddress || o.Kind == OwnerObject {
		a, err := ParseAddress(ow.GetAddress())
		if err != nil {
			return Owner{}, fmt.Errorf("owner: %w", err)
		}
		o.Address = a
	}
	return o, nil
}

// listPageSize is the largest page ListOwnedObjects serves.
const listPageSize = 1000

// OwnedObjects lists the objects owner holds of type objType (a type
// without type parameters matches every instance), calling fn for each.
func (c *Client) OwnedObjects(ctx context.Context, owner Address, objType string, fn func(Object) error) error {
	var token []byte
	for {
		req := &rpc.ListOwnedObjectsRequest{
			Owner: proto.String(owner.String()), ObjectType: proto.String(objType),
			PageSize: proto.Uint32(listPageSize), PageToken: token, ReadMask: objectMask,
		}
		resp, err := c.state.ListOwnedObjects(ctx, req)
		if err != nil {
			return fmt.Errorf("sui rpc: list objects of %s: %w", owner, err)
		}
		for _, p := range resp.GetObjects() {
			o, err := convertObject(p)
			if err != nil {
				return err
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return nil
		}
	}
}

// Balance returns owner's total balance of coinType: its coin objects and
// its address balance together.
func (c *Client) Balance(ctx context.Context, owner Address, coinType TypeTag) (uint64, error) {
	resp, err := c.state.GetBalance(ctx, &rpc.GetBalanceRequest{Owner: proto.String(owner.String()), CoinType: proto.String(coinType.String())})
	if err != nil {
		return 0, fmt.Errorf("sui rpc: balance of %s: %w", owner, err)
	}
	return resp.GetBalance().GetBalance(), nil
}

// ReferenceGasPrice returns the current Sui epoch's reference gas price
// (MIST per gas unit) and the epoch.
func (c *Client) ReferenceGasPrice(ctx context.Context) (price, epoch uint64, err error) {
	resp, err := c.ledger.GetEpoch(ctx, &rpc.GetEpochRequest{ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"epoch", "reference_gas_price"}}})
	if err != nil {
		return 0, 0, fmt.Errorf("sui rpc: epoch: %w", err)
	}
	return resp.GetEpoch().GetReferenceGasPrice(), resp.GetEpoch().GetEpoch(), nil
}
