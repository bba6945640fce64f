import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RegistryBackendMemory
import RegistryClient
import RegistryCore
import RegistryTestKit
import Testing

@Suite("TLS")
struct TLSTests {
    /// A self-signed certificate for localhost and 127.0.0.1, made with openssl.
    func makeCertificate(in directory: URL) async throws -> (cert: String, key: String) {
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let result = try await ChildProcess.run(
            try TestPrograms.executable("openssl"),
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert,
            ]
        )
        guard result.status == 0 else {
            throw ChildProcessError("openssl failed: \(result.stderr)")
        }
        return (cert, key)
    }

    @Test("--tls-enabled serves the PEM certificate; trusting clients connect, plaintext ones cannot")
    func servesTLS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aero-arc-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (cert, key) = try await self.makeCertificate(in: directory)

        let backend = MemoryBackend(ttl: .default, clock: ManualClock())
        try await withRunningRegistry(backend: backend, configure: { $0.tls = .init(certificatePath: cert, keyPath: key) }) { server in
            let target = try ServerTarget(parsing: "127.0.0.1:\(server.port)", tls: .init(caPath: cert))
            try await withRegistryClient(target: target) { client in
                try await client.registerRelay(id: "relay-1", address: "10.0.0.1", grpcPort: 7000)
                #expect(try await client.listRelays().entries.count == 1)
            }
            let plaintext = try ServerTarget(parsing: "127.0.0.1:\(server.port)")
            _ = try await withRegistryClient(target: plaintext, timeout: .seconds(3)) { client in
                await expectRPCError(.unavailable) { try await client.listRelays() }
            }
        }
    }
}
