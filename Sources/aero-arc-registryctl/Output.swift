import Foundation
import RegistryCore

/// A plain-text table with left-aligned columns two spaces apart.
struct Table {
    let headers: [String]
    private var rows: [[String]] = []

    init(headers: [String]) {
        self.headers = headers
    }

    mutating func append(_ row: [String]) {
        self.rows.append(row)
    }

    func render() -> String {
        let all = [self.headers] + self.rows
        var widths = Array(repeating: 0, count: self.headers.count)
        for row in all {
            for (column, cell) in row.enumerated() {
                widths[column] = max(widths[column], cell.count)
            }
        }
        var out = ""
        for row in all {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        return out
    }
}

/// "3.2s ago", "4m12s ago", "2h3m ago".
func age(since time: UnixMilliseconds, now: UnixMilliseconds) -> String {
    let elapsed = now.duration(since: time)
    return elapsed < .zero ? "just now" : "\(humanDuration(elapsed)) ago"
}

/// How long until `time + ttl`: "26.8s", or "?" when the server did not say its TTL.
func timeLeft(after time: UnixMilliseconds, ttl: Duration?, now: UnixMilliseconds) -> String {
    guard let ttl else { return "?" }
    return timeLeft(until: time.advanced(by: ttl), now: now)
}

/// How long until `deadline`: "26.8s", or "expired".
func timeLeft(until deadline: UnixMilliseconds, now: UnixMilliseconds) -> String {
    let left = deadline.duration(since: now)
    return left <= .zero ? "expired" : humanDuration(left)
}

/// A short human duration: tenths of seconds under a minute, then minutes and hours.
func humanDuration(_ duration: Duration) -> String {
    let milliseconds = duration.wholeMilliseconds
    if milliseconds < 60_000 {
        return "\(milliseconds / 1000).\(milliseconds % 1000 / 100)s"
    }
    let seconds = milliseconds / 1000
    if seconds < 3600 {
        return "\(seconds / 60)m\(seconds % 60)s"
    }
    return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
}

/// Pretty, key-sorted JSON on standard output.
func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    guard let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) else {
        fail("could not encode the output as JSON")
    }
    print(text)
}

struct RelayJSON: Encodable {
    let relayID: String
    let address: String
    let grpcPort: Int
    let lastHeartbeatUnixMs: Int64
    let expiresUnixMs: Int64?
    /// Live agents on the relay; absent from servers without the fleet service.
    let agentCount: Int?
    /// Taking no new placements; absent from servers without the fleet service.
    let draining: Bool?
}

struct PlacementsJSON: Encodable {
    let placements: [AgentJSON]
    let missingAgentIDs: [String]
}

struct AgentJSON: Encodable {
    let agentID: String
    let relayID: String
    let lastHeartbeatUnixMs: Int64
    let expiresUnixMs: Int64?
}

struct PlacementJSON: Encodable {
    let agentID: String
    let relayID: String
    let lastUpdatedUnixMs: Int64
    let expiresUnixMs: Int64?
}
