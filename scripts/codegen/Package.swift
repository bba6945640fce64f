// swift-tools-version:6.1
// Builds the two protoc plugins at the exact versions the committed generated code came from.
// Used only by scripts/generate-protos; not part of the registry's build.
import PackageDescription

let package = Package(
    name: "codegen",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
    ],
    targets: []
)
