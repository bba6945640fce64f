import SwiftProtobuf
import EtcdProtos
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import RegistryCore
import Synchronization

/// A client for the parts of etcd's v3 API the backend uses, over the generated gRPC
/// stubs, that fails over between members.
///
/// Written by hand: grpc-swift-2 balances load but does not retry on another member
/// after a call fails mid-flight, nor re-authenticate, which etcd clients must do.
/// Every call runs until one of:
/// - a member answers (that member is tried first from then on);
/// - the call fails for a reason another member would not fix: thrown as
///   ``RegistryError/Code/unavailable`` naming the endpoints, or as
///   ``EtcdClientError`` for the cases the backend handles;
/// - the operation's deadline passes: ``RegistryError/Code/unavailable``.
///
/// Transient failures (a member down, restarting, without a leader or electing one,
/// overloaded) move the call to the next member; after every member failed once the
/// client backs off briefly. Requests carry `hasleader: true`, so a member cut off from
/// the quorum refuses at once instead of holding the call. With credentials, each member
/// gets a token from `Authenticate` (etcd's simple tokens are per member), renewed when
/// the member reports it invalid.
final class EtcdClient: Sendable {
    typealias Transport = HTTP2ClientTransport.Posix

    struct Member: Sendable {
        let endpoint: EtcdEndpoint
        let grpc: GRPCClient<Transport>
    }

    struct State {
        /// The member to try first: the last one that answered.
        var preferred = 0
        /// Auth tokens by member index.
        var tokens: [Int: String] = [:]
        /// Whether etcd said authentication is off, so no token is needed.
        var authDisabled = false
    }

    let configuration: EtcdConfiguration
    let members: [Member]
    /// Where calls report whether etcd answers.
    let health: HealthReporter
    let state = Mutex(State())
    let logger: Logger
    /// Calls made (each a round trip, retries included) other than health probes, for
    /// tests that bound them.
    let calls = Atomic<Int>(0)
    /// This replica's outages of etcd: every call that could not reach etcd in time is
    /// recorded, and the first call after one runs ``outageStep`` (see ``endOutageIfOpen()``).
    let outages = OutageTracker()
    /// What closes an outage before any other call runs (the backend's outage grace),
    /// given the outage's length; returns the grace it granted.
    let outageStep: OutageStep?

    /// Builds a gRPC client per endpoint; nothing connects until ``run()``.
    /// - Throws: `invalidArgument` when the TLS files or endpoints cannot be used.
    init(configuration: EtcdConfiguration, health: HealthReporter, logger: Logger, outageStep: OutageStep? = nil) throws(RegistryError) {
        guard !configuration.endpoints.isEmpty else {
            throw .invalidArgument("etcd needs at least one endpoint")
        }
        self.configuration = configuration
        self.health = health
        self.logger = logger
        self.outageStep = outageStep
        var members: [Member] = []
        for endpoint in configuration.endpoints {
            do {
                let transport = try Transport(
                    target: Self.target(endpoint),
                    transportSecurity: Self.security(configuration.tls),
                    config: .defaults { config in
                        // Fail over quickly: do not wait long for a member that is gone.
                        config.backoff.initial = .milliseconds(100)
                        config.backoff.max = .seconds(1)
                        if configuration.tls == nil {
                            config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                                channel.eventLoop.submit {
                                    try channel.pipeline.syncOperations.addHandler(BDPPingFilterHandler(), position: .first)
                                }
                            }
                        }
                    }
                )
                members.append(Member(endpoint: endpoint, grpc: GRPCClient(transport: transport)))
            } catch {
                throw .invalidArgument("cannot set up the connection to etcd at \(endpoint): \(error)")
            }
        }
        self.members = members
    }

    /// IP literals get an IP target: TLS must not send them as SNI host names.
    private static func target(_ endpoint: EtcdEndpoint) -> any ResolvableTarget {
        if endpoint.host.contains(":") {
            return .ipv6(address: endpoint.host, port: endpoint.port)
        }
        if endpoint.host.split(separator: ".").count == 4, endpoint.host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return .ipv4(address: endpoint.host, port: endpoint.port)
        }
        return .dns(host: endpoint.host, port: endpoint.port)
    }

    private static func security(_ tls: EtcdConfiguration.TLS?) -> Transport.TransportSecurity {
        guard let tls else { return .plaintext }
        return .tls { config in
            if let ca = tls.caPath {
                config.trustRoots = .certificates([.file(path: ca, format: .pem)])
            }
            if let certificate = tls.certificatePath, let key = tls.keyPath {
                config.certificateChain = [.file(path: certificate, format: .pem)]
                config.privateKey = .file(path: key, format: .pem)
            }
        }
    }

    /// Maintains the connections until cancelled or shut down.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for member in self.members {
                group.addTask { try await member.grpc.runConnections() }
            }
        }
    }

    /// Lets calls in flight finish, then closes the connections.
    func beginGracefulShutdown() {
        for member in self.members {
            member.grpc.beginGracefulShutdown()
        }
    }

    /// "etcd at 127.0.0.1:2379,127.0.0.1:22379" for messages.
    var storeDescription: String {
        "etcd at \(self.configuration.endpointsDescription)"
    }

    /// A deadline for an operation starting now.
    func operationDeadline() -> ContinuousClock.Instant {
        .now + self.configuration.timeout
    }
}

/// Failures of an etcd call that the backend handles itself.
enum EtcdClientError: Error {
    /// A write named a lease that has expired or was revoked.
    case leaseNotFound
    /// A read at a fixed revision found it compacted, or not yet applied on the member.
    case revisionUnavailable
}

// MARK: - Calls

extension EtcdClient {
    /// Reads a range; `counted: false` leaves it out of ``calls`` (the health probe).
    func range(_ request: Etcdserverpb_RangeRequest, by deadline: ContinuousClock.Instant, counted: Bool = true, gated: Bool = true) async throws -> Etcdserverpb_RangeResponse {
        try await self.perform("range read", by: deadline, counted: counted, gated: gated) { member, metadata, options in
            try await Etcdserverpb_KV.Client(wrapping: member.grpc).range(request, metadata: metadata, options: options)
        }
    }

    /// Runs a transaction.
    func txn(_ request: Etcdserverpb_TxnRequest, by deadline: ContinuousClock.Instant, gated: Bool = true) async throws -> Etcdserverpb_TxnResponse {
        try await self.perform("transaction", by: deadline, gated: gated) { member, metadata, options in
            try await Etcdserverpb_KV.Client(wrapping: member.grpc).txn(request, metadata: metadata, options: options)
        }
    }

    /// Grants a lease of `seconds` and returns its ID.
    func grantLease(seconds: Int64, by deadline: ContinuousClock.Instant) async throws -> Int64 {
        let request = Etcdserverpb_LeaseGrantRequest.with { $0.ttl = seconds }
        let response = try await self.perform("lease grant", by: deadline) { member, metadata, options in
            try await Etcdserverpb_Lease.Client(wrapping: member.grpc).leaseGrant(request, metadata: metadata, options: options)
        }
        guard response.error.isEmpty, response.id != 0 else {
            throw RegistryError.unavailable("\(self.storeDescription) did not grant a lease: \(response.error)")
        }
        return response.id
    }

    /// Renews a lease for its granted TTL.
    /// - Returns: false when the lease no longer exists (it expired or was revoked).
    func keepAlive(lease: Int64, by deadline: ContinuousClock.Instant) async throws -> Bool {
        let request = Etcdserverpb_LeaseKeepAliveRequest.with { $0.id = lease }
        // One request on its own stream: the stream ends with the call, so a member
        // failing over does not strand a long-lived stream.
        let response = try await self.perform("lease keep-alive", by: deadline) { member, metadata, options in
            try await Etcdserverpb_Lease.Client(wrapping: member.grpc).leaseKeepAlive(
                metadata: metadata,
                options: options,
                requestProducer: { writer in try await writer.write(request) },
                onResponse: { response in
                    for try await message in response.messages {
                        return message
                    }
                    throw RPCError(code: .unavailable, message: "the keep-alive stream ended without a response")
                }
            )
        }
        return response.ttl > 0
    }

    /// Revokes a lease, deleting the keys attached to it.
    func revoke(lease: Int64, by deadline: ContinuousClock.Instant) async throws {
        let request = Etcdserverpb_LeaseRevokeRequest.with { $0.id = lease }
        do {
            _ = try await self.perform("lease revoke", by: deadline) { member, metadata, options in
                try await Etcdserverpb_Lease.Client(wrapping: member.grpc).leaseRevoke(request, metadata: metadata, options: options)
            }
        } catch EtcdClientError.leaseNotFound {
            // Already gone.
        }
    }
}
