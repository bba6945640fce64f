import Logging
import RESP
public import RegistryCore

/// The admin operations (see `RegistryBackend`'s documentation): each is one script
/// (``RedisScripts/deregisterRelay``, ``RedisScripts/deregisterAgent``,
/// ``RedisScripts/setDraining``), so atomic and one round trip, whatever the number of agents.
extension RedisBackend {
    public func deregisterRelay(_ id: RelayID) async throws -> Int {
        let reply = try await self.evaluate(
            RedisScripts.deregisterRelay,
            key: self.schema.relayKey(id),
            [RESPArgument(RedisKeySchema.encode(id))],
            operation: "deregister relay"
        )
        switch reply.status {
        case "ok":
            guard let agents = reply.integer(at: 2), agents >= 0 else { throw reply.unexpected() }
            return Int(agents)
        case "missing":
            throw RegistryError.notFound("relay \(id) is not registered or has expired")
        default:
            throw reply.unexpected()
        }
    }

    public func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        let reply = try await self.evaluate(
            RedisScripts.deregisterAgent,
            key: self.schema.agentKey(id),
            [RESPArgument(RedisKeySchema.encode(id)), RESPArgument(relayID.map { RedisKeySchema.encode($0) } ?? "")],
            operation: "deregister agent"
        )
        switch reply.status {
        case "ok":
            return
        case "elsewhere":
            let expected = relayID.map(\.rawValue) ?? "?"
            guard let current = reply.string(at: 2).flatMap(RedisKeySchema.relayID) else {
                self.logger.warning("agent record in redis is corrupt", metadata: ["agent_id": "\(id)"])
                throw RegistryError.notFound("agent \(id) is not placed on relay \(expected)")
            }
            throw RegistryError.notFound("agent \(id) is not placed on relay \(expected); it is on relay \(current)")
        case "missing":
            throw RegistryError.notFound("agent \(id) is not registered or has expired")
        default:
            throw reply.unexpected()
        }
    }

    public func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        let reply = try await self.evaluate(
            RedisScripts.setDraining,
            key: self.schema.relayKey(id),
            [RESPArgument(RedisKeySchema.encode(id)), draining ? "1" : ""],
            operation: draining ? "drain relay" : "undrain relay"
        )
        switch reply.status {
        case "ok":
            return
        case "missing":
            throw RegistryError.notFound("relay \(id) is not registered or has expired")
        default:
            throw reply.unexpected()
        }
    }
}
