import EtcdProtos
import Foundation
import Logging
@testable import RegistryBackendEtcd
import RegistryCore
import RegistryTestKit
import Testing

@Suite("etcd backend at scale")
struct EtcdScaleTests {
    @Test("100,000 agents list as one sorted snapshot, paged, and die with their relay")
    func hundredThousandAgents() async throws {
        let harness = try await EtcdHarness.shared()
        var logger = Logger(label: "etcd-scale")
        logger.logLevel = .critical
        let configuration = try harness.configuration()
        let backend = try EtcdBackend(configuration: configuration, ttl: .default, clock: harness.clock, logger: logger)
        let count = 100_000
        try await withRunningService(backend) {
            let relayID = try RelayID(validating: "relay-1")
            _ = try await backend.registerRelay(RelayRegistration(id: relayID, endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000)))
            let relayKey = backend.keys.key(of: relayID)
            let incarnation = try #require(try await backend.read(relayKey, by: backend.client.operationDeadline())).createRevision

            // Writing them one registration at a time would take minutes: store the same
            // records directly, 128 puts per transaction (etcd's limit), four at a time.
            let now = harness.clock.now().rawValue
            let ids = (0..<count).map { "drone-\($0)" }
            let batches = stride(from: 0, to: count, by: 128).map { ids[$0..<min($0 + 128, count)] }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, batch) in batches.enumerated() {
                    if index >= 4 { try await group.next() }
                    group.addTask {
                        let puts = try batch.map { raw in
                            let record = AgentRecord(deadline: now + 30_000, lastHeartbeat: now, relayIncarnation: incarnation, relayID: relayID)
                            return EtcdOperation.put(backend.keys.key(of: try AgentID(validating: raw)), record.encoded(), lease: 0)
                        }
                        _ = try await backend.client.txn(.with { $0.success = puts }, by: backend.client.operationDeadline())
                    }
                }
                try await group.waitForAll()
            }

            let started = ContinuousClock.now
            let listed = try await backend.listAgents().entries
            let elapsed = ContinuousClock.now - started
            #expect(listed.count == count)
            #expect(listed.map(\.id.rawValue) == ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(listed.allSatisfy { $0.relayID == relayID })
            #expect(elapsed < .seconds(30), "listing took \(elapsed)")
            #expect(try await backend.placement(of: try AgentID(validating: "drone-99999")).relayID == relayID)

            try await harness.advance(by: .seconds(31))
            #expect(try await backend.listAgents().entries.isEmpty)
            let report = try await backend.removeExpired(limit: count + 1)
            #expect(report == ExpiryReport(relaysRemoved: 1, agentsRemoved: count))
            #expect(try await backend.readPrefix(backend.keys.prefix).kvs.isEmpty)
        }
    }
}
