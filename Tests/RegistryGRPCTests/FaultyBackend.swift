import SwiftProtobuf
import RegistryBackendMemory
import RegistryCore
import RegistryTestKit
import ServiceLifecycle
import Synchronization

/// A memory backend whose operations can be made to fail or to wait, to drive the
/// server's error mapping and shutdown paths.
final class FaultyBackend: RegistryBackend {
    enum Fault: Sendable {
        case none
        case fail(any Error & Sendable)
        /// Waits until ``release()`` before answering.
        case hold
    }

    private let inner: MemoryBackend<ManualClock>
    private let fault = Mutex<Fault>(.none)
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let held = Mutex(0)

    init(clock: ManualClock = ManualClock()) {
        self.inner = MemoryBackend(ttl: .default, clock: clock)
    }

    var ttl: TTLPolicy { self.inner.ttl }
    var expiry: ExpiryMode { .sweep }
    var health: HealthReporter { self.inner.health }

    func inject(_ fault: Fault) {
        self.fault.withLock { $0 = fault }
    }

    /// Calls currently held.
    var heldCalls: Int { self.held.withLock { $0 } }

    /// Lets every held call proceed.
    func release() {
        self.inject(.none)
        let waiting = self.waiters.withLock { waiters in
            defer { waiters = [] }
            return waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    private func apply() async throws {
        switch self.fault.withLock({ $0 }) {
        case .none:
            return
        case .fail(let error):
            throw error
        case .hold:
            self.held.withLock { $0 += 1 }
            await withCheckedContinuation { continuation in
                self.waiters.withLock { $0.append(continuation) }
            }
            self.held.withLock { $0 -= 1 }
        }
    }

    func run() async throws { try await self.inner.run() }

    func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        try await self.apply()
        return try await self.inner.registerRelay(registration)
    }

    func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        try await self.apply()
        return try await self.inner.heartbeatRelay(id)
    }

    func listRelays() async throws -> Snapshot<Relay> {
        try await self.apply()
        return try await self.inner.listRelays()
    }

    func syncRelay(_ sync: RelaySync) async throws -> RelaySyncResult {
        try await self.apply()
        return try await self.inner.syncRelay(sync)
    }

    func placements(of ids: [AgentID]) async throws -> PlacementLookup {
        try await self.apply()
        return try await self.inner.placements(of: ids)
    }

    func listPlacements(relayID: RelayID?, after: AgentID?, limit: Int) async throws -> Page<FleetPlacement> {
        try await self.apply()
        return try await self.inner.listPlacements(relayID: relayID, after: after, limit: limit)
    }

    func listRelayStatuses(after: RelayID?, limit: Int) async throws -> Page<RelayStatus> {
        try await self.apply()
        return try await self.inner.listRelayStatuses(after: after, limit: limit)
    }

    func registerAgent(_ id: AgentID, on relayID: RelayID) async throws -> AgentRegistrationResult {
        try await self.apply()
        return try await self.inner.registerAgent(id, on: relayID)
    }

    func heartbeatAgent(_ id: AgentID, expectedRelayID: RelayID?) async throws -> AgentPlacement {
        try await self.apply()
        return try await self.inner.heartbeatAgent(id, expectedRelayID: expectedRelayID)
    }

    func listAgents() async throws -> Snapshot<Agent> {
        try await self.apply()
        return try await self.inner.listAgents()
    }

    func placement(of id: AgentID) async throws -> AgentPlacement {
        try await self.apply()
        return try await self.inner.placement(of: id)
    }

    func removeExpired(limit: Int) async throws -> ExpiryReport {
        try await self.inner.removeExpired(limit: limit)
    }

    func deregisterRelay(_ id: RelayID) async throws -> Int {
        try await self.apply()
        return try await self.inner.deregisterRelay(id)
    }

    func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        try await self.apply()
        try await self.inner.deregisterAgent(id, from: relayID)
    }

    func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        try await self.apply()
        try await self.inner.setDraining(id, draining)
    }
}

/// An error outside the backend contract, as a buggy backend might throw.
struct UnexpectedBackendError: Error {
    let detail = "secret internal detail"
}
