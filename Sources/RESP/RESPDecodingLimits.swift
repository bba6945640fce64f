/// Bounds on what a ``RESPValueDecoder`` accepts, so that a misbehaving or hostile
/// server cannot make a client buffer without bound or recurse without end.
public struct RESPDecodingLimits: Hashable, Sendable {
    /// The longest bulk string accepted, in bytes.
    public var maximumBulkStringLength: Int
    /// The most elements one array may announce.
    public var maximumArrayLength: Int
    /// How deeply arrays may nest.
    public var maximumDepth: Int
    /// The longest line accepted (simple strings, errors, integers and headers), in bytes.
    public var maximumLineLength: Int
    /// The most bytes one reply may take on the wire, nested values included.
    public var maximumReplyBytes: Int

    public init(
        maximumBulkStringLength: Int = 64 << 20,
        maximumArrayLength: Int = 1 << 22,
        maximumDepth: Int = 32,
        maximumLineLength: Int = 64 << 10,
        maximumReplyBytes: Int = 256 << 20
    ) {
        self.maximumBulkStringLength = maximumBulkStringLength
        self.maximumArrayLength = maximumArrayLength
        self.maximumDepth = maximumDepth
        self.maximumLineLength = maximumLineLength
        self.maximumReplyBytes = maximumReplyBytes
    }
}
