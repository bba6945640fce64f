import NIOCore
@testable import RegistryBackendEtcd
import Testing

@Suite("BDP ping filter")
struct BDPPingFilterTests {
    func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags]
            + [UInt8(stream >> 24), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    @Test("only grpc-go's BDP pings are removed, however the bytes are split")
    func filtersEverySplit() {
        let settings = frame(type: 0x4, payload: [0, 3, 0, 0, 0, 100])
        let bdpPing = frame(type: 0x6, payload: BDPPingFilter.payload)
        let bdpAck = frame(type: 0x6, flags: 0x1, payload: BDPPingFilter.payload)
        let keepalivePing = frame(type: 0x6, payload: [0, 0, 0, 0, 0, 0, 0, 1])
        // A DATA frame whose payload looks like a BDP ping frame must pass whole.
        let data = frame(type: 0x0, flags: 0x1, stream: 1, payload: bdpPing + [1, 2, 3])
        let headers = frame(type: 0x1, flags: 0x4, stream: 3, payload: Array(repeating: 7, count: 40))
        let input = settings + bdpPing + data + keepalivePing + bdpAck + bdpPing + headers
        let expected = settings + data + keepalivePing + bdpAck + headers

        for first in 0...input.count {
            for second in stride(from: first, through: input.count, by: 7) {
                var filter = BDPPingFilter()
                var output = ByteBuffer()
                for range in [0..<first, first..<second, second..<input.count] {
                    var chunk = ByteBuffer(bytes: input[range])
                    filter.filter(&chunk, into: &output)
                    #expect(chunk.readableBytes == 0)
                }
                #expect(Array(output.readableBytesView) == expected, "split at \(first), \(second)")
            }
        }
    }
}
