/// How long relays and agents stay live after their last registration or heartbeat.
public struct TTLPolicy: Hashable, Sendable {
    /// The TTLs accepted: one second to one day.
    public static let acceptedRange: ClosedRange<Duration> = .seconds(1) ... .seconds(24 * 60 * 60)

    /// The default TTL for both relays and agents.
    public static let defaultTTL: Duration = .seconds(30)

    /// A relay is live while now < its last heartbeat + `relayTTL`.
    public let relayTTL: Duration
    /// An agent is live while now < its last heartbeat + `agentTTL`, and its relay is live.
    public let agentTTL: Duration

    /// Validates both TTLs against ``acceptedRange``.
    public init(relayTTL: Duration = Self.defaultTTL, agentTTL: Duration = Self.defaultTTL) throws(RegistryError) {
        try Self.check(relayTTL, name: "relay TTL")
        try Self.check(agentTTL, name: "agent TTL")
        self.relayTTL = relayTTL
        self.agentTTL = agentTTL
    }

    /// The default policy: 30 seconds for both.
    public static let `default` = Self(unchecked: defaultTTL, defaultTTL)

    private init(unchecked relayTTL: Duration, _ agentTTL: Duration) {
        self.relayTTL = relayTTL
        self.agentTTL = agentTTL
    }

    private static func check(_ ttl: Duration, name: String) throws(RegistryError) {
        guard Self.acceptedRange.contains(ttl) else {
            throw .invalidArgument("\(name) must be between 1s and 24h, not \(ttl.goDescription)")
        }
    }

    /// The relay TTL in milliseconds.
    public var relayTTLMilliseconds: Int64 { self.relayTTL.wholeMilliseconds }
    /// The agent TTL in milliseconds.
    public var agentTTLMilliseconds: Int64 { self.agentTTL.wholeMilliseconds }
}
