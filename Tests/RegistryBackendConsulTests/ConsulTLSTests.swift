import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import RegistryBackendConsul
import RegistryCore
import RegistryTestKit
import Testing

/// `https` Consul addresses and `--consul-ca-path`, against a TLS server with a
/// self-signed certificate that answers Consul's leader endpoint.
@Suite("Consul over TLS")
struct ConsulTLSTests {
    @Test("with the CA file the backend trusts Consul's certificate; without it, it does not")
    func caPath() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aero-arc-consul-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let made = try await ChildProcess.run(
            try TestPrograms.executable("openssl"),
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert,
            ]
        )
        try #require(made.status == 0, "openssl failed: \(made.stderr)")

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let context = try NIOSSLContext(
            configuration: .makeServerConfiguration(certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        )
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(LeaderHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = try #require(server.localAddress?.port)
        var logger = Logger(label: "test")
        logger.logLevel = .critical

        let trusted = try ConsulBackend(
            configuration: try ConsulConfiguration(address: ConsulAddress(parsing: "https://127.0.0.1:\(port)"), caPath: cert),
            ttl: .default, clock: ManualClock(), logger: logger
        )
        await trusted.probe()
        #expect(trusted.health.status == .serving)
        await trusted.close()

        let untrusting = try ConsulBackend(
            configuration: try ConsulConfiguration(address: ConsulAddress(parsing: "https://127.0.0.1:\(port)"), timeout: .seconds(2)),
            ttl: .default, clock: ManualClock(), logger: logger
        )
        await untrusting.probe()
        #expect(!untrusting.health.status.isServing)
        if case .notServing(let reason) = untrusting.health.status {
            #expect(reason.contains("https://127.0.0.1:\(port)"), "\(reason)")
        }
        await untrusting.close()

        try await server.close()
        try await group.shutdownGracefully()
    }
}

/// Answers every request with Consul's leader answer.
private final class LeaderHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = self.unwrapInboundIn(data) else { return }
        let body = #""127.0.0.1:8300""#
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }
}
