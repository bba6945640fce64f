import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway certificate authority, made in the test with swift-certificates (no
/// committed keys): a server certificate for 127.0.0.1 and localhost, and client
/// certificates of every shape the mutual-TLS tests need, written as PEM files.
struct TestCertificateAuthority {
    let directory: URL
    private let name: DistinguishedName
    private let key: P256.Signing.PrivateKey
    /// The CA certificate's PEM file.
    let caPath: String

    /// A certificate and its key, as PEM files.
    struct Issued {
        let certificatePath: String
        let keyPath: String
    }

    init(in directory: URL, name commonName: String = "aero-arc test CA") throws {
        self.directory = directory
        self.key = P256.Signing.PrivateKey()
        self.name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(self.key.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 24 * 3600,
            issuer: self.name,
            subject: self.name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(self.key)
        )
        self.caPath = directory.appendingPathComponent("\(commonName.filter(\.isLetter))-ca.pem").path
        try certificate.serializeAsPEM().pemString.write(toFile: self.caPath, atomically: true, encoding: .utf8)
    }

    /// The server's certificate.
    func server() throws -> Issued {
        try self.issue(
            file: "server",
            commonName: "aero-arc registry",
            names: [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))],
            usage: [.serverAuth]
        )
    }

    /// A client certificate; `names` become its subject alternative names.
    func client(_ file: String, commonName: String, names: [GeneralName] = [], validFor validity: ClosedRange<Date>? = nil) throws -> Issued {
        try self.issue(file: file, commonName: commonName, names: names, usage: [.clientAuth], validity: validity)
    }

    /// A client certificate signed by its own key: no CA vouches for it.
    static func selfSigned(in directory: URL, commonName: String) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 24 * 3600,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
            },
            issuerPrivateKey: .init(key)
        )
        let issued = Issued(
            certificatePath: directory.appendingPathComponent("self-signed.pem").path,
            keyPath: directory.appendingPathComponent("self-signed.key").path
        )
        try certificate.serializeAsPEM().pemString.write(toFile: issued.certificatePath, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: issued.keyPath, atomically: true, encoding: .utf8)
        return issued
    }

    private func issue(
        file: String,
        commonName: String,
        names: [GeneralName],
        usage: [ExtendedKeyUsage.Usage],
        validity: ClosedRange<Date>? = nil
    ) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let validity = validity ?? (now - 3600)...(now + 24 * 3600)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: validity.lowerBound,
            notValidAfter: validity.upperBound,
            issuer: self.name,
            subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usage)
                if !names.isEmpty {
                    SubjectAlternativeNames(names)
                }
            },
            issuerPrivateKey: .init(self.key)
        )
        let issued = Issued(
            certificatePath: self.directory.appendingPathComponent("\(file).pem").path,
            keyPath: self.directory.appendingPathComponent("\(file).key").path
        )
        try certificate.serializeAsPEM().pemString.write(toFile: issued.certificatePath, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: issued.keyPath, atomically: true, encoding: .utf8)
        return issued
    }
}
