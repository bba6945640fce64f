import RegistryCore

/// What a relay key holds: `<deadline> <last heartbeat> <gRPC port> <address>`.
///
/// Times are registry milliseconds. The deadline comes first, as 16 zero-padded decimal
/// digits, so that comparing the stored bytes with ``DeadlineEncoding/liveAt(_:)`` in a
/// transaction tells whether the entry is live at a given instant (see there).
struct RelayRecord: Hashable, Sendable {
    var deadline: Int64
    var lastHeartbeat: Int64
    var endpoint: RelayEndpoint

    func encoded() -> [UInt8] {
        var out = DeadlineEncoding.digits(self.deadline)
        out.append(UInt8(ascii: " "))
        out += Array("\(self.lastHeartbeat) \(self.endpoint.grpcPort) \(self.endpoint.address)".utf8)
        return out
    }

    /// The record in `bytes`, or nil when they are not one (another program's value, or damage).
    init?(decoding bytes: some Collection<UInt8>) {
        let fields = ValueFields(bytes, count: 4)
        guard
            let fields,
            let deadline = fields.integer(0),
            let heartbeat = fields.integer(1),
            let port = fields.integer(2),
            let address = fields.string(3),
            let endpoint = try? RelayEndpoint(address: address, grpcPort: Int(port))
        else { return nil }
        self.deadline = deadline
        self.lastHeartbeat = heartbeat
        self.endpoint = endpoint
    }

    init(deadline: Int64, lastHeartbeat: Int64, endpoint: RelayEndpoint) {
        self.deadline = deadline
        self.lastHeartbeat = lastHeartbeat
        self.endpoint = endpoint
    }

    func isLive(at now: Int64) -> Bool {
        now < self.deadline
    }
}

/// What an agent key holds: `<deadline> <last heartbeat> <relay incarnation> <relay ID>`.
///
/// The relay's incarnation is the create revision of the relay key the agent was placed
/// on: a relay registered again after it expired is written as a new key, so its agents
/// of the old incarnation no longer match it.
struct AgentRecord: Hashable, Sendable {
    var deadline: Int64
    var lastHeartbeat: Int64
    var relayIncarnation: Int64
    var relayID: RelayID

    func encoded() -> [UInt8] {
        var out = DeadlineEncoding.digits(self.deadline)
        out.append(UInt8(ascii: " "))
        out += Array("\(self.lastHeartbeat) \(self.relayIncarnation) ".utf8)
        out += Array(self.relayID.rawValue.utf8)
        return out
    }

    init?(decoding bytes: some Collection<UInt8>) {
        let fields = ValueFields(bytes, count: 4)
        guard
            let fields,
            let deadline = fields.integer(0),
            let heartbeat = fields.integer(1),
            let incarnation = fields.integer(2),
            let relay = fields.string(3),
            let relayID = try? RelayID(validating: relay)
        else { return nil }
        self.deadline = deadline
        self.lastHeartbeat = heartbeat
        self.relayIncarnation = incarnation
        self.relayID = relayID
    }

    init(deadline: Int64, lastHeartbeat: Int64, relayIncarnation: Int64, relayID: RelayID) {
        self.deadline = deadline
        self.lastHeartbeat = lastHeartbeat
        self.relayIncarnation = relayIncarnation
        self.relayID = relayID
    }
}

/// Deadlines as sortable bytes at the start of every stored value.
enum DeadlineEncoding {
    static let width = 16
    private static let largest: Int64 = 9_999_999_999_999_999

    /// `milliseconds` as 16 zero-padded decimal digits (clamped to what fits).
    static func digits(_ milliseconds: Int64) -> [UInt8] {
        let clamped = min(max(milliseconds, 0), Self.largest)
        let text = String(clamped)
        return Array(repeating: UInt8(ascii: "0"), count: Self.width - text.utf8.count) + Array(text.utf8)
    }

    /// Bytes that a stored value is greater than exactly when its deadline is after `now`,
    /// i.e. when the entry is live at `now`: `now`'s digits followed by `~`. A value with a
    /// later deadline differs first in a larger digit; one with a deadline equal to `now`
    /// continues with a space, which sorts before `~`; an earlier one is smaller.
    static func liveAt(_ now: Int64) -> [UInt8] {
        Self.digits(now) + [UInt8(ascii: "~")]
    }
}

/// A value split at its first `count - 1` spaces; the last field keeps any spaces it has.
private struct ValueFields {
    let fields: [Substring]

    init?(_ bytes: some Collection<UInt8>, count: Int) {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let fields = text.split(separator: " ", maxSplits: count - 1, omittingEmptySubsequences: false)
        guard fields.count == count else { return nil }
        self.fields = fields
    }

    func integer(_ index: Int) -> Int64? {
        Int64(self.fields[index])
    }

    func string(_ index: Int) -> String? {
        let field = self.fields[index]
        return field.isEmpty ? nil : String(field)
    }
}
