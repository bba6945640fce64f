import GRPCNIOTransportHTTP2

/// A listen address as the flag gives it: an IPv4 or IPv6 literal, or "localhost".
struct ListenAddress {
    let host: String
    let isIPv6: Bool

    init?(_ text: String) {
        let host = text == "localhost" ? "127.0.0.1" : text
        if Self.isIPv4(host) {
            self.host = host
            self.isIPv6 = false
        } else if host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) {
            self.host = host
            self.isIPv6 = true
        } else {
            return nil
        }
    }

    /// Whether only this machine can connect: 127.0.0.0/8 or ::1.
    var isLoopback: Bool {
        self.isIPv6 ? (self.host == "::1" || self.host == "0:0:0:0:0:0:0:1") : self.host.hasPrefix("127.")
    }

    private static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigit) && Int(part).map { $0 <= 255 } == true
        }
    }

    func socketAddress(port: Int) -> GRPCNIOTransportHTTP2.SocketAddress {
        self.isIPv6 ? .ipv6(host: self.host, port: port) : .ipv4(host: self.host, port: port)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
