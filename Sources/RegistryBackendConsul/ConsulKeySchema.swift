import RegistryCore

/// Where each relay, agent and guard lives in Consul's KV store.
///
/// ```
/// <prefix>relay/<base64url(relay ID)>     a relay record (its CreateIndex is its incarnation)
/// <prefix>agent/<base64url(agent ID)>     an agent record
/// <prefix>guard/relay, <prefix>guard/agent  capacity guards (see ConsulCapacityGuard)
/// <prefix>sweeper                         the sweeper lock (see ConsulSweepLock)
/// <prefix>grace-until                     registry time (ms, decimal) up to which outage grace was granted
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

    /// Registry time up to which outage grace has been granted, by any replica (see
    /// `ConsulBackend+Grace.swift`): overlapping outage windows count once.
    var graceUntil: String {
        self.prefix + "grace-until"
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
