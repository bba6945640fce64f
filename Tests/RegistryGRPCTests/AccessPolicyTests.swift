import Crypto
import Foundation
import GRPCCore
import RegistryGRPC
import Testing
import X509

/// The policy every table row is decided against.
private let tablePolicy = AccessPolicy(
    tokens: [
        TokenDigest(of: "reader-token"): Grant(role: .reader),
        TokenDigest(of: "relay-token"): Grant(role: .relay, relayIDs: [.exact("relay-1")]),
        TokenDigest(of: "prefix-token"): Grant(role: .relay, relayIDs: [.prefix("relay-eu-")]),
        TokenDigest(of: "admin-token"): Grant(role: .admin),
    ]
)

/// Who calls, and the relay ID the row's action names for them.
private enum Who: CaseIterable {
    case nobody, reader, relayOwn, relayOther, relayPrefix, relayPrefixOther, admin

    var credentials: CallerCredentials {
        let token: String? =
            switch self {
            case .nobody: nil
            case .reader: "reader-token"
            case .relayOwn, .relayOther: "relay-token"
            case .relayPrefix, .relayPrefixOther: "prefix-token"
            case .admin: "admin-token"
            }
        return CallerCredentials(authorization: token.map { .bearer(TokenDigest(of: $0)) } ?? .absent)
    }

    var relayID: String {
        switch self {
        case .relayOther: "relay-2"
        case .relayPrefix: "relay-eu-3"
        case .relayPrefixOther: "relay-us-1"
        default: "relay-1"
        }
    }
}

/// The expected outcome of one cell.
private enum Outcome: Equatable {
    case allow, unauthenticated, denied

    init(_ decision: AccessDecision) {
        switch decision {
        case .allow: self = .allow
        case .unauthenticated: self = .unauthenticated
        case .permissionDenied: self = .denied
        }
    }
}

/// One action and what each caller gets.
struct DecisionRow: Sendable, CustomTestStringConvertible {
    let name: String
    fileprivate let action: @Sendable (String) -> RegistryAction
    /// Outcomes for reader, relay own, relay other, relay prefix, relay prefix other.
    fileprivate let reader: Outcome
    fileprivate let relay: (own: Outcome, other: Outcome, prefix: Outcome, prefixOther: Outcome)

    var testDescription: String { self.name }

    fileprivate func expected(for who: Who) -> Outcome {
        switch who {
        case .nobody: .unauthenticated
        case .reader: self.reader
        case .relayOwn: self.relay.own
        case .relayOther: self.relay.other
        case .relayPrefix: self.relay.prefix
        case .relayPrefixOther: self.relay.prefixOther
        case .admin: .allow
        }
    }

    /// A write a relay may do for its own relays only.
    fileprivate static func ownWrite(_ name: String, _ action: @escaping @Sendable (String) -> RegistryAction) -> DecisionRow {
        DecisionRow(name: name, action: action, reader: .denied, relay: (.allow, .denied, .allow, .denied))
    }

    /// An action only admin may do.
    fileprivate static func adminOnly(_ name: String, _ action: @escaping @Sendable (String) -> RegistryAction) -> DecisionRow {
        DecisionRow(name: name, action: action, reader: .denied, relay: (.denied, .denied, .denied, .denied))
    }
}

private let decisionTable: [DecisionRow] = [
    DecisionRow(name: "read", action: { _ in .read }, reader: .allow, relay: (.allow, .allow, .allow, .allow)),
    .ownWrite("RegisterRelay") { .registerRelay($0) },
    .ownWrite("HeartbeatRelay") { .heartbeatRelay($0) },
    .ownWrite("SyncRelay") { .syncRelay($0) },
    .ownWrite("RegisterAgent") { .registerAgent("agent-1", onRelay: $0) },
    .ownWrite("HeartbeatAgent with relay_id") { .heartbeatAgent("agent-1", relayID: $0) },
    .adminOnly("HeartbeatAgent without relay_id") { _ in .heartbeatAgent("agent-1", relayID: nil) },
    .ownWrite("DeregisterRelay") { .deregisterRelay($0) },
    .ownWrite("DeregisterAgent with relay_id") { .deregisterAgent("agent-1", relayID: $0) },
    .adminOnly("DeregisterAgent without relay_id") { _ in .deregisterAgent("agent-1", relayID: nil) },
    .adminOnly("DrainRelay") { .drainRelay($0) },
    .adminOnly("UndrainRelay") { .undrainRelay($0) },
    .adminOnly("an unknown method") { _ in .unknown("aeroarc.registry.v9.Future/Do") },
]

@Suite("Access policy")
struct AccessPolicyTests {
    @Test("the decision table", arguments: decisionTable)
    func table(_ row: DecisionRow) {
        for who in Who.allCases {
            let action = row.action(who.relayID)
            let (caller, decision) = tablePolicy.authorize(action, credentials: who.credentials)
            #expect(Outcome(decision) == row.expected(for: who), "\(row.name) by \(who): \(decision)")
            #expect((caller == nil) == (who == .nobody))
        }
    }

    @Test("denials name the role and what it may not do")
    func messages() {
        let relay = AccessPolicy.Caller(description: "token sha256:…", grant: Grant(role: .relay, relayIDs: [.exact("relay-1")]))
        let reader = AccessPolicy.Caller(description: "certificate dash", grant: Grant(role: .reader))
        #expect(tablePolicy.decide(.registerRelay("relay-2"), for: relay) == .permissionDenied("role relay (relay-1) may not register relay relay-2"))
        #expect(
            tablePolicy.decide(.registerAgent("a1", onRelay: "relay-2"), for: relay)
                == .permissionDenied("role relay (relay-1) may not register agent a1 on relay relay-2")
        )
        guard case .permissionDenied(let message) = tablePolicy.decide(.heartbeatAgent("a1", relayID: nil), for: relay) else {
            Issue.record("HeartbeatAgent without a relay_id was not denied")
            return
        }
        #expect(message.contains("without a relay_id"))
        #expect(message.contains("must name its own relay"))
        #expect(tablePolicy.decide(.drainRelay("relay-1"), for: relay) == .permissionDenied("role relay (relay-1) may not drain relay relay-1 (admin only)"))
        #expect(tablePolicy.decide(.registerRelay("r"), for: reader) == .permissionDenied("role reader may not register relay r (reader is read-only)"))
        let prefix = Grant(role: .relay, relayIDs: [.exact("relay-1"), .prefix("relay-eu-")])
        #expect(prefix.description == "relay (relay-1, relay-eu-*)")
        #expect(!prefix.owns(""))
        #expect(!Grant(role: .relay, relayIDs: [.prefix("")]).owns(""))
    }

    @Test("credentials: unknown and malformed tokens, unlisted certificates, a token winning over a certificate")
    func resolution() {
        let policy = AccessPolicy(
            tokens: [TokenDigest(of: "relay-token"): Grant(role: .relay, relayIDs: [.exact("relay-1")])],
            certificates: ["spiffe://aero-arc/admin": Grant(role: .admin)]
        )
        let unknown = CallerCredentials(authorization: .bearer(TokenDigest(of: "guess")))
        #expect(policy.resolve(unknown) == .rejected(.unauthenticated("the bearer token is not recognised")))
        #expect(!"\(policy.resolve(unknown))".contains("guess"))
        guard case .rejected(.unauthenticated) = policy.resolve(CallerCredentials(authorization: .malformed)) else {
            Issue.record("a malformed authorization header was not refused")
            return
        }
        #expect(policy.resolve(CallerCredentials(authorization: .absent)) == .anonymous)

        let stranger = CallerCredentials(authorization: .absent, certificateIdentity: "spiffe://aero-arc/stranger")
        #expect(policy.resolve(stranger) == .rejected(.permissionDenied("certificate identity spiffe://aero-arc/stranger is not in the access policy")))

        let admin = CallerCredentials(authorization: .absent, certificateIdentity: "spiffe://aero-arc/admin")
        #expect(policy.authorize(.drainRelay("relay-9"), credentials: admin).decision == .allow)
        #expect(policy.authorize(.read, credentials: admin).caller?.description == "certificate spiffe://aero-arc/admin")

        // A presented token alone decides, whatever the certificate.
        let relayWithAdminCertificate = CallerCredentials(
            authorization: .bearer(TokenDigest(of: "relay-token")),
            certificateIdentity: "spiffe://aero-arc/admin"
        )
        #expect(Outcome(policy.authorize(.drainRelay("relay-1"), credentials: relayWithAdminCertificate).decision) == .denied)
        let badTokenWithAdminCertificate = CallerCredentials(authorization: .malformed, certificateIdentity: "spiffe://aero-arc/admin")
        #expect(Outcome(policy.authorize(.read, credentials: badTokenWithAdminCertificate).decision) == .unauthenticated)
        let caller = policy.authorize(.read, credentials: relayWithAdminCertificate).caller
        #expect(caller?.description == "token \(TokenDigest(of: "relay-token"))")
        #expect(caller?.description.hasPrefix("token sha256:") == true)
        #expect(caller?.description.contains("relay-token") == false)
    }

    @Test("the authorization metadata: Bearer <token>, or malformed")
    func bearer() {
        func authorization(_ values: [String]) -> CallerCredentials.Authorization {
            var metadata = Metadata()
            for value in values { metadata.addString(value, forKey: "authorization") }
            return CallerCredentials.authorization(in: metadata)
        }
        let token = CallerCredentials.Authorization.bearer(TokenDigest(of: "s3cret"))
        #expect(authorization([]) == .absent)
        #expect(authorization(["Bearer s3cret"]) == token)
        #expect(authorization(["bearer  s3cret"]) == token)
        for malformed in ["s3cret", "Basic czNjcmV0", "Bearer", "Bearer ", "Bearer s3 cret", "Bearers3cret", ""] {
            #expect(authorization([malformed]) == .malformed, "\(malformed)")
        }
        #expect(authorization(["Bearer a", "Bearer b"]) == .malformed)
        #expect("\(CallerCredentials(authorization: token))" == "token sha256:\(TokenDigest(of: "s3cret").hex.prefix(8))…")
    }

    @Test("token digests: SHA-256 test vectors, hex both ways, constant-time equality")
    func digests() throws {
        #expect(TokenDigest(of: "abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(TokenDigest(of: "").hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let upper = try #require(TokenDigest(hex: "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"))
        #expect(upper == TokenDigest(of: "abc"))
        #expect("\(upper)" == "sha256:ba7816bf…")
        #expect(TokenDigest(hex: "ba7816bf") == nil)
        #expect(TokenDigest(hex: String(repeating: "g", count: 64)) == nil)
        #expect(TokenDigest(hex: String(repeating: "a", count: 65)) == nil)

        let bytes = TokenDigest(of: "abc").bytes
        #expect(TokenDigest.constantTimeEquals(bytes, bytes))
        for index in [0, 15, 31] {
            var other = bytes
            other[index] ^= 0x01
            #expect(!TokenDigest.constantTimeEquals(bytes, other))
        }
        #expect(!TokenDigest.constantTimeEquals(bytes, Array(bytes.dropLast())))
        #expect(TokenDigest.constantTimeEquals([], []))
    }

    @Test("a certificate's identity: first SAN URI, else first SAN DNS name, else subject CN")
    func certificateIdentity() throws {
        let uriAndDNS = try certificate(commonName: "cn", names: [.dnsName("relay-7.example"), .uniformResourceIdentifier("spiffe://aero-arc/relay/relay-7")])
        #expect(CallerCredentials.identity(of: uriAndDNS) == "spiffe://aero-arc/relay/relay-7")
        let dnsOnly = try certificate(commonName: "cn", names: [.dnsName("dashboard.ops.example"), .dnsName("second.example")])
        #expect(CallerCredentials.identity(of: dnsOnly) == "dashboard.ops.example")
        let commonNameOnly = try certificate(commonName: "relay-9", names: nil)
        #expect(CallerCredentials.identity(of: commonNameOnly) == "relay-9")
        let nothing = try certificate(commonName: nil, names: nil)
        #expect(CallerCredentials.identity(of: nothing) == nil)
        #expect(CallerCredentials(metadata: [:], certificate: dnsOnly).certificateIdentity == "dashboard.ops.example")
    }
}

/// A self-signed certificate with the given subject CN and subject alternative names.
private func certificate(commonName: String?, names: [GeneralName]?) throws -> Certificate {
    let key = P256.Signing.PrivateKey()
    let subject = try DistinguishedName {
        OrganizationName("aero-arc tests")
        if let commonName { CommonName(commonName) }
    }
    let now = Date()
    return try Certificate(
        version: .v3,
        serialNumber: Certificate.SerialNumber(),
        publicKey: .init(key.publicKey),
        notValidBefore: now - 60,
        notValidAfter: now + 3600,
        issuer: subject,
        subject: subject,
        signatureAlgorithm: .ecdsaWithSHA256,
        extensions: try Certificate.Extensions {
            if let names { SubjectAlternativeNames(names) }
        },
        issuerPrivateKey: .init(key)
    )
}

/// Digests of `token-0`, `token-1`, `token-2`, as hex.
private let exampleDigests = (0..<3).map { TokenDigest(of: "token-\($0)").hex }

@Suite("Access policy file")
struct AccessPolicyFileTests {
    @Test("the issue's example parses into grants")
    func example() throws {
        let json = """
            {"tokens": [{"sha256": "\(exampleDigests[0])", "role": "relay", "relay_ids": ["relay-1", "relay-eu-*"]},
                        {"sha256": "\(exampleDigests[1].uppercased())", "role": "reader"},
                        {"sha256": "\(exampleDigests[2])", "role": "admin"}],
             "certificates": [{"identity": "spiffe://aero-arc/relay/relay-7", "role": "relay", "relay_ids": ["relay-7"]},
                              {"identity": "dashboard.ops.example", "role": "reader"}]}
            """
        let policy = try AccessPolicy(json: Data(json.utf8))
        #expect(policy.tokens[TokenDigest(of: "token-0")] == Grant(role: .relay, relayIDs: [.exact("relay-1"), .prefix("relay-eu-")]))
        #expect(policy.tokens[TokenDigest(of: "token-1")] == Grant(role: .reader))
        #expect(policy.tokens[TokenDigest(of: "token-2")] == Grant(role: .admin))
        #expect(policy.certificates["spiffe://aero-arc/relay/relay-7"] == Grant(role: .relay, relayIDs: [.exact("relay-7")]))
        #expect(policy.certificates["dashboard.ops.example"] == Grant(role: .reader))
        #expect(try AccessPolicy(json: Data("{}".utf8)) == .empty)
        #expect(try AccessPolicy(json: Data(#"{"tokens": [], "certificates": []}"#.utf8)) == .empty)
    }

    @Test(
        "errors name the entry",
        arguments: [
            (#"{"tokens": [{"sha256": "abc", "role": "reader"}]}"#, "tokens[0].sha256: expected 64 hex characters"),
            (#"{"tokens": [{"role": "reader"}]}"#, "tokens[0]: missing sha256 (the token's SHA-256 digest as 64 hex characters)"),
            (#"{"certificates": [{"identity": "x", "role": "writer"}]}"#, #"certificates[0].role: unknown role "writer" (reader, relay, admin)"#),
            (#"{"certificates": [{"identity": "x"}]}"#, "certificates[0]: missing role (reader, relay, admin)"),
            (#"{"certificates": [{"identity": "x", "role": "relay"}]}"#, "certificates[0].relay_ids: the relay role needs at least one relay ID"),
            (#"{"certificates": [{"identity": "x", "role": "relay", "relay_ids": []}]}"#, "certificates[0].relay_ids: the relay role needs at least one relay ID"),
            (#"{"certificates": [{"identity": "x", "role": "reader", "relay_ids": ["r"]}]}"#, "certificates[0].relay_ids: relay_ids is only for the relay role, not reader"),
            (#"{"certificates": [{"identity": "x", "role": "relay", "relay_ids": ["r", "a*b"]}]}"#, #"certificates[0].relay_ids[1]: "*" may only end a relay ID pattern ("a*b")"#),
            (#"{"certificates": [{"identity": "x", "role": "relay", "relay_ids": ["**"]}]}"#, #"certificates[0].relay_ids[0]: "*" may only end a relay ID pattern ("**")"#),
            (#"{"certificates": [{"identity": "x", "role": "relay", "relay_ids": [""]}]}"#, "certificates[0].relay_ids[0]: empty relay ID"),
            (#"{"certificates": [{"identity": "x", "role": "admin"}, {"identity": "x", "role": "reader"}]}"#, "certificates[1].identity: duplicate of certificates[0]"),
            (#"{"certificates": [{"identity": "", "role": "admin"}]}"#, "certificates[0].identity: empty identity"),
            (#"{"certificates": [{"identity": "x", "role": "admin", "sha256": "ab"}]}"#, "certificates[0].sha256: unknown key (expected identity, role, relay_ids)"),
            (#"{"tokens": [{"sha256": "\#(exampleDigests[0])", "role": "relay", "relay_id": "r"}]}"#, "tokens[0].relay_id: unknown key (expected sha256, role, relay_ids)"),
            (#"{"tokens": [], "token": "s3cret"}"#, "token: unknown key (expected tokens, certificates)"),
            (#"{"tokens": [{"sha256": 7, "role": "admin"}]}"#, "tokens[0].sha256: expected a string"),
            (#"{"tokens": {"sha256": "x"}}"#, "tokens: expected a list of entries"),
            (#"{"certificates": [{"identity": "x", "role": "relay", "relay_ids": "r"}]}"#, "certificates[0].relay_ids: expected a list of strings"),
            (#"{"tokens": ["x"]}"#, "tokens[0]: expected an object"),
            (#"{"certificates": [{"identity": "x", "role": "relay", "relay_ids": [7]}]}"#, "certificates[0].relay_ids[0]: expected a string"),
            (#"[]"#, "the policy must be a JSON object with tokens and certificates"),
        ]
    )
    func errors(_ json: String, _ expected: String) {
        #expect(throws: AccessPolicyError.self) { try AccessPolicy(json: Data(json.utf8)) }
        do {
            _ = try AccessPolicy(json: Data(json.utf8))
        } catch {
            #expect("\(error)" == expected)
        }
    }

    @Test("duplicate digests are an error, whatever the case of their hex")
    func duplicateDigests() {
        let json = """
            {"tokens": [{"sha256": "\(exampleDigests[0])", "role": "admin"}, {"sha256": "\(exampleDigests[1])", "role": "reader"},
                        {"sha256": "\(exampleDigests[0].uppercased())", "role": "reader"}]}
            """
        #expect(throws: AccessPolicyError(path: "tokens[2].sha256", message: "duplicate of tokens[0]")) {
            try AccessPolicy(json: Data(json.utf8))
        }
    }

    @Test("not JSON is an error, and a file's errors name the file")
    func files() throws {
        #expect(throws: AccessPolicyError.self) { try AccessPolicy(json: Data("{tokens".utf8)) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("access-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("policy.json").path
        try #"{"certificates": [{"identity": "x", "role": "writer"}]}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: AccessPolicyError(file: path, path: "certificates[0].role", message: #"unknown role "writer" (reader, relay, admin)"#)) {
            try AccessPolicy(contentsOfFile: path)
        }
        try #"{"certificates": [{"identity": "x", "role": "admin"}]}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try AccessPolicy(contentsOfFile: path).certificates == ["x": Grant(role: .admin)])
        let missing = directory.appendingPathComponent("missing.json").path
        do {
            _ = try AccessPolicy(contentsOfFile: missing)
            Issue.record("a missing file was read")
        } catch let error as AccessPolicyError {
            #expect(error.file == missing)
            #expect("\(error)".hasPrefix("\(missing): cannot read the policy file"))
        }
    }

    @Test("an empty policy refuses every call (health aside, which the interceptor keeps open)")
    func emptyPolicy() {
        let token = CallerCredentials(authorization: .bearer(TokenDigest(of: "anything")))
        #expect(AccessPolicy.empty.authorize(.read, credentials: token).decision == .unauthenticated("the bearer token is not recognised"))
        #expect(Outcome(AccessPolicy.empty.authorize(.read, credentials: CallerCredentials(authorization: .absent)).decision) == .unauthenticated)
    }
}
