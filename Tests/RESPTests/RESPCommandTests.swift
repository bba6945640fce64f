import NIOCore
@testable import RESP
import Testing

@Suite("RESP2 commands")
struct RESPCommandTests {
    @Test("commands are encoded as arrays of bulk strings, text, bytes and integers alike")
    func encoding() {
        var encoder = RESPCommandEncoder()
        encoder.encodeCommand(["SET", "k\u{e9}y", RESPArgument(bytes: ByteBuffer(bytes: [0, 13, 10, 255])), RESPArgument(-12)])
        #expect(Array(encoder.buffer.readableBytesView) == Array("*4\r\n$3\r\nSET\r\n$4\r\nk\u{e9}y\r\n$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n$3\r\n-12\r\n".utf8))
        #expect(encoder.commandCount == 1)
    }

    @Test("several commands share one buffer, in order")
    func pipelining() {
        var encoder = RESPCommandEncoder()
        encoder.encodeCommand(PingCommand().arguments)
        encoder.encodeCommand(SelectCommand(database: 3).arguments)
        #expect(String(buffer: encoder.buffer) == "*1\r\n$4\r\nPING\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n")
        #expect(encoder.commandCount == 2)
    }

    @Test("AUTH uses the one-argument form for the default user, two for ACL users")
    func auth() {
        #expect(AuthCommand(username: nil, password: "pw").arguments == ["AUTH", "pw"])
        #expect(AuthCommand(username: "default", password: "pw").arguments == ["AUTH", "pw"])
        #expect(AuthCommand(username: "registry", password: "pw").arguments == ["AUTH", "registry", "pw"])
    }

    @Test("EVALSHA names the script by SHA-1 and counts its keys")
    func evalSHA() {
        let script = RESPScript("return 1")
        let command = EvalSHACommand(sha1: script.sha1, keys: ["k1", "k2"], arguments: ["a"])
        #expect(command.arguments.map(\.description) == ["EVALSHA", script.sha1, "2", "k1", "k2", "a"])
    }

    @Test("typed replies are checked: TIME gives milliseconds, a wrong shape is an unexpected response")
    func decoding() throws {
        #expect(try TimeCommand().decodeResponse(.array([.bulkString("1767225600"), .bulkString("123999")])) == 1_767_225_600_123)
        #expect(throws: RESPError.self) { try TimeCommand().decodeResponse(.integer(1)) }
        #expect(throws: RESPError.self) { try SelectCommand(database: 1).decodeResponse(.simpleString("NOPE")) }
        #expect(try PingCommand().decodeResponse(.simpleString("PONG")) == "PONG")
    }

    @Test("server errors expose their prefix")
    func errorPrefix() {
        #expect(RESPError(.serverError, "NOSCRIPT No matching script.").serverErrorPrefix == "NOSCRIPT")
        #expect(RESPError(.timeout, "NOSCRIPT").serverErrorPrefix == nil)
    }

    @Test("SHA-1 matches the FIPS 180 test vectors")
    func sha1() {
        #expect(SHA1.hexDigest(of: "".utf8) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hexDigest(of: "abc".utf8) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            SHA1.hexDigest(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        )
        // A Lua-sized input, longer than one block and not a multiple of it.
        #expect(SHA1.hexDigest(of: [UInt8](repeating: UInt8(ascii: "a"), count: 1_000)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }
}
