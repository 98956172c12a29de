// Package inferencepb is the Go code generated from KServe's
// grpc_predict_v2.proto (the Open Inference Protocol's gRPC service,
// package inference), copied verbatim from kserve/kserve
// docs/predict-api/v2/grpc_predict_v2.proto.
//
// The code is generated without protoc by tools/protogen (protocompile and
// the protoc-gen-go / protoc-gen-go-grpc plugins, all pinned in
// tools/go.mod) and committed, so a build needs no generator. Run make
// proto after changing the .proto; TestGeneratedCodeIsCurrent fails when
// the committed code differs from what the pinned generator writes.
package inferencepb

//go:generate sh -c "cd ../../../tools && go run ./protogen -dir ../internal/oip/inferencepb -go-package github.com/irisknn/irisknn/internal/oip/inferencepb grpc_predict_v2.proto"
