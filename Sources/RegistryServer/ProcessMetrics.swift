import Prometheus
import RegistryCore
import Synchronization

/// The process metrics every Prometheus client library exports, under their usual names
/// (`process_resident_memory_bytes`, `process_cpu_seconds_total`, `process_open_fds`,
/// `process_start_time_seconds`), read from /proc at scrape time.
final class ProcessMetrics: Sendable {
    private let resident: Gauge
    private let cpu: Counter
    private let openFileDescriptors: Gauge
    private let cpuSecondsReported = Mutex(0.0)

    init(registry: PrometheusCollectorRegistry, startTime: UnixMilliseconds) {
        self.resident = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        self.cpu = registry.makeCounter(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
        self.openFileDescriptors = registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
        registry.makeGauge(name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch in seconds.")
            .set(Double(startTime.rawValue) / 1000)
    }

    /// Reads /proc now.
    func refresh() {
        if let stats = ProcessStats.readOwn() {
            self.resident.set(Double(stats.residentBytes))
            let delta = self.cpuSecondsReported.withLock { reported in
                defer { reported = max(reported, stats.cpuSeconds) }
                return max(stats.cpuSeconds - reported, 0)
            }
            self.cpu.increment(by: delta)
        }
        if let descriptors = ProcessStats.ownOpenFileDescriptors() {
            self.openFileDescriptors.set(Double(descriptors))
        }
    }
}

/// The outages the backend's tracker saw end, as counters read at scrape time:
/// `aero_arc_registry_outages_total` and `aero_arc_registry_outage_grace_seconds_total`.
final class OutageMetrics: Sendable {
    private let outages: Counter
    private let grace: Counter
    private let reported = Mutex(OutageTracker.History())

    init(registry: PrometheusCollectorRegistry) {
        self.outages = registry.makeCounter(name: "aero_arc_registry_outages_total", help: "Store outages this replica saw end.")
        self.grace = registry.makeCounter(
            name: "aero_arc_registry_outage_grace_seconds_total",
            help: "Outage grace granted to live entries, summed over outages."
        )
    }

    func refresh(from tracker: OutageTracker?) {
        guard let history = tracker?.history else { return }
        let (outages, grace) = self.reported.withLock { reported in
            defer { reported = history }
            return (history.outages - reported.outages, history.totalGrace - reported.totalGrace)
        }
        if outages > 0 {
            self.outages.increment(by: Int64(outages))
        }
        if grace > .zero {
            let (seconds, attoseconds) = grace.components
            self.grace.increment(by: Double(seconds) + Double(attoseconds) / 1e18)
        }
    }
}
