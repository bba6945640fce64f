import RegistryCore

/// Where the backend keeps relays and agents in etcd's key space.
///
/// - `<prefix>relays/<hex of the relay ID's UTF-8 bytes>`
/// - `<prefix>agents/<hex of the agent ID's UTF-8 bytes>`
/// - `<prefix>draining/<hex of the relay ID's UTF-8 bytes>`: a draining relay's mark (see
///   `EtcdBackend+Admin.swift`)
///
/// Lowercase hex makes every valid ID a safe, printable key segment that no other ID
/// shares, and it preserves order: keys sort exactly as the IDs' bytes do, so a range
/// read returns entries already sorted by ID.
struct EtcdKeySchema: Sendable {
    /// The configured prefix's bytes.
    let prefix: [UInt8]
    /// `<prefix>relays/`
    let relayPrefix: [UInt8]
    /// `<prefix>agents/`
    let agentPrefix: [UInt8]
    /// `<prefix>draining/`
    let drainPrefix: [UInt8]

    init(prefix: String) {
        self.prefix = Array(prefix.utf8)
        self.relayPrefix = self.prefix + Array("relays/".utf8)
        self.agentPrefix = self.prefix + Array("agents/".utf8)
        self.drainPrefix = self.prefix + Array("draining/".utf8)
    }

    func key(of relay: RelayID) -> [UInt8] {
        self.relayPrefix + Hex.encode(relay.rawValue.utf8)
    }

    func key(of agent: AgentID) -> [UInt8] {
        self.agentPrefix + Hex.encode(agent.rawValue.utf8)
    }

    /// The key marking `relay` as draining.
    func drainKey(of relay: RelayID) -> [UInt8] {
        self.drainPrefix + Hex.encode(relay.rawValue.utf8)
    }

    /// The relay a drain key marks, or nil when the key is not a drain key.
    func relayID(fromDrainKey key: some Collection<UInt8>) -> RelayID? {
        Self.identifier(in: key, after: self.drainPrefix).flatMap { try? RelayID(validating: $0) }
    }

    /// The relay a key names, or nil when the key is not a relay key.
    func relayID(fromKey key: some Collection<UInt8>) -> RelayID? {
        Self.identifier(in: key, after: self.relayPrefix).flatMap { try? RelayID(validating: $0) }
    }

    /// The agent a key names, or nil when the key is not an agent key.
    func agentID(fromKey key: some Collection<UInt8>) -> AgentID? {
        Self.identifier(in: key, after: self.agentPrefix).flatMap { try? AgentID(validating: $0) }
    }

    private static func identifier(in key: some Collection<UInt8>, after prefix: [UInt8]) -> String? {
        guard key.starts(with: prefix) else { return nil }
        guard let bytes = Hex.decode(key.dropFirst(prefix.count)) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The end of the range holding every key that starts with `prefix`: the prefix with its
    /// last byte below 0xff incremented and what follows dropped (etcd's convention).
    static func rangeEnd(ofPrefix prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]  // every key
    }
}

/// Lowercase hexadecimal, two digits per byte.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(Self.digits[Int(byte >> 4)])
            out.append(Self.digits[Int(byte & 0x0f)])
        }
        return out
    }

    /// The bytes `text` encodes, or nil unless it is lowercase hex of even length.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8?
        for digit in text {
            let value: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = digit - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let pending = high {
                out.append(pending << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return out
    }
}
