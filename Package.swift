// swift-tools-version:6.1
import PackageDescription

/// Strict settings for every target of ours (generated code included).
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Tests import what they use, without MemberImportVisibility's per-member bookkeeping.
let testSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "aero-arc-registry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aero-arc-registry", targets: ["aero-arc-registry"]),
        .executable(name: "aero-arc-registryctl", targets: ["aero-arc-registryctl"]),
        .executable(name: "aero-arc-registry-bench", targets: ["aero-arc-registry-bench"]),
        .library(name: "RegistryCore", targets: ["RegistryCore"]),
        .library(name: "RegistryClient", targets: ["RegistryClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Already in the graph through grpc-swift-nio-transport; declared for the server's
        // HTTP/2 stream-limit handlers (HTTP2StreamLimit.swift).
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Already in the graph through async-http-client; declared so the Consul backend can
        // trust a CA file (--consul-ca-path) through TLSConfiguration.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Both already in the graph through grpc-swift-nio-transport; declared for the
        // authorization core: SHA-256 of bearer tokens (Crypto) and the identity of client
        // certificates (X509). Crypto's range is swift-certificates' own, so 4.x still resolves.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"6.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        // In the graph through swift-certificates; the tests build IP-address SANs with it.
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // The domain: IDs, records, errors, the backend protocol, the facade, the sweeper.
        .target(
            name: "RegistryCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RegistryBackendMemory",
            dependencies: [
                "RegistryCore",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The Redis wire protocol (RESP2) and a connection pool on SwiftNIO; knows nothing of the registry.
        .target(
            name: "RESP",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RegistryBackendRedis",
            dependencies: [
                "RegistryCore",
                "RESP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The etcd v3 API subset the etcd backend uses: generated by scripts/generate-protos and committed.
        .target(
            name: "EtcdProtos",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "RegistryBackendEtcd",
            dependencies: [
                "RegistryCore",
                "EtcdProtos",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RegistryBackendConsul",
            dependencies: [
                "RegistryCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Generated by scripts/generate-protos and committed; never edited by hand.
        .target(
            name: "RegistryProtos",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The gRPC surface: the AeroRegistry service, health, reflection, error mapping.
        .target(
            name: "RegistryGRPC",
            dependencies: [
                "RegistryCore",
                "RegistryProtos",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: strictSettings
        ),
        // A typed client returning domain values, used by the CLI and the tests.
        .target(
            name: "RegistryClient",
            dependencies: [
                "RegistryCore",
                "RegistryProtos",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: strictSettings
        ),
        // Configuration, backend selection and the service group behind the server executable.
        .target(
            name: "RegistryServer",
            dependencies: [
                "RegistryCore",
                "RegistryBackendMemory",
                "RegistryBackendRedis",
                "RegistryBackendEtcd",
                "RegistryBackendConsul",
                "RegistryGRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "aero-arc-registry",
            dependencies: ["RegistryServer"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "aero-arc-registryctl",
            dependencies: [
                "RegistryClient",
                "RegistryCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ],
            swiftSettings: strictSettings
        ),
        // The load generator: scenarios, closed and open loops, the noop baseline, reports.
        .target(
            name: "RegistryBench",
            dependencies: [
                "RegistryClient",
                "RegistryCore",
                "RegistryProtos",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "aero-arc-registry-bench",
            dependencies: [
                "RegistryBench",
                "RegistryClient",
                "RegistryCore",
                "RegistryServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // Test support: the backend contract suite, a manual clock, process fixtures.
        .target(
            name: "RegistryTestKit",
            dependencies: [
                "RegistryCore",
                "RegistryBackendMemory",
                "RegistryBackendRedis",
                "RegistryBackendEtcd",
                "RegistryBackendConsul",
                "RESP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/RegistryTestKit",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RegistryCoreTests",
            dependencies: [
                "RegistryCore", "RegistryBackendMemory", "RegistryTestKit",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "RegistryBackendMemoryTests",
            dependencies: ["RegistryBackendMemory", "RegistryCore", "RegistryTestKit"],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "RegistryGRPCTests",
            dependencies: [
                "RegistryBackendMemory",
                "RegistryClient",
                "RegistryCore",
                "RegistryGRPC",
                "RegistryProtos",
                "RegistryServer",
                "RegistryTestKit",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "RegistryServerTests",
            dependencies: [
                "RegistryServer",
                "RegistryCore",
                "RegistryBackendEtcd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "RESPTests",
            dependencies: [
                "RESP",
                "RegistryTestKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "RegistryBackendRedisTests",
            dependencies: [
                "RegistryBackendRedis",
                "RegistryClient",
                "RegistryCore",
                "RegistryProtos",
                "RegistryTestKit",
                "RESP",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "RegistryBackendEtcdTests",
            dependencies: [
                "RegistryBackendEtcd",
                "RegistryCore",
                "RegistryTestKit",
                "EtcdProtos",
                "RegistryClient",
                "RegistryProtos",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "RegistryBackendConsulTests",
            dependencies: [
                "RegistryBackendConsul",
                "RegistryClient",
                "RegistryCore",
                "RegistryProtos",
                "RegistryServer",
                "RegistryTestKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "RegistryTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: testSettings
        ),
    ]
)
