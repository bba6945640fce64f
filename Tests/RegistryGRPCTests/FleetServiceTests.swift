import GRPCCore
import GRPCNIOTransportHTTP2
import RegistryCore
import RegistryProtos
import RegistryTestKit
import Testing

/// The fleet service end to end: validation, paging tokens, the mapping to the wire, and
/// that it shares its storage with v1. (Its semantics per backend are in the backend
/// contract suite.)
@Suite("FleetRegistry over gRPC")
struct FleetServiceTests {
    typealias Fleet = Aeroarc_Registry_Fleet_V1_FleetRegistry.Client<HTTP2ClientTransport.Posix>

    func fleet(_ server: RunningRegistry) -> Fleet {
        Fleet(wrapping: server.grpc)
    }

    @Test("a sync starts a relay and places its agents; v1 sees them at once, and v1's changes are seen by the fleet API", arguments: TestBackends.all)
    func sharedStorage(_ backend: TestBackend) async throws {
        let harness = try await backend.makeHarness()
        try await withRunningRegistry(harness: harness) { server in
            let fleet = self.fleet(server)
            let synced = try await fleet.syncRelay(.with {
                $0.relayID = "relay-1"
                $0.address = "10.0.0.1"
                $0.grpcPort = 7000
                $0.placeAgentIds = ["drone-2", "drone-1"]
                $0.timestampUnixMs = 42  // the sender's clock: ignored
            })
            #expect(synced.relayStarted)
            #expect(synced.relayIncarnation > 0)
            #expect(synced.lostAgents.isEmpty)
            #expect(synced.serverTimeUnixMs == (try await harness.now()).rawValue)
            #expect(synced.relayExpiresUnixMs == synced.serverTimeUnixMs + server.application.configuration.ttl.relayTTLMilliseconds)
            #expect(synced.nextSyncAfterMs > 0)

            let placement = try await server.registry.getAgentPlacement(.with { $0.agentID = "drone-1" }).placement
            #expect(placement.relayID == "relay-1")
            // A v1 move is seen by the fleet API, and a renewal from the old relay reports it.
            _ = try await server.registry.registerRelay(.with { $0.relay = .with { $0.relayID = "relay-2"; $0.address = "10.0.0.2"; $0.grpcPort = 7000 } })
            _ = try await server.registry.registerAgent(.with { $0.agent = .with { $0.agentID = "drone-2" }; $0.relayID = "relay-2" })
            let renewed = try await fleet.syncRelay(.with { $0.relayID = "relay-1"; $0.renewAgentIds = ["drone-1", "drone-2", "ghost"] })
            #expect(!renewed.relayStarted)
            #expect(renewed.relayIncarnation == synced.relayIncarnation)
            #expect(renewed.lostAgents.map(\.agentID) == ["drone-2", "ghost"])
            #expect(renewed.lostAgents.map(\.reason) == [.placedElsewhere, .notLive])
            #expect(renewed.lostAgents.map(\.currentRelayID) == ["relay-2", ""])

            let lookup = try await fleet.getPlacements(.with { $0.agentIds = ["ghost", "drone-2", "drone-1", "drone-2"] })
            #expect(lookup.placements.map(\.agentID) == ["drone-2", "drone-1"])
            #expect(lookup.placements.map(\.relayID) == ["relay-2", "relay-1"])
            #expect(lookup.placements.last?.relayIncarnation == synced.relayIncarnation)
            #expect(lookup.missingAgentIds == ["ghost"])

            let statuses = try await fleet.listRelayStatuses(.init())
            #expect(statuses.relays.map(\.relayID) == ["relay-1", "relay-2"])
            #expect(statuses.relays.map(\.agentCount) == [1, 1])
            #expect(statuses.relays.first?.address == "10.0.0.1")
            #expect(statuses.nextPageToken.isEmpty)
        }
    }

    @Test("placements page with opaque tokens bound to their filter")
    func paging() async throws {
        try await withRunningRegistry { server in
            let fleet = self.fleet(server)
            let ids = (0..<25).map { "drone-\($0 < 10 ? "0" : "")\($0)" }
            _ = try await fleet.syncRelay(.with { $0.relayID = "relay-1"; $0.address = "10.0.0.1"; $0.grpcPort = 7000; $0.placeAgentIds = Array(ids.prefix(20)) })
            _ = try await fleet.syncRelay(.with { $0.relayID = "relay-2"; $0.address = "10.0.0.2"; $0.grpcPort = 7000; $0.placeAgentIds = Array(ids.suffix(5)) })
            var listed: [String] = []
            var token = ""
            var pages = 0
            repeat {
                let page = try await fleet.listPlacements(.with { $0.pageSize = 7; $0.pageToken = token })
                listed += page.placements.map(\.agentID)
                token = page.nextPageToken
                pages += 1
            } while !token.isEmpty && pages < 10
            #expect(listed == ids)
            #expect(pages == 4)

            let onRelay2 = try await fleet.listPlacements(.with { $0.relayID = "relay-2"; $0.pageSize = 2 })
            #expect(onRelay2.placements.map(\.agentID) == ["drone-20", "drone-21"])
            // The token is bound to relay-2: reusing it for another filter is refused.
            let error = await expectRPCError(.invalidArgument) {
                try await fleet.listPlacements(.with { $0.relayID = "relay-1"; $0.pageToken = onRelay2.nextPageToken })
            }
            #expect(error?.message.hasPrefix("page_token") == true)
            await expectRPCError(.invalidArgument) { try await fleet.listPlacements(.with { $0.pageToken = "not a token!" }) }
            await expectRPCError(.invalidArgument) { try await fleet.listPlacements(.with { $0.pageToken = onRelay2.nextPageToken }) }
            // A placements token is not a relay-status token.
            await expectRPCError(.invalidArgument) { try await fleet.listRelayStatuses(.with { $0.pageToken = onRelay2.nextPageToken }) }
            let rest = try await fleet.listPlacements(.with { $0.relayID = "relay-2"; $0.pageToken = onRelay2.nextPageToken })
            #expect(rest.placements.map(\.agentID) == ["drone-22", "drone-23", "drone-24"])
            #expect(rest.nextPageToken.isEmpty)
        }
    }

    @Test("bad requests are INVALID_ARGUMENT naming the field and index, and change nothing")
    func validation() async throws {
        try await withRunningRegistry { server in
            let fleet = self.fleet(server)
            func expectInvalid(_ prefix: String, _ request: Aeroarc_Registry_Fleet_V1_SyncRelayRequest, sourceLocation: SourceLocation = #_sourceLocation) async {
                let error = await expectRPCError(.invalidArgument, sourceLocation: sourceLocation) { try await fleet.syncRelay(request) }
                #expect(error?.message.hasPrefix(prefix) == true, "\(String(describing: error?.message))", sourceLocation: sourceLocation)
            }
            await expectInvalid("relay_id", .with { $0.relayID = ""; $0.address = "10.0.0.1"; $0.grpcPort = 7000 })
            await expectInvalid("address and grpc_port", .with { $0.relayID = "relay-1"; $0.address = "10.0.0.1" })
            await expectInvalid("address and grpc_port", .with { $0.relayID = "relay-1"; $0.grpcPort = 7000 })
            await expectInvalid("grpc_port", .with { $0.relayID = "relay-1"; $0.address = "10.0.0.1"; $0.grpcPort = 70000 })
            await expectInvalid("renew_agent_ids[2]", .with { $0.relayID = "relay-1"; $0.address = "10.0.0.1"; $0.grpcPort = 7000; $0.placeAgentIds = ["a"]; $0.renewAgentIds = ["b", "c", "bad\u{7}id"] })
            await expectInvalid("place_agent_ids[0]", .with { $0.relayID = "relay-1"; $0.address = "10.0.0.1"; $0.grpcPort = 7000; $0.placeAgentIds = [""] })
            await expectInvalid("a sync carries at most 10000", .with {
                $0.relayID = "relay-1"; $0.address = "10.0.0.1"; $0.grpcPort = 7000
                $0.placeAgentIds = (0..<6_000).map { "p\($0)" }
                $0.renewAgentIds = (0..<4_001).map { "r\($0)" }
            })
            // Duplicates collapse, and an ID both placed and renewed is placed.
            let ok = try await fleet.syncRelay(.with {
                $0.relayID = "relay-1"; $0.address = "10.0.0.1"; $0.grpcPort = 7000
                $0.placeAgentIds = ["a", "a", "b"]; $0.renewAgentIds = ["b", "b"]
            })
            #expect(ok.lostAgents.isEmpty)
            // Nothing from the invalid calls was stored.
            #expect(try await server.registry.listAgents(.init()).agents.map(\.agentID) == ["a", "b"])
            #expect(try await server.registry.listRelays(.init()).relays.map(\.relayID) == ["relay-1"])

            let tooMany = await expectRPCError(.invalidArgument) { try await fleet.getPlacements(.with { $0.agentIds = (0..<1_001).map { "a\($0)" } }) }
            #expect(tooMany?.message.hasPrefix("agent_ids") == true)
            let badID = await expectRPCError(.invalidArgument) { try await fleet.getPlacements(.with { $0.agentIds = ["ok", "\u{0}"] }) }
            #expect(badID?.message.hasPrefix("agent_ids[1]") == true)
            for size: Int32 in [-1, 10_001] {
                let error = await expectRPCError(.invalidArgument) { try await fleet.listPlacements(.with { $0.pageSize = size }) }
                #expect(error?.message.hasPrefix("page_size") == true)
                await expectRPCError(.invalidArgument) { try await fleet.listRelayStatuses(.with { $0.pageSize = size }) }
            }
            await expectRPCError(.notFound) { try await fleet.syncRelay(.with { $0.relayID = "ghost" }) }
        }
    }

    @Test("health answers for the fleet service")
    func health() async throws {
        try await withRunningRegistry { server in
            let health = Grpc_Health_V1_Health.Client(wrapping: server.grpc)
            let status = try await health.check(.with { $0.service = "aeroarc.registry.fleet.v1.FleetRegistry" })
            #expect(status.status == .serving)
        }
    }
}

@Suite("Sync pacing")
struct SyncPacingTests {
    @Test("the hint is jittered ±20% around the interval, never above half the shorter TTL, never 0")
    func pacing() throws {
        let ttl = try TTLPolicy(relayTTL: .seconds(30), agentTTL: .seconds(20))
        let pacing = SyncPacing(interval: .seconds(5), ttl: ttl)
        #expect(pacing.nextSyncAfterMilliseconds(jitter: 0) == 5_000)
        #expect(pacing.nextSyncAfterMilliseconds(jitter: -1) == 4_000)
        #expect(pacing.nextSyncAfterMilliseconds(jitter: 1) == 6_000)
        let slow = SyncPacing(interval: .seconds(60), ttl: ttl)
        #expect(slow.nextSyncAfterMilliseconds(jitter: 1) == 10_000)
        let tiny = SyncPacing(interval: .zero, ttl: ttl)
        #expect(tiny.nextSyncAfterMilliseconds(jitter: -1) == 1)
        for _ in 0..<100 {
            #expect((4_000...6_000).contains(pacing.nextSyncAfterMilliseconds()))
        }
    }
}
