import Foundation
import Logging
import RegistryCore
import Synchronization

/// Makes one registry replica at a time the one that scans for expired entries, with a
/// Consul session and a lock on `<prefix>sweeper`.
///
/// Scanning reads the whole prefix; replicas sweeping side by side would only repeat each
/// other's reads and deletions (safely: deletions are `delete-cas`). Before a scan, the
/// replica makes sure it has a session — TTL ``sessionTTL``, no health checks,
/// `Behavior=delete` — renewing it once half its TTL has passed, and takes the lock with
/// `PUT ?acquire=`. The replica holding the lock scans; the others skip their scans. When
/// the holder stops, it destroys its session; when it dies or loses Consul, Consul
/// invalidates the session (no sooner than its TTL, up to twice that late) and deletes the
/// lock key, and after the lock delay another replica takes over. Correctness never
/// depends on the lock: it only saves work.
final class ConsulSweepLock: Sendable {
    private struct State {
        var session: String?
        /// Registry time of the session's creation or last renewal.
        var renewedAt: Int64 = 0
    }

    /// The session's TTL: Consul accepts 10s to 24h.
    let sessionTTL: Duration
    /// How long after the session's invalidation no other session may take the lock.
    let lockDelay: Duration = .seconds(1)
    private let state = Mutex(State())

    /// A session that outlives a few scan intervals, so that renewing it during sweeps is enough.
    init(scanInterval: Duration) {
        self.sessionTTL = min(max(scanInterval * 3, .seconds(10)), .seconds(86_400))
    }

    /// Whether this replica holds the sweeper lock now; creates or renews the session and
    /// takes the lock as needed.
    func acquire<BackendClock: WallClock>(for backend: ConsulBackend<BackendClock>) async throws -> Bool {
        let now = backend.clock.now().rawValue
        let (session, renewedAt) = self.state.withLock { ($0.session, $0.renewedAt) }
        var current = session
        if let existing = current, now - renewedAt >= self.sessionTTL.wholeMilliseconds / 2 || now < renewedAt {
            if try await backend.client.renewSession(existing) {
                self.state.withLock { $0.renewedAt = now }
            } else {
                current = nil
            }
        }
        if current == nil {
            let created = try await backend.client.createSession(
                name: "aero-arc-registry sweeper (\(backend.keys.prefix))", ttl: self.sessionTTL, lockDelay: self.lockDelay
            )
            self.state.withLock { $0 = State(session: created, renewedAt: now) }
            current = created
        }
        guard let current else { return false }
        let holder = Data("\(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)".utf8)
        guard let held = try await backend.client.acquire(backend.keys.sweeperLock, session: current, value: holder) else {
            // The session vanished between renewal and the lock: start afresh next time.
            self.state.withLock { $0 = State() }
            return false
        }
        return held
    }

    /// Destroys the session, releasing (deleting) the lock at once. Best effort.
    func release(client: ConsulClient, logger: Logger) async {
        guard let session = self.state.withLock({ state in defer { state = State() }; return state.session }) else { return }
        do {
            try await client.destroySession(session)
        } catch {
            logger.debug("could not destroy the sweeper session; Consul will expire it", metadata: ["error": "\(error)"])
        }
    }
}
