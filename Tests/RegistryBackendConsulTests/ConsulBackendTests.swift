import Foundation
import Logging
@testable import RegistryBackendConsul
import RegistryCore
import RegistryTestKit
import Testing

/// What the Consul backend stores, and how it behaves where Consul's semantics matter.
@Suite("Consul backend")
struct ConsulBackendTests {
    let ttl = try! TTLPolicy(relayTTL: .seconds(10), agentTTL: .seconds(10))

    /// A double, and a backend on it (with `limits`) sharing `harness`'s clock.
    func withBackend(
        harness: ConsulHarness = .double(),
        limits: CapacityLimits = CapacityLimits(),
        timeout: Duration = ConsulConfiguration.defaultTimeout,
        _ body: (ConsulDouble, ConsulBackend<ManualClock>) async throws -> Void
    ) async throws {
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address), timeout: timeout)
            try await harness.withBackend(configuration, ttl: self.ttl, limits: limits) { backend in
                try await body(double, backend)
            }
        }
    }

    @Test("relays and agents are JSON records at prefix/kind/base64url(ID), stamped with the registry's clock")
    func keySchema() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            _ = try await backend.registerRelay(registration("relay/1"))
            _ = try await backend.registerAgent(agentID("drone 7"), on: relayID("relay/1"))
            let store = double.store
            let now = harness.clock.now().rawValue
            #expect(store.entries.keys.sorted() == [
                "aero-arc-registry/v1/agent/ZHJvbmUgNw",
                "aero-arc-registry/v1/guard/agent",
                "aero-arc-registry/v1/guard/relay",
                "aero-arc-registry/v1/relay/cmVsYXkvMQ",
            ])
            let relay = try #require(store.entries["aero-arc-registry/v1/relay/cmVsYXkvMQ"])
            let relayJSON = try #require(try JSONSerialization.jsonObject(with: Data(relay.value ?? [])) as? [String: Any])
            #expect(relayJSON["address"] as? String == "10.0.0.1")
            #expect(relayJSON["grpc_port"] as? Int == 7000)
            #expect((relayJSON["heartbeat_unix_ms"] as? NSNumber)?.int64Value == now)
            #expect((relayJSON["expires_unix_ms"] as? NSNumber)?.int64Value == now + 10_000)
            let agent = try #require(store.entries["aero-arc-registry/v1/agent/ZHJvbmUgNw"])
            let agentJSON = try #require(try JSONSerialization.jsonObject(with: Data(agent.value ?? [])) as? [String: Any])
            #expect(agentJSON["relay_id"] as? String == "relay/1")
            #expect((agentJSON["relay_incarnation"] as? NSNumber)?.uint64Value == relay.createIndex)
        }
    }

    @Test("a relay registered again after expiry gets a new CreateIndex, so its old agents stay dead")
    func incarnations() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            let key = "aero-arc-registry/v1/relay/cmVsYXktYQ"
            let first = try #require(double.store.entries[key]?.createIndex)
            try await harness.advance(by: .seconds(11))
            // No sweep has run: the expired relay's key is still there and is replaced.
            #expect(try await backend.registerRelay(registration("relay-a")).outcome == .recreated)
            let second = try #require(double.store.entries[key]?.createIndex)
            #expect(second > first)
            // Renewals keep the incarnation.
            #expect(try await backend.registerRelay(registration("relay-a")).outcome == .renewed)
            #expect(double.store.entries[key]?.createIndex == second)
            #expect(try await backend.agentIDs() == [])
        }
    }

    @Test("the sweeper never deletes an entry renewed after it was found expired")
    func sweepRace() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-a"))
            try await harness.advance(by: .seconds(6))
            _ = try await backend.heartbeatRelay(relayID("relay-a"))
            try await harness.advance(by: .seconds(5))
            // Both agents expired; this pass finds both and deletes one.
            #expect(try await backend.removeExpired(limit: 1).agentsRemoved == 1)
            // Both register again: one is created anew, the other (still queued) is renewed.
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-2"), on: relayID("relay-a"))
            // The queued deletion carries the old ModifyIndex: Consul refuses it.
            #expect(try await backend.removeExpired(limit: 10).total == 0)
            #expect(try await backend.agentIDs() == ["agent-1", "agent-2"])
            #expect(double.store.entries.keys.filter { $0.contains("/agent/") }.count == 2)
        }
    }

    @Test("removing expired entries deletes agents of a dead relay incarnation and unreadable garbage")
    func sweepGarbage() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            _ = try await backend.registerRelay(registration("relay-a"))
            _ = try await backend.registerAgent(agentID("agent-1"), on: relayID("relay-a"))
            double.withStore { store in
                store.seed([
                    ("aero-arc-registry/v1/relay/not-base64!", Array("x".utf8)),
                    ("aero-arc-registry/v1/agent/YWdlbnQtOQ", Array("not json".utf8)),
                    ("someone-else/key", Array("keep".utf8)),
                ])
            }
            #expect(try await backend.relayIDs() == ["relay-a"])
            #expect(try await backend.agentIDs() == ["agent-1"])
            try await harness.advance(by: .seconds(11))
            let report = try await backend.removeExpired(limit: 100)
            #expect(report.relaysRemoved == 2)
            #expect(report.agentsRemoved == 2)
            let remaining = double.store.entries.keys.filter { !$0.contains("/guard/") }.sorted()
            // The sweeper's lock stays while its session lives.
            #expect(remaining == ["aero-arc-registry/v1/sweeper", "someone-else/key"])
        }
    }

    @Test("only the replica holding the sweeper lock scans; when it stops, another takes over")
    func sweeperLock() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl) { second in
                try await harness.withBackend(configuration, ttl: self.ttl) { first in
                    _ = try await first.registerRelay(registration("relay-a"))
                    try await harness.advance(by: .seconds(11))
                    #expect(try await first.removeExpired(limit: 100).relaysRemoved == 1)
                    let lock = try #require(double.store.entries["aero-arc-registry/v1/sweeper"])
                    #expect(lock.session != nil)
                    _ = try await first.registerRelay(registration("relay-b"))
                    try await harness.advance(by: .seconds(11))
                    // The second replica finds the lock taken and leaves the scan to the first.
                    #expect(try await second.removeExpired(limit: 100).total == 0)
                    #expect(double.store.entries.keys.contains("aero-arc-registry/v1/relay/cmVsYXktYg"))
                    await first.close()
                }
                // Closing destroyed the first replica's session, which deleted its lock.
                #expect(double.store.entries["aero-arc-registry/v1/sweeper"] == nil)
                try await harness.advance(by: .seconds(5))
                #expect(try await second.removeExpired(limit: 100).relaysRemoved == 1)
                #expect(double.store.entries["aero-arc-registry/v1/sweeper"]?.session != nil)
            }
        }
    }

    @Test("a replica that stops renewing its session loses the sweeper lock at the session's TTL")
    func sweeperLockExpiry() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(clock: harness.clock) { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl) { first in
                try await harness.withBackend(configuration, ttl: self.ttl) { second in
                    _ = try await first.removeExpired(limit: 100)
                    let holder = try #require(double.store.entries["aero-arc-registry/v1/sweeper"]?.session)
                    try await harness.advance(by: .seconds(5))
                    _ = try await second.removeExpired(limit: 100)
                    #expect(double.store.entries["aero-arc-registry/v1/sweeper"]?.session == holder)
                    // The first replica's session (TTL 15s) is not renewed: it expires, the lock
                    // key goes with it, and after the 1s lock delay the second replica takes it.
                    try await harness.advance(by: .seconds(11))
                    _ = try await second.removeExpired(limit: 100)
                    let taken = try #require(double.store.entries["aero-arc-registry/v1/sweeper"]?.session)
                    #expect(taken != holder)
                    #expect(double.store.sessions[holder] == nil)
                }
            }
        }
    }

    @Test("a token that may not create sessions still sweeps, without the lock, and health stays SERVING")
    func sweeperWithoutSessions() async throws {
        let harness = ConsulHarness.double()
        try await self.withBackend(harness: harness) { double, backend in
            double.deny(pathPrefix: "/v1/session/")
            _ = try await backend.registerRelay(registration("relay-a"))
            try await harness.advance(by: .seconds(11))
            #expect(try await backend.removeExpired(limit: 100).relaysRemoved == 1)
            #expect(backend.health.status == .serving)
            #expect(double.store.entries["aero-arc-registry/v1/sweeper"] == nil)
        }
    }

    @Test("two replicas on one Consul: a move on one and a heartbeat naming the old relay on the other never both win")
    func replicas() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl) { first in
                try await harness.withBackend(configuration, ttl: self.ttl) { second in
                    _ = try await first.registerRelay(registration("relay-a"))
                    _ = try await first.registerRelay(registration("relay-b"))
                    let agents = (0..<20).map { agentID("agent-\($0)") }
                    for agent in agents {
                        _ = try await first.registerAgent(agent, on: relayID("relay-a"))
                    }
                    let heartbeatsOnOldRelay = try await withThrowingTaskGroup(of: [AgentID].self) { group in
                        group.addTask {
                            for agent in agents {
                                _ = try await first.registerAgent(agent, on: relayID("relay-b"))
                            }
                            return []
                        }
                        group.addTask {
                            var renewed: [AgentID] = []
                            for agent in agents {
                                do {
                                    let placement = try await second.heartbeatAgent(agent, expectedRelayID: relayID("relay-a"))
                                    #expect(placement.relayID == relayID("relay-a"))
                                    renewed.append(agent)
                                } catch let error as RegistryError where error.code == .notFound {
                                    continue
                                }
                            }
                            return renewed
                        }
                        return try await group.reduce([], +)
                    }
                    // Whatever interleaving happened, every agent ends up moved, and none was
                    // renewed after its move.
                    for agent in agents {
                        #expect(try await second.placement(of: agent).relayID == relayID("relay-b"))
                    }
                    #expect(heartbeatsOnOldRelay.count <= agents.count)
                    #expect(try await second.agentIDs().count == agents.count)
                }
            }
        }
    }

    @Test("near the limit, concurrent creations across replicas never exceed it")
    func capacityUnderConcurrency() async throws {
        let harness = ConsulHarness.double()
        let limits = CapacityLimits(maxRelays: 5, maxAgents: 100)
        try await ConsulDouble.with { double in
            let configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address))
            try await harness.withBackend(configuration, ttl: self.ttl, limits: limits) { first in
                try await harness.withBackend(configuration, ttl: self.ttl, limits: limits) { second in
                    let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                        for index in 0..<24 {
                            let backend = index.isMultiple(of: 2) ? first : second
                            group.addTask {
                                do {
                                    _ = try await backend.registerRelay(registration("relay-\(index)"))
                                    return true
                                } catch let error as RegistryError where error.code == .resourceExhausted {
                                    return false
                                }
                            }
                        }
                        return try await group.reduce(into: [Bool]()) { $0.append($1) }
                    }
                    #expect(outcomes.filter { $0 }.count == 5)
                    #expect(try await first.relayIDs().count == 5)
                    #expect(double.store.entries.keys.filter { $0.contains("/relay/") }.count == 5)
                }
            }
        }
    }

    @Test("far from the limit, creations skip the count: one listing per burst, not per creation")
    func capacityFastPath() async throws {
        try await self.withBackend(limits: CapacityLimits(maxRelays: 10, maxAgents: 10_000)) { double, backend in
            _ = try await backend.registerRelay(registration("relay-a"))
            let before = double.requestCount
            for index in 0..<50 {
                _ = try await backend.registerAgent(agentID("agent-\(index)"), on: relayID("relay-a"))
            }
            let requests = double.requestLog.dropFirst(before)
            // One count of the agent keys per 2s of burst (a count is trusted that long), not one per creation.
            let counts = requests.filter { $0.contains("/agent/?keys") }.count
            #expect((1...10).contains(counts), "\(counts) counts")
            #expect(requests.count <= 50 * 2 + 2 * counts)
            #expect(try await backend.agentIDs().count == 50)
        }
    }

    @Test("100,000 agents are listed, sorted, from one recursive read")
    func scale() async throws {
        let harness = ConsulHarness.double()
        // The double builds a 25 MB answer slowly in a debug build; a real Consul does not.
        try await self.withBackend(harness: harness, timeout: .seconds(60)) { double, backend in
            _ = try await backend.registerRelay(registration("relay-a"))
            let relay = try #require(double.store.entries["aero-arc-registry/v1/relay/cmVsYXktYQ"])
            let now = harness.clock.now().rawValue
            let count = 100_000
            double.withStore { store in
                store.seed((0..<count).map { index in
                    let id = "drone-\(String(index, radix: 16))"
                    let value = #"{"expires_unix_ms":\#(now + 10_000),"heartbeat_unix_ms":\#(now),"relay_id":"relay-a","relay_incarnation":\#(relay.createIndex)}"#
                    return ("aero-arc-registry/v1/agent/" + Base64URL.encode(id.utf8), Array(value.utf8))
                })
            }
            let started = ContinuousClock.now
            let agents = try await backend.listAgents().entries
            let elapsed = ContinuousClock.now - started
            #expect(agents.count == count)
            #expect(zip(agents, agents.dropFirst()).allSatisfy { $0.id < $1.id })
            #expect(elapsed < .seconds(30), "listing took \(elapsed)")
            print("listing 100,000 agents from the double took \(elapsed)")
            #expect(try await backend.placement(of: agentID("drone-1f")).relayID == relayID("relay-a"))
        }
    }

    @Test("an ACL token is sent as X-Consul-Token; without it Consul's 403 is unavailable with a hint")
    func token() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with(requiredToken: "s3cret") { double in
            let address = try ConsulAddress(parsing: double.address)
            try await harness.withBackend(try ConsulConfiguration(address: address, token: "s3cret"), ttl: self.ttl) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
                #expect(try await backend.relayIDs() == ["relay-a"])
            }
            try await harness.withBackend(try ConsulConfiguration(address: address), ttl: self.ttl) { backend in
                let error = await expectUnavailable { try await backend.listRelays() }
                #expect(error?.message.contains("403") == true)
                #expect(error?.message.contains("--consul-token") == true)
            }
        }
    }

    @Test("the datacenter is passed as ?dc=, and an unknown one is unavailable")
    func datacenter() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with { double in
            let address = try ConsulAddress(parsing: double.address)
            try await harness.withBackend(try ConsulConfiguration(address: address, datacenter: "dc1"), ttl: self.ttl) { backend in
                _ = try await backend.registerRelay(registration("relay-a"))
            }
            try await harness.withBackend(try ConsulConfiguration(address: address, datacenter: "dc9"), ttl: self.ttl) { backend in
                let error = await expectUnavailable { try await backend.registerRelay(registration("relay-a")) }
                #expect(error?.message.contains("No path to datacenter") == true)
            }
        }
    }

    @Test("registries under different key prefixes in one Consul do not see each other")
    func prefixes() async throws {
        let harness = ConsulHarness.double()
        try await ConsulDouble.with { double in
            let address = try ConsulAddress(parsing: double.address)
            try await harness.withBackend(try ConsulConfiguration(address: address, keyPrefix: "one"), ttl: self.ttl) { one in
                try await harness.withBackend(try ConsulConfiguration(address: address, keyPrefix: "one-two/"), ttl: self.ttl) { two in
                    _ = try await one.registerRelay(registration("relay-a"))
                    _ = try await two.registerRelay(registration("relay-b"))
                    #expect(try await one.relayIDs() == ["relay-a"])
                    #expect(try await two.relayIDs() == ["relay-b"])
                    #expect(double.store.entries.keys.contains("one/relay/cmVsYXktYQ"))
                }
            }
        }
    }
}

@Suite("Consul configuration values")
struct ConsulConfigurationValueTests {
    @Test("addresses parse with or without a scheme and port, IPv6 in brackets", arguments: [
        ("http://127.0.0.1:8500", "http://127.0.0.1:8500"),
        ("127.0.0.1:8501", "http://127.0.0.1:8501"),
        ("consul.internal", "http://consul.internal:8500"),
        ("https://consul.internal:8501/", "https://consul.internal:8501"),
        ("HTTPS://[::1]:9", "https://[::1]:9"),
        ("[fd00::1]", "http://[fd00::1]:8500"),
    ])
    func addresses(_ text: String, _ expected: String) throws {
        #expect(try ConsulAddress(parsing: text).description == expected)
    }

    @Test("bad addresses say what is wrong", arguments: [
        ("unix:///var/run/consul.sock", "must use http or https"),
        ("http://host:0", "invalid port"),
        ("http://host:port", "invalid port"),
        ("http://host/v1", "without a path"),
        ("http://:8500", "needs a host"),
        ("http://[::1", "unclosed"),
    ])
    func badAddresses(_ text: String, _ expected: String) {
        do {
            let address = try ConsulAddress(parsing: text)
            Issue.record("parsed as \(address)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test("key prefixes end with a slash and must not be empty or absolute")
    func prefixes() throws {
        #expect(try ConsulConfiguration(keyPrefix: "registry").keyPrefix == "registry/")
        #expect(try ConsulConfiguration(keyPrefix: "a/b/").keyPrefix == "a/b/")
        #expect(throws: RegistryError.self) { try ConsulConfiguration(keyPrefix: "") }
        #expect(throws: RegistryError.self) { try ConsulConfiguration(keyPrefix: "/abs") }
        #expect(throws: RegistryError.self) { try ConsulConfiguration(timeout: .zero) }
    }

    @Test("base64url IDs round-trip every byte sequence and use only [A-Za-z0-9_-]")
    func base64url() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            let encoded = Base64URL.encode(bytes)
            #expect(encoded.utf8.allSatisfy { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) })
            #expect(Base64URL.decode(Substring(encoded)) == bytes)
        }
        #expect(Base64URL.encode(Array("drone 7".utf8)) == "ZHJvbmUgNw")
        #expect(Base64URL.decode("ZHJvbmUgNw=") == nil)
        #expect(Base64URL.decode("Z") == nil)
        #expect(Base64URL.decode("ZB") == nil)  // non-zero leftover bits
    }
}
