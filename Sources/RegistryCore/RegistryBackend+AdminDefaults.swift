// TEMPORARY while the backends gain the admin operations; removed before merge.
extension RegistryBackend {
    public func deregisterRelay(_ id: RelayID) async throws -> Int {
        throw RegistryError.internalError("deregisterRelay is not implemented by this backend yet")
    }

    public func deregisterAgent(_ id: AgentID, from relayID: RelayID?) async throws {
        throw RegistryError.internalError("deregisterAgent is not implemented by this backend yet")
    }

    public func setDraining(_ id: RelayID, _ draining: Bool) async throws {
        throw RegistryError.internalError("setDraining is not implemented by this backend yet")
    }
}
