/// Names of the response metadata the gRPC service attaches to list and placement
/// responses, so tools can show how long entries have left without knowing the server's
/// flags or trusting their own clock. Extra metadata is invisible to clients of the
/// published contract, which stays unchanged.
public enum ResponseMetadataKeys {
    /// The relay TTL in force, in milliseconds.
    public static let relayTTL = "aero-arc-relay-ttl-ms"
    /// The agent TTL in force, in milliseconds.
    public static let agentTTL = "aero-arc-agent-ttl-ms"
    /// The registry time (Unix milliseconds) at which the response's liveness was evaluated.
    public static let asOf = "aero-arc-as-of-unix-ms"
    /// `true` on a placement answered from what this replica last confirmed, because the
    /// store could not be reached (docs/degraded-operation.md).
    public static let stale = "aero-arc-stale"
    /// How long ago the stale answer was confirmed, in milliseconds.
    public static let staleAge = "aero-arc-stale-age-ms"
}
