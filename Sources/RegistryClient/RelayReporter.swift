public import GRPCCore
public import GRPCNIOTransportHTTP2
public import Logging
public import RegistryCore

/// What a relay embeds to keep itself and its agents registered.
///
/// The relay says when an agent connects or disconnects; the reporter does the rest, one
/// SyncRelay per interval for the whole relay (the server's `next_sync_after_ms` hint):
/// - agents that connected are placed on this relay, the others renewed;
/// - an agent reported NOT_LIVE while still connected (it expired, or the relay started
///   a new incarnation) is placed again on the next sync;
/// - an agent reported PLACED_ELSEWHERE moved to another relay: it is never placed back
///   (that would steal it); the relay is told through `onAgentMoved` and the agent is
///   forgotten until it connects again;
/// - a relay that starts anew (`relay_started`: it had expired, or the registry lost its
///   state) places every connected agent again at once;
/// - UNAVAILABLE and other transient failures are retried with jittered exponential
///   backoff, and never lose the set of connected agents;
/// - against a server without the fleet service (UNIMPLEMENTED: the Go registry, or an
///   older one) it falls back to v1 unary calls with the same behaviour, at
///   `fallbackInterval`, a bounded number of calls in flight.
public actor RelayReporter {
    public struct Configuration: Sendable {
        public var relayID: String
        public var address: String
        public var grpcPort: Int
        /// Sync interval when the server gives no hint (v1 fallback).
        public var fallbackInterval: Duration = .seconds(1)
        /// First retry delay after a failure; doubles up to ``maximumBackoff``.
        public var initialBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(5)
        /// How long after an agent connects it is placed at the latest (connections
        /// arriving together are placed in one sync).
        public var placementDelay: Duration = .milliseconds(50)
        /// Deadline of each call.
        public var callTimeout: Duration = .seconds(5)
        /// Whether ``run()`` deregisters the relay when it stops (a planned shutdown), so
        /// that consumers stop routing to it at once instead of after the relay TTL.
        public var deregisterOnShutdown = true

        public init(relayID: String, address: String, grpcPort: Int) {
            self.relayID = relayID
            self.address = address
            self.grpcPort = grpcPort
        }
    }

    /// What the reporter is doing, for the relay's logs and tests.
    public enum Mode: Sendable, Equatable {
        /// Not synced yet.
        case starting
        /// Syncing with the fleet service.
        case fleet
        /// The server has no fleet service: v1 unary calls.
        case v1Fallback
    }

    private let configuration: Configuration
    private let fleet: FleetClient
    private let v1: RegistryClient
    private let admin: AdminClient
    private let onAgentMoved: @Sendable (AgentID, RelayID) -> Void
    private let logger: Logger

    /// Agents connected to this relay.
    private var connected: Set<String> = []
    /// Connected agents known to be placed on this relay's current incarnation.
    private var placed: Set<String> = []
    /// The wait between syncs, when one is in progress, and its generation (so that a
    /// late timer of an earlier wait cannot end a later one).
    private var waiter: (generation: Int, continuation: CheckedContinuation<Bool, Never>)?
    private var waitGeneration = 0
    /// An agent connected while no wait was in progress: the next wait ends at once.
    private var wakeUpPending = false
    public private(set) var mode = Mode.starting
    /// Syncs (or v1 rounds) completed, for tests and health.
    public private(set) var completedSyncs = 0
    /// Whether a sync was ever sent: the relay may be registered, and is deregistered on shutdown.
    private var attemptedSync = false
    /// The incarnation the last sync reported (fleet mode).
    public private(set) var incarnation: UInt64?

    /// - Parameter onAgentMoved: called when an agent this relay reported was placed on
    ///   another relay since: the relay should drop it.
    public init(
        client: GRPCClient<HTTP2ClientTransport.Posix>,
        configuration: Configuration,
        logger: Logger = Logger(label: "aero-arc-relay-reporter"),
        onAgentMoved: @escaping @Sendable (AgentID, RelayID) -> Void = { _, _ in }
    ) {
        self.configuration = configuration
        self.fleet = FleetClient(wrapping: client, timeout: configuration.callTimeout)
        self.v1 = RegistryClient(wrapping: client, timeout: configuration.callTimeout)
        self.admin = AdminClient(wrapping: client, timeout: configuration.callTimeout)
        self.onAgentMoved = onAgentMoved
        self.logger = logger
    }

    /// An agent connected to this relay: it is placed here on the next sync.
    public func agentConnected(_ agentID: String) {
        if self.connected.insert(agentID).inserted {
            self.endWait(generation: self.waitGeneration, woken: true)
        }
    }

    /// An agent disconnected: it is no longer renewed, and expires after the agent TTL.
    public func agentDisconnected(_ agentID: String) {
        self.connected.remove(agentID)
        self.placed.remove(agentID)
    }

    /// The agents currently connected.
    public var connectedAgents: Set<String> { self.connected }

    /// Syncs until the task is cancelled; then, with ``Configuration/deregisterOnShutdown``,
    /// deregisters the relay (see ``deregister()``).
    public func run() async {
        await self.syncUntilCancelled()
        // A sync cut short may still have registered the relay: any attempt counts.
        guard self.configuration.deregisterOnShutdown, self.attemptedSync else { return }
        // The calling task is cancelled, and a call in it would fail at once: the
        // deregistration runs in a task of its own, bounded by the call timeout.
        await Task { await self.deregister() }.value
    }

    /// Deregisters this relay: it and its agents stop being live at once. Best effort:
    /// a failure is logged (the relay then expires after its TTL as before), and a server
    /// without the admin service (the Go registry) is not an error.
    public func deregister() async {
        do {
            let removed = try await self.admin.deregisterRelay(id: self.configuration.relayID)
            self.logger.info("relay deregistered", metadata: ["relay_id": "\(self.configuration.relayID)", "agents_removed": "\(removed)"])
        } catch let error as RPCError where error.code == .notFound || error.code == .unimplemented {
            self.logger.debug("relay not deregistered", metadata: ["relay_id": "\(self.configuration.relayID)", "reason": "\(error.code)"])
        } catch {
            self.logger.warning(
                "could not deregister the relay; it expires after its TTL",
                metadata: ["relay_id": "\(self.configuration.relayID)", "error": "\(error)"]
            )
        }
    }

    private func syncUntilCancelled() async {
        var backoff = self.configuration.initialBackoff
        while !Task.isCancelled {
            let delay: Duration
            do {
                delay = try await self.syncOnce()
                backoff = self.configuration.initialBackoff
            } catch is CancellationError {
                return
            } catch {
                delay = Self.jittered(backoff)
                self.logger.warning(
                    "relay sync failed; retrying",
                    metadata: ["relay_id": "\(self.configuration.relayID)", "error": "\(error)", "retry_in": "\(delay)"]
                )
                backoff = min(backoff * 2, self.configuration.maximumBackoff)
            }
            // Sleep until the next sync is due, or until an agent connects (then wait a
            // little so agents connecting together are placed in one sync).
            let woken = await self.wait(for: delay)
            if woken {
                try? await Task.sleep(for: self.configuration.placementDelay)
            }
        }
    }

    /// One sync; returns when the next is due.
    func syncOnce() async throws -> Duration {
        self.attemptedSync = true
        // This sync covers every agent connected so far; one connecting while it is in
        // flight sets this again, and the next wait ends at once.
        self.wakeUpPending = false
        switch self.mode {
        case .v1Fallback:
            try await self.syncWithV1()
            return self.configuration.fallbackInterval
        case .starting, .fleet:
            do {
                return try await self.syncWithFleet()
            } catch let error as RPCError where error.code == .unimplemented {
                self.logger.notice(
                    "the registry has no fleet service; using v1 calls",
                    metadata: ["relay_id": "\(self.configuration.relayID)"]
                )
                self.mode = .v1Fallback
                try await self.syncWithV1()
                return self.configuration.fallbackInterval
            }
        }
    }

    private func syncWithFleet() async throws -> Duration {
        let place = self.connected.subtracting(self.placed).sorted()
        let renew = self.placed.sorted()
        let outcome = try await self.fleet.syncRelay(
            id: self.configuration.relayID,
            endpoint: (self.configuration.address, self.configuration.grpcPort),
            place: place,
            renew: renew
        )
        self.mode = .fleet
        self.incarnation = outcome.incarnation
        if outcome.relayStarted {
            // A new incarnation: only what this sync placed is on it.
            self.placed = []
        }
        var lost = Set<String>()
        for agent in outcome.lost {
            lost.insert(agent.agentID.rawValue)
            self.placed.remove(agent.agentID.rawValue)
            if case .placedElsewhere(let current) = agent.reason {
                self.moved(agent.agentID, to: current)
            }
        }
        for agent in place where !lost.contains(agent) && self.connected.contains(agent) {
            self.placed.insert(agent)
        }
        self.completedSyncs += 1
        if outcome.relayStarted && !renew.isEmpty {
            // Renewals of the previous incarnation were lost: place them again now.
            return .zero
        }
        return outcome.nextSyncAfter
    }

    /// The v1 equivalent of one sync: register-or-renew the relay, place new agents,
    /// renew placed ones naming this relay; a renewal refused means the agent expired or
    /// moved, which one placement lookup tells apart.
    private func syncWithV1() async throws {
        let relayID = self.configuration.relayID
        try await self.v1.registerRelay(id: relayID, address: self.configuration.address, grpcPort: self.configuration.grpcPort)
        let place = self.connected.subtracting(self.placed).sorted()
        let renew = self.placed.sorted()
        let v1 = self.v1
        enum Result: Sendable {
            case placed(String)
            case renewed
            case notLive(String)
            case moved(String, String)
        }
        let results = try await withThrowingTaskGroup(of: Result.self) { group in
            var pending = place.map { ($0, true) } + renew.map { ($0, false) }
            var results: [Result] = []
            func startNext() {
                guard !pending.isEmpty else { return }
                let (agent, isPlacement) = pending.removeFirst()
                group.addTask {
                    if isPlacement {
                        try await v1.registerAgent(id: agent, relayID: relayID)
                        return .placed(agent)
                    }
                    do {
                        try await v1.heartbeatAgent(id: agent, relayID: relayID)
                        return .renewed
                    } catch let error as RPCError where error.code == .notFound {
                        do {
                            let placement = try await v1.placement(of: agent).placement
                            return placement.relayID.rawValue == relayID ? .notLive(agent) : .moved(agent, placement.relayID.rawValue)
                        } catch let error as RPCError where error.code == .notFound {
                            return .notLive(agent)
                        }
                    }
                }
            }
            for _ in 0..<16 { startNext() }
            while let result = try await group.next() {
                results.append(result)
                startNext()
            }
            return results
        }
        for result in results {
            switch result {
            case .placed(let agent) where self.connected.contains(agent):
                self.placed.insert(agent)
            case .notLive(let agent):
                self.placed.remove(agent)
            case .moved(let agent, let current):
                self.placed.remove(agent)
                if let agentID = try? AgentID(validating: agent), let relay = try? RelayID(validating: current) {
                    self.moved(agentID, to: relay)
                }
            default:
                break
            }
        }
        self.completedSyncs += 1
    }

    private func moved(_ agent: AgentID, to relay: RelayID) {
        self.connected.remove(agent.rawValue)
        self.placed.remove(agent.rawValue)
        self.logger.info(
            "agent was placed on another relay; not placing it back",
            metadata: ["agent_id": "\(agent)", "relay_id": "\(relay)"]
        )
        self.onAgentMoved(agent, relay)
    }

    /// `duration` ±20%.
    private static func jittered(_ duration: Duration) -> Duration {
        duration * Double.random(in: 0.8...1.2)
    }

    /// Waits for `duration`, or until an agent connects (returns true), or the task is cancelled.
    private func wait(for duration: Duration) async -> Bool {
        if self.wakeUpPending {
            self.wakeUpPending = false
            return true
        }
        guard duration > .zero else { return false }
        self.waitGeneration += 1
        let generation = self.waitGeneration
        let timer = Task { [weak self] in
            try? await Task.sleep(for: duration)
            await self?.endWait(generation: generation, woken: false)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                self.waiter = (generation, continuation)
            }
        } onCancel: {
            Task { [weak self] in await self?.endWait(generation: generation, woken: false) }
        }
    }

    /// Ends wait `generation` if it is the one in progress; a wake-up with none in
    /// progress is kept for the next wait.
    private func endWait(generation: Int, woken: Bool) {
        guard let waiter = self.waiter, waiter.generation == generation else {
            if woken { self.wakeUpPending = true }
            return
        }
        self.waiter = nil
        waiter.continuation.resume(returning: woken)
    }
}
