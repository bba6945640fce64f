public import GRPCCore
import Foundation
import RegistryProtos
import SwiftProtobuf

/// gRPC server reflection, `grpc.reflection.v1` and its predecessor `v1alpha`, so that
/// grpcurl and similar tools can list and call the registry's services without .proto files.
public struct ReflectionService: Sendable {
    private let index: ReflectionIndex

    /// - Parameter services: the fully qualified names of the services the server serves.
    /// - Throws: when the embedded descriptors do not describe one of `services`.
    public init(services: [String]) throws {
        self.index = try ReflectionIndex.served(services: services)
    }

    /// The names of both reflection services.
    public static let serviceNames = [
        Grpc_Reflection_V1_ServerReflection.descriptor.fullyQualifiedService,
        Grpc_Reflection_V1alpha_ServerReflection.descriptor.fullyQualifiedService,
    ]

    /// Both versions, to register with a server.
    public var services: [any RegistrableRPCService] {
        [V1(index: self.index), V1Alpha(index: self.index)]
    }

    struct V1: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
        let index: ReflectionIndex

        func serverReflectionInfo(
            request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest, any Error>,
            response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
            context: ServerContext
        ) async throws {
            for try await question in request {
                var answer = Grpc_Reflection_V1_ServerReflectionResponse()
                answer.validHost = question.host
                answer.originalRequest = question
                switch self.index.answer(ReflectionIndex.Question(question.messageRequest)) {
                case .files(let files):
                    answer.fileDescriptorResponse = .with { $0.fileDescriptorProto = files }
                case .services(let names):
                    answer.listServicesResponse = .with { $0.service = names.map { name in .with { $0.name = name } } }
                case .extensionNumbers(let type, let numbers):
                    answer.allExtensionNumbersResponse = .with {
                        $0.baseTypeName = type
                        $0.extensionNumber = numbers
                    }
                case .error(let code, let message):
                    answer.errorResponse = .with {
                        $0.errorCode = code
                        $0.errorMessage = message
                    }
                }
                try await response.write(answer)
            }
        }
    }

    struct V1Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
        let index: ReflectionIndex

        func serverReflectionInfo(
            request: RPCAsyncSequence<Grpc_Reflection_V1alpha_ServerReflectionRequest, any Error>,
            response: RPCWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
            context: ServerContext
        ) async throws {
            for try await question in request {
                var answer = Grpc_Reflection_V1alpha_ServerReflectionResponse()
                answer.validHost = question.host
                answer.originalRequest = question
                switch self.index.answer(ReflectionIndex.Question(question.messageRequest)) {
                case .files(let files):
                    answer.fileDescriptorResponse = .with { $0.fileDescriptorProto = files }
                case .services(let names):
                    answer.listServicesResponse = .with { $0.service = names.map { name in .with { $0.name = name } } }
                case .extensionNumbers(let type, let numbers):
                    answer.allExtensionNumbersResponse = .with {
                        $0.baseTypeName = type
                        $0.extensionNumber = numbers
                    }
                case .error(let code, let message):
                    answer.errorResponse = .with {
                        $0.errorCode = code
                        $0.errorMessage = message
                    }
                }
                try await response.write(answer)
            }
        }
    }
}

extension ReflectionIndex.Question {
    init(_ request: Grpc_Reflection_V1_ServerReflectionRequest.OneOf_MessageRequest?) {
        switch request {
        case .fileByFilename(let name): self = .fileByName(name)
        case .fileContainingSymbol(let symbol): self = .fileContainingSymbol(symbol)
        case .fileContainingExtension(let request):
            self = .fileContainingExtension(type: request.containingType, number: request.extensionNumber)
        case .allExtensionNumbersOfType(let type): self = .extensionNumbers(type: type)
        case .listServices: self = .listServices
        case nil: self = .unset
        }
    }

    init(_ request: Grpc_Reflection_V1alpha_ServerReflectionRequest.OneOf_MessageRequest?) {
        switch request {
        case .fileByFilename(let name): self = .fileByName(name)
        case .fileContainingSymbol(let symbol): self = .fileContainingSymbol(symbol)
        case .fileContainingExtension(let request):
            self = .fileContainingExtension(type: request.containingType, number: request.extensionNumber)
        case .allExtensionNumbersOfType(let type): self = .extensionNumbers(type: type)
        case .listServices: self = .listServices
        case nil: self = .unset
        }
    }
}
