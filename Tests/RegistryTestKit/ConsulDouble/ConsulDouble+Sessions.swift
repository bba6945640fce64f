import Foundation
import NIOHTTP1
import RegistryCore

extension ConsulDouble {
    func createSession(_ request: ConsulDoubleRequest) -> ConsulDoubleResponse {
        let fields: SessionRequestJSON
        do {
            fields = request.body.isEmpty ? SessionRequestJSON() : try JSONDecoder().decode(SessionRequestJSON.self, from: Data(request.body))
        } catch {
            return .text(400, "Request decode failed: \(error)")
        }
        var ttl: Int64?
        if let text = fields.ttl, !text.isEmpty {
            guard let parsed = Duration(goSyntax: text), (Duration.seconds(10)...Duration.seconds(86_400)).contains(parsed) else {
                return .text(400, "Invalid Session TTL '\(text)', must be between [10s=24h0m0s]")
            }
            ttl = parsed.wholeMilliseconds
        }
        let behavior = fields.behavior ?? "release"
        guard behavior == "release" || behavior == "delete" else {
            return .text(400, "Invalid Behavior setting '\(behavior)'")
        }
        var lockDelay: Int64 = 15_000
        if let text = fields.lockDelay {
            guard let parsed = Duration(goSyntax: text), parsed >= .zero else {
                return .text(400, "Request decode failed: invalid LockDelay '\(text)'")
            }
            lockDelay = parsed.wholeMilliseconds
        }
        let now = self.clock.now().rawValue
        let id = UUID().uuidString.lowercased()
        _ = self.withStore {
            $0.createSession(id: id, name: fields.name ?? "", ttl: ttl, deleteOnInvalidation: behavior == "delete", lockDelay: lockDelay, now: now)
        }
        return Self.json(["ID": id])
    }

    func session(path: String, _ request: ConsulDoubleRequest) -> ConsulDoubleResponse {
        let now = self.clock.now().rawValue
        let parts = path.dropFirst("/v1/session/".count).split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return .text(404, "404 page not found") }
        let (verb, id) = (parts[0], parts[1])
        switch (request.method, verb) {
        case (.PUT, "renew"):
            guard let session = self.withStore({ $0.renewSession(id, now: now) }) else {
                return .text(404, "Session id '\(id)' not found")
            }
            return Self.json([SessionJSON(session)])
        case (.PUT, "destroy"):
            self.withStore { $0.destroySession(id, now: now) }
            return Self.json(true)
        case (.GET, "info"):
            return Self.json(self.store.sessions[id].map { [SessionJSON($0)] } ?? [])
        default:
            return .text(405, "method \(request.method) not allowed")
        }
    }
}

private struct SessionRequestJSON: Decodable {
    var name: String?
    var ttl: String?
    var behavior: String?
    var lockDelay: String?

    enum CodingKeys: String, CodingKey {
        case name = "Name", ttl = "TTL", behavior = "Behavior", lockDelay = "LockDelay"
    }
}

private struct SessionJSON: Encodable {
    var id: String
    var name: String
    var node = "consul-double"
    var lockDelay: Int64
    var behavior: String
    var ttl: String
    var nodeChecks: [String] = []
    var createIndex: UInt64
    var modifyIndex: UInt64

    init(_ session: ConsulDoubleStore.Session) {
        self.id = session.id
        self.name = session.name
        self.lockDelay = session.lockDelay * 1_000_000  // nanoseconds, as Consul answers
        self.behavior = session.deleteOnInvalidation ? "delete" : "release"
        self.ttl = session.ttl.map { "\($0 / 1000)s" } ?? ""
        self.createIndex = session.createIndex
        self.modifyIndex = session.modifyIndex
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID", name = "Name", node = "Node", lockDelay = "LockDelay", behavior = "Behavior", ttl = "TTL"
        case nodeChecks = "NodeChecks", createIndex = "CreateIndex", modifyIndex = "ModifyIndex"
    }
}
