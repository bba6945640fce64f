import GRPCCore
import RegistryCore
import RegistryProtos
import Logging
import Synchronization

/// Lets a tenth of the relays lapse, so that a tenth of the agents die with them, while
/// heartbeats of the survivors go on, and measures what that costs the server.
///
/// Needs a registry whose relay TTL is short (at most 10s; `scripts/bench` uses 2s) and
/// whose agent TTL is long, so that only the lapsed relays' agents expire. Relays are
/// kept alive by heartbeating them four times per TTL. Two windows of equal length and
/// load are compared: one without expiry, one in which the lapsed relays expire and the
/// server reclaims them; the difference in server CPU is the cost of the expiry.
struct ExpiryScenario {
    let runner: BenchRunner

    func run() async throws -> [Measurement] {
        let target = self.runner.target
        let fleet = self.runner.fleet
        let relays = fleet.relayIDs.count
        let lapsing = relays / 10
        let relayTTL = try await target.registry(0).listRelays(Aeroarc_Registry_V1_ListRelaysRequest()) { response in
            response.metadata[stringValues: ResponseMetadataKeys.relayTTL].first(where: { _ in true }).flatMap { Int64($0) }
        }
        guard let relayTTL, relayTTL <= 10_000 else {
            throw RPCError(code: .failedPrecondition, message: "the expiry scenario needs a registry started with --relay-ttl of at most 10s")
        }
        let ttl = Duration.milliseconds(relayTTL)
        let kept = KeptRelays(0..<relays)
        let keepalive = Task {
            try await self.keepAlive(kept: kept, fleet: fleet, target: target, every: ttl / 4)
        }
        defer { keepalive.cancel() }

        self.runnerLog("preloading \(relays) relays and \(fleet.agentIDs.count) agents with relays kept alive")
        try await fleet.preload(on: target)
        _ = try await target.registry(0).listAgents(Aeroarc_Registry_V1_ListAgentsRequest())

        // Heartbeats of agents whose relays survive, with relay_id, at a steady rate.
        let survivors = (0..<fleet.agentIDs.count).filter { $0 % relays >= lapsing }
        let heartbeat: Operation = { worker, sequence in
            var request = Aeroarc_Registry_V1_HeartbeatAgentRequest()
            let index = survivors[sequence % survivors.count]
            request.agentID = fleet.agentIDs[index]
            request.relayID = fleet.homeRelay(ofAgent: index)
            _ = try await target.registry(worker).heartbeatAgent(request)
        }
        let window = ttl + .seconds(2)
        let rate = 2_000.0

        self.runnerLog("expiry: baseline window of \(window)")
        let baselineBefore = self.runner.serverStats()
        let baseline = await LoadGenerator.openLoop(rate: rate, warmup: .zero, duration: window, operation: heartbeat)
        let baselineAfter = self.runner.serverStats()

        self.runnerLog("expiry: letting relays 0..<\(lapsing) lapse")
        kept.range.withLock { $0 = lapsing..<relays }
        let expiryBefore = self.runner.serverStats()
        let during = await LoadGenerator.openLoop(rate: rate, warmup: .zero, duration: window, operation: heartbeat)
        let expiryAfter = self.runner.serverStats()

        let remainingRelays = try await target.registry(0).listRelays(Aeroarc_Registry_V1_ListRelaysRequest()).relays.count
        let remainingAgents = try await target.registry(0).listAgents(Aeroarc_Registry_V1_ListAgentsRequest()).agents.count

        var baselineRow = Measurement(scenario: "expiry", stream: "heartbeats, no expiry", mode: "open", result: baseline)
        baselineRow.offeredRate = rate
        var duringRow = Measurement(scenario: "expiry", stream: "heartbeats while expiring", mode: "open", result: during)
        duringRow.offeredRate = rate
        var notes: [String: Double] = [
            "relays_remaining": Double(remainingRelays),
            "agents_remaining": Double(remainingAgents),
            "agents_expired": Double(fleet.agentIDs.count - remainingAgents),
        ]
        if let baselineBefore, let baselineAfter, let expiryBefore, let expiryAfter {
            let quiet = (baselineAfter.cpuSeconds - baselineBefore.cpuSeconds) * 1000
            let busy = (expiryAfter.cpuSeconds - expiryBefore.cpuSeconds) * 1000
            notes["server_cpu_ms_window_without_expiry"] = quiet
            notes["server_cpu_ms_window_with_expiry"] = busy
            notes["server_cpu_ms_for_expiry"] = busy - quiet
        }
        duringRow.notes = notes
        return [baselineRow, duringRow]
    }

    /// Heartbeats every kept relay once per `every`, re-registering any that lapsed.
    private func keepAlive(kept: KeptRelays, fleet: Fleet, target: BenchTarget, every: Duration) async throws {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let started = clock.now
            let range = kept.range.withLock { $0 }
            try await Fleet.forEach(Array(range), concurrency: 32) { index in
                var request = Aeroarc_Registry_V1_HeartbeatRelayRequest()
                request.relayID = fleet.relayIDs[index]
                do {
                    _ = try await target.registry(index).heartbeatRelay(request)
                } catch let error as RPCError where error.code == .notFound {
                    _ = try await target.registry(index).registerRelay(fleet.registerRelayRequest(index))
                }
            }
            try await Task.sleep(until: started + every, clock: clock)
        }
    }

    private func runnerLog(_ message: String) {
        self.runner.log(message)
    }
}

extension BenchRunner {
    func log(_ message: String) {
        self.loggerForScenarios.info("\(message)")
    }
}

/// The relays the keep-alive loop heartbeats; the scenario narrows it to let some lapse.
final class KeptRelays: Sendable {
    let range: Mutex<Range<Int>>
    init(_ range: Range<Int>) {
        self.range = Mutex(range)
    }
}
