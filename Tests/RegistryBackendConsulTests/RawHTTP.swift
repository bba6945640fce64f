import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Plain HTTP requests to a Consul (double), to check its answers as Consul documents them.
struct RawHTTP {
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: Data

        var json: Any? { try? JSONSerialization.jsonObject(with: self.body, options: [.fragmentsAllowed]) }
        var text: String { String(decoding: self.body, as: UTF8.self) }
        var index: UInt64? { self.headers.first(name: "X-Consul-Index").flatMap(UInt64.init) }

        /// The entries of a KV or transaction answer.
        var entries: [[String: Any]] {
            if let array = self.json as? [[String: Any]] { return array }
            let results = (self.json as? [String: Any])?["Results"] as? [[String: Any]] ?? []
            return results.compactMap { $0["KV"] as? [String: Any] }
        }

        var errors: [[String: Any]] {
            (self.json as? [String: Any])?["Errors"] as? [[String: Any]] ?? []
        }
    }

    let base: String

    static func with<Result>(_ base: String, _ body: (RawHTTP) async throws -> Result) async throws -> Result {
        try await body(RawHTTP(base: base))
    }

    func send(
        _ method: HTTPMethod,
        _ path: String,
        body: Data? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(5)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: self.base + path)
        request.method = method
        for (name, value) in headers {
            request.headers.add(name: name, value: value)
        }
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 1 << 26)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(buffer: bytes))
    }

    func put(_ key: String, _ value: String, query: String = "") async throws -> Answer {
        try await self.send(.PUT, "/v1/kv/\(key)\(query)", body: Data(value.utf8))
    }

    func get(_ key: String, query: String = "") async throws -> Answer {
        try await self.send(.GET, "/v1/kv/\(key)\(query)")
    }

    func txn(_ operations: [[String: Any]]) async throws -> Answer {
        let body = try JSONSerialization.data(withJSONObject: operations.map { ["KV": $0] })
        return try await self.send(.PUT, "/v1/txn", body: body)
    }

    static func base64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }
}

extension Dictionary where Key == String, Value == Any {
    func index(_ name: String) -> UInt64? {
        (self[name] as? NSNumber)?.uint64Value
    }

    var decodedValue: String? {
        (self["Value"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
    }
}
