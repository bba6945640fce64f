import Foundation
import RegistryCore
import Synchronization
import NIOHTTP1

extension ConsulDouble {
    /// The most operations one transaction may hold.
    static let maximumTransactionOperations = 64

    /// Applies the current fault, then the route.
    func handle(_ request: ConsulDoubleRequest) -> ConsulDoubleAction {
        let now = self.clock.now().rawValue
        let fault = self.state.withLock { state in
            state.requests.append("\(request.method) \(request.uri)")
            state.store.expireSessions(now: now)
            return state.fault
        }
        switch fault {
        case nil:
            return .respond(self.route(request))
        case .stall, .refuseConnections:
            return .stall
        case .delay(let delay):
            return .delayed(delay, self.route(request))
        case .status(429):
            return .respond(.text(429, "rate limit exceeded, try again later or against a different server"))
        case .status(500):
            return .respond(.text(500, "rpc error making call: No cluster leader"))
        case .status(let code):
            return .respond(.text(code, "injected failure"))
        case .noLeader:
            if request.path == "/v1/status/leader" {
                return .respond(Self.json(""))
            }
            return .respond(.text(500, "No cluster leader"))
        }
    }

    func route(_ request: ConsulDoubleRequest) -> ConsulDoubleResponse {
        if let required = self.requiredToken {
            guard let token = request.headers.first(name: "X-Consul-Token") else {
                return .text(403, "Permission denied")
            }
            if token != required {
                return .text(403, "ACL not found")
            }
        }
        if self.state.withLock({ $0.deniedPaths.contains { request.path.hasPrefix($0) } }) {
            return .text(403, "Permission denied")
        }
        if let datacenter = request.query["dc"], !datacenter.isEmpty, datacenter != self.datacenter {
            return .text(500, "No path to datacenter")
        }
        if request.query["stale"] != nil && request.query["consistent"] != nil {
            return .text(400, "Cannot specify ?stale with ?consistent, conflicting semantics.")
        }
        switch request.path {
        case "/v1/status/leader":
            guard request.method == .GET else { return .text(405, "method \(request.method) not allowed") }
            return Self.json("127.0.0.1:8300")
        case "/v1/txn":
            guard request.method == .PUT else { return .text(405, "method \(request.method) not allowed") }
            return self.transaction(request)
        case "/v1/session/create":
            guard request.method == .PUT else { return .text(405, "method \(request.method) not allowed") }
            return self.createSession(request)
        case let path where path.hasPrefix("/v1/session/"):
            return self.session(path: path, request)
        case let path where path.hasPrefix("/v1/kv/"):
            let key = String(path.dropFirst("/v1/kv/".count))
            switch request.method {
            case .GET: return self.read(key, request)
            case .PUT: return self.write(key, request)
            case .DELETE: return self.delete(key, request)
            default: return .text(405, "method \(request.method) not allowed")
            }
        default:
            return .text(404, "404 page not found")
        }
    }

    // MARK: KV

    private func read(_ key: String, _ request: ConsulDoubleRequest) -> ConsulDoubleResponse {
        var response: ConsulDoubleResponse
        let index: UInt64
        if request.query["keys"] != nil {
            let (listed, keys) = self.withStore { $0.keys(prefix: key, separator: request.query["separator"]) }
            index = listed
            response = keys.isEmpty ? ConsulDoubleResponse(status: 404, body: []) : Self.json(keys)
        } else if request.query["recurse"] != nil {
            let (listed, entries) = self.withStore { $0.list(prefix: key) }
            index = listed
            response = entries.isEmpty ? ConsulDoubleResponse(status: 404, body: []) : Self.entriesJSON(entries)
        } else {
            let (table, entry) = self.store.get(key)
            index = table
            response = entry.map { Self.json([EntryJSON($0, includeValue: true)]) } ?? ConsulDoubleResponse(status: 404, body: [])
        }
        response.headers += [("X-Consul-Index", String(index)), ("X-Consul-KnownLeader", "true"), ("X-Consul-LastContact", "0")]
        return response
    }

    private func write(_ key: String, _ request: ConsulDoubleRequest) -> ConsulDoubleResponse {
        if key.isEmpty {
            return .text(400, "Missing key name")
        }
        var cas: UInt64?
        if let raw = request.query["cas"] {
            guard let parsed = UInt64(raw) else { return .text(400, "Invalid CAS index") }
            cas = parsed
        }
        var flags: UInt64 = 0
        if let raw = request.query["flags"] {
            guard let parsed = UInt64(raw) else { return .text(400, "Invalid flags") }
            flags = parsed
        }
        if let session = request.query["acquire"] {
            let now = self.clock.now().rawValue
            guard let held = self.withStore({ $0.acquire(key, value: request.body, flags: flags, session: session, now: now) }) else {
                return .text(500, "invalid session \"\(session)\"")
            }
            return Self.json(held)
        }
        if let session = request.query["release"] {
            return Self.json(self.withStore { $0.release(key, value: request.body, flags: flags, session: session) })
        }
        let written = self.withStore { $0.put(key, value: request.body, flags: flags, cas: cas) }
        return Self.json(written)
    }

    private func delete(_ key: String, _ request: ConsulDoubleRequest) -> ConsulDoubleResponse {
        var cas: UInt64?
        if let raw = request.query["cas"] {
            guard let parsed = UInt64(raw) else { return .text(400, "Invalid CAS index") }
            cas = parsed
        }
        let deleted = self.withStore { $0.delete(key, recurse: request.query["recurse"] != nil, cas: cas) }
        return Self.json(deleted)
    }

    // MARK: Transactions

    private func transaction(_ request: ConsulDoubleRequest) -> ConsulDoubleResponse {
        let decoded: [TxnOperationJSON]
        do {
            decoded = try JSONDecoder().decode([TxnOperationJSON].self, from: Data(request.body))
        } catch {
            return .text(400, "Failed to parse body: \(error)")
        }
        if decoded.count > Self.maximumTransactionOperations {
            return .text(413, "Transaction contains too many operations (\(decoded.count) > \(Self.maximumTransactionOperations))")
        }
        var operations: [ConsulDoubleStore.Operation] = []
        for operation in decoded {
            guard let kv = operation.kv else {
                return .text(400, "only KV operations are modelled by the Consul double")
            }
            var value: [UInt8]?
            if let encoded = kv.value {
                guard let bytes = Data(base64Encoded: encoded) else {
                    return .text(400, "Failed to parse body: failed to decode value: illegal base64 data")
                }
                value = Array(bytes)
            }
            operations.append(.init(verb: kv.verb, key: kv.key, value: value, flags: kv.flags ?? 0, index: kv.index ?? 0))
        }
        let outcome: ConsulDoubleStore.TransactionOutcome
        if operations.contains(where: \.isWrite) {
            outcome = self.withStore { $0.transaction(operations) }
        } else {
            outcome = self.store.readTransaction(operations)
        }
        switch outcome {
        case .applied(let results):
            let body = TxnResponseJSON(results: results.map { TxnResultJSON(kv: EntryJSON($0.entry, includeValue: $0.includeValue)) }, errors: nil)
            return Self.json(body)
        case .rolledBack(let failures):
            let body = TxnResponseJSON(results: nil, errors: failures.map { TxnErrorJSON(opIndex: $0.opIndex, what: $0.what) })
            var response = Self.json(body)
            response.status = 409
            return response
        }
    }

    // MARK: JSON

    /// A KV listing written by hand: JSONEncoder is too slow for 100,000 entries in a debug build.
    static func entriesJSON(_ entries: [ConsulDoubleStore.Entry]) -> ConsulDoubleResponse {
        var body: [UInt8] = []
        body.reserveCapacity(entries.count * 200)
        body.append(UInt8(ascii: "["))
        for (position, entry) in entries.enumerated() {
            if position > 0 { body.append(UInt8(ascii: ",")) }
            body += Array(#"{"LockIndex":\#(entry.lockIndex),"Key":"#.utf8)
            Self.appendJSONString(entry.key, to: &body)
            body += Array(#","Flags":\#(entry.flags),"Value":"#.utf8)
            if let value = entry.value {
                body.append(UInt8(ascii: "\""))
                body += Array(Data(value).base64EncodedString().utf8)
                body.append(UInt8(ascii: "\""))
            } else {
                body += Array("null".utf8)
            }
            body += Array(#","CreateIndex":\#(entry.createIndex),"ModifyIndex":\#(entry.modifyIndex)"#.utf8)
            if let session = entry.session {
                body += Array(#","Session":"#.utf8)
                Self.appendJSONString(session, to: &body)
            }
            body.append(UInt8(ascii: "}"))
        }
        body.append(UInt8(ascii: "]"))
        return ConsulDoubleResponse(status: 200, body: body)
    }

    private static func appendJSONString(_ text: String, to body: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        body.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                body += [UInt8(ascii: "\\"), byte]
            case 0..<0x20:
                body += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default:
                body.append(byte)
            }
        }
        body.append(UInt8(ascii: "\""))
    }

    static func json<Value: Encodable>(_ value: Value) -> ConsulDoubleResponse {
        do {
            return ConsulDoubleResponse(status: 200, body: Array(try JSONEncoder().encode(value)))
        } catch {
            return .text(500, "the Consul double could not encode its answer: \(error)")
        }
    }
}

private struct EntryJSON: Encodable {
    var lockIndex: UInt64
    var key: String
    var flags: UInt64
    var value: String?
    var createIndex: UInt64
    var modifyIndex: UInt64
    var session: String?

    init(_ entry: ConsulDoubleStore.Entry, includeValue: Bool) {
        self.session = entry.session
        self.lockIndex = entry.lockIndex
        self.key = entry.key
        self.flags = entry.flags
        self.value = includeValue ? entry.value.map { Data($0).base64EncodedString() } : nil
        self.createIndex = entry.createIndex
        self.modifyIndex = entry.modifyIndex
    }

    enum CodingKeys: String, CodingKey {
        case lockIndex = "LockIndex", key = "Key", flags = "Flags", value = "Value"
        case createIndex = "CreateIndex", modifyIndex = "ModifyIndex", session = "Session"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(self.session, forKey: .session)
        try container.encode(self.lockIndex, forKey: .lockIndex)
        try container.encode(self.key, forKey: .key)
        try container.encode(self.flags, forKey: .flags)
        try container.encode(self.value, forKey: .value)  // null when absent, as Consul writes it
        try container.encode(self.createIndex, forKey: .createIndex)
        try container.encode(self.modifyIndex, forKey: .modifyIndex)
    }
}

private struct TxnOperationJSON: Decodable {
    var kv: KV?

    struct KV: Decodable {
        var verb: String
        var key: String
        var value: String?
        var flags: UInt64?
        var index: UInt64?

        enum CodingKeys: String, CodingKey {
            case verb = "Verb", key = "Key", value = "Value", flags = "Flags", index = "Index"
        }
    }

    enum CodingKeys: String, CodingKey {
        case kv = "KV"
    }
}

private struct TxnResultJSON: Encodable {
    var kv: EntryJSON

    enum CodingKeys: String, CodingKey {
        case kv = "KV"
    }
}

private struct TxnErrorJSON: Encodable {
    var opIndex: Int
    var what: String

    enum CodingKeys: String, CodingKey {
        case opIndex = "OpIndex", what = "What"
    }
}

private struct TxnResponseJSON: Encodable {
    var results: [TxnResultJSON]?
    var errors: [TxnErrorJSON]?

    enum CodingKeys: String, CodingKey {
        case results = "Results", errors = "Errors"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.results, forKey: .results)
        try container.encode(self.errors, forKey: .errors)
    }
}
