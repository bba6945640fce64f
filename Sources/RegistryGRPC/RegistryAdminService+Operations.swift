public import GRPCCore
import Logging
import RegistryCore
public import RegistryProtos

/// The admin operations: taking relays and agents out of service without waiting for a
/// TTL (docs/contract.md, "Admin operations"). Who may call them is the authorization
/// interceptor's business, not the handlers'; each call is audited here, allowed or not
/// by the store: one log line with who, what, which IDs and the outcome.
extension RegistryAdminService {
    public func deregisterRelay(
        request: Aeroarc_Registry_Fleet_V1_DeregisterRelayRequest,
        context: ServerContext
    ) async throws -> Aeroarc_Registry_Fleet_V1_DeregisterRelayResponse {
        try await self.audited("deregister_relay", context, ["relay_id": "\(request.relayID)"]) {
            let id = try RelayID(validating: request.relayID, field: "relay_id")
            var response = Aeroarc_Registry_Fleet_V1_DeregisterRelayResponse()
            response.agentsRemoved = Int64(try await self.registry.deregisterRelay(id))
            return (response, ["agents_removed": "\(response.agentsRemoved)"])
        }
    }

    public func deregisterAgent(
        request: Aeroarc_Registry_Fleet_V1_DeregisterAgentRequest,
        context: ServerContext
    ) async throws -> Aeroarc_Registry_Fleet_V1_DeregisterAgentResponse {
        try await self.audited("deregister_agent", context, ["agent_id": "\(request.agentID)", "relay_id": "\(request.relayID)"]) {
            let agent = try AgentID(validating: request.agentID, field: "agent_id")
            let relay = request.relayID.isEmpty ? nil : try RelayID(validating: request.relayID, field: "relay_id")
            try await self.registry.deregisterAgent(agent, from: relay)
            return (Aeroarc_Registry_Fleet_V1_DeregisterAgentResponse(), [:])
        }
    }

    public func drainRelay(
        request: Aeroarc_Registry_Fleet_V1_DrainRelayRequest,
        context: ServerContext
    ) async throws -> Aeroarc_Registry_Fleet_V1_DrainRelayResponse {
        try await self.audited("drain_relay", context, ["relay_id": "\(request.relayID)"]) {
            try await self.registry.setDraining(try RelayID(validating: request.relayID, field: "relay_id"), true)
            return (Aeroarc_Registry_Fleet_V1_DrainRelayResponse(), [:])
        }
    }

    public func undrainRelay(
        request: Aeroarc_Registry_Fleet_V1_UndrainRelayRequest,
        context: ServerContext
    ) async throws -> Aeroarc_Registry_Fleet_V1_UndrainRelayResponse {
        try await self.audited("undrain_relay", context, ["relay_id": "\(request.relayID)"]) {
            try await self.registry.setDraining(try RelayID(validating: request.relayID, field: "relay_id"), false)
            return (Aeroarc_Registry_Fleet_V1_UndrainRelayResponse(), [:])
        }
    }

    /// Runs an admin operation and logs it once: the caller (as the authorization
    /// interceptor resolved it, never a token; the peer address when authentication is
    /// off), the operation, its IDs and its outcome.
    private func audited<Response>(
        _ operation: String,
        _ context: ServerContext,
        _ ids: Logger.Metadata,
        _ body: () async throws -> (Response, Logger.Metadata)
    ) async throws -> Response {
        var metadata = ids
        metadata["operation"] = "\(operation)"
        metadata["caller"] = "\(AccessPolicy.Caller.current?.description ?? "unauthenticated")"
        metadata["peer"] = "\(context.remotePeer)"
        do {
            let (response, details) = try await body()
            metadata.merge(details) { _, new in new }
            metadata["outcome"] = "ok"
            self.logger.notice("admin operation", metadata: metadata)
            return response
        } catch {
            metadata["outcome"] = "\((error as? RegistryError)?.code.description ?? "failed")"
            self.logger.notice("admin operation", metadata: metadata)
            throw error
        }
    }
}
