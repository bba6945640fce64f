import Histogram

/// One row of the results: a scenario (or one stream of a combined scenario) under one load.
public struct Measurement: Codable, Sendable {
    public var scenario: String
    /// For combined scenarios, which part of the traffic this row is.
    public var stream: String?
    /// "closed" or "open".
    public var mode: String
    public var concurrency: Int?
    public var connections: Int?
    /// Calls per second offered, in open loop.
    public var offeredRate: Double?
    public var calls: Int
    /// Completed calls per second.
    public var throughput: Double
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    public var p999Ms: Double
    public var maxMs: Double
    /// Failed calls by status code.
    public var errors: [String: Int]
    /// Server CPU time (user + system) per completed call, in microseconds, when the server is local.
    public var serverCPUMicrosPerCall: Double?
    /// Throughput as a fraction of the noop baseline's, same mode, callers and connections.
    public var ratioToNoop: Double?
    /// Free-form figures a scenario adds (e.g. the expiry scenario's CPU cost).
    public var notes: [String: Double]?

    init(scenario: String, stream: String? = nil, mode: String, result: LoadResult) {
        self.scenario = scenario
        self.stream = stream
        self.mode = mode
        self.calls = result.successes + result.errorCount
        self.throughput = result.throughput
        func ms(_ percentile: Double) -> Double {
            Double(result.latency.valueAtPercentile(percentile)) / 1000
        }
        self.p50Ms = ms(50)
        self.p90Ms = ms(90)
        self.p99Ms = ms(99)
        self.p999Ms = ms(99.9)
        self.maxMs = Double(result.latency.max) / 1000
        self.errors = result.errors
    }
}

/// Everything one bench run measured, with where it ran.
public struct BenchReport: Codable, Sendable {
    public var label: String
    public var startedAt: String
    public var machine: String
    public var server: String
    public var fleet: String
    /// The server's resident memory after preloading the fleet, in bytes.
    public var serverResidentBytesAfterPreload: Int?
    /// The server's peak resident memory over the whole run, in bytes.
    public var serverPeakResidentBytes: Int?
    public var measurements: [Measurement]

    public init(
        label: String,
        startedAt: String,
        machine: String,
        server: String,
        fleet: String,
        serverResidentBytesAfterPreload: Int?,
        serverPeakResidentBytes: Int?,
        measurements: [Measurement]
    ) {
        self.label = label
        self.startedAt = startedAt
        self.machine = machine
        self.server = server
        self.fleet = fleet
        self.serverResidentBytesAfterPreload = serverResidentBytesAfterPreload
        self.serverPeakResidentBytes = serverPeakResidentBytes
        self.measurements = measurements
    }
}
