import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RegistryBackendMemory
import RegistryClient
import RegistryCore
import RegistryProtos
import RegistryServer
import RegistryTestKit
import Testing
import X509

/// Every RPC × every kind of caller × both kinds of credential, against a real server with
/// `--auth-file`: the status each gets, and that a denied call changed nothing.
@Suite("Access matrix", .timeLimit(.minutes(3)))
struct AccessMatrixTests {
    /// Who calls. A relay's own relay is relay-7; relay-8 belongs to someone else.
    enum Caller: String, CaseIterable, Sendable {
        case none, reader, relayOwn, relayOther, admin

        /// The relay the row's call names: the caller's own relay, except for `relayOther`.
        var targetRelay: String { self == .relayOther ? "relay-8" : "relay-7" }
        /// The agent the row's call names: the one placed on `targetRelay`.
        var targetAgent: String { self == .relayOther ? "agent-b" : "agent-a" }
    }

    /// What a row may be called by, beyond "everyone with a credential" (reads).
    enum Access: Sendable {
        case read, relayWrite, adminOnly

        func allows(_ caller: Caller) -> Bool {
            switch (self, caller) {
            case (_, .none): false
            case (.read, _): true
            case (.relayWrite, .relayOwn), (_, .admin): true
            default: false
            }
        }
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let access: Access
        let call: @Sendable (RegistryClient, Caller) async throws -> Void
        var testDescription: String { self.name }
    }

    static let rows: [Row] = [
        Row(name: "RegisterRelay", access: .relayWrite) { try await $0.registerRelay(id: $1.targetRelay, address: "10.0.0.9", grpcPort: 7009) },
        Row(name: "HeartbeatRelay", access: .relayWrite) { try await $0.heartbeatRelay(id: $1.targetRelay) },
        Row(name: "ListRelays", access: .read) { client, _ in _ = try await client.listRelays() },
        Row(name: "RegisterAgent (a new agent)", access: .relayWrite) { try await $0.registerAgent(id: "agent-new", relayID: $1.targetRelay) },
        Row(name: "RegisterAgent (pulling another relay's agent)", access: .relayWrite) { client, caller in
            try await client.registerAgent(id: caller == .relayOther ? "agent-a" : "agent-b", relayID: caller.targetRelay)
        },
        Row(name: "HeartbeatAgent", access: .relayWrite) { try await $0.heartbeatAgent(id: $1.targetAgent, relayID: $1.targetRelay) },
        Row(name: "ListAgents", access: .read) { client, _ in _ = try await client.listAgents() },
        Row(name: "GetAgentPlacement", access: .read) { client, _ in _ = try await client.placement(of: "agent-a") },
        Row(name: "SyncRelay", access: .relayWrite) { client, caller in
            _ = try await client.fleet.syncRelay(id: caller.targetRelay, endpoint: ("10.0.0.9", 7009), place: ["agent-new"], renew: [caller.targetAgent])
        },
        Row(name: "GetPlacements", access: .read) { client, _ in _ = try await client.fleet.placements(of: ["agent-a", "agent-b"]) },
        Row(name: "ListPlacements", access: .read) { client, _ in _ = try await client.fleet.listPlacements() },
        Row(name: "ListRelayStatuses", access: .read) { client, _ in _ = try await client.fleet.listRelayStatuses() },
        Row(name: "GetStatus", access: .read) { client, _ in _ = try await client.admin.status() },
        Row(name: "DeregisterAgent", access: .relayWrite) { try await $0.admin.deregisterAgent(id: $1.targetAgent, relayID: $1.targetRelay) },
        Row(name: "DeregisterRelay", access: .relayWrite) { try await $0.admin.deregisterRelay(id: $1.targetRelay) },
        Row(name: "DrainRelay", access: .adminOnly) { try await $0.admin.drainRelay(id: $1.targetRelay) },
        Row(name: "UndrainRelay", access: .adminOnly) { try await $0.admin.undrainRelay(id: $1.targetRelay) },
    ]

    /// The fleet as an admin sees it: relays with their draining flags and agent counts,
    /// and every placement.
    static func snapshot(_ client: RegistryClient) async throws -> [String] {
        let relays = try await client.fleet.listRelayStatuses().page.map { "\($0.relay.id)@\($0.relay.endpoint) draining=\($0.draining) agents=\($0.agentCount)" }
        let placements = try await client.fleet.listPlacements().page.map { "\($0.agentID)->\($0.relayID)" }
        return relays + placements
    }

    /// relay-7 with agent-a, relay-8 with agent-b, nothing draining, nothing else.
    static func reset(_ admin: RegistryClient) async throws {
        for relay in try await admin.fleet.listRelayStatuses().page where !["relay-7", "relay-8"].contains(relay.relay.id.rawValue) {
            try await admin.admin.deregisterRelay(id: relay.relay.id.rawValue)
        }
        for relay in ["relay-7", "relay-8"] {
            try await admin.registerRelay(id: relay, address: "10.0.0.1", grpcPort: 7000)
            try await admin.admin.undrainRelay(id: relay)
        }
        try await admin.registerAgent(id: "agent-a", relayID: "relay-7")
        try await admin.registerAgent(id: "agent-b", relayID: "relay-8")
        for placement in try await admin.fleet.listPlacements().page where !["agent-a", "agent-b"].contains(placement.agentID.rawValue) {
            try await admin.admin.deregisterAgent(id: placement.agentID.rawValue)
        }
    }

    /// Runs every row for every caller; `connect` gives a client with the caller's credential.
    func runMatrix(
        noCredential expectedWithout: RPCError.Code,
        connect: @escaping (Caller, (RegistryClient) async throws -> Void) async throws -> Void
    ) async throws {
        try await connect(.admin) { admin in
            for row in Self.rows {
                for caller in Caller.allCases {
                    try await Self.reset(admin)
                    let before = try await Self.snapshot(admin)
                    try await connect(caller) { client in
                        let comment = Comment(rawValue: "\(row.name) by \(caller.rawValue)")
                        if row.access.allows(caller) {
                            do {
                                try await row.call(client, caller)
                            } catch {
                                Issue.record("\(comment.rawValue): expected success, got \(error)")
                            }
                        } else {
                            do {
                                try await row.call(client, caller)
                                Issue.record("\(comment.rawValue): expected a denial, but it succeeded")
                            } catch let error as RPCError {
                                let expected: RPCError.Code = caller == .none ? expectedWithout : .permissionDenied
                                #expect(error.code == expected, "\(comment.rawValue): \(error)")
                            }
                            #expect(try await Self.snapshot(admin) == before, "\(comment.rawValue) changed the fleet")
                        }
                    }
                }
            }
        }
    }

    @Test("bearer tokens: every RPC for every caller")
    func tokens() async throws {
        try await withTemporaryDirectory { directory in
            let tokens: [Caller: String] = [.reader: "reader-token", .relayOwn: "relay-7-token", .relayOther: "relay-7-token", .admin: "admin-token"]
            let policy = directory.appendingPathComponent("policy.json").path
            try policyJSON(tokens: [
                ("reader-token", "reader", []), ("relay-7-token", "relay", ["relay-7"]), ("admin-token", "admin", []),
            ]).write(toFile: policy, atomically: true, encoding: .utf8)
            try await withRunningRegistry(harness: MemoryHarness(), configure: { $0.auth = .init(policyPath: policy) }) { server in
                try await self.runMatrix(noCredential: .unauthenticated) { caller, body in
                    let target = try ServerTarget(parsing: "127.0.0.1:\(server.port)", token: tokens[caller])
                    try await withRegistryClient(target: target, body)
                }
            }
        }
    }

    @Test("client certificates: every RPC for every caller; no certificate, no connection")
    func certificates() async throws {
        try await withTemporaryDirectory { directory in
            let authority = try TestCertificateAuthority(in: directory)
            let serverCertificate = try authority.server()
            let issued: [Caller: TestCertificateAuthority.Issued] = [
                .reader: try authority.client("reader", commonName: "dashboard", names: [.dnsName("dashboard.ops.example")]),
                .relayOwn: try authority.client("relay-7", commonName: "relay 7", names: [.uniformResourceIdentifier("spiffe://aero-arc/relay/relay-7")]),
                .admin: try authority.client("admin", commonName: "ops-admin"),
            ]
            let policy = directory.appendingPathComponent("policy.json").path
            try policyJSON(certificates: [
                ("dashboard.ops.example", "reader", []), ("spiffe://aero-arc/relay/relay-7", "relay", ["relay-7"]), ("ops-admin", "admin", []),
            ]).write(toFile: policy, atomically: true, encoding: .utf8)
            try await withRunningRegistry(
                harness: MemoryHarness(),
                configure: {
                    $0.tls = .init(certificatePath: serverCertificate.certificatePath, keyPath: serverCertificate.keyPath, clientCAPath: authority.caPath)
                    $0.auth = .init(policyPath: policy)
                }
            ) { server in
                try await self.runMatrix(noCredential: .unavailable) { caller, body in
                    let certificate = issued[caller == .relayOther ? .relayOwn : caller]
                    let tls = ServerTarget.TLS(caPath: authority.caPath, certificatePath: certificate?.certificatePath, keyPath: certificate?.keyPath)
                    try await withRegistryClient(target: try ServerTarget(parsing: "127.0.0.1:\(server.port)", tls: tls), timeout: .seconds(5), body)
                }
            }
        }
    }
}

/// A policy file with these tokens (in clear here; hashed in the file) and certificate identities.
func policyJSON(tokens: [(String, String, [String])] = [], certificates: [(String, String, [String])] = []) throws -> String {
    func entry(_ key: String, _ value: String, _ role: String, _ relays: [String]) -> [String: Any] {
        var entry: [String: Any] = [key: value, "role": role]
        if !relays.isEmpty { entry["relay_ids"] = relays }
        return entry
    }
    let object: [String: Any] = [
        "tokens": tokens.map { entry("sha256", sha256Hex($0.0), $0.1, $0.2) },
        "certificates": certificates.map { entry("identity", $0.0, $0.1, $0.2) },
    ]
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}

/// Runs `body` with a fresh temporary directory, removed afterwards.
func withTemporaryDirectory<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aero-arc-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}
