import RegistryCore
import Synchronization

/// An entry as this backend last wrote or read it: its record, mod revision and lease.
struct StoredEntry<Record: Sendable>: Sendable {
    var record: Record
    var modRevision: Int64
    var lease: Int64
    /// The key's create revision when known (0 otherwise): a relay's incarnation.
    var createRevision: Int64 = 0
}

/// What this backend last wrote for each relay and agent, so that a heartbeat can go
/// straight to its transaction instead of reading the entry first.
///
/// Only a hint: the heartbeat's transaction requires the entry's mod revision to be the
/// remembered one, so a stale hint (another replica wrote since) fails that compare and
/// the heartbeat reads the entry as usual. Bounded: past ``capacity`` entries of a kind
/// it forgets them all, which only costs reads.
final class RecentWrites: Sendable {
    private struct State {
        var relays: [RelayID: StoredEntry<RelayRecord>] = [:]
        var agents: [AgentID: StoredEntry<AgentRecord>] = [:]
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    func relay(_ id: RelayID) -> StoredEntry<RelayRecord>? {
        self.state.withLock { $0.relays[id] }
    }

    func agent(_ id: AgentID) -> StoredEntry<AgentRecord>? {
        self.state.withLock { $0.agents[id] }
    }

    func remember(_ id: RelayID, _ entry: StoredEntry<RelayRecord>?) {
        self.state.withLock { state in
            if entry != nil, state.relays.count >= self.capacity, state.relays[id] == nil {
                state.relays.removeAll()
            }
            state.relays[id] = entry
        }
    }

    func remember(_ id: AgentID, _ entry: StoredEntry<AgentRecord>?) {
        self.state.withLock { state in
            if entry != nil, state.agents.count >= self.capacity, state.agents[id] == nil {
                state.agents.removeAll()
            }
            state.agents[id] = entry
        }
    }
}
