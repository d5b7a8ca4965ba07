package suitest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	pb "github.com/block-vision/sui-go-sdk/pb/sui/rpc/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Serve starts the gRPC server on 127.0.0.1 at Config.Port (a free port
// when 0) and returns once it listens; it stops when ctx ends or Close is
// called. Connect without TLS.
func (c *Chain) Serve(ctx context.Context) error { return c.serve(ctx) }

// serve is Serve with interceptors that run before the fault injection.
func (c *Chain) serve(ctx context.Context, first ...grpc.UnaryServerInterceptor) error {
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.cfg.Port)))
	if err != nil {
		return fmt.Errorf("suitest: listen: %w", err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(append(first, c.failInterceptor)...))
	pb.RegisterLedgerServiceServer(srv, &ledger{c: c})
	pb.RegisterStateServiceServer(srv, &stateSvc{c: c})
	pb.RegisterTransactionExecutionServiceServer(srv, &execSvc{c: c})
	c.mu.Lock()
	c.srv, c.lis = srv, lis
	c.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
	go func() {
		select {
		case <-ctx.Done():
			srv.Stop()
		case <-c.done:
		}
	}()
	return nil
}

// Addr is the server's "127.0.0.1:port", empty before Serve.
func (c *Chain) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lis == nil {
		return ""
	}
	return c.lis.Addr().String()
}

// Close stops the server. The chain stays usable in process.
func (c *Chain) Close() {
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Stop()
		close(c.done)
	}
}

func (c *Chain) failInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, status.Errorf(codes.Internal, "suitest: %s panicked: %v", info.FullMethod, p)
		}
	}()
	c.mu.Lock()
	if c.failN > 0 {
		c.failN--
		code := c.failCode
		c.mu.Unlock()
		return nil, status.Errorf(code, "suitest: injected failure of %s", info.FullMethod)
	}
	c.mu.Unlock()
	return h(ctx, req)
}

// mask is a read mask: a set of field paths.
type mask map[string]bool

func newMask(m *fieldmaskpb.FieldMask, defaults ...string) mask {
	paths := defaults
	if m != nil && len(m.GetPaths()) > 0 {
		paths = m.GetPaths()
	}
	out := mask{}
	for _, p := range paths {
		for _, q := range strings.Split(p, ",") {
			out[strings.TrimSpace(q)] = true
		}
	}
	return out
}

// has reports whether path or one of its parents or children is selected.
func (m mask) has(path string) bool {
	if m["*"] || m[path] {
		return true
	}
	for p := range m {
		if strings.HasPrefix(path, p+".") || strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}

// sub is the mask below prefix (nil when prefix itself is selected whole).
func (m mask) sub(prefix string) mask {
	if m["*"] || m[prefix] {
		return mask{"*": true}
	}
	out := mask{}
	for p := range m {
		if rest, ok := strings.CutPrefix(p, prefix+"."); ok {
			out[rest] = true
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func ownerPB(o Owner) *pb.Owner {
	switch o.Kind {
	case OwnerAddress:
		return &pb.Owner{Kind: pb.Owner_ADDRESS.Enum(), Address: ptr(o.Address.String())}
	case OwnerObject:
		return &pb.Owner{Kind: pb.Owner_OBJECT.Enum(), Address: ptr(o.Address.String())}
	case OwnerShared:
		return &pb.Owner{Kind: pb.Owner_SHARED.Enum(), Version: ptr(o.InitialSharedVersion)}
	default:
		return &pb.Owner{Kind: pb.Owner_IMMUTABLE.Enum()}
	}
}

func objectPB(o *Object, m mask) *pb.Object {
	out := &pb.Object{}
	if m.has("object_id") {
		out.ObjectId = ptr(o.ID.String())
	}
	if m.has("version") {
		out.Version = ptr(o.Version)
	}
	if m.has("digest") {
		out.Digest = ptr(o.Digest().String())
	}
	if m.has("owner") {
		out.Owner = ownerPB(o.Owner)
	}
	if m.has("object_type") {
		out.ObjectType = ptr(o.Type.String())
	}
	if m.has("has_public_transfer") {
		out.HasPublicTransfer = ptr(o.PublicTransfer)
	}
	if m.has("contents") {
		out.Contents = &pb.Bcs{Name: ptr(o.Type.String()), Value: append([]byte{}, o.Contents...)}
	}
	if m.has("bcs") {
		out.Bcs = &pb.Bcs{Name: ptr("Object"), Value: o.BCS()}
	}
	if m.has("previous_transaction") {
		out.PreviousTransaction = ptr(o.PrevTx.String())
	}
	if m.has("storage_rebate") {
		out.StorageRebate = ptr(o.StorageRebate)
	}
	if m.has("balance") {
		if _, ok := o.coinType(); ok {
			v, _ := coinValue(o)
			out.Balance = ptr(v)
		}
	}
	return out
}

type ledger struct {
	pb.UnimplementedLedgerServiceServer
	c *Chain
}

func (l *ledger) GetServiceInfo(ctx context.Context, _ *pb.GetServiceInfoRequest) (*pb.GetServiceInfoResponse, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return &pb.GetServiceInfoResponse{
		ChainId:          ptr(c.ids.ChainID.String()),
		Chain:            ptr("localnet"),
		Epoch:            ptr(c.st.SuiEpoch),
		CheckpointHeight: ptr(c.st.Seq),
		Timestamp:        timestamppb.New(msTime(c.nowMs())),
		Server:           ptr("suitest"),
	}, nil
}

func (c *Chain) getObject(st *state, req *pb.GetObjectRequest, m mask) (*pb.Object, error) {
	id, err := ParseAddress(req.GetObjectId())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid object_id: %v", err)
	}
	o, ok := st.Objects[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Object %s not found", id)
	}
	if req.Version != nil && req.GetVersion() != o.Version {
		return nil, status.Errorf(codes.NotFound, "Object %s at version %d not found (this chain keeps only the latest version, %d)", id, req.GetVersion(), o.Version)
	}
	return objectPB(o, m), nil
}

func (l *ledger) GetObject(ctx context.Context, req *pb.GetObjectRequest) (*pb.GetObjectResponse, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	o, err := c.getObject(c.readState(), req, newMask(req.GetReadMask(), "object_id", "version", "digest"))
	if err != nil {
		return nil, err
	}
	return &pb.GetObjectResponse{Object: o}, nil
}

func (l *ledger) BatchGetObjects(ctx context.Context, req *pb.BatchGetObjectsRequest) (*pb.BatchGetObjectsResponse, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(req.GetRequests()) > 1000 {
		return nil, status.Errorf(codes.InvalidArgument, "%d requests, at most 1000", len(req.GetRequests()))
	}
	st := c.readState()
	m := newMask(req.GetReadMask(), "object_id", "version", "digest")
	out := &pb.BatchGetObjectsResponse{}
	for _, r := range req.GetRequests() {
		o, err := c.getObject(st, r, m)
		if err != nil {
			s, _ := status.FromError(err)
			out.Objects = append(out.Objects, &pb.GetObjectResult{Result: &pb.GetObjectResult_Error{Error: s.Proto()}})
			continue
		}
		out.Objects = append(out.Objects, &pb.GetObjectResult{Result: &pb.GetObjectResult_Object{Object: o}})
	}
	return out, nil
}

func (l *ledger) GetTransaction(ctx context.Context, req *pb.GetTransactionRequest) (*pb.GetTransactionResponse, error) {
	c := l.c
	d, err := ParseDigest(req.GetDigest())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid digest: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.txs[d]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Transaction %s not found", d)
	}
	return &pb.GetTransactionResponse{Transaction: c.executedPB(rec, newMask(req.GetReadMask(), "digest"))}, nil
}

func (l *ledger) GetEpoch(ctx context.Context, req *pb.GetEpochRequest) (*pb.GetEpochResponse, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.st.SuiEpoch
	if req.Epoch != nil && req.GetEpoch() != e {
		return nil, status.Errorf(codes.NotFound, "epoch %d: this chain serves only the current epoch, %d", req.GetEpoch(), e)
	}
	start := c.nowMs()
	return &pb.GetEpochResponse{Epoch: &pb.Epoch{
		Epoch:             ptr(e),
		ReferenceGasPrice: ptr(c.cfg.ReferenceGasPrice),
		Start:             timestamppb.New(msTime(start)),
		SystemState: &pb.SystemState{Version: ptr(uint64(2)), Epoch: ptr(e), ProtocolVersion: ptr(uint64(1)),
			ReferenceGasPrice: ptr(c.cfg.ReferenceGasPrice), EpochStartTimestampMs: ptr(start), SafeMode: ptr(false)},
	}}, nil
}

func (c *Chain) executedPB(rec *txRecord, m mask) *pb.ExecutedTransaction {
	out := &pb.ExecutedTransaction{}
	if m.has("digest") {
		out.Digest = ptr(rec.Digest.String())
	}
	if m.has("transaction") {
		out.Transaction = &pb.Transaction{Bcs: &pb.Bcs{Name: ptr("TransactionData"), Value: rec.TxBytes}, Digest: ptr(rec.Digest.String()), Sender: ptr(rec.Sender.String())}
	}
	if m.has("signatures") {
		for _, s := range rec.Signatures {
			out.Signatures = append(out.Signatures, &pb.UserSignature{Bcs: &pb.Bcs{Value: s}, Scheme: pb.SignatureScheme_ED25519.Enum()})
		}
	}
	if m.has("effects") {
		out.Effects = effectsPB(rec, m.sub("effects"))
	}
	if m.has("events") && len(rec.Events) > 0 {
		ev := &pb.TransactionEvents{}
		for _, e := range rec.Events {
			ev.Events = append(ev.Events, &pb.Event{
				PackageId: ptr(e.Package.String()), Module: ptr(e.Module), Sender: ptr(e.Sender.String()),
				EventType: ptr(e.Type), Contents: &pb.Bcs{Name: ptr(e.Type), Value: e.Contents},
			})
		}
		out.Events = ev
	}
	if m.has("balance_changes") {
		for _, b := range rec.Balances {
			out.BalanceChanges = append(out.BalanceChanges, &pb.BalanceChange{Address: ptr(b.Address.String()), CoinType: ptr(b.CoinType), Amount: ptr(b.Amount)})
		}
	}
	if m.has("checkpoint") {
		out.Checkpoint = ptr(rec.Checkpoint)
	}
	if m.has("timestamp") {
		out.Timestamp = timestamppb.New(msTime(rec.TimestampMs))
	}
	return out
}

func changedPB(ch changedObj) *pb.ChangedObject {
	out := &pb.ChangedObject{ObjectId: ptr(ch.ID.String()), IdOperation: ch.IDOp.Enum(), ObjectType: ptr(ch.Type)}
	if ch.InputExists {
		out.InputState = pb.ChangedObject_INPUT_OBJECT_STATE_EXISTS.Enum()
		out.InputVersion, out.InputDigest, out.InputOwner = ptr(ch.InputVersion), ptr(ch.InputDigest.String()), ownerPB(ch.InputOwner)
	} else {
		out.InputState = pb.ChangedObject_INPUT_OBJECT_STATE_DOES_NOT_EXIST.Enum()
	}
	if ch.OutputExists {
		out.OutputState = pb.ChangedObject_OUTPUT_OBJECT_STATE_OBJECT_WRITE.Enum()
		out.OutputVersion, out.OutputDigest, out.OutputOwner = ptr(ch.OutputVersion), ptr(ch.OutputDigest.String()), ownerPB(ch.OutputOwner)
	} else {
		out.OutputState = pb.ChangedObject_OUTPUT_OBJECT_STATE_DOES_NOT_EXIST.Enum()
	}
	return out
}

func effectsPB(rec *txRecord, m mask) *pb.TransactionEffects {
	e := rec.Effects
	out := &pb.TransactionEffects{}
	full := m["*"] || len(m) == 0
	want := func(p string) bool { return full || m.has(p) }
	if want("status") {
		st := &pb.ExecutionStatus{Success: ptr(e.Success)}
		if e.Error != nil {
			xe := &pb.ExecutionError{Description: ptr(e.Error.Description), Command: e.Error.Command, Kind: e.Error.Kind.Enum()}
			if a := e.Error.Abort; a != nil {
				xe.ErrorDetails = &pb.ExecutionError_Abort{Abort: &pb.MoveAbort{
					AbortCode: ptr(a.Code),
					Location:  &pb.MoveLocation{Package: ptr(a.Package.String()), Module: ptr(a.Module), FunctionName: ptr(a.Function)},
				}}
			}
			st.Error = xe
		}
		out.Status = st
	}
	if want("digest") {
		out.Digest = ptr(effectsDigest(rec).String())
	}
	if want("transaction_digest") {
		out.TransactionDigest = ptr(rec.Digest.String())
	}
	if want("epoch") {
		out.Epoch = ptr(e.Epoch)
	}
	if want("lamport_version") {
		out.LamportVersion = ptr(e.Lamport)
	}
	if want("gas_used") {
		out.GasUsed = &pb.GasCostSummary{ComputationCost: ptr(e.Computation), StorageCost: ptr(e.Storage),
			StorageRebate: ptr(e.Rebate), NonRefundableStorageFee: ptr(e.NonRefundable)}
	}
	if want("changed_objects") || want("gas_object") {
		for _, ch := range e.Changed {
			if want("changed_objects") {
				out.ChangedObjects = append(out.ChangedObjects, changedPB(ch))
			}
			if e.GasObject != nil && ch.ID == *e.GasObject && want("gas_object") {
				out.GasObject = changedPB(ch)
			}
		}
	}
	if want("unchanged_consensus_objects") {
		for _, r := range e.Unchanged {
			out.UnchangedConsensusObjects = append(out.UnchangedConsensusObjects, &pb.UnchangedConsensusObject{
				Kind:     pb.UnchangedConsensusObject_READ_ONLY_ROOT.Enum(),
				ObjectId: ptr(r.ID.String()), Version: ptr(r.Version), Digest: ptr(r.Digest.String()),
			})
		}
	}
	return out
}

// effectsDigest is a deterministic stand-in for the digest of the
// effects' BCS, which this chain does not produce.
func effectsDigest(rec *txRecord) Digest {
	return TransactionDigest(append([]byte("effects"), rec.Digest[:]...))
}

type stateSvc struct {
	pb.UnimplementedStateServiceServer
	c *Chain
}

func pageStart(tok []byte) (int, error) {
	if len(tok) == 0 {
		return 0, nil
	}
	if len(tok) != 8 {
		return 0, status.Errorf(codes.InvalidArgument, "invalid page_token")
	}
	return int(binary.LittleEndian.Uint64(tok)), nil
}

func pageSize(n uint32) int {
	switch {
	case n == 0:
		return 50
	case n > 1000:
		return 1000
	}
	return int(n)
}

// typeMatches: a filter without type parameters matches any parameters.
func typeMatches(filter, t TypeTag) bool {
	if filter.Kind != tagStruct || t.Kind != tagStruct {
		return sameType(filter, t)
	}
	f, s := filter.Struct, t.Struct
	if f.Address != s.Address || f.Module != s.Module || f.Name != s.Name {
		return false
	}
	return len(f.Params) == 0 || sameType(filter, t)
}

func (s *stateSvc) ListOwnedObjects(ctx context.Context, req *pb.ListOwnedObjectsRequest) (*pb.ListOwnedObjectsResponse, error) {
	owner, err := ParseAddress(req.GetOwner())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid owner: %v", err)
	}
	var filter *TypeTag
	if req.ObjectType != nil {
		t, err := ParseType(req.GetObjectType())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "invalid object_type: %v", err)
		}
		filter = &t
	}
	start, err := pageStart(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var objs []*Object
	for _, o := range c.readState().Objects {
		if o.Owner.Kind == OwnerAddress && o.Owner.Address == owner && (filter == nil || typeMatches(*filter, o.Type)) {
			objs = append(objs, o)
		}
	}
	sort.Slice(objs, func(i, j int) bool { return string(objs[i].ID[:]) < string(objs[j].ID[:]) })
	m := newMask(req.GetReadMask(), "object_id", "version", "object_type")
	out := &pb.ListOwnedObjectsResponse{}
	end := min(start+pageSize(req.GetPageSize()), len(objs))
	for i := start; i < end; i++ {
		out.Objects = append(out.Objects, objectPB(objs[i], m))
	}
	if end < len(objs) {
		out.NextPageToken = binary.LittleEndian.AppendUint64(nil, uint64(end))
	}
	return out, nil
}

// ListDynamicFields lists the dynamic fields (0x2::dynamic_field::Field
// objects) of a parent, in ID order. Only u64 and vector<u8> keys occur on
// this chain.
func (s *stateSvc) ListDynamicFields(ctx context.Context, req *pb.ListDynamicFieldsRequest) (*pb.ListDynamicFieldsResponse, error) {
	parent, err := ParseAddress(req.GetParent())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent: %v", err)
	}
	start, err := pageStart(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var fields []*Object
	for _, o := range c.readState().Objects {
		st := o.Type.Struct
		if o.Owner.Kind == OwnerObject && o.Owner.Address == parent && st.Address == addrTwo && st.Module == "dynamic_field" && st.Name == "Field" && len(st.Params) == 2 {
			fields = append(fields, o)
		}
	}
	sort.Slice(fields, func(i, j int) bool { return string(fields[i].ID[:]) < string(fields[j].ID[:]) })
	m := newMask(req.GetReadMask(), "parent", "field_id")
	out := &pb.ListDynamicFieldsResponse{}
	end := min(start+pageSize(req.GetPageSize()), len(fields))
	for i := start; i < end; i++ {
		o := fields[i]
		key, vt := o.Type.Struct.Params[0], o.Type.Struct.Params[1]
		df := &pb.DynamicField{}
		if m.has("kind") {
			df.Kind = pb.DynamicField_FIELD.Enum()
		}
		if m.has("parent") {
			df.Parent = ptr(parent.String())
		}
		if m.has("field_id") {
			df.FieldId = ptr(o.ID.String())
		}
		if m.has("name") {
			df.Name = &pb.Bcs{Name: ptr(key.String()), Value: fieldName(o.Contents, key)}
		}
		if m.has("value_type") {
			df.ValueType = ptr(vt.String())
		}
		if m.has("field_object") {
			df.FieldObject = objectPB(o, m.sub("field_object"))
		}
		out.DynamicFields = append(out.DynamicFields, df)
	}
	if end < len(fields) {
		out.NextPageToken = binary.LittleEndian.AppendUint64(nil, uint64(end))
	}
	return out, nil
}

// fieldName cuts a Field's name, the BCS after its ID, for the key types
// this chain uses.
func fieldName(contents []byte, key TypeTag) []byte {
	r := &reader{b: contents}
	r.take(32)
	from := r.off
	switch key.Kind {
	case tagU64:
		r.u64()
	case tagVector:
		r.bytes()
	default:
		return nil
	}
	if r.err != nil {
		return nil
	}
	return append([]byte{}, contents[from:r.off]...)
}

// balances sums owner's coins and address balance per coin type.
func balances(st *state, owner Address) map[string]uint64 {
	out := map[string]uint64{}
	for _, o := range st.Objects {
		if o.Owner.Kind != OwnerAddress || o.Owner.Address != owner {
			continue
		}
		if ct, ok := o.coinType(); ok {
			v, _ := coinValue(o)
			out[ct.String()] += v
		}
	}
	prefix := owner.String() + "|"
	for k, v := range st.Balances {
		if t, ok := strings.CutPrefix(k, prefix); ok && v > 0 {
			out[t] += v
		}
	}
	return out
}

func (s *stateSvc) GetBalance(ctx context.Context, req *pb.GetBalanceRequest) (*pb.GetBalanceResponse, error) {
	owner, err := ParseAddress(req.GetOwner())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid owner: %v", err)
	}
	t, err := ParseType(req.GetCoinType())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid coin_type: %v", err)
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	v := balances(c.readState(), owner)[t.String()]
	return &pb.GetBalanceResponse{Balance: &pb.Balance{CoinType: ptr(t.String()), Balance: ptr(v)}}, nil
}

func (s *stateSvc) ListBalances(ctx context.Context, req *pb.ListBalancesRequest) (*pb.ListBalancesResponse, error) {
	owner, err := ParseAddress(req.GetOwner())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid owner: %v", err)
	}
	start, err := pageStart(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	c := s.c
	c.mu.Lock()
	bs := balances(c.readState(), owner)
	c.mu.Unlock()
	types := make([]string, 0, len(bs))
	for t := range bs {
		types = append(types, t)
	}
	sort.Strings(types)
	out := &pb.ListBalancesResponse{}
	end := min(start+pageSize(req.GetPageSize()), len(types))
	for i := start; i < end; i++ {
		out.Balances = append(out.Balances, &pb.Balance{CoinType: ptr(types[i]), Balance: ptr(bs[types[i]])})
	}
	if end < len(types) {
		out.NextPageToken = binary.LittleEndian.AppendUint64(nil, uint64(end))
	}
	return out, nil
}

type execSvc struct {
	pb.UnimplementedTransactionExecutionServiceServer
	c *Chain
}

func (e *execSvc) ExecuteTransaction(ctx context.Context, req *pb.ExecuteTransactionRequest) (*pb.ExecuteTransactionResponse, error) {
	txBytes := req.GetTransaction().GetBcs().GetValue()
	if len(txBytes) == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "transaction.bcs.value is required")
	}
	var sigs [][]byte
	for _, s := range req.GetSignatures() {
		sigs = append(sigs, s.GetBcs().GetValue())
	}
	rec, err := e.c.executeSigned(txBytes, sigs, false)
	if err != nil {
		return nil, err
	}
	e.c.mu.Lock()
	lost := e.c.lostN > 0
	if lost {
		e.c.lostN--
	}
	code := e.c.lostCode
	e.c.mu.Unlock()
	if lost {
		return nil, status.Errorf(code, "suitest: injected loss of the reply to executed transaction %s", rec.Digest)
	}
	return &pb.ExecuteTransactionResponse{Transaction: e.c.executedPB(rec, newMask(req.GetReadMask(), "effects.status", "checkpoint"))}, nil
}

func (e *execSvc) SimulateTransaction(ctx context.Context, req *pb.SimulateTransactionRequest) (*pb.SimulateTransactionResponse, error) {
	txBytes := req.GetTransaction().GetBcs().GetValue()
	if len(txBytes) == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "transaction.bcs.value is required (this chain does not resolve unbuilt transactions)")
	}
	if req.GetDoGasSelection() {
		var err error
		if txBytes, err = e.c.selectGas(txBytes); err != nil {
			return nil, err
		}
	}
	rec, err := e.c.executeSigned(txBytes, nil, true)
	if err != nil {
		return nil, err
	}
	// The mask names fields of the response ("transaction.effects.status"),
	// one level above ExecutedTransaction.
	m := newMask(req.GetReadMask(), "transaction.digest", "transaction.transaction", "transaction.effects", "transaction.events")
	return &pb.SimulateTransactionResponse{Transaction: e.c.executedPB(rec, m.sub("transaction"))}, nil
}
