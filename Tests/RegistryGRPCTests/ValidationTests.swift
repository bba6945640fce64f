import SwiftProtobuf
import GRPCCore
import RegistryProtos
import Testing

@Suite("Request validation over gRPC")
struct ValidationTests {
    static func relay(_ configure: (inout Aeroarc_Registry_V1_Relay) -> Void) -> Aeroarc_Registry_V1_RegisterRelayRequest {
        var relay = Aeroarc_Registry_V1_Relay()
        relay.relayID = "relay-1"
        relay.address = "10.0.0.1"
        relay.grpcPort = 7000
        configure(&relay)
        return .with { $0.relay = relay }
    }

    /// Invalid RegisterRelay requests and the field their error must name.
    static let invalidRelays: [(String, Aeroarc_Registry_V1_RegisterRelayRequest, String)] = [
        ("missing relay", Aeroarc_Registry_V1_RegisterRelayRequest(), "relay"),
        ("empty ID", relay { $0.relayID = "" }, "relay.relay_id"),
        ("257-byte ID", relay { $0.relayID = String(repeating: "x", count: 257) }, "relay.relay_id"),
        ("ID over 256 bytes in fewer characters", relay { $0.relayID = String(repeating: "é", count: 129) }, "relay.relay_id"),
        ("ID with a newline", relay { $0.relayID = "relay\n1" }, "relay.relay_id"),
        ("ID with DEL", relay { $0.relayID = "relay\u{7F}" }, "relay.relay_id"),
        ("ID with a C1 control", relay { $0.relayID = "relay\u{85}" }, "relay.relay_id"),
        ("ID with NUL", relay { $0.relayID = "relay\u{0}" }, "relay.relay_id"),
        ("empty address", relay { $0.address = "" }, "relay.address"),
        ("address with a space", relay { $0.address = "10.0.0.1 " }, "relay.address"),
        ("address with a tab", relay { $0.address = "a\tb" }, "relay.address"),
        ("256-byte address", relay { $0.address = String(repeating: "a", count: 256) }, "relay.address"),
        ("port 0", relay { $0.grpcPort = 0 }, "relay.grpc_port"),
        ("port 65536", relay { $0.grpcPort = 65536 }, "relay.grpc_port"),
        ("negative port", relay { $0.grpcPort = -1 }, "relay.grpc_port"),
    ]

    @Test("invalid relay registrations are INVALID_ARGUMENT naming the field, and store nothing")
    func invalidRelayRegistrations() async throws {
        try await withRunningRegistry { server in
            for (name, request, field) in Self.invalidRelays {
                let error = await expectRPCError(.invalidArgument) { try await server.registry.registerRelay(request) }
                #expect(error?.message.hasPrefix(field + " ") == true, "\(name): \(error?.message ?? "")")
            }
            let relays = try await server.registry.listRelays(.init()).relays
            #expect(relays.isEmpty)
        }
    }

    @Test("the longest valid ID and address are accepted")
    func limitsAreInclusive() async throws {
        try await withRunningRegistry { server in
            _ = try await server.registry.registerRelay(Self.relay {
                $0.relayID = String(repeating: "x", count: 256)
                $0.address = String(repeating: "a", count: 255)
                $0.grpcPort = 65535
            })
            #expect(try await server.registry.listRelays(.init()).relays.count == 1)
        }
    }

    @Test("invalid agent requests are INVALID_ARGUMENT naming the field")
    func invalidAgentRequests() async throws {
        try await withRunningRegistry { server in
            let registry = server.registry
            _ = try await registry.registerRelay(Self.relay { _ in })
            var error = await expectRPCError(.invalidArgument) { try await registry.registerAgent(.with { $0.relayID = "relay-1" }) }
            #expect(error?.message == "agent is required")
            error = await expectRPCError(.invalidArgument) {
                try await registry.registerAgent(.with {
                    $0.agent.agentID = ""
                    $0.relayID = "relay-1"
                })
            }
            #expect(error?.message.hasPrefix("agent.agent_id ") == true)
            error = await expectRPCError(.invalidArgument) { try await registry.registerAgent(.with { $0.agent.agentID = "a" }) }
            #expect(error?.message.hasPrefix("relay_id ") == true)
            error = await expectRPCError(.invalidArgument) { try await registry.heartbeatAgent(.with { $0.agentID = "" }) }
            #expect(error?.message.hasPrefix("agent_id ") == true)
            error = await expectRPCError(.invalidArgument) {
                try await registry.heartbeatAgent(.with {
                    $0.agentID = "a"
                    $0.relayID = "bad\u{1}"
                })
            }
            #expect(error?.message.hasPrefix("relay_id ") == true)
            error = await expectRPCError(.invalidArgument) { try await registry.getAgentPlacement(.with { $0.agentID = "" }) }
            #expect(error?.message.hasPrefix("agent_id ") == true)
            error = await expectRPCError(.invalidArgument) { try await registry.heartbeatRelay(.with { $0.relayID = "" }) }
            #expect(error?.message.hasPrefix("relay_id ") == true)
            #expect(try await registry.listAgents(.init()).agents.isEmpty)
        }
    }

    @Test("malformed request bytes get INVALID_ARGUMENT and the server keeps serving")
    func malformedBytes() async throws {
        try await withRunningRegistry { server in
            // A truncated varint: not a valid RegisterRelayRequest.
            for garbage: [UInt8] in [[0x0A, 0xFF], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0x0A, 0x05, 0x0A]] {
                await expectRPCError(.invalidArgument) {
                    try await server.grpc.unary(
                        request: ClientRequest(message: garbage),
                        descriptor: Aeroarc_Registry_V1_AeroRegistry.Method.RegisterRelay.descriptor,
                        serializer: RawBytes(),
                        deserializer: RawBytes(),
                        options: .defaults
                    ) { try $0.message }
                }
            }
            _ = try await server.registry.registerRelay(Self.relay { _ in })
            #expect(try await server.registry.listRelays(.init()).relays.count == 1)
        }
    }
}

/// Sends and receives message bytes as they are.
struct RawBytes: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}
