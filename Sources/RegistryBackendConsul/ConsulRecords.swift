import Foundation
import RegistryCore

/// The value stored at a relay's key, as JSON. The relay's incarnation is not stored: it
/// is the key's CreateIndex, which Consul assigns anew whenever the key is created.
struct ConsulRelayRecord: Codable, Sendable, Equatable {
    var address: String
    var grpcPort: Int
    /// Registry time of the last registration or heartbeat.
    var heartbeatMilliseconds: Int64
    /// Registry time from which the relay is no longer live (heartbeat + the relay TTL).
    var expiresMilliseconds: Int64
    /// `true` while the relay drains (takes no new agents); absent otherwise, and in records
    /// written before draining existed. Renewals keep it; a new incarnation starts without.
    var draining: Bool? = nil

    enum CodingKeys: String, CodingKey {
        case address
        case grpcPort = "grpc_port"
        case heartbeatMilliseconds = "heartbeat_unix_ms"
        case expiresMilliseconds = "expires_unix_ms"
        case draining
    }

    func isLive(at now: Int64) -> Bool {
        now < self.expiresMilliseconds
    }

    var isDraining: Bool {
        self.draining == true
    }
}

/// The value stored at an agent's key, as JSON.
struct ConsulAgentRecord: Codable, Sendable, Equatable {
    var relayID: String
    /// The CreateIndex of the relay key when the agent was placed: the agent is live only
    /// while that same incarnation of its relay is.
    var relayIncarnation: UInt64
    var heartbeatMilliseconds: Int64
    var expiresMilliseconds: Int64

    enum CodingKeys: String, CodingKey {
        case relayID = "relay_id"
        case relayIncarnation = "relay_incarnation"
        case heartbeatMilliseconds = "heartbeat_unix_ms"
        case expiresMilliseconds = "expires_unix_ms"
    }
}

/// A decoded relay entry: its record, incarnation and ModifyIndex.
struct StoredRelay: Sendable {
    var id: RelayID
    var record: ConsulRelayRecord
    var incarnation: UInt64
    var modifyIndex: UInt64

    func isLive(at now: Int64) -> Bool {
        self.record.isLive(at: now)
    }

    var relay: Relay? {
        guard let endpoint = try? RelayEndpoint(address: self.record.address, grpcPort: self.record.grpcPort) else { return nil }
        return Relay(id: self.id, endpoint: endpoint, lastHeartbeat: UnixMilliseconds(self.record.heartbeatMilliseconds))
    }
}

/// A decoded agent entry.
struct StoredAgent: Sendable {
    var id: AgentID
    var relayID: RelayID
    var record: ConsulAgentRecord
    var modifyIndex: UInt64

    /// Live: within its own TTL, and its relay (`relay`, as read in the same snapshot) is the
    /// same incarnation and live.
    func isLive(at now: Int64, relay: StoredRelay?) -> Bool {
        guard now < self.record.expiresMilliseconds, let relay else { return false }
        return relay.incarnation == self.record.relayIncarnation && relay.isLive(at: now)
    }

    var placement: AgentPlacement {
        AgentPlacement(agentID: self.id, relayID: self.relayID, lastUpdated: UnixMilliseconds(self.record.heartbeatMilliseconds))
    }

    var agent: Agent {
        Agent(id: self.id, relayID: self.relayID, lastHeartbeat: UnixMilliseconds(self.record.heartbeatMilliseconds))
    }
}

/// JSON coding of records, shared so that encoders are not rebuilt per entry.
struct ConsulRecordCoder: Sendable {
    /// A decoder to reuse across the entries of one listing.
    static func makeDecoder() -> JSONDecoder {
        JSONDecoder()
    }

    func encode<Record: Encodable>(_ record: Record) throws(RegistryError) -> Data {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return try encoder.encode(record)
        } catch {
            throw .internalError("cannot encode a registry record", underlying: error)
        }
    }

    /// The relay stored in `entry`, or nil when its value is not a relay's.
    func relay(_ entry: ConsulKVEntry, id: RelayID, decoder: JSONDecoder = JSONDecoder()) -> StoredRelay? {
        guard entry.exists, let bytes = entry.valueBytes,
            let record = try? decoder.decode(ConsulRelayRecord.self, from: bytes)
        else { return nil }
        return StoredRelay(id: id, record: record, incarnation: entry.createIndex, modifyIndex: entry.modifyIndex)
    }

    /// The agent stored in `entry`, or nil when its value is not an agent's.
    func agent(_ entry: ConsulKVEntry, id: AgentID, decoder: JSONDecoder = JSONDecoder()) -> StoredAgent? {
        guard entry.exists, let bytes = entry.valueBytes,
            let record = try? decoder.decode(ConsulAgentRecord.self, from: bytes),
            let relayID = try? RelayID(validating: record.relayID)
        else { return nil }
        return StoredAgent(id: id, relayID: relayID, record: record, modifyIndex: entry.modifyIndex)
    }
}
