import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import RegistryCore

/// Consul's KV and transaction endpoints over AsyncHTTPClient, with every failure turned
/// into a ``RegistryError`` that names Consul's address.
///
/// Every request carries the configured token and datacenter and must finish within the
/// configured timeout. Transport failures, timeouts, 5xx and 429 answers are
/// `unavailable`; a 403 is `unavailable` too, with a hint about the token. The HTTP client
/// lives as long as this value's owner: ``shutdown()`` must be called once at the end.
struct ConsulClient: Sendable {
    let configuration: ConsulConfiguration
    private let http: HTTPClient
    private let logger: Logger
    /// The largest answer accepted: a recursive read of a registry with a million agents.
    private let maximumBodyBytes = 1 << 30

    init(configuration: ConsulConfiguration, logger: Logger) throws(RegistryError) {
        var http = HTTPClient.Configuration()
        http.timeout = .init(connect: Self.timeAmount(configuration.timeout), read: Self.timeAmount(configuration.timeout))
        http.redirectConfiguration = .disallow
        // Fail requests as soon as a connection cannot be made, and try afresh on the next
        // one: AsyncHTTPClient's own retries back off up to a minute, which would delay
        // recovery long after Consul is back.
        http.connectionPool.retryConnectionEstablishment = false
        // Each RPC makes two or three requests in a row; many RPCs run at once.
        http.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        if configuration.address.scheme == .https {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caPath = configuration.caPath {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
                } catch {
                    throw .invalidArgument("cannot read the Consul CA certificates at \(caPath): \(error)")
                }
            }
            http.tlsConfiguration = tls
        }
        self.configuration = configuration
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http, backgroundActivityLogger: logger)
        self.logger = logger
    }

    /// Closes the HTTP client's connections.
    func shutdown() async {
        do {
            try await self.http.shutdown()
        } catch {
            self.logger.debug("closing the Consul HTTP client failed", metadata: ["error": "\(error)"])
        }
    }

    /// Starts closing the HTTP client without waiting, for an owner going away unclosed.
    func shutdownInBackground() {
        self.http.shutdown { _ in }
    }

    /// What Consul is called in error messages.
    var storeName: String { "Consul at \(self.configuration.address)" }

    // MARK: KV

    /// Reads every entry under `prefix` (one consistent read); empty when there is none.
    func list(prefix: String, consistent: Bool = false) async throws -> [ConsulKVEntry] {
        let response = try await self.send(.GET, kvPath: prefix, query: ["recurse": nil], consistent: consistent)
        if response.status == .notFound { return [] }
        try self.expectSuccess(response, "read \(prefix)")
        return try self.decode([ConsulKVEntry].self, response, "read \(prefix)")
    }

    /// Names of every key under `prefix`.
    func keys(prefix: String) async throws -> [String] {
        let response = try await self.send(.GET, kvPath: prefix, query: ["keys": nil])
        if response.status == .notFound { return [] }
        try self.expectSuccess(response, "list keys under \(prefix)")
        return try self.decode([String].self, response, "list keys under \(prefix)")
    }

    /// Reads one key; nil when it does not exist.
    func get(_ key: String, consistent: Bool = false) async throws -> ConsulKVEntry? {
        let response = try await self.send(.GET, kvPath: key, consistent: consistent)
        if response.status == .notFound { return nil }
        try self.expectSuccess(response, "read \(key)")
        return try self.decode([ConsulKVEntry].self, response, "read \(key)").first
    }

    /// Writes `value` if the key's ModifyIndex is `cas` (0: if it does not exist).
    /// - Returns: whether it was written.
    func put(_ key: String, value: Data, cas: UInt64) async throws -> Bool {
        let response = try await self.send(.PUT, kvPath: key, query: ["cas": String(cas)], body: value)
        try self.expectSuccess(response, "write \(key)")
        return try self.decode(Bool.self, response, "write \(key)")
    }

    /// Deletes every key under `prefix`.
    func deleteAll(prefix: String) async throws {
        let response = try await self.send(.DELETE, kvPath: prefix, query: ["recurse": nil])
        try self.expectSuccess(response, "delete everything under \(prefix)")
    }

    /// Writes `value` and takes the lock on `key` for `session` (`?acquire=`).
    /// - Returns: whether the lock is now held by `session`; nil when the session no longer exists.
    func acquire(_ key: String, session: String, value: Data) async throws -> Bool? {
        let response = try await self.send(.PUT, kvPath: key, query: ["acquire": session], body: value)
        if response.status.code == 500, String(buffer: response.body).contains("invalid session") {
            return nil
        }
        try self.expectSuccess(response, "lock \(key)")
        return try self.decode(Bool.self, response, "lock \(key)")
    }

    // MARK: Sessions

    /// Creates a session with a TTL and no health checks; its locks are deleted when it is
    /// invalidated (`Behavior=delete`).
    func createSession(name: String, ttl: Duration, lockDelay: Duration) async throws -> String {
        struct Request: Encodable {
            var Name: String
            var TTL: String
            var LockDelay: String
            var Behavior = "delete"
            var NodeChecks: [String] = []
        }
        struct Response: Decodable {
            var ID: String
        }
        let body: Data
        do {
            body = try JSONEncoder().encode(Request(Name: name, TTL: "\(ttl.components.seconds)s", LockDelay: "\(lockDelay.wholeMilliseconds)ms"))
        } catch {
            throw RegistryError.internalError("cannot encode a Consul session", underlying: error)
        }
        let response = try await self.send(.PUT, path: "/v1/session/create", query: [:], body: body)
        try self.expectSuccess(response, "create a session")
        return try self.decode(Response.self, response, "create a session").ID
    }

    /// Renews a session's TTL. - Returns: false when the session no longer exists.
    func renewSession(_ id: String) async throws -> Bool {
        let response = try await self.send(.PUT, path: "/v1/session/renew/" + Self.percentEncoded(id), query: [:])
        if response.status == .notFound { return false }
        try self.expectSuccess(response, "renew session \(id)")
        return true
    }

    /// Destroys a session, which deletes the locks it holds.
    func destroySession(_ id: String) async throws {
        let response = try await self.send(.PUT, path: "/v1/session/destroy/" + Self.percentEncoded(id), query: [:])
        try self.expectSuccess(response, "destroy session \(id)")
    }

    // MARK: Transactions

    /// Runs `operations` as one transaction.
    func transaction(_ operations: [ConsulTxnOperation], consistent: Bool = false) async throws -> ConsulTxnOutcome {
        let body: Data
        do {
            body = try JSONEncoder().encode(operations)
        } catch {
            throw RegistryError.internalError("cannot encode a Consul transaction", underlying: error)
        }
        let response = try await self.send(.PUT, path: "/v1/txn", query: [:], body: body, consistent: consistent)
        switch response.status {
        case .ok:
            let decoded = try self.decode(ConsulTxnResponse.self, response, "apply a transaction")
            return .applied((decoded.results ?? []).compactMap(\.kv))
        case .conflict:
            let failures = try self.decode(ConsulTxnResponse.self, response, "apply a transaction").errors ?? []
            // Lost races are retried by the caller; anything else (an ACL denial, say) is not a race.
            guard !failures.isEmpty, failures.allSatisfy(\.isLostRace) else {
                throw RegistryError.unavailable("\(self.storeName) rolled back a transaction: \(failures.map(\.description).joined(separator: "; "))")
            }
            return .rolledBack(failures)
        default:
            try self.expectSuccess(response, "apply a transaction")
            throw RegistryError.unavailable("\(self.storeName) answered a transaction with \(response.status.code)")
        }
    }

    // MARK: Status

    /// The address of the Raft leader, or nil when the cluster has none.
    func leader() async throws -> String? {
        let response = try await self.send(.GET, path: "/v1/status/leader", query: [:])
        try self.expectSuccess(response, "ask for the leader")
        let leader = try self.decode(String.self, response, "ask for the leader")
        return leader.isEmpty ? nil : leader
    }

    // MARK: Requests

    struct Response {
        var status: HTTPResponseStatus
        var body: ByteBuffer
    }

    private func send(
        _ method: HTTPMethod,
        kvPath key: String,
        query: [String: String?] = [:],
        body: Data? = nil,
        consistent: Bool = false
    ) async throws -> Response {
        try await self.send(method, path: "/v1/kv/" + Self.percentEncoded(key), query: query, body: body, consistent: consistent)
    }

    private func send(
        _ method: HTTPMethod,
        path: String,
        query: [String: String?],
        body: Data? = nil,
        consistent: Bool = false
    ) async throws -> Response {
        var query = query
        if let datacenter = self.configuration.datacenter {
            query["dc"] = datacenter
        }
        if consistent {
            query["consistent"] = .some(nil)
        }
        var url = self.configuration.address.description + path
        if !query.isEmpty {
            url += "?" + query.sorted { $0.key < $1.key }.map { name, value in
                value.map { "\(name)=\(Self.percentEncoded($0, keepSlash: false))" } ?? name
            }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token = self.configuration.token {
            request.headers.add(name: "X-Consul-Token", value: token)
        }
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
        }
        let deadline = NIODeadline.now() + Self.timeAmount(self.configuration.timeout)
        do {
            do {
                return try await self.exchange(request, deadline: deadline)
            } catch let error as HTTPClientError where error == .remoteConnectionClosed && method == .GET {
                // A pooled connection Consul had just closed (after a restart, or an idle
                // timeout): a read is safe to send once more, on a fresh connection.
                return try await self.exchange(request, deadline: deadline)
            }
        } catch {
            if Task.isCancelled {
                throw CancellationError()
            }
            throw self.transportError(error, method: method, path: path)
        }
    }

    private func exchange(_ request: HTTPClientRequest, deadline: NIODeadline) async throws -> Response {
        let response = try await self.http.execute(request, deadline: deadline, logger: self.logger)
        let bytes = try await response.body.collect(upTo: self.maximumBodyBytes)
        return Response(status: response.status, body: bytes)
    }

    private func transportError(_ error: any Error, method: HTTPMethod, path: String) -> RegistryError {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .unavailable(
                "\(self.storeName) did not answer \(method) \(path) within \(self.configuration.timeout.goDescription)",
                underlying: error
            )
        }
        return .unavailable("\(self.storeName) is unreachable (\(method) \(path) failed)", underlying: error)
    }

    private func expectSuccess(_ response: Response, _ what: String) throws(RegistryError) {
        let status = response.status
        if (200..<300).contains(status.code) { return }
        let detail = Self.excerpt(response.body)
        let answer = ConsulAnswer(status: Int(status.code), detail: detail)
        switch status.code {
        case 429:
            throw .unavailable("\(self.storeName) is rate limiting requests (429 while trying to \(what)): \(detail)", underlying: answer)
        case 403:
            throw .unavailable("\(self.storeName) refused to \(what) (403: \(detail)); check the ACL token (--consul-token)", underlying: answer)
        case 500...:
            throw .unavailable("\(self.storeName) failed to \(what) (\(status.code): \(detail))", underlying: answer)
        default:
            throw .internalError("\(self.storeName) rejected a request to \(what) (\(status.code): \(detail))", underlying: answer)
        }
    }

    private func decode<Value: Decodable>(_ type: Value.Type, _ response: Response, _ what: String) throws(RegistryError) -> Value {
        do {
            return try JSONDecoder().decode(type, from: response.body)
        } catch {
            throw .unavailable("\(self.storeName) sent an answer the registry cannot read when asked to \(what)", underlying: error)
        }
    }

    private static func excerpt(_ body: ByteBuffer) -> String {
        let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.count > 200 ? String(text.prefix(200)) + "…" : (text.isEmpty ? "no details" : text)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Percent-encodes every byte outside RFC 3986's unreserved set (and `/` in paths).
    static func percentEncoded(_ text: String, keepSlash: Bool = true) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                output.append(byte)
            default:
                output.append(UInt8(ascii: "%"))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// An unsuccessful HTTP answer from Consul, kept as the underlying error of a ``RegistryError``.
struct ConsulAnswer: Error, CustomStringConvertible {
    var status: Int
    var detail: String

    var description: String { "HTTP \(self.status): \(self.detail)" }
}
