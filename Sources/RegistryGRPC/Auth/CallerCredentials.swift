public import GRPCCore
public import X509

/// The credentials a call presents: its `authorization` metadata (reduced to the token's
/// digest at once, so the token is never kept) and its verified client certificate's
/// identity. What they are worth is for ``AccessPolicy/resolve(_:)`` to say.
public struct CallerCredentials: Sendable, Hashable, CustomStringConvertible {
    /// What the `authorization` metadata holds.
    public enum Authorization: Sendable, Hashable {
        /// No `authorization` metadata.
        case absent
        /// `authorization` metadata that is not exactly one `Bearer <token>`.
        case malformed
        /// A bearer token, as its digest.
        case bearer(TokenDigest)
    }

    public var authorization: Authorization
    /// The identity of the verified client certificate, if the call came with one.
    public var certificateIdentity: String?

    public init(authorization: Authorization, certificateIdentity: String? = nil) {
        self.authorization = authorization
        self.certificateIdentity = certificateIdentity
    }

    /// The credentials of a call with `metadata` and (verified) client `certificate`.
    public init(metadata: Metadata, certificate: Certificate?) {
        self.authorization = Self.authorization(in: metadata)
        self.certificateIdentity = certificate.flatMap(Self.identity(of:))
    }

    /// Who presented these credentials, safe for logs (never a token):
    /// `token sha256:1a2b3c4d…`, `malformed authorization`, `certificate <identity>` or
    /// `anonymous`.
    public var description: String {
        switch self.authorization {
        case .bearer(let digest): "token \(digest)"
        case .malformed: "malformed authorization"
        case .absent: self.certificateIdentity.map { "certificate \(displayedID($0))" } ?? "anonymous"
        }
    }

    /// The bearer token in `metadata`: exactly one `authorization` value, `Bearer <token>`
    /// (the scheme in any case, one or more spaces, a token without whitespace).
    public static func authorization(in metadata: Metadata) -> Authorization {
        var values = metadata[stringValues: "authorization"].makeIterator()
        guard let value = values.next() else { return .absent }
        guard values.next() == nil else { return .malformed }
        guard let space = value.firstIndex(of: " "), value[..<space].lowercased() == "bearer" else {
            return .malformed
        }
        let token = value[space...].drop { $0 == " " }
        guard !token.isEmpty, !token.contains(where: \.isWhitespace) else { return .malformed }
        return .bearer(TokenDigest(of: String(token)))
    }

    /// A certificate's identity: its first URI subject alternative name (a SPIFFE ID, say),
    /// else its first DNS subject alternative name, else its subject's common name; nil if
    /// it has none of them (or its SAN extension cannot be decoded).
    public static func identity(of certificate: Certificate) -> String? {
        let names: SubjectAlternativeNames?
        do {
            names = try certificate.extensions.subjectAlternativeNames
        } catch {
            return nil
        }
        if let names {
            for name in names {
                if case .uniformResourceIdentifier(let uri) = name, !uri.isEmpty { return uri }
            }
            for name in names {
                if case .dnsName(let dnsName) = name, !dnsName.isEmpty { return dnsName }
            }
        }
        for relativeName in certificate.subject {
            for attribute in relativeName {
                switch attribute.type {
                case .RDNAttributeType.commonName:
                    if let commonName = String(attribute.value), !commonName.isEmpty { return commonName }
                default:
                    continue
                }
            }
        }
        return nil
    }
}
