public import RegistryCore

/// Where the Redis backend keeps everything: one versioned namespace of keys sharing a
/// Redis Cluster hash tag, so that every key lands in one slot and every script may
/// touch them together.
///
/// Every key starts with ``root``: the configured prefix, then `{aero-arc-registry}:v1:`.
/// IDs appear in key names and index members base64url-encoded, so any valid ID (with
/// `:`, `{`, spaces, any Unicode) is safe and two IDs never share a key.
///
/// | key | type | holds |
/// |---|---|---|
/// | `relay:<id>` | hash | `addr`, `port`, `hb` (last heartbeat, ms), `dl` (deadline, ms), `inc` (incarnation), `drain` (`1` while draining; a new incarnation starts without it) |
/// | `agent:<id>` | hash | `relay` (encoded relay ID), `inc` (that relay's incarnation), `hb`, `dl` |
/// | `relays` | sorted set | encoded relay IDs scored by deadline |
/// | `agents` | sorted set | encoded agent IDs scored by their own deadline |
/// | `relay-agents:<id>` | sorted set | the agents placed on a relay, scored by deadline |
/// | `incarnations` | counter | the last incarnation number handed out |
/// | `relays-by-id` | sorted set | every relay as an ``orderedMember(_:)``, score 0: ID order for paging |
/// | `agents-by-id` | sorted set | every agent as an ``orderedMember(_:)``, score 0 |
/// | `relay-agents-by-id:<id>` | sorted set | the agents placed on a relay as ``orderedMember(_:)``s, score 0 |
///
/// The `-by-id` indexes exist because base64url does not sort as the bytes it encodes:
/// their members start with the raw ID, so Redis's byte-wise `ZRANGEBYLEX` walks them
/// in ID order.
public struct RedisKeySchema: Hashable, Sendable {
    /// The versioned namespace with its hash tag; bump the version when the layout changes.
    public static let namespace = "{aero-arc-registry}:v1:"
    /// The longest prefix accepted, in bytes.
    public static let maximumPrefixBytes = 128

    static let relaySegment = "relay:"
    static let agentSegment = "agent:"
    static let relayAgentsSegment = "relay-agents:"
    static let relaysIndexName = "relays"
    static let agentsIndexName = "agents"
    static let incarnationsName = "incarnations"
    /// Redis time up to which outage grace has been granted (see ``RedisScripts/applyOutageGrace``).
    static let graceUntilName = "grace-until"
    static let relayAgentsByIDSegment = "relay-agents-by-id:"
    static let relaysByIDIndexName = "relays-by-id"
    static let agentsByIDIndexName = "agents-by-id"

    /// The configured prefix (possibly empty).
    public let prefix: String

    /// Validates `prefix`: at most 128 bytes, no whitespace, control characters or braces
    /// (a brace would change the Redis Cluster hash tag).
    public init(prefix: String = "") throws(RegistryError) {
        if prefix.utf8.count > Self.maximumPrefixBytes {
            throw .invalidArgument("the redis key prefix is \(prefix.utf8.count) bytes long; the limit is \(Self.maximumPrefixBytes)")
        }
        if let bad = prefix.unicodeScalars.first(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control || $0 == "{" || $0 == "}" }) {
            throw .invalidArgument("the redis key prefix must not contain whitespace, control characters or braces (found \(bad.escaped(asASCII: true)))")
        }
        self.prefix = prefix
    }

    /// The start of every key.
    public var root: String { self.prefix + Self.namespace }

    /// The hash of a relay.
    public func relayKey(_ id: RelayID) -> String { self.root + Self.relaySegment + Self.encode(id) }
    /// The hash of an agent.
    public func agentKey(_ id: AgentID) -> String { self.root + Self.agentSegment + Self.encode(id) }
    /// The sorted set of the agents placed on a relay.
    public func relayAgentsKey(_ id: RelayID) -> String { self.root + Self.relayAgentsSegment + Self.encode(id) }
    /// The sorted set of all relays, by deadline.
    public var relaysIndex: String { self.root + Self.relaysIndexName }
    /// The sorted set of all agents, by deadline.
    public var agentsIndex: String { self.root + Self.agentsIndexName }
    /// The incarnation counter.
    public var incarnations: String { self.root + Self.incarnationsName }
    /// The sorted set of all relays, in ID order.
    public var relaysByIDIndex: String { self.root + Self.relaysByIDIndexName }
    /// The sorted set of all agents, in ID order.
    public var agentsByIDIndex: String { self.root + Self.agentsByIDIndexName }
    /// The sorted set of the agents placed on a relay, in ID order.
    public func relayAgentsByIDKey(_ id: RelayID) -> String { self.root + Self.relayAgentsByIDSegment + Self.encode(id) }

    /// An ID as a member of the `-by-id` indexes: its raw UTF-8 bytes, a NUL, then its
    /// encoding. Redis orders members of equal score byte by byte (`memcmp`), so these
    /// sort as the IDs do: no ID contains a control character, so the NUL sorts a shorter
    /// ID before every ID it is a prefix of. The encoding names the ID's keys.
    public static func orderedMember(_ id: some RegistryIdentifier) -> String {
        id.rawValue + "\u{0}" + Self.encode(id)
    }

    /// The `ZRANGEBYLEX` bound that starts just after `id`: every member whose ID is
    /// greater than `id` is at or above it, every other one below it.
    static func orderedStart(after id: (some RegistryIdentifier)?) -> String {
        guard let id else { return "-" }
        return "[" + id.rawValue + "\u{1}"
    }

    /// An ID as it appears in key names and index members.
    public static func encode(_ id: some RegistryIdentifier) -> String {
        Base64URL.encode(id.rawValue.utf8)
    }

    /// The relay ID an index member or hash field names, or nil when it is not a valid encoded ID.
    static func relayID(_ encoded: String) -> RelayID? {
        Self.decodeID(encoded).flatMap { try? RelayID(validating: $0) }
    }

    /// The agent ID an index member names, or nil when it is not a valid encoded ID.
    static func agentID(_ encoded: String) -> AgentID? {
        Self.decodeID(encoded).flatMap { try? AgentID(validating: $0) }
    }

    private static func decodeID(_ encoded: String) -> String? {
        guard let bytes = Base64URL.decode(encoded) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
