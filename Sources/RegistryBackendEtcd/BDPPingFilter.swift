import NIOCore

/// Drops grpc-go's bandwidth-estimation PINGs from the HTTP/2 bytes an etcd server sends.
///
/// etcd's gRPC server (grpc-go) sends a "BDP" PING after nearly every request it receives,
/// to size its flow-control windows. SwiftNIO's HTTP/2 handler counts inbound PINGs as
/// control frames and, past 200 in 30 seconds, closes the connection as a flood: under
/// load that reset every few hundred calls and failed every call in flight. Left
/// unanswered, a BDP ping is never followed by another on that connection, and nothing
/// else depends on it. PINGs with any other payload (keep-alives, shutdown) pass, and
/// NIO answers them as usual.
///
/// Written by hand: nothing in grpc-swift-2 exposes NIO's HTTP/2 flood limits. It sits
/// in front of the HTTP/2 handler on plaintext connections (on TLS ones the bytes there
/// are encrypted; those connections keep NIO's behaviour).
struct BDPPingFilter {
    /// grpc-go's BDP ping payload.
    static let payload: [UInt8] = [2, 4, 16, 16, 9, 14, 7, 7]
    private static let headerLength = 9
    private static let pingType: UInt8 = 0x6
    private static let ackFlag: UInt8 = 0x1

    /// A frame header being gathered, followed by a ping's payload when it may be a BDP ping.
    private var pending: [UInt8] = []
    /// Payload bytes of the current frame still to pass through untouched.
    private var passThrough = 0

    /// Moves `input` to `output`, leaving out BDP pings. Frames may be split anywhere.
    mutating func filter(_ input: inout ByteBuffer, into output: inout ByteBuffer) {
        while input.readableBytes > 0 {
            if self.passThrough > 0 {
                let count = min(self.passThrough, input.readableBytes)
                if var slice = input.readSlice(length: count) {
                    output.writeBuffer(&slice)
                }
                self.passThrough -= count
                continue
            }
            let wanted = self.pending.count < Self.headerLength ? Self.headerLength : Self.headerLength + Self.payload.count
            let count = min(wanted - self.pending.count, input.readableBytes)
            self.pending += input.readBytes(length: count) ?? []
            guard self.pending.count == wanted else { return }
            if wanted == Self.headerLength {
                let length = Int(self.pending[0]) << 16 | Int(self.pending[1]) << 8 | Int(self.pending[2])
                let mayBeBDPPing =
                    self.pending[3] == Self.pingType && self.pending[4] & Self.ackFlag == 0 && length == Self.payload.count
                if mayBeBDPPing {
                    continue  // gather its payload before deciding
                }
                output.writeBytes(self.pending)
                self.pending.removeAll(keepingCapacity: true)
                self.passThrough = length
            } else {
                if !self.pending[Self.headerLength...].elementsEqual(Self.payload) {
                    output.writeBytes(self.pending)
                }
                self.pending.removeAll(keepingCapacity: true)
            }
        }
    }
}

/// Runs a ``BDPPingFilter`` on a connection's inbound bytes.
final class BDPPingFilterHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var filter = BDPPingFilter()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = self.unwrapInboundIn(data)
        var output = context.channel.allocator.buffer(capacity: input.readableBytes)
        self.filter.filter(&input, into: &output)
        if output.readableBytes > 0 {
            context.fireChannelRead(self.wrapInboundOut(output))
        }
    }
}
