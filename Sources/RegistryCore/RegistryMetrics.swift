public import CoreMetrics
import Synchronization

/// The registry's own signals, recorded through swift-metrics.
///
/// Library code never chooses a metrics backend: it records into the factory it is given
/// (the server binary passes a Prometheus one when `--metrics-port` is set; by default
/// nothing is recorded). Names follow docs/observability.md and never change.
public struct RegistryMetrics: Sendable {
    /// Where metrics go.
    public let factory: any MetricsFactory
    /// The backend's name, as the `backend` label.
    public let backendName: String

    /// The store-operation timers, made once per operation.
    private let timers = TimerCache()

    /// False for ``disabled``: per-call recording is skipped altogether.
    private let enabled: Bool

    /// Records nothing, at no cost per call.
    public static let disabled = RegistryMetrics(factory: NOOPMetricsHandler.instance, backendName: "none", enabled: false)

    public init(factory: any MetricsFactory, backendName: String) {
        self.init(factory: factory, backendName: backendName, enabled: true)
    }

    private init(factory: any MetricsFactory, backendName: String, enabled: Bool) {
        self.factory = factory
        self.backendName = backendName
        self.enabled = enabled
    }

    private final class TimerCache: Sendable {
        let timers = Mutex<[String: Timer]>([:])
    }

    /// One store operation (a backend call through the facade) and its outcome.
    func storeOperation(_ operation: String, took duration: Duration, error: RegistryError.Code?) {
        guard self.enabled else { return }
        let timer = self.timers.timers.withLock { timers in
            if let timer = timers[operation] { return timer }
            let timer = Timer(
                label: "aero_arc_registry_store_operation_seconds",
                dimensions: [("backend", self.backendName), ("operation", operation)],
                factory: self.factory
            )
            timers[operation] = timer
            return timer
        }
        timer.record(duration: duration)
        if let error, error == .unavailable || error == .internalError {
            Counter(
                label: "aero_arc_registry_store_errors_total",
                dimensions: [("backend", self.backendName), ("kind", error == .unavailable ? "unavailable" : "internal")],
                factory: self.factory
            ).increment()
        }
    }

    /// Whether the store is reachable (1) or not (0).
    public func storeUp(_ up: Bool) {
        Gauge(label: "aero_arc_registry_store_up", dimensions: [("backend", self.backendName)], factory: self.factory)
            .record(up ? 1 : 0)
    }

    /// The live fleet, as the last census counted it.
    func liveFleet(relays: Int, agents: Int) {
        Gauge(label: "aero_arc_registry_live_relays", factory: self.factory).record(relays)
        Gauge(label: "aero_arc_registry_live_agents", factory: self.factory).record(agents)
    }

    /// Entries removed because they expired.
    public func expired(relays: Int, agents: Int) {
        if relays > 0 {
            Counter(label: "aero_arc_registry_expired_total", dimensions: [("kind", "relay")], factory: self.factory)
                .increment(by: relays)
        }
        if agents > 0 {
            Counter(label: "aero_arc_registry_expired_total", dimensions: [("kind", "agent")], factory: self.factory)
                .increment(by: agents)
        }
    }

    /// Agents moved from one live relay to another.
    func agentsMoved(_ count: Int = 1) {
        guard count > 0 else { return }
        Counter(label: "aero_arc_registry_agent_moves_total", factory: self.factory).increment(by: count)
    }

    /// A relay registered again after it had expired.
    func relayRestarted() {
        Counter(label: "aero_arc_registry_relay_restarts_total", factory: self.factory).increment()
    }

    /// A placement read answered from the replica's last confirmed state.
    func staleRead() {
        Counter(label: "aero_arc_registry_stale_reads_total", factory: self.factory).increment()
    }

    /// Registry time minus the sender's, for a heartbeat or sync that carried its time.
    /// Never used for liveness: it shows fleets whose clocks drift.
    public func clockSkew(registryTime: UnixMilliseconds, senderTime: UnixMilliseconds) {
        Recorder(label: "aero_arc_registry_client_clock_skew_seconds", factory: self.factory)
            .record(Double(registryTime.rawValue - senderTime.rawValue) / 1000)
    }
}

extension Timer {
    fileprivate func record(duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
