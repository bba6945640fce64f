import Foundation
import GRPCCore
import RegistryCore
import RegistryProtos
import Synchronization

/// An outage drill: the fleet heartbeats through v1 as relays do today, the store is
/// paused (SIGSTOP) for `--outage` and resumed (SIGCONT), and the drill reports what the
/// fleet saw: NOT_FOUND answers after the resume (each one is a re-registration), how many
/// placement reads were answered correctly during the pause, and how long after the
/// resume every relay and agent was listed again.
///
/// Needs `--store-pid` (the redis-server or etcd on this machine) and a registry with
/// TTLs shorter than the pause (the drill: `--relay-ttl 3s --agent-ttl 3s`,
/// `--fleet-interval 1s`, `--outage 7s`, 10 relays × 300 agents, `--connections 10`).
struct OutageScenario {
    let runner: BenchRunner
    let storePID: Int32
    let outage: Duration

    /// What the fleet saw, counted by the relay loops and the readers.
    final class Tally: Sendable {
        struct Counts {
            var notFoundDuringPause = 0
            var notFoundAfterResume = 0
            var unavailable = 0
            var readsDuringPause = 0
            var readsAnsweredCorrectly = 0
            var readsAnsweredStale = 0
            var readsAnsweredWrongly = 0
        }
        let counts = Mutex(Counts())
        /// 0 before the pause, 1 during it, 2 after the resume.
        let phase = Atomic<Int>(0)

        func notFound() {
            let phase = self.phase.load(ordering: .relaxed)
            self.counts.withLock { phase == 2 ? ($0.notFoundAfterResume += 1) : ($0.notFoundDuringPause += 1) }
        }
    }

    func run() async throws -> [Measurement] {
        let target = self.runner.target
        let fleet = self.runner.fleet
        let interval = self.runner.configuration.fleetInterval
        let tally = Tally()
        self.runner.log("outage drill: preloading \(fleet.relayIDs.count) relays and \(fleet.agentIDs.count) agents")
        try await fleet.preload(on: target)
        let agentsOfRelay = fleet.agentIndices(onRelays: 0..<fleet.relayIDs.count)

        let relayLoops = Task {
            await withTaskGroup(of: Void.self) { group in
                for relay in fleet.relayIDs.indices {
                    group.addTask {
                        await self.relayLoop(relay, agents: agentsOfRelay[relay], every: interval, tally: tally)
                    }
                }
            }
        }
        defer { relayLoops.cancel() }
        let readRate = self.runner.configuration.fleetReadsPerSecond
        let readers = Task {
            // Reads on a fixed schedule until cancelled, whether or not earlier ones returned.
            await withDiscardingTaskGroup { group in
                var sequence = 0
                while !Task.isCancelled {
                    let worker = sequence
                    group.addTask { try? await self.read(worker: worker, sequence: worker, tally: tally) }
                    sequence += 1
                    try? await Task.sleep(for: .seconds(1 / max(readRate, 0.1)))
                }
            }
        }
        defer { readers.cancel() }

        try await Task.sleep(for: interval * 3)
        self.runner.log("outage drill: pausing the store (pid \(self.storePID)) for \(self.outage)")
        tally.phase.store(1, ordering: .relaxed)
        guard kill(self.storePID, SIGSTOP) == 0 else {
            throw RPCError(code: .failedPrecondition, message: "cannot signal the store's process \(self.storePID)")
        }
        try? await Task.sleep(for: self.outage)
        kill(self.storePID, SIGCONT)
        let resumed = ContinuousClock.now
        tally.phase.store(2, ordering: .relaxed)
        self.runner.log("outage drill: store resumed")

        let allListed = try await self.waitUntilAllListed(since: resumed, timeout: .seconds(30))
        try await Task.sleep(until: resumed + max(interval * 5, .seconds(5)), clock: .continuous)
        relayLoops.cancel()
        readers.cancel()

        let counts = tally.counts.withLock { $0 }
        var row = Measurement(scenario: "outage", stream: "store paused \(self.outage)", mode: "drill", result: LoadResult())
        row.notes = [
            "not_found_during_pause": Double(counts.notFoundDuringPause),
            "not_found_after_resume": Double(counts.notFoundAfterResume),
            "unavailable_answers": Double(counts.unavailable),
            "reads_during_pause": Double(counts.readsDuringPause),
            "reads_answered_correctly_during_pause": Double(counts.readsAnsweredCorrectly),
            "reads_answered_stale_during_pause": Double(counts.readsAnsweredStale),
            "reads_answered_wrongly_during_pause": Double(counts.readsAnsweredWrongly),
            "reads_answered_fraction": counts.readsDuringPause == 0
                ? 0 : Double(counts.readsAnsweredCorrectly) / Double(counts.readsDuringPause),
            "seconds_until_all_listed_after_resume": allListed.map { Double($0.components.attoseconds) / 1e18 + Double($0.components.seconds) } ?? -1,
        ]
        return [row]
    }

    /// One relay as relays heartbeat today: itself, then each agent (with its relay ID),
    /// once per interval; re-registering whatever the registry says is not live.
    private func relayLoop(_ relay: Int, agents: [Int], every interval: Duration, tally: Tally) async {
        let target = self.runner.target
        let fleet = self.runner.fleet
        let stub = target.registry(relay)
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                var heartbeat = Aeroarc_Registry_V1_HeartbeatRelayRequest()
                heartbeat.relayID = fleet.relayIDs[relay]
                // As relays do: their clock, which the registry only measures skew against.
                heartbeat.timestampUnixMs = SystemWallClock().now().rawValue
                _ = try await stub.heartbeatRelay(heartbeat)
            } catch let error as RPCError where error.code == .notFound {
                tally.notFound()
                _ = try? await stub.registerRelay(fleet.registerRelayRequest(relay))
            } catch {
                tally.counts.withLock { $0.unavailable += 1 }
            }
            for agent in agents {
                var heartbeat = Aeroarc_Registry_V1_HeartbeatAgentRequest()
                heartbeat.agentID = fleet.agentIDs[agent]
                heartbeat.relayID = fleet.relayIDs[relay]
                heartbeat.timestampUnixMs = SystemWallClock().now().rawValue
                do {
                    _ = try await stub.heartbeatAgent(heartbeat)
                } catch let error as RPCError where error.code == .notFound {
                    tally.notFound()
                    var register = Aeroarc_Registry_V1_RegisterAgentRequest()
                    register.agent.agentID = fleet.agentIDs[agent]
                    register.relayID = fleet.relayIDs[relay]
                    _ = try? await stub.registerAgent(register)
                } catch {
                    tally.counts.withLock { $0.unavailable += 1 }
                }
            }
            try? await Task.sleep(until: started + interval, clock: .continuous)
        }
    }

    /// One placement read of a random agent; during the pause, whether it was answered
    /// with the agent's real relay.
    private func read(worker: Int, sequence: Int, tally: Tally) async throws {
        let fleet = self.runner.fleet
        let index = Int.random(in: fleet.agentIDs.indices)
        var request = Aeroarc_Registry_V1_GetAgentPlacementRequest()
        request.agentID = fleet.agentIDs[index]
        let duringPause = tally.phase.load(ordering: .relaxed) == 1
        do {
            let (relay, stale) = try await self.runner.target.registry(worker).getAgentPlacement(request) { response in
                (try response.message.placement.relayID, response.metadata[stringValues: ResponseMetadataKeys.stale].contains("true"))
            }
            guard duringPause else { return }
            tally.counts.withLock { counts in
                counts.readsDuringPause += 1
                if relay == fleet.homeRelay(ofAgent: index) {
                    counts.readsAnsweredCorrectly += 1
                } else {
                    counts.readsAnsweredWrongly += 1
                }
                if stale { counts.readsAnsweredStale += 1 }
            }
        } catch {
            if duringPause {
                tally.counts.withLock { $0.readsDuringPause += 1 }
            }
            throw error
        }
    }

    /// How long after `since` every relay and agent was listed, polling every 50 ms.
    private func waitUntilAllListed(since: ContinuousClock.Instant, timeout: Duration) async throws -> Duration? {
        let target = self.runner.target
        let fleet = self.runner.fleet
        while ContinuousClock.now - since < timeout {
            let relays = try? await target.registry(0).listRelays(Aeroarc_Registry_V1_ListRelaysRequest()).relays.count
            let agents = try? await target.registry(0).listAgents(Aeroarc_Registry_V1_ListAgentsRequest()).agents.count
            if relays == fleet.relayIDs.count, agents == fleet.agentIDs.count {
                return ContinuousClock.now - since
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}
