import EtcdProtos
import RegistryCore

/// An agent key as a sync last saw it.
struct AgentKeyState: Sendable {
    /// The key exists.
    var exists: Bool
    var modRevision: Int64
    /// The stored record; nil when absent or not a value this backend wrote.
    var record: AgentRecord?
    /// The revision it was read at; 0 when remembered from this backend's last write, which
    /// may be stale: a sync writes on it (the mod-revision compare checks it) but never
    /// reports a loss from it.
    var revision: Int64

    init(_ kv: Mvccpb_KeyValue?, readAt revision: Int64) {
        self.exists = kv != nil
        self.modRevision = kv?.modRevision ?? 0
        self.record = kv.flatMap { AgentRecord(decoding: $0.value) }
        self.revision = revision
    }

    init(remembered entry: StoredEntry<AgentRecord>) {
        self.exists = true
        self.modRevision = entry.modRevision
        self.record = entry.record
        self.revision = 0
    }

    var isRemembered: Bool { self.revision == 0 }

    /// The placement a write over this state moves the agent off when the record names
    /// another relay and the agent is within its own TTL: that relay's incarnation, to be
    /// judged live or not as the write applies. As ``EtcdBackend/registerAgent(_:on:)``'s
    /// `previousRelayID`, the agent moved only if that incarnation is live.
    func placement(elsewhereThan relayID: RelayID, now: Int64) -> RelayCheck? {
        guard self.exists, let record = self.record, record.relayID != relayID, now < record.deadline else { return nil }
        return RelayCheck(relayID: record.relayID, incarnation: record.relayIncarnation, revision: 0)
    }
}

/// One agent of a sync: what it asks for and what the sync knows of its key.
struct SyncedAgent: Sendable {
    enum Kind: Sendable {
        /// Place on the syncing relay, moving it off any other.
        case place
        /// Renew only if live on the syncing relay's current incarnation.
        case renew
    }

    let id: AgentID
    let key: [UInt8]
    let kind: Kind
    /// Nil until read (or remembered).
    var state: AgentKeyState?
}

/// What a sync does next for one agent, decided from its key's state. Pure, so the rules
/// are testable without etcd.
enum SyncStep: Equatable, Sendable {
    /// Read the key first.
    case read
    /// Write the agent's new record if the key is still as seen (its mod revision): a
    /// renewal of an agent live on this incarnation, draining or not.
    case write
    /// Write it over a key not live on this incarnation if the key is still as seen: a
    /// placement, which also requires the relay not to be draining.
    case move
    /// Write it if the key is still absent: a new agent, which needs room (and a relay not
    /// draining).
    case create
    /// Not kept, for this reason.
    case lost(AgentLoss)
    /// A renewal of an agent whose record names another relay: lost as
    /// ``AgentLoss/placedElsewhere(current:)`` if that relay's incarnation `incarnation`
    /// was live at `revision`, else as ``AgentLoss/notLive``.
    case checkElsewhere(RelayID, incarnation: Int64, revision: Int64)

    /// The step for `agent` on `relayID`'s current incarnation `incarnation`, at `now`;
    /// `draining` when the sync has seen that incarnation draining.
    static func next(for agent: SyncedAgent, relayID: RelayID, incarnation: Int64, now: Int64, draining: Bool = false) -> SyncStep {
        guard let state = agent.state else { return .read }
        let renewal = Self.renewal(state, relayID: relayID, incarnation: incarnation, now: now)
        switch agent.kind {
        case .place:
            if renewal == .write {
                // Already live on it: renewed, even while the relay drains.
                return .write
            }
            if draining {
                // Only a read may decide a loss: someone else may have written since.
                return state.isRemembered ? .read : .lost(.relayDraining)
            }
            return state.exists ? .move : .create
        case .renew:
            if state.isRemembered, renewal != .write {
                // Only a read may decide a loss: someone else may have written since.
                return .read
            }
            return renewal
        }
    }

    private static func renewal(_ state: AgentKeyState, relayID: RelayID, incarnation: Int64, now: Int64) -> SyncStep {
        guard state.exists, let record = state.record, now < record.deadline else {
            return .lost(.notLive)
        }
        guard record.relayID == relayID else {
            return .checkElsewhere(record.relayID, incarnation: record.relayIncarnation, revision: state.revision)
        }
        return record.relayIncarnation == incarnation ? .write : .lost(.notLive)
    }
}
