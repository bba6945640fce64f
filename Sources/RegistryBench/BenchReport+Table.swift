extension BenchReport {
    /// The report as a table for people.
    public func table() -> String {
        var lines: [String] = []
        lines.append("label: \(self.label)    started: \(self.startedAt)")
        lines.append("machine: \(self.machine)")
        lines.append("server: \(self.server)    fleet: \(self.fleet)")
        if let rss = self.serverResidentBytesAfterPreload {
            lines.append("server resident memory after preload: \(megabytes(rss))")
        }
        if let peak = self.serverPeakResidentBytes {
            lines.append("server peak resident memory: \(megabytes(peak))")
        }
        lines.append("")
        let headers = ["scenario", "load", "calls/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "cpu µs/call", "vs noop"]
        var rows: [[String]] = [headers]
        for m in self.measurements {
            let name = m.stream.map { "\(m.scenario): \($0)" } ?? m.scenario
            let load: String =
                if m.mode == "closed" {
                    "closed c=\(m.concurrency ?? 0) k=\(m.connections ?? 0)"
                } else {
                    "open \(format(m.offeredRate ?? 0, 0))/s"
                }
            let errors = m.errors.isEmpty ? "0" : m.errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            rows.append([
                name, load, format(m.throughput, 0), format(m.p50Ms, 3), format(m.p90Ms, 3), format(m.p99Ms, 3),
                format(m.p999Ms, 3), format(m.maxMs, 3), errors,
                m.serverCPUMicrosPerCall.map { format($0, 1) } ?? "-",
                m.ratioToNoop.map { format($0 * 100, 1) + "%" } ?? "-",
            ])
        }
        var widths = Array(repeating: 0, count: headers.count)
        for row in rows {
            for (index, cell) in row.enumerated() {
                widths[index] = max(widths[index], cell.count)
            }
        }
        for row in rows {
            lines.append(
                row.enumerated().map { index, cell in
                    index == 0 || index == 1 || index == 8
                        ? cell + String(repeating: " ", count: widths[index] - cell.count)
                        : String(repeating: " ", count: widths[index] - cell.count) + cell
                }.joined(separator: "  ")
            )
        }
        for m in self.measurements {
            for (key, value) in (m.notes ?? [:]).sorted(by: { $0.key < $1.key }) {
                lines.append("\(m.scenario): \(key) = \(format(value, 3))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

func megabytes(_ bytes: Int) -> String {
    format(Double(bytes) / 1_048_576, 1) + " MiB"
}

/// A number with `decimals` digits after the point.
func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if decimals == 0 {
        return String(Int64(rounded))
    }
    if let dot = text.firstIndex(of: ".") {
        let have = text.distance(from: dot, to: text.endIndex) - 1
        if have < decimals { text += String(repeating: "0", count: decimals - have) }
    }
    return text
}
