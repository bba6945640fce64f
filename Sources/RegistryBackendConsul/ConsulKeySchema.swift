import RegistryCore

/// Where each relay, agent and guard lives in Consul's KV store.
///
/// ```
/// <prefix>relay/<base64url(relay ID)>     a relay record (its CreateIndex is its incarnation)
/// <prefix>agent/<base64url(agent ID)>     an agent record
/// <prefix>guard/relay, <prefix>guard/agent  capacity guards (see ConsulCapacityGuard)
/// <prefix>sweeper                         the sweeper lock (see ConsulSweepLock)
/// ```
///
/// IDs are encoded as unpadded base64url of their UTF-8 bytes, so every valid ID (slashes,
/// spaces, any Unicode) is a distinct key made of `[A-Za-z0-9_-]` that needs no escaping
/// and cannot reach outside its folder.
struct ConsulKeySchema: Sendable {
    /// The configured prefix, ending with `/`.
    let prefix: String

    /// The two kinds of entry, by folder.
    enum Kind: String, Sendable, CaseIterable {
        case relay, agent
    }

    func folder(_ kind: Kind) -> String {
        self.prefix + kind.rawValue + "/"
    }

    func relay(_ id: RelayID) -> String {
        self.folder(.relay) + Base64URL.encode(id.rawValue.utf8)
    }

    func agent(_ id: AgentID) -> String {
        self.folder(.agent) + Base64URL.encode(id.rawValue.utf8)
    }

    /// The key that serialises creations near the capacity limit of `kind`.
    func guardKey(_ kind: Kind) -> String {
        self.prefix + "guard/" + kind.rawValue
    }

    /// The lock held by the replica that scans for expired entries (see ConsulSweepLock).
    var sweeperLock: String {
        self.prefix + "sweeper"
    }

    /// What a key under the prefix names: a relay, an agent, or something else (nil).
    func parse(_ key: String) -> ParsedKey? {
        guard key.hasPrefix(self.prefix) else { return nil }
        let rest = key.dropFirst(self.prefix.count)
        for kind in Kind.allCases {
            let folder = kind.rawValue + "/"
            guard rest.hasPrefix(folder) else { continue }
            guard let bytes = Base64URL.decode(rest.dropFirst(folder.count)),
                let raw = String(validating: bytes, as: UTF8.self)
            else { return .undecodable(kind) }
            switch kind {
            case .relay:
                guard let id = try? RelayID(validating: raw) else { return .undecodable(kind) }
                return .relay(id)
            case .agent:
                guard let id = try? AgentID(validating: raw) else { return .undecodable(kind) }
                return .agent(id)
            }
        }
        return nil
    }

    enum ParsedKey: Equatable {
        case relay(RelayID)
        case agent(AgentID)
        /// In a kind's folder, but not an encoded valid ID: garbage to remove.
        case undecodable(Kind)
    }
}

/// Unpadded base64url (RFC 4648 §5), written by hand: IDs need the URL-safe alphabet
/// without padding, which Foundation's base64 does not offer.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    static func encode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let chunk = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            output.append(self.alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(self.alphabet[Int(chunk >> 12 & 0x3F)])
            if second != nil { output.append(self.alphabet[Int(chunk >> 6 & 0x3F)]) }
            if third != nil { output.append(self.alphabet[Int(chunk & 0x3F)]) }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes, or nil when `text` is not unpadded base64url.
    static func decode(_ text: Substring) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in text.utf8 {
            let value = self.values[Int(byte)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // A lone trailing character (6 bits) or non-zero leftover bits is not canonical.
        guard bits < 6, accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return output
    }
}
