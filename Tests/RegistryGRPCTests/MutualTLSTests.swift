import Foundation
import GRPCCore
import RegistryClient
import RegistryCore
import RegistryServer
import RegistryTestKit
import Testing
import X509

/// `--tls-client-ca-path`: the handshake refuses every client the CA does not vouch for,
/// before any request; the ones it admits are identified by their certificates.
@Suite("Mutual TLS", .timeLimit(.minutes(2)))
struct MutualTLSTests {
    /// Runs `body` with a registry requiring client certificates from `authority`, and the
    /// policy file given (none: mutual TLS alone).
    func withMutualTLSRegistry(
        _ authority: TestCertificateAuthority,
        policy: String?,
        _ body: (Int) async throws -> Void
    ) async throws {
        let server = try authority.server()
        try await withRunningRegistry(
            harness: MemoryHarness(),
            configure: {
                $0.tls = .init(certificatePath: server.certificatePath, keyPath: server.keyPath, clientCAPath: authority.caPath)
                $0.auth = .init(policyPath: policy)
            }
        ) { server in
            try await body(server.port)
        }
    }

    func target(_ port: Int, _ authority: TestCertificateAuthority, _ certificate: TestCertificateAuthority.Issued?, token: String? = nil) throws -> ServerTarget {
        try ServerTarget(
            parsing: "127.0.0.1:\(port)",
            tls: .init(caPath: authority.caPath, certificatePath: certificate?.certificatePath, keyPath: certificate?.keyPath),
            token: token
        )
    }

    @Test("no certificate, an expired one, a self-signed one or another CA's: refused at the handshake, nothing changes")
    func handshakeRefusals() async throws {
        try await withTemporaryDirectory { directory in
            let authority = try TestCertificateAuthority(in: directory)
            let other = try TestCertificateAuthority(in: directory, name: "another CA")
            let now = Date()
            let refused: [(String, TestCertificateAuthority.Issued?)] = [
                ("no certificate", nil),
                ("expired", try authority.client("expired", commonName: "ops-admin", validFor: (now - 7200)...(now - 3600))),
                ("not yet valid", try authority.client("future", commonName: "ops-admin", validFor: (now + 3600)...(now + 7200))),
                ("self-signed", try TestCertificateAuthority.selfSigned(in: directory, commonName: "ops-admin")),
                ("another CA's", try other.client("other", commonName: "ops-admin")),
            ]
            let admin = try authority.client("admin", commonName: "ops-admin")
            try await withMutualTLSRegistry(authority, policy: nil) { port in
                for (name, certificate) in refused {
                    do {
                        try await withRegistryClient(target: try self.target(port, authority, certificate), timeout: .seconds(5)) { client in
                            await expectRPCError(.unavailable) { try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000) }
                        }
                    } catch {
                        Issue.record("\(name): \(error)")
                    }
                }
                // Mutual TLS alone: any certificate from the CA may do everything.
                try await withRegistryClient(target: try self.target(port, authority, admin)) { client in
                    #expect(try await client.listRelays().entries.isEmpty)
                    try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
                    try await client.admin.drainRelay(id: "relay-1")
                    #expect(try await client.fleet.listRelayStatuses().page.map(\.draining) == [true])
                }
            }
        }
    }

    @Test("the identity is the first SAN URI, else the first SAN DNS name, else the subject CN; a token decides alone")
    func identities() async throws {
        try await withTemporaryDirectory { directory in
            let authority = try TestCertificateAuthority(in: directory)
            let uri = try authority.client(
                "uri", commonName: "admin-cn", names: [.dnsName("admin.example"), .uniformResourceIdentifier("spiffe://aero-arc/relay/relay-7")]
            )
            let dns = try authority.client("dns", commonName: "admin-cn", names: [.dnsName("dashboard.ops.example")])
            let cn = try authority.client("cn", commonName: "admin-cn")
            let unknown = try authority.client("unknown", commonName: "nobody")
            let policy = directory.appendingPathComponent("policy.json").path
            try policyJSON(
                tokens: [("reader-token", "reader", [])],
                certificates: [
                    ("spiffe://aero-arc/relay/relay-7", "relay", ["relay-7"]), ("dashboard.ops.example", "reader", []),
                    ("admin-cn", "admin", []), ("admin.example", "admin", []),
                ]
            ).write(toFile: policy, atomically: true, encoding: .utf8)
            try await withMutualTLSRegistry(authority, policy: policy) { port in
                try await withRegistryClient(target: try self.target(port, authority, uri)) { client in
                    // The URI (a relay), not the DNS name or CN (admins).
                    try await client.registerRelay(id: "relay-7", address: "10.0.0.1", grpcPort: 7000)
                    await expectRPCError(.permissionDenied) { try await client.admin.drainRelay(id: "relay-7") }
                }
                try await withRegistryClient(target: try self.target(port, authority, dns)) { client in
                    let relays = try await client.listRelays().entries
                    #expect(relays.count == 1)
                    await expectRPCError(.permissionDenied) { try await client.heartbeatRelay(id: "relay-7") }
                }
                try await withRegistryClient(target: try self.target(port, authority, cn)) { client in
                    try await client.admin.drainRelay(id: "relay-7")
                }
                try await withRegistryClient(target: try self.target(port, authority, unknown)) { client in
                    let denied = await expectRPCError(.permissionDenied) { try await client.listRelays() }
                    #expect(denied?.message.contains("nobody") == true)
                }
                // The admin's certificate with a reader's token: the token decides.
                _ = try await withRegistryClient(target: try self.target(port, authority, cn, token: "reader-token")) { client in
                    await expectRPCError(.permissionDenied) { try await client.admin.undrainRelay(id: "relay-7") }
                }
                _ = try await withRegistryClient(target: try self.target(port, authority, cn, token: "forged")) { client in
                    await expectRPCError(.unauthenticated) { try await client.listRelays() }
                }
            }
        }
    }
}
