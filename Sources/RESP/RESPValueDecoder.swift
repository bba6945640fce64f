public import NIOCore

/// Decodes RESP2 replies from a byte stream, however it is split.
///
/// Incremental: each complete element (a line, a whole bulk string) is consumed as soon
/// as it has arrived and arrays under construction are kept on a stack, so a large reply
/// arriving in many reads is scanned once, not once per read. Anything that is not valid
/// RESP2, or exceeds ``limits``, throws a ``RESPError`` with code
/// ``RESPError/Code/protocolViolation``; after that the decoder must not be used again
/// (the connection is closed).
public struct RESPValueDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    /// What the decoder accepts.
    public let limits: RESPDecodingLimits

    private struct OpenArray {
        var remaining: Int
        var elements: [RESPValue]
    }

    /// Arrays whose elements are still arriving, outermost first.
    private var openArrays: [OpenArray] = []
    /// Bytes consumed so far by the reply in progress.
    private var replyBytes = 0

    public init(limits: RESPDecodingLimits = RESPDecodingLimits()) {
        self.limits = limits
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        while true {
            guard let element = try self.readElement(&buffer) else {
                return nil
            }
            var value: RESPValue
            switch element {
            case .arrayStart(let count):
                if self.openArrays.count >= self.limits.maximumDepth {
                    throw RESPError(.protocolViolation, "arrays nested more than \(self.limits.maximumDepth) deep")
                }
                var elements: [RESPValue] = []
                elements.reserveCapacity(min(count, 4096))
                self.openArrays.append(OpenArray(remaining: count, elements: elements))
                continue
            case .value(let complete):
                value = complete
            }
            // Attach the value to the innermost open array, closing every array it completes.
            while !self.openArrays.isEmpty {
                let last = self.openArrays.count - 1
                self.openArrays[last].elements.append(value)
                self.openArrays[last].remaining -= 1
                guard self.openArrays[last].remaining == 0 else { break }
                value = .array(self.openArrays.removeLast().elements)
            }
            if self.openArrays.isEmpty {
                self.replyBytes = 0
                return value
            }
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        // A reply cut short by the end of the stream is simply never produced; the
        // connection fails the request that waited for it.
        try self.decode(buffer: &buffer)
    }

    // MARK: Elements

    private enum Element {
        case value(RESPValue)
        case arrayStart(count: Int)
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    /// Reads one element if all its bytes have arrived, consuming them.
    private mutating func readElement(_ buffer: inout ByteBuffer) throws(RESPError) -> Element? {
        let start = buffer.readerIndex
        guard let type = buffer.getInteger(at: start, as: UInt8.self) else {
            return nil
        }
        guard let lineEnd = try self.lineEnd(in: buffer) else {
            return nil
        }
        let contentStart = start + 1
        let contentLength = lineEnd - contentStart
        let headerLength = lineEnd + 2 - start
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let text = buffer.getSlice(at: contentStart, length: contentLength) else { return nil }
            try self.consume(headerLength, of: &buffer)
            return .value(type == UInt8(ascii: "+") ? .simpleString(text) : .error(text))
        case UInt8(ascii: ":"):
            let value = try Self.integer(in: buffer, at: contentStart, length: contentLength, what: "integer")
            try self.consume(headerLength, of: &buffer)
            return .value(.integer(value))
        case UInt8(ascii: "$"):
            let length = try Self.integer(in: buffer, at: contentStart, length: contentLength, what: "bulk string length")
            if length == -1 {
                try self.consume(headerLength, of: &buffer)
                return .value(.null)
            }
            guard length >= 0, length <= self.limits.maximumBulkStringLength else {
                throw RESPError(
                    .protocolViolation,
                    "bulk string length \(length) is outside 0...\(self.limits.maximumBulkStringLength)"
                )
            }
            let total = headerLength + Int(length) + 2
            try self.checkReplySize(adding: total)
            guard buffer.readableBytes >= total else {
                return nil
            }
            let terminator = start + headerLength + Int(length)
            guard buffer.getInteger(at: terminator, as: UInt8.self) == Self.cr,
                buffer.getInteger(at: terminator + 1, as: UInt8.self) == Self.lf
            else {
                throw RESPError(.protocolViolation, "bulk string of \(length) bytes is not followed by CRLF")
            }
            guard let bytes = buffer.getSlice(at: start + headerLength, length: Int(length)) else { return nil }
            try self.consume(total, of: &buffer)
            return .value(.bulkString(bytes))
        case UInt8(ascii: "*"):
            let count = try Self.integer(in: buffer, at: contentStart, length: contentLength, what: "array length")
            try self.consume(headerLength, of: &buffer)
            if count == -1 {
                return .value(.null)
            }
            guard count >= 0, count <= self.limits.maximumArrayLength else {
                throw RESPError(.protocolViolation, "array length \(count) is outside 0...\(self.limits.maximumArrayLength)")
            }
            return count == 0 ? .value(.array([])) : .arrayStart(count: Int(count))
        default:
            throw RESPError(.protocolViolation, "unknown RESP2 type byte 0x\(String(type, radix: 16))")
        }
    }

    /// The index of the CR ending the line at the reader index, once the line and its LF
    /// have arrived.
    private func lineEnd(in buffer: ByteBuffer) throws(RESPError) -> Int? {
        let limit = self.limits.maximumLineLength
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            // The type byte is never part of the terminator.
            let searched = bytes.dropFirst().prefix(limit + 1)
            return searched.firstIndex(of: Self.cr)
        }
        guard let offset = found else {
            if buffer.readableBytes > limit + 1 {
                throw RESPError(.protocolViolation, "a line is longer than \(limit) bytes")
            }
            return nil
        }
        if offset - 1 > limit {
            throw RESPError(.protocolViolation, "a line is longer than \(limit) bytes")
        }
        let index = buffer.readerIndex + offset
        guard let next = buffer.getInteger(at: index + 1, as: UInt8.self) else {
            return nil
        }
        guard next == Self.lf else {
            throw RESPError(.protocolViolation, "CR not followed by LF")
        }
        return index
    }

    private mutating func consume(_ count: Int, of buffer: inout ByteBuffer) throws(RESPError) {
        if !self.openArrays.isEmpty {
            try self.checkReplySize(adding: count)
            self.replyBytes += count
        }
        buffer.moveReaderIndex(forwardBy: count)
    }

    private func checkReplySize(adding count: Int) throws(RESPError) {
        guard self.replyBytes + count <= self.limits.maximumReplyBytes else {
            throw RESPError(.protocolViolation, "a reply is larger than \(self.limits.maximumReplyBytes) bytes")
        }
    }

    /// A strict signed decimal: an optional '-', then 1 to 19 digits, no overflow.
    private static func integer(in buffer: ByteBuffer, at index: Int, length: Int, what: String) throws(RESPError) -> Int64 {
        let parsed: Int64? = buffer.withUnsafeReadableBytes { all in
            let offset = index - buffer.readerIndex
            let bytes = all[offset..<(offset + length)]
            var digits = bytes[...]
            let negative = digits.first == UInt8(ascii: "-")
            if negative {
                digits = digits.dropFirst()
            }
            guard !digits.isEmpty, digits.count <= 19 else { return nil }
            var value: Int64 = 0
            for byte in digits {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                // Accumulating with the sign keeps Int64.min representable.
                let digit = Int64(byte - UInt8(ascii: "0"))
                let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) =
                    negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { return nil }
                value = next
            }
            return value
        }
        guard let parsed else {
            let text = buffer.getString(at: index, length: min(length, 32)) ?? ""
            throw RESPError(.protocolViolation, "invalid \(what) '\(text)'")
        }
        return parsed
    }
}
