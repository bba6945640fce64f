import Foundation
import RegistryCore

/// What one application of outage grace writes, computed from one read of the registry's
/// prefix (docs/degraded-operation.md):
///
/// - the window to grant starts at the outage's start, or later when another replica
///   already granted grace up to a later time (the `grace-until` key): overlapping windows
///   count once; when it starts at or after now, there is nothing to grant;
/// - grace = min(now − start, bound);
/// - every relay and agent with start < deadline (live when the window began) and last
///   written before start + grace/2 gets deadline + grace: writes in flight when Consul
///   stopped carry a heartbeat just after the start, renewals after it came back (another
///   replica's) one near the window's end. Entries already expired at the start are left
///   alone.
///
/// A pure value, tested without Consul.
struct ConsulGracePlan: Sendable {
    /// Registry time (ms) from which grace is granted.
    var start: Int64
    /// Registry time (ms) of the read: `grace-until` becomes this.
    var now: Int64
    /// The grace granted (ms); zero when there is nothing to grant.
    var grace: Int64
    /// ModifyIndex of the `grace-until` key as read; 0 when it does not exist.
    var graceUntilIndex: UInt64
    /// The relays to extend, with their records already extended.
    var relays: [StoredRelay] = []
    /// The agents to extend, with their records already extended.
    var agents: [StoredAgent] = []

    /// - Parameters:
    ///   - outageStart: registry time (ms) at which this replica's outage began.
    ///   - now: registry time (ms) now.
    ///   - bound: the grace bound (ms).
    ///   - graceUntil: the `grace-until` entry, if it exists.
    ///   - contents: the relays and agents read with it.
    init(outageStart: Int64, now: Int64, bound: Int64, graceUntil: ConsulKVEntry?, contents: ConsulRegistryContents) {
        self.now = now
        self.graceUntilIndex = graceUntil?.modifyIndex ?? 0
        let grantedUntil = graceUntil.flatMap(Self.decodeTime)
        self.start = max(outageStart, grantedUntil ?? outageStart)
        guard self.start < now, bound > 0 else {
            self.grace = 0
            return
        }
        self.grace = min(now - self.start, bound)
        let start = self.start
        let cutoff = start + self.grace / 2
        for var relay in contents.relays.values
        where relay.record.heartbeatMilliseconds < cutoff && start < relay.record.expiresMilliseconds {
            relay.record.expiresMilliseconds += self.grace
            self.relays.append(relay)
        }
        for var agent in contents.agents
        where agent.record.heartbeatMilliseconds < cutoff && start < agent.record.expiresMilliseconds {
            agent.record.expiresMilliseconds += self.grace
            self.agents.append(agent)
        }
    }

    /// Whether this plan grants anything (and so writes `grace-until`).
    var grantsGrace: Bool {
        self.grace > 0
    }

    /// One write of the plan: its operation and what it extends.
    struct Write: Sendable {
        enum Target: Sendable, Equatable {
            case graceUntil, relay, agent
        }

        var operation: ConsulTxnOperation
        var target: Target
    }

    /// The writes, `grace-until` first: a `cas` on the ModifyIndex each was read at.
    func writes(keys: ConsulKeySchema, coder: ConsulRecordCoder) throws(RegistryError) -> [Write] {
        var writes: [Write] = []
        writes.reserveCapacity(1 + self.relays.count + self.agents.count)
        let graceUntil = ConsulTxnOperation.cas(keys.graceUntil, index: self.graceUntilIndex, value: Self.encodeTime(self.now))
        writes.append(Write(operation: graceUntil, target: .graceUntil))
        for relay in self.relays {
            let value = try coder.encode(relay.record)
            writes.append(Write(operation: .cas(keys.relay(relay.id), index: relay.modifyIndex, value: value), target: .relay))
        }
        for agent in self.agents {
            let value = try coder.encode(agent.record)
            writes.append(Write(operation: .cas(keys.agent(agent.id), index: agent.modifyIndex, value: value), target: .agent))
        }
        return writes
    }

    /// The value of `grace-until`: registry milliseconds in decimal.
    static func encodeTime(_ milliseconds: Int64) -> Data {
        Data(String(milliseconds).utf8)
    }

    /// The time in a `grace-until` entry; nil when it cannot be read (then ignored).
    static func decodeTime(_ entry: ConsulKVEntry) -> Int64? {
        guard entry.exists, let bytes = entry.valueBytes else { return nil }
        return Int64(String(decoding: bytes, as: UTF8.self))
    }
}
