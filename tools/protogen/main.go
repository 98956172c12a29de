// Command protogen generates Go code from a .proto file without protoc: it
// compiles the file with github.com/bufbuild/protocompile (pure Go) and
// hands the descriptors to the protoc-gen-go and protoc-gen-go-grpc plugins
// (run as `go tool`, pinned in tools/go.mod) as protoc would. Every piece
// is pinned by tools/go.sum, so the output depends on nothing installed.
//
// Usage (from the tools directory):
//
//	go run ./protogen -dir ../internal/oip/inferencepb -go-package github.com/irisknn/irisknn/internal/oip/inferencepb grpc_predict_v2.proto
//
// -check compares the generated files with those on disk instead of
// writing them, and fails when they differ.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", ".", "directory holding the .proto file; the Go files are written next to it")
	goPkg := flag.String("go-package", "", "Go import path of the generated package (the proto has no go_package option)")
	check := flag.Bool("check", false, "compare with the files on disk instead of writing")
	flag.Parse()
	if flag.NArg() != 1 || *goPkg == "" {
		return fmt.Errorf("usage: protogen -dir DIR -go-package PATH FILE.proto")
	}
	file := flag.Arg(0)
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{*dir}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(context.Background(), file)
	if err != nil {
		return err
	}
	fdp := protodesc.ToFileDescriptorProto(files[0])
	param := "paths=source_relative,M" + file + "=" + *goPkg
	var stale []string
	for _, plugin := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		out, err := runPlugin(plugin, &pluginpb.CodeGeneratorRequest{
			FileToGenerate: []string{file},
			Parameter:      proto.String(param),
			ProtoFile:      []*descriptorpb.FileDescriptorProto{fdp},
		})
		if err != nil {
			return err
		}
		for _, f := range out.GetFile() {
			path := filepath.Join(*dir, f.GetName())
			want := []byte(f.GetContent())
			if *check {
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
					stale = append(stale, path)
				}
				continue
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				return err
			}
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("generated code is stale (run make proto): %v", stale)
	}
	return nil
}

// runPlugin runs a protoc plugin pinned as a tool of this module.
func runPlugin(name string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "tool", name)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("%s: %s", name, resp.GetError())
	}
	return &resp, nil
}
