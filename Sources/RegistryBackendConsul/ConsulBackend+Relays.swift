public import RegistryCore
import Synchronization

extension ConsulBackend {
    /// Reads the relay's key, then writes it conditionally:
    /// - live: `PUT ?cas=<ModifyIndex>` (same key, same CreateIndex: same incarnation);
    /// - stored but expired: one txn `delete-cas` + `cas` at index 0, so the key is created
    ///   anew and gets a new CreateIndex: a new incarnation that the old agents do not match;
    /// - absent: `cas` at index 0, behind the capacity guard.
    public func registerRelay(_ registration: RelayRegistration) async throws -> RelayRegistrationResult {
        try await self.reporting {
            let key = self.keys.relay(registration.id)
            return try await self.retrying("register relay \(registration.id)") { retry in
                let now = self.clock.now().rawValue
                let entry = try await self.client.get(key, consistent: retry)
                var record = ConsulRelayRecord(
                    address: registration.endpoint.address,
                    grpcPort: registration.endpoint.grpcPort,
                    heartbeatMilliseconds: now,
                    expiresMilliseconds: self.relayDeadline(now)
                )
                let value = try self.coder.encode(record)
                let relay = Relay(id: registration.id, endpoint: registration.endpoint, lastHeartbeat: UnixMilliseconds(now))
                guard let entry else {
                    var operations = try await self.capacity.admit(.relay, creating: "relay \(registration.id)", backend: self, now: now)
                    operations.append(.cas(key, index: 0, value: value))
                    guard case .applied = try await self.client.transaction(operations) else { return nil }
                    return RelayRegistrationResult(relay: relay, outcome: .created)
                }
                if let stored = self.coder.relay(entry, id: registration.id), stored.isLive(at: now) {
                    // The same incarnation: it keeps draining if it was.
                    record.draining = stored.record.draining
                    guard try await self.client.put(key, value: try self.coder.encode(record), cas: entry.modifyIndex) else { return nil }
                    return RelayRegistrationResult(relay: relay, outcome: .renewed)
                }
                // Expired (or unreadable): replace the key, so that it gets a new CreateIndex.
                let outcome = try await self.client.transaction([
                    .deleteCAS(key, index: entry.modifyIndex),
                    .cas(key, index: 0, value: value),
                ])
                guard case .applied = outcome else { return nil }
                return RelayRegistrationResult(relay: relay, outcome: .recreated)
            }
        }
    }

    /// Reads the relay and renews it with `PUT ?cas=<ModifyIndex>` if it is live.
    public func heartbeatRelay(_ id: RelayID) async throws -> Relay {
        try await self.reporting {
            let key = self.keys.relay(id)
            return try await self.retrying("heartbeat relay \(id)") { retry in
                let now = self.clock.now().rawValue
                guard let entry = try await self.client.get(key, consistent: retry),
                    var stored = self.coder.relay(entry, id: id), stored.isLive(at: now),
                    let endpoint = try? RelayEndpoint(address: stored.record.address, grpcPort: stored.record.grpcPort)
                else {
                    throw RegistryError.notFound("relay \(id) is not registered or has expired; register it again")
                }
                stored.record.heartbeatMilliseconds = now
                stored.record.expiresMilliseconds = self.relayDeadline(now)
                guard try await self.client.put(key, value: try self.coder.encode(stored.record), cas: entry.modifyIndex) else {
                    return nil
                }
                return Relay(id: id, endpoint: endpoint, lastHeartbeat: UnixMilliseconds(now))
            }
        }
    }

    /// One recursive read of the relay folder, filtered for liveness and sorted by ID bytes.
    public func listRelays() async throws -> Snapshot<Relay> {
        try await self.reporting {
            let now = self.clock.now()
            let entries = try await self.client.list(prefix: self.keys.folder(.relay))
            let decoder = ConsulRecordCoder.makeDecoder()
            var relays: [Relay] = []
            relays.reserveCapacity(entries.count)
            for entry in entries {
                guard case .relay(let id) = self.keys.parse(entry.key),
                    let stored = self.coder.relay(entry, id: id, decoder: decoder), stored.isLive(at: now.rawValue),
                    let relay = stored.relay
                else { continue }
                relays.append(relay)
            }
            relays.sortByIdentifier(\.id)
            return Snapshot(entries: relays, asOf: now)
        }
    }
}
