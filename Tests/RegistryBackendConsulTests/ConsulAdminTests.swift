import Foundation
@testable import RegistryBackendConsul
import RegistryCore
import RegistryTestKit
import Testing

/// The admin operations on Consul: what the contract suite cannot see (record formats,
/// requests per call, a second replica, a drain racing a sync).
@Suite("Consul backend admin operations")
struct ConsulAdminTests {
    let ttl = try! TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(10))

    func sync(_ relay: String, endpoint: Bool = true, place: [String] = [], renew: [String] = []) -> RelaySync {
        RelaySync(
            relayID: relayID(relay),
            endpoint: endpoint ? try! RelayEndpoint(address: "10.0.0.1", grpcPort: 7000) : nil,
            place: place.map(agentID),
            renew: renew.map(agentID)
        )
    }

    @Test("a relay record written before draining existed still decodes; one not draining is written as before")
    func recordFormat() throws {
        let old = Data(#"{"address":"10.0.0.1","expires_unix_ms":20,"grpc_port":7000,"heartbeat_unix_ms":10}"#.utf8)
        let decoded = try JSONDecoder().decode(ConsulRelayRecord.self, from: old)
        #expect(!decoded.isDraining)
        #expect(try ConsulRecordCoder().encode(decoded) == old)
        var draining = decoded
        draining.draining = true
        let encoded = String(decoding: try ConsulRecordCoder().encode(draining), as: UTF8.self)
        #expect(encoded.contains(#""draining":true"#))
        #expect(try JSONDecoder().decode(ConsulRelayRecord.self, from: Data(encoded.utf8)).isDraining)
    }

    @Test("deregistering a relay of 200 agents is one listing, one txn and a txn per 64 agents; their keys are gone")
    func deregistrationRequests() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl) { backend in
                let ids = (0..<200).map { "agent-\($0)" }
                _ = try await backend.syncRelay(self.sync("relay-a", place: ids))
                _ = try await backend.syncRelay(self.sync("relay-b", place: ["other"]))
                let before = double.requestCount
                #expect(try await backend.deregisterRelay(relayID("relay-a")) == 200)
                let requests = Array(double.requestLog.dropFirst(before))
                #expect(requests.count == 2 + 4, "\(requests)")
                let agentKeys = double.store.entries.keys.filter { $0.hasPrefix(backend.keys.folder(.agent)) }
                #expect(agentKeys == [backend.keys.agent(agentID("other"))])
                #expect(double.store.entries[backend.keys.relay(relayID("relay-a"))] == nil)
            }
        }
    }

    @Test("a drain on one replica stops placements through the other at once")
    func drainAcrossReplicas() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl) { first in
                try await harness.withBackend(configuration, ttl: self.ttl) { second in
                    _ = try await first.syncRelay(self.sync("relay-a", place: ["agent-1"]))
                    _ = try await first.syncRelay(self.sync("relay-b", place: ["agent-2"]))
                    try await second.setDraining(relayID("relay-a"), true)
                    let result = try await first.syncRelay(self.sync("relay-a", endpoint: false, place: ["agent-1", "agent-2"]))
                    #expect(result.lost == [LostAgent(agentID: agentID("agent-2"), reason: .relayDraining)])
                    do {
                        _ = try await first.registerAgent(agentID("agent-3"), on: relayID("relay-a"))
                        Issue.record("a placement on a draining relay was accepted")
                    } catch let error as RegistryError {
                        #expect(error.code == .failedPrecondition)
                    }
                    // Renewals keep the drain, whichever replica makes them.
                    _ = try await first.registerRelay(registration("relay-a", port: 7001))
                    _ = try await first.heartbeatRelay(relayID("relay-a"))
                    #expect(try await second.listRelayStatuses(after: nil, limit: 10).entries.map(\.draining) == [true, false])
                }
            }
        }
    }

    @Test("a drain begun between a sync's relay step and its agents' txn fails that txn's check, and placements are lost as draining")
    func drainDuringSync() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl) { backend in
                _ = try await backend.syncRelay(self.sync("relay-a", place: ["agent-1"]))
                let key = backend.keys.relay(relayID("relay-a"))
                // The double applies each request when it arrives and answers after the delay: the
                // sync reads at 0, writes the relay at ~300ms and its agents at ~600ms.
                try await double.inject(.delay(.milliseconds(300)))
                async let result = backend.syncRelay(self.sync("relay-a", endpoint: false, place: ["agent-1", "agent-2"]))
                try await Task.sleep(for: .milliseconds(450))
                // Another replica drains the relay in between.
                double.withStore { store in
                    guard let entry = store.entries[key], let value = entry.value,
                        var record = try? JSONDecoder().decode(ConsulRelayRecord.self, from: Data(value))
                    else { return }
                    record.draining = true
                    if let encoded = try? ConsulRecordCoder().encode(record) {
                        _ = store.put(key, value: Array(encoded), cas: nil)
                    }
                }
                let lost = try await result.lost
                try await double.inject(nil)
                #expect(lost == [LostAgent(agentID: agentID("agent-2"), reason: .relayDraining)])
                #expect(try await backend.listRelayStatuses(after: nil, limit: 10).entries.map(\.agentCount) == [1])
            }
        }
    }
}
