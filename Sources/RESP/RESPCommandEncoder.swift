public import NIOCore

/// Writes commands as RESP2 arrays of bulk strings, the only form Redis accepts from clients.
///
/// Several commands may be written into one encoder to send them in one write (pipelining).
public struct RESPCommandEncoder: Sendable {
    /// The encoded bytes.
    public private(set) var buffer: ByteBuffer
    /// Commands written so far.
    public private(set) var commandCount = 0

    public init(allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.buffer = allocator.buffer(capacity: 128)
    }

    /// Writes one command: its name and arguments, each a bulk string.
    public mutating func encodeCommand(_ arguments: [RESPArgument]) {
        precondition(!arguments.isEmpty, "a command needs at least its name")
        self.writeHeader(UInt8(ascii: "*"), arguments.count)
        for argument in arguments {
            switch argument.storage {
            case .string(let text):
                self.writeHeader(UInt8(ascii: "$"), text.utf8.count)
                self.buffer.writeString(text)
            case .bytes(var bytes):
                self.writeHeader(UInt8(ascii: "$"), bytes.readableBytes)
                self.buffer.writeBuffer(&bytes)
            case .integer(let value):
                let text = String(value)
                self.writeHeader(UInt8(ascii: "$"), text.utf8.count)
                self.buffer.writeString(text)
            }
            self.buffer.writeStaticString("\r\n")
        }
        self.commandCount += 1
    }

    private mutating func writeHeader(_ type: UInt8, _ count: Int) {
        self.buffer.writeInteger(type)
        self.buffer.writeString(String(count))
        self.buffer.writeStaticString("\r\n")
    }
}

/// One argument of a command: text, bytes or an integer, sent as a bulk string.
public struct RESPArgument: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    enum Storage: Hashable, Sendable {
        case string(String)
        case bytes(ByteBuffer)
        case integer(Int64)
    }

    let storage: Storage

    /// Text, sent as its UTF-8 bytes.
    public init(_ text: String) {
        self.storage = .string(text)
    }

    /// Raw bytes.
    public init(bytes: ByteBuffer) {
        self.storage = .bytes(bytes)
    }

    /// An integer, sent in decimal.
    public init(_ value: some BinaryInteger) {
        self.storage = .integer(Int64(value))
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(integerLiteral value: Int64) {
        self.init(value)
    }
}

extension RESPArgument: CustomStringConvertible {
    public var description: String {
        switch self.storage {
        case .string(let text): text
        case .bytes(let bytes): String(buffer: bytes)
        case .integer(let value): String(value)
        }
    }
}
