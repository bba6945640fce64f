/// Upper bounds on what clients can make a backend store, so that no client can grow
/// the registry's memory or storage without bound.
public struct CapacityLimits: Hashable, Sendable {
    /// The default bound on relays.
    public static let defaultMaxRelays = 10_000
    /// The default bound on agents.
    public static let defaultMaxAgents = 1_000_000

    /// Relays stored at once; registering one more fails with `resourceExhausted`.
    public var maxRelays: Int
    /// Agents stored at once; registering one more fails with `resourceExhausted`.
    public var maxAgents: Int

    public init(maxRelays: Int = Self.defaultMaxRelays, maxAgents: Int = Self.defaultMaxAgents) {
        self.maxRelays = maxRelays
        self.maxAgents = maxAgents
    }
}
