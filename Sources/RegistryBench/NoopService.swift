public import GRPCCore

/// The baseline: one unary method that takes and returns empty messages, with no
/// protobuf, validation or storage. What the gRPC stack itself costs on this machine.
public struct NoopService: RegistrableRPCService {
    /// `aero.arc.bench.Noop/Ping`: empty in, empty out.
    public static let method = MethodDescriptor(fullyQualifiedService: "aeroarc.registry.bench.Noop", method: "Ping")

    public init() {}

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: Self.method,
            deserializer: EmptyMessageCoder(),
            serializer: EmptyMessageCoder()
        ) { request, _ in
            for try await _ in request.messages {}
            return StreamingServerResponse(single: ServerResponse(message: EmptyMessage()))
        }
    }
}

/// A message with no fields.
public struct EmptyMessage: Sendable {
    public init() {}
}

/// Encodes ``EmptyMessage`` as zero bytes, as protobuf encodes an empty message.
public struct EmptyMessageCoder: MessageSerializer, MessageDeserializer {
    public init() {}

    public func serialize<Bytes: GRPCContiguousBytes>(_ message: EmptyMessage) throws -> Bytes {
        Bytes([])
    }

    public func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> EmptyMessage {
        EmptyMessage()
    }
}
