public import Logging
import GRPCCore
import RegistryCore
import RegistryProtos

/// Runs the configured scenarios against a target and collects the measurements.
public struct BenchRunner: Sendable {
    public let configuration: BenchConfiguration
    public let target: BenchTarget
    public let fleet: Fleet
    private let logger: Logger
    var loggerForScenarios: Logger { self.logger }

    public init(configuration: BenchConfiguration, target: BenchTarget, logger: Logger) {
        self.configuration = configuration
        self.target = target
        self.fleet = Fleet(relays: configuration.relays, agents: configuration.agents)
        self.logger = logger
    }

    /// Server stats now, when the server is local.
    func serverStats() -> ProcessStats? {
        self.configuration.serverPID.flatMap(ProcessStats.read(pid:))
    }

    /// Preloads the fleet if a scenario needs it, then runs every scenario in order.
    public func run() async throws -> (measurements: [Measurement], residentAfterPreload: Int?) {
        var measurements: [Measurement] = []
        var residentAfterPreload: Int?
        let dataScenarios = self.configuration.scenarios.filter { $0.needsFleet && $0 != .expiry && $0 != .outage }
        if !dataScenarios.isEmpty {
            self.logger.info("preloading \(self.fleet.relayIDs.count) relays and \(self.fleet.agentIDs.count) agents")
            let clock = ContinuousClock()
            let started = clock.now
            try await self.fleet.preload(on: self.target)
            residentAfterPreload = self.serverStats()?.residentBytes
            self.logger.info("preloaded in \(clock.now - started)")
        }
        var noopThroughput: [String: Double] = [:]
        for scenario in self.configuration.scenarios {
            switch scenario {
            case .fleet:
                measurements += await self.runFleet()
            case .fleetSync:
                measurements += await self.runFleetSync()
            case .expiry:
                measurements += try await ExpiryScenario(runner: self).run()
            case .outage:
                guard let storePID = self.configuration.storePID else {
                    throw RPCError(code: .invalidArgument, message: "the outage drill needs --store-pid")
                }
                measurements += try await OutageScenario(runner: self, storePID: storePID, outage: self.configuration.outage).run()
            default:
                let closed = await self.measure(scenario, closed: true, rate: nil)
                if scenario == .noop {
                    noopThroughput["closed"] = closed.throughput
                }
                measurements.append(closed)
                guard self.configuration.openLoopScenarios.contains(scenario) else { continue }
                for fraction in self.configuration.openLoopFractions where closed.throughput > 0 {
                    let open = await self.measure(scenario, closed: false, rate: closed.throughput * fraction)
                    measurements.append(open)
                }
            }
        }
        if let baseline = noopThroughput["closed"], baseline > 0 {
            for index in measurements.indices where measurements[index].mode == "closed" && measurements[index].scenario != "noop" {
                measurements[index].ratioToNoop = measurements[index].throughput / baseline
            }
        }
        return (measurements, residentAfterPreload)
    }

    /// One closed- or open-loop run of a single-operation scenario.
    func measure(_ scenario: Scenario, closed: Bool, rate: Double?) async -> Measurement {
        let operation = scenario.operation(target: self.target, fleet: self.fleet)
        self.logger.info("running \(scenario.rawValue) \(closed ? "closed loop" : "open loop at \(Int(rate ?? 0))/s")")
        let before = self.serverStats()
        let result: LoadResult =
            if closed {
                await LoadGenerator.closedLoop(
                    concurrency: self.concurrency(for: scenario),
                    warmup: self.configuration.warmup,
                    duration: self.configuration.duration,
                    operation: operation
                )
            } else {
                await LoadGenerator.openLoop(
                    rate: rate ?? 1,
                    warmup: self.configuration.warmup,
                    duration: self.configuration.duration,
                    operation: operation
                )
            }
        var measurement = Measurement(scenario: scenario.rawValue, mode: closed ? "closed" : "open", result: result)
        if closed {
            measurement.concurrency = self.concurrency(for: scenario)
        } else {
            measurement.offeredRate = rate
        }
        measurement.connections = self.configuration.connections
        if scenario != .noop, let before, let after = self.serverStats(), measurement.calls > 0 {
            // Includes the warm-up's calls, which cost CPU too.
            let calls = Double(measurement.calls) * (1 + self.configuration.warmup.seconds / max(self.configuration.duration.seconds, 0.001))
            measurement.serverCPUMicrosPerCall = (after.cpuSeconds - before.cpuSeconds) * 1e6 / calls
        }
        return measurement
    }

    /// Whole-list reads are heavy: fewer callers keep them from starving each other.
    private func concurrency(for scenario: Scenario) -> Int {
        switch scenario {
        case .listAgents: min(self.configuration.concurrency, 4)
        default: self.configuration.concurrency
        }
    }

    /// Every relay syncing all its agents once per fleet interval (one SyncRelay per relay),
    /// with placement reads, together. CPU is also reported per agent renewal, the figure
    /// to compare with the v1 fleet's.
    func runFleetSync() async -> [Measurement] {
        let interval = self.configuration.fleetInterval.seconds
        let relays = self.fleet.relayIDs
        let syncRate = Double(relays.count) / interval
        let readRate = self.configuration.fleetReadsPerSecond
        // Agent i is on relay i % R, as preloaded: each relay renews its own.
        let renewals = self.fleet.agentIndices(onRelays: relays.indices).map { $0.map { self.fleet.agentIDs[$0] } }
        self.logger.info("running fleet-sync: \(Int(syncRate)) syncs/s of \(self.fleet.agentIDs.count / max(relays.count, 1)) agents, \(Int(readRate)) reads/s")
        let target = self.target
        let fleet = self.fleet
        /// Relay `relay`'s sync, placing or renewing all its agents, on connection `worker`.
        @Sendable func sync(_ relay: Int, placing: Bool, worker: Int) async throws -> Aeroarc_Registry_Fleet_V1_SyncRelayResponse {
            var request = Aeroarc_Registry_Fleet_V1_SyncRelayRequest()
            request.relayID = relays[relay]
            let registration = fleet.registerRelayRequest(relay)
            request.address = registration.relay.address
            request.grpcPort = registration.relay.grpcPort
            if placing {
                request.placeAgentIds = renewals[relay]
            } else {
                request.renewAgentIds = renewals[relay]
            }
            return try await target.fleet(worker).syncRelay(request)
        }
        // Earlier scenarios (register-agent) move agents off their home relays: one sync per
        // relay placing its agents puts them back, as a fleet restart would, so that the
        // measured syncs only renew.
        do {
            try await Fleet.forEach(Array(relays.indices), concurrency: 64) { relay in
                _ = try await sync(relay, placing: true, worker: relay)
            }
        } catch {
            self.logger.error("placing the fleet through SyncRelay failed: \(error)")
        }
        let renewal: Operation = { worker, sequence in
            let relay = sequence % relays.count
            let response = try await sync(relay, placing: false, worker: worker)
            guard response.lostAgents.isEmpty else {
                throw RPCError(code: .dataLoss, message: "sync of \(relays[relay]) lost \(response.lostAgents.count) agents")
            }
        }
        let streams: [(String, Double, Operation)] = [
            ("relay syncs", syncRate, renewal),
            ("placement reads", readRate, Scenario.getPlacement.operation(target: target, fleet: self.fleet)),
        ]
        let agentsPerSync = Double(self.fleet.agentIDs.count) / Double(max(relays.count, 1))
        return await self.runOpenLoopStreams("fleet-sync", streams) { measurements in
            Double(measurements.first { $0.stream == "relay syncs" }?.calls ?? 0) * agentsPerSync
        }
    }

    /// Relay heartbeats, agent heartbeats and placement reads at their fleet rates, together.
    func runFleet() async -> [Measurement] {
        let interval = self.configuration.fleetInterval.seconds
        let relayRate = Double(self.fleet.relayIDs.count) / interval
        let agentRate = Double(self.fleet.agentIDs.count) / interval
        let readRate = self.configuration.fleetReadsPerSecond
        self.logger.info("running fleet: \(Int(relayRate)) relay + \(Int(agentRate)) agent heartbeats/s, \(Int(readRate)) reads/s")
        let agents = self.fleet.agentIDs
        let target = self.target
        let agentHeartbeat: Operation = { worker, sequence in
            // As the existing relays do: no timestamp, no relay_id.
            var request = Aeroarc_Registry_V1_HeartbeatAgentRequest()
            request.agentID = agents[sequence % agents.count]
            _ = try await target.registry(worker).heartbeatAgent(request)
        }
        let streams: [(String, Double, Operation)] = [
            ("relay heartbeats", relayRate, Scenario.heartbeatRelay.operation(target: target, fleet: self.fleet)),
            ("agent heartbeats", agentRate, agentHeartbeat),
            ("placement reads", readRate, Scenario.getPlacement.operation(target: target, fleet: self.fleet)),
        ]
        return await self.runOpenLoopStreams("fleet", streams) { measurements in
            Double(measurements.first { $0.stream == "agent heartbeats" }?.calls ?? 0)
        }
    }

    /// Runs `streams` (name, offered calls/s, operation) together in open loop and reports
    /// each as a row of `scenario`, with the server's CPU per call over all of them, and,
    /// once, its CPU per agent renewal (`agentRenewals` counts them in the measured rows)
    /// and in cores.
    private func runOpenLoopStreams(
        _ scenario: String,
        _ streams: [(String, Double, Operation)],
        agentRenewals: ([Measurement]) -> Double
    ) async -> [Measurement] {
        let before = self.serverStats()
        let results = await withTaskGroup(of: (Int, LoadResult).self) { group in
            for (index, stream) in streams.enumerated() where stream.1 > 0 {
                group.addTask {
                    (index, await LoadGenerator.openLoop(rate: stream.1, warmup: self.configuration.warmup, duration: self.configuration.duration, operation: stream.2))
                }
            }
            var results: [Int: LoadResult] = [:]
            for await (index, result) in group {
                results[index] = result
            }
            return results
        }
        let after = self.serverStats()
        var measurements: [Measurement] = []
        for (index, stream) in streams.enumerated() {
            guard let result = results[index] else { continue }
            var measurement = Measurement(scenario: scenario, stream: stream.0, mode: "open", result: result)
            measurement.offeredRate = stream.1
            measurement.connections = self.configuration.connections
            measurements.append(measurement)
        }
        guard let before, let after, !measurements.isEmpty else { return measurements }
        // CPU is read over warm-up and measurement both: scale the measured calls to match.
        let cpu = (after.cpuSeconds - before.cpuSeconds) * 1e6
        let scale = 1 + self.configuration.warmup.seconds / self.configuration.duration.seconds
        let calls = measurements.reduce(0) { $0 + Double($1.calls) } * scale
        for index in measurements.indices {
            measurements[index].serverCPUMicrosPerCall = cpu / max(calls, 1)
        }
        measurements[0].notes = [
            "cpu_us_per_agent_renewal": cpu / max(agentRenewals(measurements) * scale, 1),
            "server_cpu_cores": cpu / 1e6 / (self.configuration.duration.seconds * scale),
        ]
        return measurements
    }
}

