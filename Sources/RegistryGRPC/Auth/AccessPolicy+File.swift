#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A policy file that cannot be used, naming the file, the entry and what is wrong:
/// `tokens[2].sha256: expected 64 hex characters`.
public struct AccessPolicyError: Error, Hashable, CustomStringConvertible {
    /// The policy file, when the policy was read from one.
    public var file: String?
    /// Where in the document: `tokens[2].sha256`; empty for the document as a whole.
    public var path: String
    /// What is wrong, for humans.
    public var message: String

    public init(file: String? = nil, path: String, message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = [self.file, self.path.isEmpty ? nil : self.path].compactMap { $0 }
        return (location + [self.message]).joined(separator: ": ")
    }
}

extension AccessPolicy {
    /// Reads a policy from its JSON document:
    ///
    /// ```json
    /// {"tokens": [{"sha256": "<64 hex>", "role": "relay", "relay_ids": ["relay-1", "relay-eu-*"]},
    ///             {"sha256": "<64 hex>", "role": "reader"}],
    ///  "certificates": [{"identity": "spiffe://aero-arc/relay/relay-7", "role": "relay", "relay_ids": ["relay-7"]},
    ///                   {"identity": "dashboard.ops.example", "role": "admin"}]}
    /// ```
    ///
    /// Both lists are optional; `{}` is the empty policy. Unknown keys, unknown roles, a
    /// relay role without `relay_ids`, `relay_ids` on another role, a `*` anywhere but at
    /// the end of a relay ID, and duplicate digests or identities are errors.
    ///
    /// - Throws: ``AccessPolicyError`` naming the entry.
    public init(json: Data) throws {
        let document: PolicyDocument
        do {
            document = try JSONDecoder().decode(PolicyDocument.self, from: json)
        } catch let error as AccessPolicyError {
            throw error
        } catch let error as DecodingError {
            throw AccessPolicyError(error)
        }
        self.init()
        var seenTokens: [TokenDigest: Int] = [:]
        for (index, entry) in (document.tokens ?? []).enumerated() {
            let path = "tokens[\(index)]"
            guard let hex = entry.sha256 else {
                throw AccessPolicyError(path: path, message: "missing sha256 (the token's SHA-256 digest as 64 hex characters)")
            }
            guard let digest = TokenDigest(hex: hex) else {
                throw AccessPolicyError(path: path + ".sha256", message: "expected 64 hex characters")
            }
            if let first = seenTokens[digest] {
                throw AccessPolicyError(path: path + ".sha256", message: "duplicate of tokens[\(first)]")
            }
            seenTokens[digest] = index
            self.tokens[digest] = try Self.grant(of: entry, at: path)
        }
        var seenIdentities: [String: Int] = [:]
        for (index, entry) in (document.certificates ?? []).enumerated() {
            let path = "certificates[\(index)]"
            guard let identity = entry.identity else {
                throw AccessPolicyError(path: path, message: "missing identity (the certificate's first SAN URI, else first SAN DNS name, else subject CN)")
            }
            guard !identity.isEmpty else {
                throw AccessPolicyError(path: path + ".identity", message: "empty identity")
            }
            if let first = seenIdentities[identity] {
                throw AccessPolicyError(path: path + ".identity", message: "duplicate of certificates[\(first)]")
            }
            seenIdentities[identity] = index
            self.certificates[identity] = try Self.grant(of: entry, at: path)
        }
    }

    /// Reads a policy from the JSON file at `path` (see ``init(json:)``).
    ///
    /// - Throws: ``AccessPolicyError`` naming the file and the entry.
    public init(contentsOfFile path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw AccessPolicyError(file: path, path: "", message: "cannot read the policy file (\(error))")
        }
        do {
            try self.init(json: data)
        } catch var error as AccessPolicyError {
            error.file = path
            throw error
        }
    }

    private static func grant(of entry: EntryDocument, at path: String) throws(AccessPolicyError) -> Grant {
        guard let roleName = entry.role else {
            throw AccessPolicyError(path: path, message: "missing role (reader, relay, admin)")
        }
        guard let role = Role(rawValue: roleName) else {
            throw AccessPolicyError(path: path + ".role", message: "unknown role \"\(roleName)\" (reader, relay, admin)")
        }
        guard role == .relay else {
            if entry.relayIDs != nil {
                throw AccessPolicyError(path: path + ".relay_ids", message: "relay_ids is only for the relay role, not \(role)")
            }
            return Grant(role: role)
        }
        guard let relayIDs = entry.relayIDs, !relayIDs.isEmpty else {
            throw AccessPolicyError(path: path + ".relay_ids", message: "the relay role needs at least one relay ID")
        }
        var patterns: [RelayIDPattern] = []
        for (index, relayID) in relayIDs.enumerated() {
            let patternPath = path + ".relay_ids[\(index)]"
            guard !relayID.isEmpty else {
                throw AccessPolicyError(path: patternPath, message: "empty relay ID")
            }
            guard !relayID.dropLast().contains("*") else {
                throw AccessPolicyError(path: patternPath, message: "\"*\" may only end a relay ID pattern (\"\(relayID)\")")
            }
            patterns.append(RelayIDPattern(relayID))
        }
        return Grant(role: role, relayIDs: patterns)
    }
}

extension AccessPolicyError {
    /// A JSON or type error, at the path where the decoder met it.
    fileprivate init(_ error: DecodingError) {
        switch error {
        case .typeMismatch(_, let context):
            self.init(path: policyPath(context.codingPath), message: "expected \(expectedValue(at: context.codingPath))")
        case .valueNotFound(_, let context):
            self.init(path: policyPath(context.codingPath), message: "expected \(expectedValue(at: context.codingPath)), found null")
        case .keyNotFound(let key, let context):
            self.init(path: policyPath(context.codingPath + [key]), message: "missing")
        case .dataCorrupted(let context):
            self.init(path: policyPath(context.codingPath), message: "not valid JSON (\(context.debugDescription))")
        @unknown default:
            self.init(path: "", message: "not a valid policy (\(error))")
        }
    }
}

/// The document as written, before validation.
private struct PolicyDocument: Decodable {
    var tokens: [EntryDocument]?
    var certificates: [EntryDocument]?

    init(from decoder: any Decoder) throws {
        let container: KeyedDecodingContainer<DocumentKey>
        do {
            container = try decoder.container(keyedBy: DocumentKey.self)
        } catch {
            throw AccessPolicyError(path: "", message: "the policy must be a JSON object with tokens and certificates")
        }
        try rejectUnknownKeys(container, allowed: ["tokens", "certificates"], at: decoder.codingPath)
        self.tokens = try container.decodeIfPresent([EntryDocument].self, forKey: DocumentKey("tokens"))
        self.certificates = try container.decodeIfPresent([EntryDocument].self, forKey: DocumentKey("certificates"))
    }
}

/// One entry of `tokens` or `certificates`, as written.
private struct EntryDocument: Decodable {
    var sha256: String?
    var identity: String?
    var role: String?
    var relayIDs: [String]?

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: DocumentKey.self)
        let isToken = decoder.codingPath.first?.stringValue == "tokens"
        let allowed = isToken ? ["sha256", "role", "relay_ids"] : ["identity", "role", "relay_ids"]
        try rejectUnknownKeys(container, allowed: allowed, at: decoder.codingPath)
        if isToken {
            self.sha256 = try container.decodeIfPresent(String.self, forKey: DocumentKey("sha256"))
        } else {
            self.identity = try container.decodeIfPresent(String.self, forKey: DocumentKey("identity"))
        }
        self.role = try container.decodeIfPresent(String.self, forKey: DocumentKey("role"))
        self.relayIDs = try container.decodeIfPresent([String].self, forKey: DocumentKey("relay_ids"))
    }
}

/// Any key of a JSON object.
private struct DocumentKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ stringValue: String) { self.stringValue = stringValue }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws for the first (in sorted order) key of `container` that is not `allowed`.
private func rejectUnknownKeys(
    _ container: KeyedDecodingContainer<DocumentKey>,
    allowed: [String],
    at codingPath: [any CodingKey]
) throws(AccessPolicyError) {
    let unknown = container.allKeys.map(\.stringValue).filter { !allowed.contains($0) }.sorted()
    if let key = unknown.first {
        throw AccessPolicyError(
            path: policyPath(codingPath + [DocumentKey(key)]),
            message: "unknown key (expected \(allowed.joined(separator: ", ")))"
        )
    }
}

/// `tokens[2].sha256` from a decoder's coding path.
private func policyPath(_ codingPath: [any CodingKey]) -> String {
    var path = ""
    for key in codingPath {
        if let index = key.intValue {
            path += "[\(index)]"
        } else {
            path += path.isEmpty ? key.stringValue : "." + key.stringValue
        }
    }
    return path
}

/// What the document should hold at `codingPath` (the decoder's own type names say
/// `Array<Any>`).
private func expectedValue(at codingPath: [any CodingKey]) -> String {
    guard let last = codingPath.last else { return "an object" }
    if last.intValue != nil {
        return codingPath.dropLast().last?.stringValue == "relay_ids" ? "a string" : "an object"
    }
    return switch last.stringValue {
    case "tokens", "certificates": "a list of entries"
    case "relay_ids": "a list of strings"
    default: "a string"
    }
}
