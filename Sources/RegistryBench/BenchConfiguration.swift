/// How a bench run is shaped.
public struct BenchConfiguration: Sendable {
    public var scenarios: [Scenario] = Scenario.standard
    public var warmup: Duration = .seconds(2)
    public var duration: Duration = .seconds(10)
    /// Closed-loop callers.
    public var concurrency = 64
    /// Connections the callers share (and as many to the noop server).
    public var connections = 4
    /// After each closed-loop run, open-loop runs at these fractions of its throughput.
    public var openLoopFractions: [Double] = [0.5]
    /// Open-loop runs of these scenarios only (the cheap, high-rate ones).
    public var openLoopScenarios: Set<Scenario> = [.noop, .heartbeatAgent, .getPlacement]
    public var relays = 1_000
    public var agents = 100_000
    /// Fleet scenario: every relay and agent heartbeats once per interval...
    public var fleetInterval: Duration = .seconds(10)
    /// ...and this many placement reads per second run alongside.
    public var fleetReadsPerSecond: Double = 1_000
    /// The server's process ID, when it runs on this machine, for memory and CPU figures.
    public var serverPID: Int32?
    /// Outage drill: the store's process ID, and how long to pause it.
    public var storePID: Int32?
    public var outage: Duration = .seconds(7)

    public init() {}
}
