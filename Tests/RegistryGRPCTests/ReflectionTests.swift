import GRPCCore
import RegistryProtos
import SwiftProtobuf
import Testing

@Suite("Reflection service")
struct ReflectionTests {
    /// Asks each question on one v1 stream and returns the answers in order.
    func ask(_ questions: [Grpc_Reflection_V1_ServerReflectionRequest], _ server: RunningRegistry) async throws -> [Grpc_Reflection_V1_ServerReflectionResponse] {
        let reflection = Grpc_Reflection_V1_ServerReflection.Client(wrapping: server.grpc)
        return try await reflection.serverReflectionInfo { writer in
            try await writer.write(contentsOf: questions)
        } onResponse: { response in
            var answers: [Grpc_Reflection_V1_ServerReflectionResponse] = []
            for try await message in response.messages {
                answers.append(message)
            }
            return answers
        }
    }

    func fileNames(_ answer: Grpc_Reflection_V1_ServerReflectionResponse) throws -> [String] {
        try answer.fileDescriptorResponse.fileDescriptorProto.map {
            try Aeroarc_Registry_Internal_FileDescriptorIndex(serializedBytes: $0).name
        }
    }

    @Test("lists every served service")
    func listServices() async throws {
        try await withRunningRegistry { server in
            let answers = try await self.ask([.with { $0.listServices = "" }], server)
            #expect(answers.first?.listServicesResponse.service.map(\.name) == [
                "aeroarc.registry.fleet.v1.FleetRegistry",
                "aeroarc.registry.fleet.v1.RegistryAdmin",
                "aeroarc.registry.v1.AeroRegistry",
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ])
        }
    }

    @Test("finds the file declaring services, methods, messages and nested enums")
    func symbols() async throws {
        try await withRunningRegistry { server in
            let answers = try await self.ask(
                [
                    .with { $0.fileContainingSymbol = "aeroarc.registry.v1.AeroRegistry" },
                    .with { $0.fileContainingSymbol = "aeroarc.registry.v1.AeroRegistry.HeartbeatAgent" },
                    .with { $0.fileContainingSymbol = "aeroarc.registry.v1.GetAgentPlacementResponse" },
                    .with { $0.fileContainingSymbol = "grpc.health.v1.HealthCheckResponse.ServingStatus" },
                    .with { $0.fileByFilename = "grpc/reflection/v1alpha/reflection.proto" },
                ],
                server
            )
            #expect(answers.count == 5)
            #expect(try self.fileNames(answers[0]) == ["aeroarc/registry/v1/registry.proto"])
            #expect(try self.fileNames(answers[1]) == ["aeroarc/registry/v1/registry.proto"])
            #expect(try self.fileNames(answers[2]) == ["aeroarc/registry/v1/registry.proto"])
            #expect(try self.fileNames(answers[3]) == ["grpc/health/v1/health.proto"])
            #expect(try self.fileNames(answers[4]) == ["grpc/reflection/v1alpha/reflection.proto"])
            #expect(answers[0].originalRequest.fileContainingSymbol == "aeroarc.registry.v1.AeroRegistry")
        }
    }

    @Test("unknown symbols and files are NOT_FOUND answers on a stream that stays usable")
    func unknown() async throws {
        try await withRunningRegistry { server in
            let answers = try await self.ask(
                [
                    .with { $0.fileContainingSymbol = "no.such.Thing" },
                    .with { $0.fileByFilename = "nope.proto" },
                    .with { $0.listServices = "*" },
                ],
                server
            )
            #expect(answers.map(\.errorResponse.errorCode) == [5, 5, 0])
            #expect(answers[0].errorResponse.errorMessage.contains("no.such.Thing"))
            #expect(answers[2].listServicesResponse.service.count == 6)
        }
    }

    @Test("v1alpha answers too, for older tools")
    func v1alpha() async throws {
        try await withRunningRegistry { server in
            let reflection = Grpc_Reflection_V1alpha_ServerReflection.Client(wrapping: server.grpc)
            let names = try await reflection.serverReflectionInfo { writer in
                try await writer.write(.with { $0.fileContainingSymbol = "aeroarc.registry.v1.Relay" })
            } onResponse: { response in
                var names: [String] = []
                for try await message in response.messages {
                    names += try message.fileDescriptorResponse.fileDescriptorProto.map {
                        try Aeroarc_Registry_Internal_FileDescriptorIndex(serializedBytes: $0).name
                    }
                }
                return names
            }
            #expect(names == ["aeroarc/registry/v1/registry.proto"])
        }
    }
}
