public import Logging
public import ServiceLifecycle
import Synchronization

/// Counts the live fleet every `interval`, for the `aero_arc_registry_live_relays` and
/// `aero_arc_registry_live_agents` gauges and the status RPC.
///
/// Cheap on every backend: it pages through the relay statuses (10,000 relays per call,
/// each with its live agent count), so a census costs one backend call per 10,000 relays,
/// never a listing of every agent, and scrapes never touch the store. The figures are at
/// most `interval` old.
public final class FleetCensus: Service, Sendable {
    /// The last count, and when it was taken (registry time).
    public struct Count: Sendable, Equatable {
        public var relays: Int
        public var agents: Int
        public var asOf: UnixMilliseconds
    }

    private let registry: Registry
    private let interval: Duration
    private let logger: Logger
    private let last = Mutex<Count?>(nil)

    public init(registry: Registry, interval: Duration = .seconds(15), logger: Logger) {
        self.registry = registry
        self.interval = interval
        self.logger = logger
    }

    /// The last census, nil before the first one succeeded.
    public var latest: Count? {
        self.last.withLock { $0 }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await self.take()
            } catch {
                self.logger.debug("fleet census failed; retrying next interval", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: self.interval)
                }
            } catch {
                return
            }
        }
    }

    /// Takes one census now.
    public func take() async throws {
        var relays = 0
        var agents = 0
        var after: RelayID?
        var asOf = UnixMilliseconds(0)
        repeat {
            let page = try await self.registry.listRelayStatuses(after: after, limit: 10_000)
            relays += page.entries.count
            agents += page.entries.reduce(0) { $0 + $1.agentCount }
            asOf = page.asOf
            after = page.hasMore ? page.entries.last?.relay.id : nil
        } while after != nil
        let count = Count(relays: relays, agents: agents, asOf: asOf)
        self.last.withLock { $0 = count }
        self.registry.metrics.liveFleet(relays: relays, agents: agents)
    }
}
