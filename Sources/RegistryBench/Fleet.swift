import GRPCCore
import RegistryProtos
import RegistryCore
import SwiftProtobuf

/// The synthetic fleet the scenarios use: `relays` relays and `agents` agents, agent i
/// placed on relay i % relays. IDs look like real ones ("relay-0042", "agent-000042").
public struct Fleet: Sendable {
    public let relayIDs: [String]
    public let agentIDs: [String]

    public init(relays: Int, agents: Int) {
        self.relayIDs = (0..<relays).map { "relay-" + Self.padded($0, to: 4) }
        self.agentIDs = (0..<agents).map { "agent-" + Self.padded($0, to: 6) }
    }

    private static func padded(_ value: Int, to width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The relay agent `index` is placed on by ``preload(on:concurrency:)``.
    public func homeRelay(ofAgent index: Int) -> String {
        self.relayIDs[index % self.relayIDs.count]
    }

    /// Registers every relay and places every agent on its home relay: one SyncRelay per
    /// relay (per 10,000 agents) when the server has the fleet service, else one v1 call
    /// per relay and per agent (the Go registry, the noop server).
    public func preload(on target: BenchTarget, concurrency: Int = 64, relays relayRange: Range<Int>? = nil) async throws {
        let relays = relayRange ?? 0..<self.relayIDs.count
        do {
            // A sync carries a relay's agents: fewer in flight keep a slow store within its timeout.
            try await self.preloadThroughSync(on: target, concurrency: max(1, concurrency / 8), relays: relays)
        } catch let error as RPCError where error.code == .unimplemented {
            try await self.preloadThroughV1(on: target, concurrency: concurrency, relays: relays)
        }
    }

    private func preloadThroughSync(on target: BenchTarget, concurrency: Int, relays: Range<Int>) async throws {
        let agentsOfRelay = self.agentIndices(onRelays: relays)
        try await Self.forEach(Array(relays), concurrency: concurrency) { relay in
            let registration = self.registerRelayRequest(relay)
            let agents = agentsOfRelay[relay - relays.lowerBound]
            // One call per chunk, at least one (an agentless relay still registers).
            for chunk in stride(from: 0, to: max(agents.count, 1), by: RelaySync.maximumAgents) {
                var request = Aeroarc_Registry_Fleet_V1_SyncRelayRequest()
                request.relayID = registration.relay.relayID
                request.address = registration.relay.address
                request.grpcPort = registration.relay.grpcPort
                request.placeAgentIds = agents[chunk..<min(chunk + RelaySync.maximumAgents, agents.count)].map { self.agentIDs[$0] }
                let response = try await target.fleet(relay).syncRelay(request)
                guard response.lostAgents.isEmpty else {
                    throw RPCError(code: .resourceExhausted, message: "preloading \(request.relayID) lost \(response.lostAgents.count) agents (capacity?)")
                }
            }
        }
    }

    private func preloadThroughV1(on target: BenchTarget, concurrency: Int, relays: Range<Int>) async throws {
        try await Self.forEach(Array(relays), concurrency: concurrency) { index in
            _ = try await target.registry(index).registerRelay(self.registerRelayRequest(index))
        }
        let agents = self.agentIndices(onRelays: relays).flatMap { $0 }
        try await Self.forEach(agents, concurrency: concurrency) { index in
            var request = Aeroarc_Registry_V1_RegisterAgentRequest()
            request.agent.agentID = self.agentIDs[index]
            request.relayID = self.homeRelay(ofAgent: index)
            _ = try await target.registry(index).registerAgent(request)
        }
    }

    /// The indices of the agents homed on each relay of `relays`, in relay order.
    func agentIndices(onRelays relays: Range<Int>) -> [[Int]] {
        var result = Array(repeating: [Int](), count: relays.count)
        for index in self.agentIDs.indices {
            let relay = index % self.relayIDs.count
            if relays.contains(relay) {
                result[relay - relays.lowerBound].append(index)
            }
        }
        return result
    }

    func registerRelayRequest(_ index: Int) -> Aeroarc_Registry_V1_RegisterRelayRequest {
        var request = Aeroarc_Registry_V1_RegisterRelayRequest()
        request.relay.relayID = self.relayIDs[index]
        request.relay.address = "10.\(index / 65536 % 256).\(index / 256 % 256).\(index % 256)"
        request.relay.grpcPort = 7000
        return request
    }

    /// Runs `body` for every element, at most `concurrency` at a time.
    static func forEach(_ elements: [Int], concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = elements[...]
            for _ in 0..<concurrency {
                guard let next = pending.popFirst() else { break }
                group.addTask { try await body(next) }
            }
            while try await group.next() != nil {
                if let next = pending.popFirst() {
                    group.addTask { try await body(next) }
                }
            }
        }
    }
}
