import GRPCCore
import RegistryProtos
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

    /// Registers every relay, then every agent on its home relay.
    public func preload(on target: BenchTarget, concurrency: Int = 64, relays relayRange: Range<Int>? = nil) async throws {
        let relays = relayRange ?? 0..<self.relayIDs.count
        try await Self.forEach(Array(relays), concurrency: concurrency) { index in
            _ = try await target.registry(index).registerRelay(self.registerRelayRequest(index))
        }
        let agents = (0..<self.agentIDs.count).filter { relays.contains($0 % self.relayIDs.count) }
        try await Self.forEach(agents, concurrency: concurrency) { index in
            var request = Aeroarc_Registry_V1_RegisterAgentRequest()
            request.agent.agentID = self.agentIDs[index]
            request.relayID = self.homeRelay(ofAgent: index)
            _ = try await target.registry(index).registerAgent(request)
        }
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
