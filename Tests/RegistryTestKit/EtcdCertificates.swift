public import Foundation

/// A throwaway certificate authority with a server certificate for 127.0.0.1 and
/// localhost and a client certificate, made with openssl, for etcd over TLS.
public struct EtcdCertificates: Sendable {
    public let caPath: String
    public let serverCertificatePath: String
    public let serverKeyPath: String
    public let clientCertificatePath: String
    public let clientKeyPath: String

    /// Makes the files in `directory`.
    public static func make(in directory: URL) async throws -> EtcdCertificates {
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        func openssl(_ arguments: [String]) async throws {
            let result = try await ChildProcess.run(try TestPrograms.executable("openssl"), arguments)
            guard result.status == 0 else {
                throw ChildProcessError("openssl \(arguments.first ?? "") failed: \(result.stderr)")
            }
        }
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try await openssl(["req", "-x509"] + key + ["-days", "1", "-subj", "/CN=aero-arc test CA", "-keyout", path("ca.key"), "-out", path("ca.pem")])
        for (name, usage) in [("server", "serverAuth,clientAuth"), ("client", "clientAuth")] {
            try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=\(usage)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try await openssl(["req"] + key + ["-subj", "/CN=\(name)", "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
            try await openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                "-days", "1", "-extfile", path("\(name).ext"), "-out", path("\(name).pem"),
            ])
        }
        return EtcdCertificates(
            caPath: path("ca.pem"),
            serverCertificatePath: path("server.pem"),
            serverKeyPath: path("server.key"),
            clientCertificatePath: path("client.pem"),
            clientKeyPath: path("client.key")
        )
    }
}
